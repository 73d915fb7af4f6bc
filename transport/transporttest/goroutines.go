package transporttest

import (
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// GoroutinesIn counts the goroutines with a frame in a function whose name contains pkg: "total", and
// per function, by the name of its topmost such frame (readLoop, run, teardown…, or func1 for a closure).
func GoroutinesIn(pkg string) map[string]int {
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

// PollerPkg is the package of the poller that holds idle connections, for GoroutinesIn.
const PollerPkg = "roomio/transport/netpoll."

// Parks reports whether idle connections park in the poller on this OS (Linux: epoll); elsewhere each
// keeps a reader blocked in its reads.
const Parks = runtime.GOOS == "linux"

// AwaitIdle waits until n idle connections of pkg hold what they should: no goroutine and one poller
// where connections park (Parks), one reader each elsewhere.
func AwaitIdle(t testing.TB, pkg string, n int, timeout time.Duration) {
	t.Helper()
	if Parks {
		AwaitParked(t, pkg, 0, 1, timeout)
	} else {
		AwaitParked(t, pkg, n, 0, timeout)
	}
}

// AwaitAllParked waits until every idle connection of pkg's servers is parked: no goroutine in pkg, and
// pollers goroutines waiting in the poller (one per server with connections). It skips the test where
// connections do not park (Parks is false).
func AwaitAllParked(t testing.TB, pkg string, pollers int, timeout time.Duration) {
	t.Helper()
	if !Parks {
		t.Skip("connections park only on Linux")
	}
	AwaitParked(t, pkg, 0, pollers, timeout)
}

// AwaitParked waits until pkg has exactly readers goroutines, all in readLoop, and the poller
// (PollerPkg) exactly pollers waiting for events ("run"), besides its idle workers (a bounded number,
// kept for the next resumes; none when pollers is 0) — with readers 0, every idle connection parked
// and none holding a goroutine — and fails the test with what it saw if that does not happen within
// timeout (writers that just sent something may still be on their way out, readers on their way to
// park).
func AwaitParked(t testing.TB, pkg string, readers, pollers int, timeout time.Duration) {
	t.Helper()
	var got, poll map[string]int
	for deadline := time.Now().Add(timeout); ; {
		got, poll = GoroutinesIn(pkg), GoroutinesIn(PollerPkg)
		if got["readLoop"] == readers && got["total"] == readers && poll["run"] == pollers && (pollers > 0 || poll["total"] == 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines in %s %v, want %d, all in readLoop; in the poller %v, want %d", pkg, got, readers, poll, pollers)
		}
		time.Sleep(time.Millisecond)
	}
}
