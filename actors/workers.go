package actors

import (
	"sync"
	"sync/atomic"
)

// Workers is the dispatcher of an engine's actors (actor.Dispatcher): it runs a mailbox's pass over its
// messages on a worker goroutine that, once the pass is over, waits for the next mailbox to run instead
// of ending, while no more than MaxIdleWorkers wait. protoactor's default dispatcher starts a
// goroutine per pass: that goroutine starts with a small stack and grows it again, by copying, through
// the room's handler each time (a behaviour room's hook, a fan-out): 7–8 % of a busy node's CPU. A worker
// keeps the stack it grew. Stop ends the waiting workers; a mailbox scheduled after Stop runs on a
// goroutine of its own, which ends after it.
type Workers struct {
	work     chan func()
	quit     chan struct{}
	stopOnce sync.Once
	idle     atomic.Int32 // workers waiting for work
}

// MaxIdleWorkers is how many workers may wait for the next pass. A burst of passes (a broadcast to
// many rooms, a say to each of 200 rooms in turn) schedules more at once than there are cores; with
// only 2×GOMAXPROCS kept, most of a burst started new workers, whose stacks grew again (under `rooms`
// of the side-by-side comparison, `runtime.copystack` stayed at 4–6 % of the node's CPU; with 64 it
// is under 0.5 %). An idle worker holds its stack, tens of KiB: 64 cost about 2 MiB at most.
const MaxIdleWorkers = 64

// WorkersThroughput is how many messages a mailbox handles before it yields its goroutine to others
// (runtime.Gosched) within one pass: protoactor's default.
const WorkersThroughput = 300

// NewWorkers returns a dispatcher; nothing runs before the first Schedule.
func NewWorkers() *Workers {
	return &Workers{work: make(chan func()), quit: make(chan struct{})}
}

// Schedule runs fn on a waiting worker, or on a new one when none waits.
func (w *Workers) Schedule(fn func()) {
	select {
	case w.work <- fn:
	default:
		go w.run(fn)
	}
}

// Throughput implements actor.Dispatcher.
func (w *Workers) Throughput() int { return WorkersThroughput }

// Stop ends the workers that wait, and those that finish their pass from now on. Idempotent.
func (w *Workers) Stop() { w.stopOnce.Do(func() { close(w.quit) }) }

// run runs fn, then the passes handed to it, until more than MaxIdleWorkers would wait or Stop.
func (w *Workers) run(fn func()) {
	for {
		fn()
		if w.idle.Add(1) > MaxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		select {
		case fn = <-w.work:
			w.idle.Add(-1)
		case <-w.quit:
			w.idle.Add(-1)
			return
		}
	}
}
