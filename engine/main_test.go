package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// memberlist v0.7.0's probeNode waits out its probe timeout (half a second) without watching for
	// shutdown, so a probe in flight when a node stops (the cluster tests stop nodes while others run)
	// can outlive goleak's retry window on a loaded machine; it ends by itself.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}
