package engineio_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestIdleWebSocketGoroutines pins what an idle WebSocket session costs in goroutines: exactly one, its
// reader. The heartbeat is a timer, the writer exists only while there is something to write, and the
// request's goroutine has ended.
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
	var got map[string]int
	for deadline := time.Now().Add(testTimeout); ; {
		got = goroutinesIn("roomio/transport/engineio.")
		if got["readLoop"] == n && got["total"] == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle sessions: goroutines %v, want %d, all in readLoop", n, got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// goroutinesIn counts the goroutines with a frame in a function whose name contains pkg: "total", and
// per function, by the name of its topmost such frame (readLoop, run, teardown…, or func1 for a closure).
func goroutinesIn(pkg string) map[string]int {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	counts := map[string]int{}
	for g := range strings.SplitSeq(b.String(), "\n\n") {
		for line := range strings.SplitSeq(g, "\n") {
			i := strings.Index(line, pkg)
			if i < 0 || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by") {
				continue
			}
			fn := line[i+len(pkg):]
			if j := strings.LastIndexByte(fn, '('); j > 0 {
				fn = fn[:j] // the arguments
			}
			if k := strings.LastIndexByte(fn, '.'); k >= 0 {
				fn = fn[k+1:] // the receiver
			}
			counts[fn]++
			counts["total"]++
			break
		}
	}
	return counts
}
