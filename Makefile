# Switchboard. `make run` starts the service on rules.example.yaml; `make test`
# runs every check CI runs. Needs only Go (see go.mod for the version).
GO       ?= go
BIN      ?= bin/switchboard
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 30s
BENCHTIME ?= 1s
COUNT    ?= 6

.PHONY: all build run test vet fmt lint bench fuzz tidy clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/switchboard

run: build
	./$(BIN) serve --rules rules.example.yaml --data ./data

# test: formatting, vet, then every test with the race detector (fuzz
# targets run their seed corpora).
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -shuffle=on -count=1 ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# lint: vet, formatting, staticcheck and the release config (goreleaser
# check); the tools are pinned and fetched by go run. GoReleaser v2.18.2
# and newer need a newer Go toolchain than go.mod's.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GORELEASER  ?= github.com/goreleaser/goreleaser/v2@v2.15.1
lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(GORELEASER) check

# bench: Go benchmarks; compare runs with benchstat (golang.org/x/perf/cmd/benchstat).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./engine/ ./internal/... | tee bench.txt

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzIngest$$' -fuzztime $(FUZZTIME) ./internal/ingest/

tidy:
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

clean:
	rm -rf bin bench.txt
