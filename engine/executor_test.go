package engine

import (
	"slices"
	"sync"
	"testing"

	"github.com/roomio/roomio/actors"
)

// TestExecutorQueueIsBounded: an executor holds at most its size of pending functions (offer refuses
// beyond, submit waits for a slot), runs them in submission order, and its ring grows from nothing as it
// fills and is let go once drained (but for its first few slots).
func TestExecutorQueueIsBounded(t *testing.T) {
	w := workers{pool: actors.NewWorkers()}
	defer w.pool.Stop()
	const size = 10
	x := newExecutor(size, &w)
	if n, c := x.pending(); n != 0 || c != 0 {
		t.Fatalf("new executor: %d pending, ring of %d; want none allocated", n, c)
	}

	var mu sync.Mutex
	var ran []int
	record := func(i int) func() {
		return func() { mu.Lock(); ran = append(ran, i); mu.Unlock() }
	}
	started, release := make(chan struct{}), make(chan struct{})
	x.submit(func() { close(started); <-release })
	<-started // the blocker is running, no longer pending

	for i := range size {
		x.submit(record(i))
		if n, c := x.pending(); n != i+1 || c < n || c > 16 {
			t.Fatalf("after %d submits: %d pending, ring of %d", i+1, n, c)
		}
	}
	if x.offer(record(-1)) {
		t.Fatalf("offer accepted a function beyond the bound of %d", size)
	}
	submitted := make(chan struct{})
	go func() { x.submit(record(size)); close(submitted) }()
	select {
	case <-submitted:
		t.Fatalf("submit returned while %d functions were pending", size)
	default:
	}
	close(release)
	<-submitted
	<-w.close() // the executor's goroutine has drained the queue and ended

	want := make([]int, size+1)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if n, c := x.pending(); n != 0 || c > minRing {
		t.Fatalf("drained executor: %d pending, ring of %d; want at most %d slots kept", n, c, minRing)
	}
}
