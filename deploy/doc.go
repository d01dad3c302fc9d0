// Package deploy holds Switchboard's deployment files (the systemd unit,
// the Kubernetes example) and the tests that check them and the
// repository's Dockerfile: the image's binary is static and starts with only
// its data directory writable, the unit passes systemd-analyze verify, and
// the manifests agree with each other and with the image.
package deploy
