# syntax=docker/dockerfile:1
#
# Switchboard's container image: a static binary on distroless (no shell, no
# libc, runs as uid 65532). The time zones are compiled into the binary
# (time/tzdata, see engine/schedule.go), so schedules work without
# /usr/share/zoneinfo.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t switchboard .
#   docker run -d -p 8080:8080 -v switchboard-data:/data \
#     -v "$PWD/rules:/etc/switchboard:ro" switchboard
#
# The rules are read from /etc/switchboard/rules.yaml: mount the directory
# that holds it (a mounted directory, unlike a single mounted file, sees
# edits, so the rules reload when saved). The state (SQLite store, tokens)
# lives in the /data volume. Port 8080 serves only the Cooby hook and the
# probes; 9090 serves the admin API, /status and /metrics: publish it only
# to a private network, if at all (`docker exec` reaches it on loopback).
# deploy/deploy_test.go builds the binary with this file's build command
# and checks it is static and starts with only /data writable.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/switchboard ./cmd/switchboard
# The volume's mount point, owned by the image's user (distroless has no
# shell to mkdir it in the final stage).
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
ENV SWITCHBOARD_ADDR=:8080 SWITCHBOARD_ADMIN_ADDR=:9090
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/switchboard", "healthcheck", "--data", "/data"]
ENTRYPOINT ["/usr/local/bin/switchboard", "serve", "--data", "/data", "--rules", "/etc/switchboard/rules.yaml"]
