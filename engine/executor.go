package engine

import "sync"

// executor runs functions one at a time, in submission order, on a goroutine that exists only while
// there is work. It holds at most cap(ch) pending functions: submit blocks beyond that, which pushes back
// on the connection's reader (and so on the client, through TCP) instead of growing memory.
type executor struct {
	ch      chan func()
	mu      sync.Mutex
	running bool
	wg      *sync.WaitGroup
}

func newExecutor(size int, wg *sync.WaitGroup) *executor {
	return &executor{ch: make(chan func(), size), wg: wg}
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
	if !x.running {
		x.running = true
		x.wg.Add(1)
		go x.run()
	}
	x.mu.Unlock()
}

func (x *executor) run() {
	defer x.wg.Done()
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
