package client

import "sync"

// dispatcher runs queued callbacks one at a time, in order, on its own goroutine, so that user hooks
// never run on (or block) the read loop. The queue is unbounded: the read loop must never wait for a hook.
type dispatcher struct {
	mu     sync.Mutex
	queue  []func()
	closed bool
	wake   chan struct{} // capacity 1: "something to do"
}

func newDispatcher() *dispatcher {
	return &dispatcher{wake: make(chan struct{}, 1)}
}

// push queues fn. It reports false, dropping fn, once the dispatcher is closed.
func (d *dispatcher) push(fn func()) bool {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return false
	}
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
	d.signal()
	return true
}

// close refuses further pushes; run returns after what is queued has run.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.signal()
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run executes queued callbacks until the dispatcher is closed and drained.
func (d *dispatcher) run() {
	var batch []func()
	for {
		d.mu.Lock()
		batch, d.queue = d.queue, batch[:0]
		closed := d.closed
		d.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-d.wake
			continue
		}
		for i, fn := range batch {
			fn()
			batch[i] = nil // drop references to delivered events
		}
	}
}
