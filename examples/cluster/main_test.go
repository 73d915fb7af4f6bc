package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The cluster test (cluster_integration_test.go) needs -tags integration: several nodes in one process
// share grpc's process-global logger, which the race detector reports as a race.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
