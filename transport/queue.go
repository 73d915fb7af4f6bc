package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is a connection's bounded outbound queue of encoded frames. Producers (actors, the engine) Push;
// the connection's single writer Takes everything queued at once, so a burst is written with one syscall.
//
// Policy when full: a volatile frame is dropped and counted; any other frame overflows the queue, which
// then refuses everything and reports overflow so the connection is closed with CloseSlowClient. A slow
// client therefore never blocks a producer, and its memory stays under the bound.
//
// A consumer either waits in Take (a long-polling request), or is started on demand (SetDrain): a
// connection then has no writer goroutine while it has nothing to write.
//
// T is what the connection writes: encoded frames ([]byte) for the native protocol, or a front-end's own
// frame type; size tells how many bytes one occupies.
type Queue[T any] struct {
	mu sync.Mutex
	// cur holds the queued frames, oldest first, and spare the batch the drain consumer was last given
	// (Next); both are slices of the pool shared by the queues of T, nil while the queue has no use for
	// them: a queue with nothing queued and no consumer running holds no slice.
	cur, spare *[]T
	pool       *sync.Pool
	sizeOf     func(T) int
	size       int
	max        int
	dropped    uint64
	ready      chan struct{} // capacity 1: "something to do"; made by the first Take (drained queues never wait)
	meter      *MeterShard   // nil: not counted
	start      func()        // SetDrain's consumer starter; nil: consumers Take
	inline     InlineWriter[T]
	held       int32 // Hold calls not yet released: pushes queue without writing or waking the consumer
	done       bool  // no more pushes accepted
	running    bool  // a drain consumer is running (or about to): no other is started
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
	return &Queue[T]{max: maxBytes, sizeOf: size, pool: poolOf[T]()}
}

// The frame slices of every queue of T come from one pool (framePools, keyed by framePool[T]): a push
// to a queue without a slice takes one, a queue gives its slices back when it is drained (Next reports
// idle, Take takes all, an inline write empties it), so under load the connections' batches reuse a
// few slices instead of each batch growing one from nothing, and an idle connection holds none. The
// pool holds *[]T, so that a slice goes in and out without being boxed again; each is empty, and its
// elements up to its capacity are zero.
type framePool[T any] struct{}

var framePools sync.Map

func poolOf[T any]() *sync.Pool {
	if p, ok := framePools.Load(framePool[T]{}); ok {
		return p.(*sync.Pool)
	}
	p, _ := framePools.LoadOrStore(framePool[T]{}, new(sync.Pool))
	return p.(*sync.Pool)
}

// maxPooledFrames is the largest slice (in frames) given back to the pool; a larger one, from a rare
// burst, is left to the collector.
const maxPooledFrames = 1024

// getFrames returns an empty slice from the pool, or a new one.
func (q *Queue[T]) getFrames() *[]T {
	if b, ok := q.pool.Get().(*[]T); ok {
		return b
	}
	return new([]T)
}

// putFrames clears b's frames (nothing refers to their bytes through it any more) and gives it back to
// the pool; nil is ignored.
func (q *Queue[T]) putFrames(b *[]T) {
	if b == nil {
		return
	}
	clear(*b)
	if cap(*b) > maxPooledFrames {
		return
	}
	*b = (*b)[:0]
	q.pool.Put(b)
}

// queued returns how many frames are queued. Called with q.mu held.
func (q *Queue[T]) queued() int {
	if q.cur == nil {
		return 0
	}
	return len(*q.cur)
}

// Push queues b. It reports false when the queue has been closed or just overflowed; overflow is true
// only for the push that overflowed it.
func (q *Queue[T]) Push(b T, volatile bool) (ok, overflow bool) {
	return q.push([]T{b}, volatile, false)
}

// PushNow is Push for a push from a small fan-out (a room of a few members): its inline write
// (SetInline) is not held to InlineShare, which is there to keep a large fan-out from paying all its
// members' system calls on one goroutine; a handful of writes the pushing goroutine can afford, and it
// saves each member's writer a start. Its time still counts in the share.
func (q *Queue[T]) PushNow(b T, volatile bool) (ok, overflow bool) {
	return q.push([]T{b}, volatile, true)
}

// PushGroup queues frames that must stay together (a message and its binary attachments): all of them
// or none, under the same policy as Push.
func (q *Queue[T]) PushGroup(frames []T, volatile bool) (ok, overflow bool) {
	return q.push(frames, volatile, false)
}

// PushGroupNow is PushGroup for a push from a small fan-out, as PushNow.
func (q *Queue[T]) PushGroupNow(frames []T, volatile bool) (ok, overflow bool) {
	return q.push(frames, volatile, true)
}

func (q *Queue[T]) push(frames []T, volatile, now bool) (ok, overflow bool) {
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
		q.putFrames(q.cur)
		q.cur, q.size = nil, 0
		q.wake()
		return false, true
	}
	if q.cur == nil {
		q.cur = q.getFrames()
	}
	*q.cur = append(*q.cur, frames...)
	q.size += n
	q.meter.queued(n)
	if q.held > 0 {
		q.mu.Unlock() // Release writes it, or hands it over
		return true, false
	}
	if q.inline != nil && q.start != nil && !q.running {
		if t0, ok := inlineBudget.take(); ok || now {
			q.writeInline()
			inlineBudget.spent(t0)
			return true, false
		}
	}
	q.wake()
	return true, false
}

// InlineWriter writes what a push found queued on an idle connection (Queue.SetInline). An interface,
// not a func value: the connection's writer implements it, where a method value would be one more
// object per connection for every delivery to reach (a cache miss each, in a large room's fan-out).
type InlineWriter[T any] interface {
	// WriteInline is given the queued frames and returns how many of them it took (from the front) and
	// whether they are all written.
	WriteInline(frames []T) (n int, flushed bool)
}

// InlineFunc adapts a function to InlineWriter.
type InlineFunc[T any] func(frames []T) (n int, flushed bool)

// WriteInline calls f.
func (f InlineFunc[T]) WriteInline(frames []T) (int, bool) { return f(frames) }

// Hold makes pushes queue without being written or handed to the consumer until the matching Release,
// so that several frames pushed from one goroutine in a moment (a room hook that emits to the room,
// its sender included, and answers the sender) go out in one write instead of one each. Holds nest. A
// consumer already running still takes what is pushed; Shut and an overflow are not held.
func (q *Queue[T]) Hold() {
	q.mu.Lock()
	q.held++
	q.mu.Unlock()
}

// Release ends a Hold. Once no hold is left, what was pushed meanwhile is written at once on the
// calling goroutine when the connection is idle (as PushNow would: a hold covers a moment's pushes to
// one connection), or handed to the consumer.
func (q *Queue[T]) Release() {
	q.mu.Lock()
	q.held--
	if q.held > 0 || q.queued() == 0 {
		q.mu.Unlock()
		return
	}
	if q.inline != nil && q.start != nil && !q.running {
		t0, _ := inlineBudget.take()
		q.writeInline()
		inlineBudget.spent(t0)
		return
	}
	q.wake()
}

// SetInline lets the push that finds an idle drained queue (SetDrain: no consumer running, nothing
// queued before it) write what is queued itself, on its own goroutine, instead of starting the consumer
// (w.WriteInline). It must not block (one non-blocking write attempt), and must keep what it took but
// did not write for the consumer to write first (flushed false). Frames it did not take go back to the
// front of the queue. Unless everything was taken and written and nothing was pushed meanwhile, the
// consumer is started as usual; while it writes, other pushes queue behind it, so the order holds.
// nil turns it off. Call it before SetDrain.
func (q *Queue[T]) SetInline(w InlineWriter[T]) {
	q.mu.Lock()
	q.inline = w
	q.mu.Unlock()
}

// InlineShare is the share of one CPU (in 1/1000) the process's inline writes may take (SetInline),
// over windows of inlineWindow: beyond it, pushes start the connections' writers as without inline
// writes. Below saturation every delivery is written inline, on the pushing goroutine, one write(2)
// each and no goroutine start; at saturation a fan-out goroutine would otherwise pay the syscalls of
// all its members serially, one write per message, while writers started on demand gather what is
// pushed meanwhile into batches and spread the writes over the cores.
const InlineShare = 250

const inlineWindow = 100 * time.Millisecond

// QuietBeforePark is how long a WebSocket's reader waits for the client's next bytes, once it has read
// everything that came, before it parks the connection in the server's poller (transport/netpoll) and
// its goroutine ends. A client that talks more often than that (request and response, a game's inputs)
// is read on by the same goroutine, as a blocking reader would: parking it after every message would
// cost an epoll re-arm and a hand-over to a worker per message. An idle connection holds its reader
// that much longer after its last message.
const QuietBeforePark = 100 * time.Millisecond

// inlineBudget meters the inline writes' time (InlineShare per inlineWindow), process-wide.
var inlineBudget budget

type budget struct {
	start atomic.Int64 // the window's start, in ns since epoch0
	used  atomic.Int64 // ns of inline writes in the window
}

// epoch0 makes budget times monotonic (time.Since uses the monotonic clock).
var epoch0 = time.Now()

// take reports whether an inline write may start now, and the time it starts.
func (b *budget) take() (int64, bool) {
	now := int64(time.Since(epoch0))
	if w := b.start.Load(); now-w >= int64(inlineWindow) {
		if b.start.CompareAndSwap(w, now) {
			b.used.Store(0)
		}
	}
	return now, b.used.Load() < int64(inlineWindow)*InlineShare/1000
}

// spent counts the inline write that started at t0.
func (b *budget) spent(t0 int64) {
	b.used.Add(int64(time.Since(epoch0)) - t0)
}

// writeInline runs the inline writer on what is queued, as the consumer would (running is set, so no
// consumer starts meanwhile), then hands over to the consumer if anything is left. Called with q.mu
// held; it unlocks it.
func (q *Queue[T]) writeInline() {
	q.running = true
	held := q.cur // like Next: the batch in hand is the writer's, no longer the queue's
	q.cur, q.size = nil, 0
	frames := *held
	q.mu.Unlock()

	n, flushed := q.inline.WriteInline(frames)

	q.mu.Lock()
	clear(frames[:n])
	if n < len(frames) {
		// Not taken: back in front of what was pushed meanwhile (even if the queue was shut meanwhile:
		// Next still hands them to the consumer, which decides as for any queued frame).
		for _, f := range frames[n:] {
			q.size += q.sizeOf(f)
		}
		k := copy(frames, frames[n:])
		clear(frames[k:])
		frames = frames[:k]
		if q.cur != nil {
			frames = append(frames, *q.cur...)
			q.putFrames(q.cur)
		}
		*held = frames
		q.cur = held
	} else {
		*held = frames[:0]
		q.putFrames(held)
		if flushed && q.queued() == 0 && !q.done {
			q.running = false
			q.mu.Unlock()
			return
		}
	}
	q.mu.Unlock()
	q.start()
}

// Shut refuses further pushes; frames already queued are still handed to Take (or the drain consumer).
func (q *Queue[T]) Shut() {
	q.mu.Lock()
	q.done = true
	q.wake()
}

// wake tells the consumer that there is something to do, and unlocks q.mu: it starts the drain consumer
// when none runs (outside the lock), or signals a waiting Take.
func (q *Queue[T]) wake() {
	if q.start != nil {
		start := !q.running
		q.running = true
		q.mu.Unlock()
		if start {
			q.start()
		}
		return
	}
	ready := q.ready // nil until a Take waits: nothing to signal
	q.mu.Unlock()
	select {
	case ready <- struct{}{}:
	default:
	}
}

// SetDrain makes the queue start its consumer on demand instead of waking a Take: start is called,
// outside the queue's lock and at most once until the consumer has seen the queue empty, by the Push or
// Shut that gives an idle queue something to do (and by SetDrain itself when there is already). start
// must not block (it starts a goroutine); the consumer calls Next until Next reports idle, then stops.
// Take must not be used while a drain is set; SetDrain(nil) returns to Take once no consumer runs.
func (q *Queue[T]) SetDrain(start func()) {
	q.mu.Lock()
	q.start = start
	if start != nil && (q.queued() > 0 || q.done) {
		q.wake()
		return
	}
	q.mu.Unlock()
}

// Next is the drain consumer's Take that does not wait: it returns everything queued and whether the
// queue is shut. dst must be the batch Next returned last, once written and cleared by the caller (nil
// at the consumer's start): its slice is reused for what is pushed next, so a busy connection swaps two
// slices. When nothing is queued and the queue is not shut it returns idle: the consumer must stop, and
// the next Push starts a new one; both slices go back to the pool then, so that an idle connection
// keeps none. After it returned shut, no consumer is started again.
func (q *Queue[T]) Next(dst []T) (frames []T, shut, idle bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.spare != nil {
		*q.spare = dst[:0]
	}
	if q.queued() == 0 && !q.done {
		q.running = false
		q.putFrames(q.cur)
		q.putFrames(q.spare)
		q.cur, q.spare = nil, nil
		return nil, false, true
	}
	if q.cur != nil {
		frames = *q.cur
	}
	q.cur, q.spare, q.size = q.spare, q.cur, 0
	return frames, q.done, false
}

// Take waits until frames are queued or the queue is shut, then returns all queued frames, appended to
// dst[:0], and whether the queue is shut (no frame will follow once it returns an empty batch with shut
// set). It returns ctx.Err() when ctx ends first.
func (q *Queue[T]) Take(ctx context.Context, dst []T) (frames []T, shut bool, err error) {
	for {
		q.mu.Lock()
		if q.queued() > 0 || q.done {
			dst = dst[:0]
			if q.cur != nil {
				dst = append(dst, *q.cur...)
				q.putFrames(q.cur)
			}
			q.cur, q.size = nil, 0
			shut = q.done
			q.mu.Unlock()
			return dst, shut, nil
		}
		if q.ready == nil {
			q.ready = make(chan struct{}, 1)
		}
		ready := q.ready
		q.mu.Unlock()
		select {
		case <-ready:
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
