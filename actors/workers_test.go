package actors_test

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/actors"
)

// workerGoroutines counts the goroutines running or waiting in Workers.run.
func workerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "actors.(*Workers).run(")
}

// TestWorkers: every scheduled function runs exactly once, also when many are scheduled at once from
// many goroutines; when more workers than MaxIdleWorkers were busy at once, exactly MaxIdleWorkers stay
// to wait once they are done, the others end; Stop ends the waiting workers, and a function scheduled
// after Stop still runs.
func TestWorkers(t *testing.T) {
	w := actors.NewWorkers()
	const producers, each = 8, 2000
	var ran [producers * each]atomic.Int32
	var done sync.WaitGroup
	done.Add(producers * each)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				k := p*each + i
				w.Schedule(func() { ran[k].Add(1); done.Done() })
			}
		})
	}
	wg.Wait()
	done.Wait()
	for k := range ran {
		if n := ran[k].Load(); n != 1 {
			t.Fatalf("function %d ran %d times", k, n)
		}
	}

	// More functions busy at once than MaxIdleWorkers: one worker each, and once released only
	// MaxIdleWorkers of them wait for more.
	const busy = actors.MaxIdleWorkers + 36
	var started sync.WaitGroup
	started.Add(busy)
	release := make(chan struct{})
	for range busy {
		w.Schedule(func() { started.Done(); <-release })
	}
	started.Wait()
	if n := workerGoroutines(); n < busy {
		t.Fatalf("%d workers for %d blocked functions", n, busy)
	}
	close(release)
	// The released workers end or settle into their wait one by one: poll, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for workerGoroutines() != actors.MaxIdleWorkers {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers after the work is done, want %d waiting", workerGoroutines(), actors.MaxIdleWorkers)
		}
		runtime.Gosched()
	}
	if w.Throughput() != actors.WorkersThroughput {
		t.Fatalf("Throughput %d", w.Throughput())
	}

	w.Stop()
	w.Stop() // idempotent
	for workerGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers left after Stop", workerGoroutines())
		}
		runtime.Gosched()
	}
	after := make(chan struct{})
	w.Schedule(func() { close(after) })
	select {
	case <-after:
	case <-time.After(10 * time.Second):
		t.Fatal("a function scheduled after Stop did not run")
	}
}

// TestWorkersReuse: functions scheduled one after another, each after the previous one finished, run on
// the same few workers rather than a goroutine each.
func TestWorkersReuse(t *testing.T) {
	w := actors.NewWorkers()
	defer w.Stop()
	ids := map[uint64]bool{}
	for range 200 {
		ch := make(chan uint64)
		w.Schedule(func() { ch <- goid() })
		ids[<-ch] = true
	}
	// A function may be scheduled before the previous one's worker is back waiting (a new worker then,
	// which stays to wait too): far fewer goroutines than functions all the same.
	if len(ids) > 100 {
		t.Fatalf("200 functions ran on %d goroutines, want a few reused workers", len(ids))
	}
}

// goid returns the calling goroutine's id, from its stack trace's header ("goroutine N [").
func goid() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	var id uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
