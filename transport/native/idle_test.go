package native_test

import (
	"testing"

	"github.com/roomio/roomio/transport/transporttest"
)

// TestIdleConnGoroutines pins what an idle connection costs in goroutines: none. Its reader parks it in
// the server's poller (one goroutine for all of them), the heartbeat is a timer, the writer exists only
// while there is something to write, and the request's goroutine has ended.
func TestIdleConnGoroutines(t *testing.T) {
	ts := newTestServer(t, nil)
	const n = 20
	for range n {
		ts.dial(t, dialOptions{subprotocols: protoDial.subprotocols, noRead: true})
	}
	transporttest.AwaitIdle(t, "roomio/transport/native.", n, testTimeout)
}
