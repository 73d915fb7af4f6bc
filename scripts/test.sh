#!/usr/bin/env bash
# Runs every roomio test on a fresh machine: installs what the browser test needs (Debian chromium,
# playwright-core from e2e/package-lock.json), then the whole Go suite under the race detector (including
# the real-browser test, ROOMIO_E2E=1), then each fuzz target for a short time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/e2e-setup.sh

export ROOMIO_E2E=1
go test -race -count=1 -timeout 20m ./...

# In-process multi-node tests run without -race: several nodes in one process share grpc's
# process-global logger, which races under the detector (each node's gRPC setup writes it). The multi-process cluster
# tests (cmd/roomio, one node per process, binaries built with -race) carry the race coverage.
go test -tags integration -count=1 -timeout 10m ./cluster/
go test -tags integration -count=1 -timeout 10m -run '^(TestCluster|TestTunnel|TestRecoverAcross)' ./engine/
go test -tags integration -count=1 -timeout 10m ./examples/cluster/

# Fuzz every decoder of untrusted bytes briefly (go test -fuzz takes one target per run). The
# budget is a count of inputs, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report a worker stopped at the deadline as a failure ("context deadline exceeded", no failing
# input; golang/go#75804, fixed in Go 1.27). 30 000 inputs take 3-15 s per target on this 2-core machine.
fuzztime="${FUZZTIME:-30000x}"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz $pkg $target ($fuzztime)"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
	done
done
