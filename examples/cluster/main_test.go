package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The cluster test (cluster_integration_test.go) needs -tags integration: several nodes in one process
// share grpc's process-global logger, which the race detector reports as a race.
func TestMain(m *testing.M) {
	// memberlist v0.7.0's probeNode waits out its probe timeout (half a second) without watching for
	// shutdown, so a probe in flight when a node stops can outlive goleak's retry window on a loaded
	// machine; it ends by itself.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}
