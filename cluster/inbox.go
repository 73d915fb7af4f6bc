package cluster

import (
	"context"
	"sync"
	"sync/atomic"
)

// inbox bounds the envelopes handed to the router and not yet handled. When it is full, the stream
// handlers stop reading; HTTP/2 flow control then stops the senders, whose bounded queues fill and
// drop. So a slow Handler costs bounded memory on both sides instead of an ever-growing mailbox.
//
// The fast path is one atomic add per envelope on each side; the mutex is touched only while a stream
// handler waits.
type inbox struct {
	limit   int64
	n       atomic.Int64
	waiting atomic.Bool

	mu    sync.Mutex
	space chan struct{} // closed when an envelope is released while a handler waits
}

func newInbox(limit int) *inbox { return &inbox{limit: int64(limit)} }

// acquire takes room for one envelope, waiting while the inbox is full.
func (in *inbox) acquire(ctx context.Context) error {
	for {
		if in.n.Add(1) <= in.limit {
			return nil
		}
		in.n.Add(-1)
		in.mu.Lock()
		if in.space == nil {
			in.space = make(chan struct{})
		}
		space := in.space
		in.waiting.Store(true)
		in.mu.Unlock()
		// A release that ran before waiting was set did not signal: look again (release stores n
		// before loading waiting, this stores waiting before loading n, so one of them sees the other).
		if in.n.Load() < in.limit {
			continue
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees the room of one handled envelope.
func (in *inbox) release() {
	in.n.Add(-1)
	if in.waiting.Load() {
		in.mu.Lock()
		if in.space != nil {
			close(in.space)
			in.space = nil
		}
		in.waiting.Store(false)
		in.mu.Unlock()
	}
}
