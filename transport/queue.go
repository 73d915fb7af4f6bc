package transport

import (
	"context"
	"sync"
)

// Queue is a connection's bounded outbound queue of encoded frames. Producers (actors, the engine) Push;
// the connection's single writer Takes everything queued at once, so a burst is written with one syscall.
//
// Policy when full: a volatile frame is dropped and counted; any other frame overflows the queue, which
// then refuses everything and reports overflow so the connection is closed with CloseSlowClient. A slow
// client therefore never blocks a producer, and its memory stays under the bound.
type Queue struct {
	mu      sync.Mutex
	frames  [][]byte
	size    int
	max     int
	done    bool // no more pushes accepted
	dropped uint64
	ready   chan struct{} // capacity 1: "something to do"
}

// NewQueue returns a queue holding at most maxBytes of frames. A single frame larger than maxBytes is
// accepted when the queue is empty, so the limit never makes a message undeliverable.
func NewQueue(maxBytes int) *Queue {
	return &Queue{max: maxBytes, ready: make(chan struct{}, 1)}
}

// Push queues b. It reports false when the queue has been closed or just overflowed; overflow is true
// only for the push that overflowed it.
func (q *Queue) Push(b []byte, volatile bool) (ok, overflow bool) {
	q.mu.Lock()
	if q.done {
		q.mu.Unlock()
		return false, false
	}
	if q.size+len(b) > q.max && q.size > 0 {
		if volatile {
			q.dropped++
			q.mu.Unlock()
			return true, false
		}
		q.done = true
		q.frames, q.size = nil, 0
		q.mu.Unlock()
		q.signal()
		return false, true
	}
	q.frames = append(q.frames, b)
	q.size += len(b)
	q.mu.Unlock()
	q.signal()
	return true, false
}

// Shut refuses further pushes; frames already queued are still handed to Take.
func (q *Queue) Shut() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	q.signal()
}

func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Take waits until frames are queued or the queue is shut, then returns all queued frames, appended to
// dst[:0], and whether the queue is shut (no frame will follow once it returns an empty batch with shut
// set). It returns ctx.Err() when ctx ends first.
func (q *Queue) Take(ctx context.Context, dst [][]byte) (frames [][]byte, shut bool, err error) {
	for {
		q.mu.Lock()
		if len(q.frames) > 0 || q.done {
			dst = append(dst[:0], q.frames...)
			clear(q.frames)
			q.frames, q.size = q.frames[:0], 0
			shut = q.done
			q.mu.Unlock()
			return dst, shut, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return dst[:0], false, ctx.Err()
		}
	}
}

// Dropped returns how many volatile frames were dropped because the queue was full.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
