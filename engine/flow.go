package engine

import (
	"context"
	"errors"
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
type flow struct {
	maxCount, maxBytes int64
	count, bytes       atomic.Int64
	settled            func(*actors.Broadcast) // release, bound once so that admitting allocates nothing

	waiting atomic.Bool // someone waits on room
	mu      sync.Mutex
	room    chan struct{} // closed when the budget has room again; nil when nobody waits

	waits atomic.Int64 // handler runs that had to wait (Stats)
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
	f.count.Add(1)
	f.bytes.Add(int64(b.Size))
}

func (f *flow) release(b *actors.Broadcast) {
	c := f.count.Add(-1)
	n := f.bytes.Add(-int64(b.Size))
	if f.waiting.Load() && c < f.maxCount && n < f.maxBytes {
		f.mu.Lock()
		if f.room != nil {
			close(f.room)
			f.room = nil
		}
		f.waiting.Store(false)
		f.mu.Unlock()
	}
}

func (f *flow) full() bool { return f.count.Load() >= f.maxCount || f.bytes.Load() >= f.maxBytes }

// wait returns once the budget has room, or errBackpressure after timeout, or ctx's error.
func (f *flow) wait(ctx context.Context, timeout time.Duration) error {
	if !f.full() {
		return nil
	}
	f.waits.Add(1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		f.mu.Lock()
		if f.room == nil {
			f.room = make(chan struct{})
		}
		room := f.room
		f.waiting.Store(true)
		f.mu.Unlock()
		// Checked after announcing the wait: a release either sees the flag or is seen here.
		if !f.full() {
			return nil
		}
		select {
		case <-room:
			if !f.full() {
				return nil
			}
		case <-t.C:
			return errBackpressure
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// packetBytes is a packet's size as the budgets count it: its arguments, attachments and names.
func packetBytes(p *packet.Packet) int {
	if p == nil {
		return 0
	}
	n := len(p.Name) + len(p.Namespace) + len(p.Data)
	for _, a := range p.Args {
		n += len(a.Data)
	}
	for _, a := range p.Attachments {
		n += len(a)
	}
	return n
}
