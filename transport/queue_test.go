package transport_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests; nothing should come close to it.
const testTimeout = 10 * time.Second

func frame(s string) []byte { return []byte(s) }

// push calls q.Push and fails the test unless it reports the wanted result.
func push(t *testing.T, q *transport.Queue[[]byte], b []byte, volatile, wantOK, wantOverflow bool) {
	t.Helper()
	ok, overflow := q.Push(b, volatile)
	if ok != wantOK || overflow != wantOverflow {
		t.Fatalf("Push(%q, volatile=%v) = (ok=%v, overflow=%v), want (%v, %v)", b, volatile, ok, overflow, wantOK, wantOverflow)
	}
}

// take calls q.Take with a deadline and fails the test on error.
func take(t *testing.T, q *transport.Queue[[]byte]) (frames [][]byte, shut bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	frames, shut, err := q.Take(ctx, nil)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return frames, shut
}

func wantFrames(t *testing.T, got [][]byte, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("frame %d = %q, want %q (all: %q)", i, got[i], want[i], got)
		}
	}
}

func TestQueueOrderAndBatching(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(1 << 10)
	want := make([]string, 50)
	for i := range want {
		want[i] = fmt.Sprintf("frame-%02d", i)
		push(t, q, frame(want[i]), i%2 == 0, true, false)
	}
	// One Take hands out everything queued, in push order.
	got, shut := take(t, q)
	if shut {
		t.Fatal("Take reported shut on an open queue")
	}
	wantFrames(t, got, want...)

	// The queue is empty again: Take waits (and gives up with the context).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, _, err := q.Take(ctx, nil); !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("Take on an emptied queue = (%q, %v), want no frames and context.Canceled", got, err)
	}

	// The bytes taken no longer count against the bound.
	push(t, q, bytes.Repeat([]byte("x"), 1<<10), false, true, false)
}

func TestQueueTakeReusesDst(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(100)
	push(t, q, frame("a"), false, true, false)
	push(t, q, frame("b"), false, true, false)
	dst := make([][]byte, 3, 8)
	dst[0] = frame("stale")
	got, _, err := q.Take(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	wantFrames(t, got, "a", "b")
	if &got[0] != &dst[0] {
		t.Error("Take did not append to dst[:0]")
	}
}

func TestQueueVolatileDroppedWhenFull(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(10)
	push(t, q, frame("12345678"), false, true, false)
	// Does not fit: a volatile frame is dropped, counted, and reported as delivered.
	push(t, q, frame("abc"), true, true, false)
	push(t, q, frame("def"), true, true, false)
	if n := q.Dropped(); n != 2 {
		t.Fatalf("Dropped() = %d, want 2", n)
	}
	// A volatile frame that fits is queued.
	push(t, q, frame("gh"), true, true, false)
	got, shut := take(t, q)
	if shut {
		t.Fatal("dropping volatile frames shut the queue")
	}
	wantFrames(t, got, "12345678", "gh")
	if n := q.Dropped(); n != 2 {
		t.Fatalf("Dropped() = %d after Take, want 2", n)
	}
}

func TestQueueOverflow(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(10)
	push(t, q, frame("12345678"), false, true, false)
	// The first non-volatile frame that does not fit overflows the queue...
	push(t, q, frame("abc"), false, false, true)
	// ...which then refuses everything, without reporting overflow again.
	push(t, q, frame("d"), false, false, false)
	push(t, q, frame("e"), true, false, false)
	push(t, q, frame("this one is far too big"), false, false, false)
	if n := q.Dropped(); n != 0 {
		t.Fatalf("Dropped() = %d, want 0: refused frames are not drops", n)
	}
	// What was queued is discarded: the connection is being closed for a slow client.
	got, shut := take(t, q)
	if !shut || len(got) != 0 {
		t.Fatalf("Take after overflow = (%q, shut=%v), want no frames and shut", got, shut)
	}
	// Take keeps reporting shut without blocking.
	got, shut = take(t, q)
	if !shut || len(got) != 0 {
		t.Fatalf("second Take after overflow = (%q, shut=%v), want no frames and shut", got, shut)
	}
}

func TestQueueOversizedFrameIntoEmptyQueue(t *testing.T) {
	t.Parallel()
	for _, volatile := range []bool{false, true} {
		t.Run(fmt.Sprintf("volatile=%v", volatile), func(t *testing.T) {
			t.Parallel()
			q := transport.NewQueue(4)
			big := frame("larger than the bound")
			push(t, q, big, volatile, true, false)
			got, _ := take(t, q)
			wantFrames(t, got, string(big))
			// Once taken, the queue is empty and takes another one.
			push(t, q, big, volatile, true, false)
			// But not into a non-empty queue.
			if volatile {
				push(t, q, frame("x"), true, true, false)
				if q.Dropped() != 1 {
					t.Fatalf("Dropped() = %d, want 1", q.Dropped())
				}
			} else {
				push(t, q, frame("x"), false, false, true)
			}
		})
	}
}

func TestQueueZeroBound(t *testing.T) {
	t.Parallel()
	// A degenerate bound still delivers one frame at a time.
	q := transport.NewQueue(0)
	push(t, q, frame("a"), false, true, false)
	push(t, q, frame("b"), true, true, false)
	if q.Dropped() != 1 {
		t.Fatalf("Dropped() = %d, want 1", q.Dropped())
	}
	got, _ := take(t, q)
	wantFrames(t, got, "a")
	// Empty frames never exceed the bound.
	push(t, q, nil, false, true, false)
	push(t, q, nil, false, true, false)
}

func TestQueueShut(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(100)
	push(t, q, frame("a"), false, true, false)
	push(t, q, frame("b"), true, true, false)
	q.Shut()
	q.Shut() // idempotent
	push(t, q, frame("c"), false, false, false)
	push(t, q, frame("d"), true, false, false)
	// Queued frames are still handed out, with shut set.
	got, shut := take(t, q)
	if !shut {
		t.Fatal("Take after Shut did not report shut")
	}
	wantFrames(t, got, "a", "b")
	// Then an empty batch: nothing follows.
	got, shut = take(t, q)
	if !shut || len(got) != 0 {
		t.Fatalf("Take after draining a shut queue = (%q, shut=%v), want no frames and shut", got, shut)
	}
}

func TestQueueShutWakesTake(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(100)
	type result struct {
		frames [][]byte
		shut   bool
		err    error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		f, s, err := q.Take(ctx, nil)
		res <- result{f, s, err}
	}()
	q.Shut()
	select {
	case r := <-res:
		if r.err != nil || !r.shut || len(r.frames) != 0 {
			t.Fatalf("Take = (%q, shut=%v, %v), want no frames, shut, no error", r.frames, r.shut, r.err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shut did not wake a waiting Take")
	}
}

func TestQueueTakeHonoursContext(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(100)

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if got, shut, err := q.Take(ctx, make([][]byte, 2)); !errors.Is(err, context.DeadlineExceeded) || shut || len(got) != 0 {
		t.Fatalf("Take = (%q, shut=%v, %v), want no frames and context.DeadlineExceeded", got, shut, err)
	}

	// A Take already waiting is released by cancelling its context.
	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := q.Take(ctx, nil)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Take = %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("cancelling the context did not release Take")
	}

	// A queued frame is still there for the next Take.
	push(t, q, frame("a"), false, true, false)
	got, _ := take(t, q)
	wantFrames(t, got, "a")
}

func TestQueuePushWakesTake(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(100)
	got := make(chan [][]byte, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		f, _, _ := q.Take(ctx, nil)
		got <- f
	}()
	push(t, q, frame("a"), false, true, false)
	select {
	case f := <-got:
		wantFrames(t, f, "a")
	case <-time.After(testTimeout):
		t.Fatal("Push did not wake a waiting Take")
	}
}

// seqFrame encodes a producer id and a sequence number, padded to size bytes.
func seqFrame(producer, seq uint32, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint32(b, producer)
	binary.BigEndian.PutUint32(b[4:], seq)
	return b
}

// consume runs Take until the queue reports shut with an empty batch and returns every frame taken; it
// returns Take's error if ctx ends first.
func consume(ctx context.Context, q *transport.Queue[[]byte]) ([][]byte, error) {
	var all, buf [][]byte
	for {
		var shut bool
		var err error
		buf, shut, err = q.Take(ctx, buf)
		if err != nil {
			return all, err
		}
		all = append(all, buf...)
		if shut && len(buf) == 0 {
			return all, nil
		}
	}
}

func TestQueueConcurrentProducersInOrder(t *testing.T) {
	t.Parallel()
	const producers, perProducer = 4, 2000
	q := transport.NewQueue(1 << 30) // never full: every frame must arrive
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	var got [][]byte
	var consErr error
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		got, consErr = consume(ctx, q)
	}()

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				if ok, overflow := q.Push(seqFrame(uint32(p), uint32(i), 8+rand.IntN(32)), i%3 == 0); !ok || overflow {
					t.Errorf("producer %d: Push %d = (%v, %v)", p, i, ok, overflow)
					return
				}
			}
		})
	}
	wg.Wait()
	q.Shut()
	<-consumed
	if consErr != nil {
		t.Fatalf("consumer: %v", consErr)
	}
	if len(got) != producers*perProducer {
		t.Fatalf("consumer got %d frames, want %d", len(got), producers*perProducer)
	}
	next := make([]uint32, producers)
	for _, b := range got {
		p, seq := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		if seq != next[p] {
			t.Fatalf("producer %d: got frame %d, want %d", p, seq, next[p])
		}
		next[p]++
	}
	if q.Dropped() != 0 {
		t.Fatalf("Dropped() = %d, want 0", q.Dropped())
	}
}

func TestQueueConcurrentVolatileDrops(t *testing.T) {
	t.Parallel()
	const n = 20000
	q := transport.NewQueue(64) // eight 8-byte frames
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	var got [][]byte
	var consErr error
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		got, consErr = consume(ctx, q)
	}()
	go func() {
		for i := range n {
			if ok, overflow := q.Push(seqFrame(0, uint32(i), 8), true); !ok || overflow {
				t.Errorf("volatile Push %d = (%v, %v)", i, ok, overflow)
				break
			}
		}
		q.Shut()
	}()
	<-consumed
	if consErr != nil {
		t.Fatalf("consumer: %v", consErr)
	}
	// Every frame was either delivered, in order, or counted as dropped.
	if uint64(len(got))+q.Dropped() != n {
		t.Fatalf("delivered %d + dropped %d != pushed %d", len(got), q.Dropped(), n)
	}
	last := -1
	for _, b := range got {
		seq := int(binary.BigEndian.Uint32(b[4:]))
		if seq <= last {
			t.Fatalf("frame %d after frame %d", seq, last)
		}
		last = seq
	}
	t.Logf("delivered %d, dropped %d", len(got), q.Dropped())
}

func TestQueueConcurrentOverflow(t *testing.T) {
	t.Parallel()
	q := transport.NewQueue(64)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// The consumer takes only when told to, so the producer overflows the queue.
	step := make(chan struct{})
	var got [][]byte
	var consErr error
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		<-step
		got, consErr = consume(ctx, q)
	}()

	var overflows, refused int
	accepted := 0
	for i := range 100 {
		ok, overflow := q.Push(seqFrame(0, uint32(i), 8), false)
		switch {
		case overflow:
			overflows++
		case ok:
			if overflows > 0 || refused > 0 {
				t.Fatalf("Push %d accepted after the queue overflowed", i)
			}
			accepted++
		default:
			refused++
		}
	}
	close(step)
	<-consumed
	if consErr != nil {
		t.Fatalf("consumer: %v", consErr)
	}
	if overflows != 1 || accepted != 8 || refused != 91 {
		t.Fatalf("accepted %d, overflowed %d, refused %d; want 8, 1, 91", accepted, overflows, refused)
	}
	// The frames queued before the overflow are discarded, never delivered.
	if len(got) != 0 {
		t.Fatalf("consumer got %d frames after overflow, want none", len(got))
	}
}

func TestPushGroupIsAllOrNothing(t *testing.T) {
	q := transport.NewQueue(10)
	if ok, _ := q.PushGroup([][]byte{[]byte("abcd"), []byte("ef")}, false); !ok {
		t.Fatal("group refused by an empty queue")
	}
	// 6 queued; a volatile group of 3+3 does not fit as a whole and is dropped whole.
	if ok, overflow := q.PushGroup([][]byte{[]byte("123"), []byte("456")}, true); !ok || overflow {
		t.Fatalf("volatile group: ok=%v overflow=%v", ok, overflow)
	}
	frames, _ := take(t, q)
	if len(frames) != 2 || string(frames[0]) != "abcd" || string(frames[1]) != "ef" {
		t.Fatalf("frames %q", frames)
	}
	if q.Dropped() != 1 {
		t.Fatalf("dropped %d groups, want 1", q.Dropped())
	}
}

func TestCloseReasonCutsAtACharacter(t *testing.T) {
	short := "fine"
	if got := transport.CloseReason(short); got != short {
		t.Fatalf("%q", got)
	}
	long := strings.Repeat("a", 119) + strings.Repeat("é", 10) // byte 120 falls inside an é
	got := transport.CloseReason(long)
	if len(got) > 123 || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Fatalf("%d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

// TestQueueDrain runs the on-demand consumer against concurrent producers: one consumer at a time,
// started again after it found the queue empty, every frame delivered once and in each producer's
// order, then the shut queue seen once.
func TestQueueDrain(t *testing.T) {
	q := transport.NewQueueOf(1<<20, func(v [2]int) int { return 1 })
	var (
		running  atomic.Int32
		starts   atomic.Int32
		wg       sync.WaitGroup
		mu       sync.Mutex
		next     = map[int]int{}
		shutSeen = make(chan struct{})
	)
	consume := func() {
		defer wg.Done()
		if running.Add(1) != 1 {
			t.Error("two consumers ran at once")
		}
		defer running.Add(-1)
		var frames [][2]int
		for {
			var shut, idle bool
			frames, shut, idle = q.Next(frames)
			if idle {
				return
			}
			mu.Lock()
			for _, f := range frames {
				if f[1] != next[f[0]] {
					t.Errorf("producer %d: got frame %d, want %d", f[0], f[1], next[f[0]])
				}
				next[f[0]] = f[1] + 1
			}
			mu.Unlock()
			clear(frames)
			if shut {
				close(shutSeen)
				return
			}
		}
	}
	q.SetDrain(func() { starts.Add(1); wg.Add(1); go consume() })
	const producers, each = 4, 2000
	var pw sync.WaitGroup
	for p := range producers {
		pw.Go(func() {
			for i := range each {
				if ok, _ := q.Push([2]int{p, i}, false); !ok {
					t.Errorf("push refused")
				}
			}
		})
	}
	pw.Wait()
	q.Shut()
	<-shutSeen
	wg.Wait()
	for p := range producers {
		if next[p] != each {
			t.Errorf("producer %d: %d frames delivered, want %d", p, next[p], each)
		}
	}
	if ok, _ := q.Push([2]int{0, 0}, false); ok {
		t.Error("push accepted after Shut")
	}
	t.Logf("%d consumer starts for %d pushes", starts.Load(), producers*each)
}

// TestQueueDrainOverflow: an overflow starts the consumer, which finds the queue shut and empty.
func TestQueueDrainOverflow(t *testing.T) {
	q := transport.NewQueue(10)
	started := make(chan struct{}, 4)
	q.SetDrain(func() { started <- struct{}{} })
	q.Push([]byte("0123456789"), false)
	<-started
	// The consumer has not run yet: the queue is still marked running, so no second start.
	if ok, overflow := q.Push([]byte("x"), false); ok || !overflow {
		t.Fatalf("push over the bound: ok=%v overflow=%v", ok, overflow)
	}
	select {
	case <-started:
		t.Fatal("a second consumer was started while one was due")
	default:
	}
	frames, shut, idle := q.Next(nil)
	if len(frames) != 0 || !shut || idle {
		t.Fatalf("Next after overflow = %d frames, shut=%v, idle=%v; want none, shut", len(frames), shut, idle)
	}
}

// TestQueueDrainedHoldsNoSlice: a queue holds a frame slice only while it has frames or a consumer
// running: once a drain consumer is told idle, a Take took everything or an inline write wrote it all,
// the slices are back in the pool, and the frames pushed next are all delivered, in order.
func TestQueueDrainedHoldsNoSlice(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		q := transport.NewQueueOf(1<<20, func(v int) int { return 1 })
		q.SetDrain(func() {})
		var frames []int
		for round := range 3 {
			for i := range 40 {
				q.Push(round*100+i, false)
			}
			var idle bool
			if frames, _, idle = q.Next(frames); idle || len(frames) != 40 || frames[0] != round*100 || frames[39] != round*100+39 {
				t.Fatalf("round %d: Next = %v (idle %v), want %d..%d", round, frames, idle, round*100, round*100+39)
			}
			if !transport.HoldsSlices(q) {
				t.Fatal("the queue lets go of the batch its consumer holds")
			}
			clear(frames)
			if frames, _, idle = q.Next(frames); !idle || len(frames) != 0 {
				t.Fatalf("round %d: Next after the batch = %v (idle %v), want idle", round, frames, idle)
			}
			if transport.HoldsSlices(q) {
				t.Fatalf("round %d: an idle queue holds a slice", round)
			}
			frames = nil // the consumer ended
		}
	})
	t.Run("take", func(t *testing.T) {
		q := transport.NewQueue(1 << 20)
		q.Push([]byte("a"), false)
		q.Push([]byte("b"), false)
		got, _, err := q.Take(context.Background(), nil)
		if err != nil || len(got) != 2 || string(got[0]) != "a" || string(got[1]) != "b" {
			t.Fatalf("Take = %q, %v", got, err)
		}
		if transport.HoldsSlices(q) {
			t.Fatal("a queue Take emptied holds a slice")
		}
	})
	t.Run("inline", func(t *testing.T) {
		q := transport.NewQueue(1 << 20)
		var wrote []string
		q.SetInline(transport.InlineFunc[[]byte](func(frames [][]byte) (int, bool) {
			for _, f := range frames {
				wrote = append(wrote, string(f))
			}
			return len(frames), true
		}))
		q.SetDrain(func() { t.Error("the consumer started though the inline write wrote everything") })
		if ok, _ := q.PushNow([]byte("x"), false); !ok {
			t.Fatal("push refused")
		}
		if len(wrote) != 1 || wrote[0] != "x" {
			t.Fatalf("inline write wrote %q", wrote)
		}
		if transport.HoldsSlices(q) {
			t.Fatal("a queue its inline write emptied holds a slice")
		}
	})
}

// TestQueueHold: pushes between Hold and Release are neither written inline nor handed to the consumer;
// the last Release writes them together (one inline write), or starts the consumer, or wakes a Take.
func TestQueueHold(t *testing.T) {
	t.Run("inline", func(t *testing.T) {
		q := transport.NewQueue(1 << 20)
		var writes [][]string
		q.SetInline(transport.InlineFunc[[]byte](func(frames [][]byte) (int, bool) {
			var w []string
			for _, f := range frames {
				w = append(w, string(f))
			}
			writes = append(writes, w)
			return len(frames), true
		}))
		q.SetDrain(func() { t.Error("the consumer started though the inline write wrote everything") })
		q.Hold()
		q.PushNow([]byte("a"), false)
		q.Hold() // nested
		q.Push([]byte("b"), false)
		q.Release()
		if len(writes) != 0 {
			t.Fatalf("written while held: %q", writes)
		}
		q.PushGroupNow([][]byte{[]byte("c"), []byte("d")}, false)
		q.Release()
		if len(writes) != 1 || strings.Join(writes[0], "") != "abcd" {
			t.Fatalf("writes after the last Release = %q, want one of abcd", writes)
		}
		q.Hold()
		q.Release() // nothing pushed: nothing written
		q.PushNow([]byte("e"), false)
		if len(writes) != 2 || strings.Join(writes[1], "") != "e" {
			t.Fatalf("writes after the hold = %q, want e written at once", writes)
		}
	})
	t.Run("drain", func(t *testing.T) {
		q := transport.NewQueue(1 << 20)
		var starts int
		q.SetDrain(func() { starts++ })
		q.Hold()
		q.Push([]byte("a"), false)
		if starts != 0 {
			t.Fatal("the consumer started while held")
		}
		q.Release()
		if starts != 1 {
			t.Fatalf("%d consumer starts after Release, want 1", starts)
		}
		if frames, _, idle := q.Next(nil); idle || len(frames) != 1 || string(frames[0]) != "a" {
			t.Fatalf("Next = %q, idle %v", frames, idle)
		}
	})
	t.Run("take", func(t *testing.T) {
		// A Take already waiting when the frame is pushed under a hold gets it from the Release's
		// signal (the held push gives none).
		q := transport.NewQueue(1 << 20)
		took := make(chan [][]byte)
		go func() {
			got, _, _ := q.Take(context.Background(), nil)
			took <- got
		}()
		for !transport.TakeWaiting(q) {
			runtime.Gosched()
		}
		q.Hold()
		q.Push([]byte("a"), false)
		q.Release()
		if got := <-took; len(got) != 1 || string(got[0]) != "a" {
			t.Fatalf("Take = %q", got)
		}
	})
	t.Run("overflow", func(t *testing.T) {
		q := transport.NewQueue(4)
		var starts int
		q.SetDrain(func() { starts++ })
		q.Hold()
		q.Push([]byte("abc"), false)
		if ok, overflow := q.Push([]byte("de"), false); ok || !overflow {
			t.Fatalf("push over the bound while held = %v, %v; want refused, overflow", ok, overflow)
		}
		if starts != 1 {
			t.Fatalf("an overflow while held started the consumer %d times, want 1 (to close)", starts)
		}
		q.Release()
	})
}

// BenchmarkQueueBurst: a drain consumer's cycle under a sustained load, bursts of 64 frames (more than a
// queue keeps for itself when idle) pushed, taken by Next and written; allocations per burst are the
// frame slices the queue grows.
func BenchmarkQueueBurst(b *testing.B) {
	q := transport.NewQueueOf(1<<20, func(v [2]int) int { return 1 })
	q.SetDrain(func() {})
	var frames [][2]int
	b.ReportAllocs()
	for b.Loop() {
		for i := range 64 {
			q.Push([2]int{0, i}, false)
		}
		var idle bool
		if frames, _, idle = q.Next(frames); idle || len(frames) != 64 {
			b.Fatalf("Next: %d frames, idle %v", len(frames), idle)
		}
		clear(frames)
		if frames, _, idle = q.Next(frames); !idle {
			b.Fatal("Next after the burst is not idle")
		}
	}
}
