package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
)

// flow bounds the broadcasts in flight through the node's actors: every broadcast the engine hands to a
// namespace actor is counted (number and packet bytes) until every namespace, room and socket actor it
// travels through has processed it (actors.Broadcast.Settled). Sending never waits: an emit from server
// code is queued as before. What waits is a socket's next event handler (wait, in the socket's executor):
// while the budget is spent, no client event runs, so a client whose handlers emit fills its executor's
// queue, its connection's reader stops, and TCP slows the client down. The mailboxes of the shared actors
// therefore hold at most the budget plus what the handlers already running emit.
//
// Waiters are served in arrival order: when the budget has room, the oldest waiter goes, and wakes the
// next one if there is still room. So a well-behaved client's event waits behind at most one event of
// each other waiting connection, whatever the flood; and above the budget the actors hold at most what
// the handlers let through at once emit (one handler per connection runs at a time).
type flow struct {
	maxCount, maxBytes int64
	count, bytes       atomic.Int64
	settled            func(*actors.Broadcast) // release, bound once so that admitting allocates nothing

	waiting atomic.Bool // queue is not empty
	mu      sync.Mutex
	queue   []chan struct{} // waiters, oldest first; each is closed when it may go

	waits atomic.Int64 // handler runs that had to wait (Stats)

	latency *histogram // emits' time from admit to settled (Counters.EmitLatency); nil: not measured
}

var errBackpressure = errors.New("engine: backpressure timeout")

func newFlow(maxCount int, maxBytes int64) *flow {
	f := &flow{maxCount: int64(maxCount), maxBytes: maxBytes}
	f.settled = f.release
	return f
}

// admit counts b until it settles.
func (f *flow) admit(b *actors.Broadcast) {
	b.Size = packetBytes(b.Packet)
	b.Settled = f.settled
	if b.Op == actors.OpEmit && f.latency != nil {
		b.Born = monotonic()
	}
	f.count.Add(1)
	f.bytes.Add(int64(b.Size))
}

func (f *flow) release(b *actors.Broadcast) {
	f.count.Add(-1)
	f.bytes.Add(-int64(b.Size))
	if b.Born != 0 {
		f.latency.observe(time.Duration(monotonic() - b.Born))
	}
	f.wakeIfRoom()
}

func (f *flow) full() bool { return f.count.Load() >= f.maxCount || f.bytes.Load() >= f.maxBytes }

// wakeIfRoom lets the oldest waiter go when the budget has room. The budget is looked at again under
// the lock: a caller held up between a first look and the lock (a settling actor's goroutine, preempted)
// would otherwise let a waiter go after the budget filled, one more broadcast beyond it per such caller.
func (f *flow) wakeIfRoom() {
	if !f.waiting.Load() || f.full() {
		return
	}
	f.mu.Lock()
	if len(f.queue) > 0 && !f.full() {
		close(f.queue[0])
		f.queue[0] = nil
		f.queue = f.queue[1:]
	}
	f.waiting.Store(len(f.queue) > 0)
	f.mu.Unlock()
}

// wait returns once the budget has room and every earlier waiter has gone, or errBackpressure after
// timeout, or the error of the waiter's context (asked for only when it has to wait: a socket makes its
// context's Done channel on demand).
func (f *flow) wait(w interface{ Context() context.Context }, timeout time.Duration) error {
	if !f.full() && !f.waiting.Load() {
		return nil
	}
	ctx := w.Context()
	f.waits.Add(1)
	go1 := make(chan struct{})
	f.mu.Lock()
	f.queue = append(f.queue, go1)
	f.waiting.Store(true)
	f.mu.Unlock()
	f.wakeIfRoom() // the room may have come before this waiter was queued
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-go1:
		f.wakeIfRoom() // pass the room on
		return nil
	case <-t.C:
		err = errBackpressure
	case <-ctx.Done():
		err = ctx.Err()
	}
	f.mu.Lock()
	i := slices.Index(f.queue, go1)
	if i >= 0 {
		f.queue = slices.Delete(f.queue, i, i+1)
		f.waiting.Store(len(f.queue) > 0)
	}
	f.mu.Unlock()
	if i < 0 {
		f.wakeIfRoom() // it was let go as it gave up: pass that on
	}
	return err
}

// packetBytes is a packet's size as the budgets count it: its arguments, attachments and names.
func packetBytes(p *packet.Packet) int {
	if p == nil {
		return 0
	}
	n := len(p.Name) + len(p.Namespace) + len(p.Data)
	for _, a := range p.Args {
		n += len(a.Data)
		for _, b := range a.Attachments {
			n += len(b)
		}
	}
	return n
}
