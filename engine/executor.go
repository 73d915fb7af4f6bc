package engine

import (
	"sync"

	"github.com/roomio/roomio/actors"
)

// workers counts the engine's goroutines (executors, remote-call waits) so that Shutdown can wait for
// them. Once Shutdown waits it starts no more: a WaitGroup's Add must not race with its Wait, and actors
// still stopping may hand hook events over meanwhile (they are dropped then; the engine is stopping).
type workers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	// pool runs the executors: the engine's actors' Workers, whose goroutines keep the stack they grew
	// (an executor starts at each event after a quiet spell; a new goroutine would grow its stack
	// through the handler each time). Required.
	pool *actors.Workers
}

// add counts one more goroutine, or reports false once closed.
func (w *workers) add() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.wg.Add(1)
	return true
}

func (w *workers) done() { w.wg.Done() }

// close refuses new goroutines and returns a channel closed when the counted ones have ended.
func (w *workers) close() <-chan struct{} {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	return done
}

// executor runs functions one at a time, in submission order, on a goroutine that exists only while
// there is work. It holds at most size pending functions: submit blocks beyond that, which pushes back
// on the connection's reader (and so on the client, through TCP) instead of growing memory.
//
// The pending functions sit in a ring that starts empty, doubles as it fills (never beyond size rounded
// up to a power of two) and is let go when the goroutine finds it drained (a ring of minRing slots is
// kept), so an idle socket holds a few slots at most. Every connected socket has an executor, and a
// queue of EventQueueSize slots allocated up front was the largest part of an idle socket's memory.
type executor struct {
	size int
	w    *workers

	mu      sync.Mutex
	space   sync.Cond // signalled (with mu) when a pending function was taken
	ring    []func()  // len(ring) is a power of two or zero, at most roundUp(size)
	head    int       // index of the oldest pending function
	n       int       // pending functions
	running bool
	runFn   func() // run, built once: starting the executor allocates nothing
}

// minRing is the ring's first allocation: events of one socket usually come one or two at a time.
const minRing = 4

func newExecutor(size int, w *workers) *executor {
	x := &executor{size: max(size, 1), w: w}
	x.space.L = &x.mu
	x.runFn = x.run
	return x
}

// submit queues f, waiting while size functions are pending.
func (x *executor) submit(f func()) {
	x.mu.Lock()
	for x.n >= x.size {
		x.space.Wait()
	}
	x.push(f)
	x.startLocked()
	x.mu.Unlock()
}

// offer queues f unless size functions are already pending; it never blocks and reports whether f was
// queued.
func (x *executor) offer(f func()) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n >= x.size {
		return false
	}
	x.push(f)
	x.startLocked()
	return true
}

// push appends f to the ring, growing it when full; the caller holds mu and has checked n < size.
func (x *executor) push(f func()) {
	if x.n == len(x.ring) {
		grown := make([]func(), max(minRing, 2*len(x.ring)))
		for i := range x.n {
			grown[i] = x.ring[(x.head+i)&(len(x.ring)-1)]
		}
		x.ring, x.head = grown, 0
	}
	x.ring[(x.head+x.n)&(len(x.ring)-1)] = f
	x.n++
}

func (x *executor) startLocked() {
	if !x.running && x.w.add() {
		x.running = true
		x.w.pool.Schedule(x.runFn)
	}
}

func (x *executor) run() {
	defer x.w.done()
	x.mu.Lock()
	for x.n > 0 {
		f := x.ring[x.head]
		x.ring[x.head] = nil
		x.head = (x.head + 1) & (len(x.ring) - 1)
		x.n--
		x.space.Signal()
		x.mu.Unlock()
		f()
		x.mu.Lock()
	}
	x.running = false
	if len(x.ring) > minRing {
		x.ring, x.head = nil, 0 // a burst's ring goes; the first one is kept (cheaper than one per event)
	}
	x.mu.Unlock()
}

// pending reports how many functions wait, and the ring's current capacity (tests).
func (x *executor) pending() (n, capacity int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n, len(x.ring)
}
