package native_test

import (
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TestIdleConnGoroutines pins what an idle connection costs in goroutines: exactly one, its reader. The
// heartbeat is a timer, the writer exists only while there is something to write, and the request's
// goroutine has ended.
func TestIdleConnGoroutines(t *testing.T) {
	ts := newTestServer(t, nil)
	const n = 20
	for range n {
		ts.dial(t, dialOptions{subprotocols: protoDial.subprotocols, noRead: true})
	}
	var got map[string]int
	for deadline := time.Now().Add(testTimeout); ; {
		got = goroutinesIn("roomio/transport/native.")
		if got["readLoop"] == n && got["total"] == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections: goroutines %v, want %d, all in readLoop", n, got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// goroutinesIn counts the goroutines with a frame in a function whose name contains pkg: "total", and
// per function, by the name of its topmost such frame (readLoop, writeBatches…, or func1 for a closure).
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
