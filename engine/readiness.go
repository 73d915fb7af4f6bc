package engine

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotReady is wrapped by Readiness while a started node of a cluster has not synced its interest
// table with every peer it knows.
var ErrNotReady = errors.New("engine: not ready")

// Readiness reports whether the engine should receive traffic: nil once Start has returned and, in a
// cluster, every peer this node knows of has sent its interest snapshot (until then an emit to a room
// may still be sent to that peer without need, which is harmless, but a load balancer should wait). It
// returns ErrNotStarted before Start, ErrClosed once Shutdown began, and an error wrapping ErrNotReady
// naming the peers not synced yet. A peer that joins later makes a ready node unready for the moment
// of the exchange (milliseconds). Safe for concurrent use; it does not block. The node binary serves
// it at GET /readyz.
func (e *Engine) Readiness() error {
	switch e.state.Load() {
	case stateNew:
		return ErrNotStarted
	case stateClosed:
		return ErrClosed
	}
	if e.link == nil {
		return nil
	}
	members := e.link.node.Members()
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if un := e.link.interest.Unsynced(ids); len(un) > 0 {
		return fmt.Errorf("%w: interest not synced with %d of %d peers (%s)", ErrNotReady, len(un), len(ids), strings.Join(un, ", "))
	}
	return nil
}
