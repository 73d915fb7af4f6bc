package engine

import "sync"

// workers counts the engine's goroutines (executors, remote-call waits) so that Shutdown can wait for
// them. Once Shutdown waits it starts no more: a WaitGroup's Add must not race with its Wait, and actors
// still stopping may hand hook events over meanwhile (they are dropped then; the engine is stopping).
type workers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
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
// there is work. It holds at most cap(ch) pending functions: submit blocks beyond that, which pushes back
// on the connection's reader (and so on the client, through TCP) instead of growing memory.
type executor struct {
	ch      chan func()
	mu      sync.Mutex
	running bool
	w       *workers
}

func newExecutor(size int, w *workers) *executor {
	return &executor{ch: make(chan func(), size), w: w}
}

func (x *executor) submit(f func()) {
	x.ch <- f
	x.start()
}

// offer queues f unless cap(ch) functions are already pending; it never blocks and reports whether f was
// queued.
func (x *executor) offer(f func()) bool {
	select {
	case x.ch <- f:
	default:
		return false
	}
	x.start()
	return true
}

func (x *executor) start() {
	x.mu.Lock()
	if !x.running && x.w.add() {
		x.running = true
		go x.run()
	}
	x.mu.Unlock()
}

func (x *executor) run() {
	defer x.w.done()
	for {
		select {
		case f := <-x.ch:
			f()
		default:
			x.mu.Lock()
			if len(x.ch) == 0 {
				x.running = false
				x.mu.Unlock()
				return
			}
			x.mu.Unlock()
		}
	}
}
