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
//
// T is what the connection writes: encoded frames ([]byte) for the native protocol, or a front-end's own
// frame type; size tells how many bytes one occupies.
type Queue[T any] struct {
	mu      sync.Mutex
	frames  []T
	sizeOf  func(T) int
	size    int
	max     int
	done    bool // no more pushes accepted
	dropped uint64
	ready   chan struct{} // capacity 1: "something to do"
	meter   *MeterShard   // nil: not counted
}

// SetMeter makes the queue count what it accepts and drops on m (nil: nothing). Call it before the first
// Push.
func (q *Queue[T]) SetMeter(m *MeterShard) { q.meter = m }

// NewQueue returns a queue holding at most maxBytes of frames. A single frame larger than maxBytes is
// accepted when the queue is empty, so the limit never makes a message undeliverable.
func NewQueue(maxBytes int) *Queue[[]byte] {
	return NewQueueOf(maxBytes, func(b []byte) int { return len(b) })
}

// NewQueueOf returns a queue of T holding at most maxBytes, as measured by size.
func NewQueueOf[T any](maxBytes int, size func(T) int) *Queue[T] {
	return &Queue[T]{max: maxBytes, sizeOf: size, ready: make(chan struct{}, 1)}
}

// Push queues b. It reports false when the queue has been closed or just overflowed; overflow is true
// only for the push that overflowed it.
func (q *Queue[T]) Push(b T, volatile bool) (ok, overflow bool) {
	return q.PushGroup([]T{b}, volatile)
}

// PushGroup queues frames that must stay together (a message and its binary attachments): all of them
// or none, under the same policy as Push.
func (q *Queue[T]) PushGroup(frames []T, volatile bool) (ok, overflow bool) {
	n := 0
	for _, f := range frames {
		n += q.sizeOf(f)
	}
	q.mu.Lock()
	if q.done {
		q.mu.Unlock()
		return false, false
	}
	if q.size+n > q.max && q.size > 0 {
		if volatile {
			q.dropped++
			q.mu.Unlock()
			q.meter.drop()
			return true, false
		}
		q.done = true
		q.frames, q.size = nil, 0
		q.mu.Unlock()
		q.signal()
		return false, true
	}
	q.frames = append(q.frames, frames...)
	q.size += n
	q.mu.Unlock()
	q.meter.queued(n)
	q.signal()
	return true, false
}

// Shut refuses further pushes; frames already queued are still handed to Take.
func (q *Queue[T]) Shut() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	q.signal()
}

func (q *Queue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Take waits until frames are queued or the queue is shut, then returns all queued frames, appended to
// dst[:0], and whether the queue is shut (no frame will follow once it returns an empty batch with shut
// set). It returns ctx.Err() when ctx ends first.
func (q *Queue[T]) Take(ctx context.Context, dst []T) (frames []T, shut bool, err error) {
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
func (q *Queue[T]) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
