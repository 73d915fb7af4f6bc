package engineio_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/roomio/roomio/transport/transporttest"
)

// TestIdleWebSocketGoroutines pins what an idle WebSocket session costs in goroutines: none. Its reader
// parks it in the server's poller (one goroutine for all of them), the heartbeat is a timer, the writer
// exists only while there is something to write, and the request's goroutine has ended.
func TestIdleWebSocketGoroutines(t *testing.T) {
	e := newEnv(t, nil)
	const n = 20
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.base, "http") + "?EIO=4&transport=websocket"
	for range n {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		if _, open, err := ws.Read(ctx); err != nil || !bytes.HasPrefix(open, []byte("0{")) {
			t.Fatalf("open packet %q: %v", open, err)
		}
		e.nextSession()
	}
	// The writers that sent the open packets end once they have (they may still be on their way out).
	transporttest.AwaitIdle(t, "roomio/transport/engineio.", n, testTimeout)
}
