//go:build unix

package transport_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomio/roomio/transport"
)

// tcpPair returns both ends of a loopback TCP connection, the server end with a small send buffer and
// the client end with a small receive buffer, so that a client that does not read fills them soon.
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	// The client's receive buffer is set before it connects: shrinking it later strands what the
	// window already let in (the kernel then drops and retransmits it, with backoff).
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	server, client = s.(*net.TCPConn), c.(*net.TCPConn)
	server.SetWriteBuffer(4096)
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// readFrame reads one unmasked WebSocket frame (as BatchConn.WriteMessage frames them, or a control
// frame written whole): its first byte and payload.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0], p, err
}

// pingFrame is an unmasked ping without payload, as a control frame coder/websocket writes outside a
// batch (a pong or close would be the same for the BatchConn: one Write).
var pingFrame = []byte{0x89, 0x00}

// TestBatchConnTryUncorkShortWrite: a batch larger than the socket takes while the client does not
// read is written in part without blocking; the rest stays pending, goes out first when the writer
// flushes it, and a control frame written meanwhile follows it, whole.
func TestBatchConnTryUncorkShortWrite(t *testing.T) {
	server, client := tcpPair(t)
	bc := transport.NewBatchConn(server, 5*time.Second)
	if !bc.CanTryWrite() {
		t.Fatal("a TCP connection cannot try a write")
	}
	const messages, size = 2000, 1000
	if !bc.TryCork() {
		t.Fatal("TryCork on an idle connection declined")
	}
	for i := range messages {
		p := fmt.Appendf(nil, "%0*d", size, i)
		if err := bc.WriteMessage(false, p); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	flushed, err := bc.TryUncork()
	if err != nil {
		t.Fatal(err)
	}
	if flushed || !bc.Pending() {
		t.Fatalf("2 MB to a client that does not read: flushed=%v pending=%v, want a short write", flushed, bc.Pending())
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("TryUncork took %v: it must not wait for the socket", d)
	}
	if bc.TryCork() {
		t.Fatal("TryCork with bytes pending accepted a batch")
	}
	// A control frame (the reader's pong) while bytes are pending: it waits for them and follows them.
	ctl := make(chan error, 1)
	go func() { _, err := bc.Write(pingFrame); ctl <- err }()
	// The writer flushes the rest under the deadline (it blocks until the client reads).
	flush := make(chan error, 1)
	go func() { flush <- bc.Flush() }()

	r := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	pinged := false
	for i := 0; i < messages; {
		b0, p, err := readFrame(r)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if b0 == pingFrame[0] {
			pinged = true
			continue
		}
		if pinged {
			t.Fatalf("the control frame came before message %d: it overtook the pending bytes", i)
		}
		if want := fmt.Sprintf("%0*d", size, i); b0 != 0x81 || string(p) != want {
			t.Fatalf("message %d: %#x %.12q…, want text %.12q…", i, b0, p, want)
		}
		i++
	}
	if err := <-flush; err != nil {
		t.Fatal(err)
	}
	if err := <-ctl; err != nil {
		t.Fatal(err)
	}
	if !pinged {
		if b0, _, err := readFrame(r); err != nil || b0 != pingFrame[0] {
			t.Fatalf("control frame: %#x, %v", b0, err)
		}
	}
	if bc.Pending() || !bc.TryCork() {
		t.Fatal("after the flush the connection is not idle")
	}
	if flushed, err := bc.TryUncork(); !flushed || err != nil {
		t.Fatalf("empty TryUncork = %v, %v", flushed, err)
	}
}

// TestBatchConnTryUncorkBroken: a failed inline write is reported again to the writer's Flush.
func TestBatchConnTryUncorkBroken(t *testing.T) {
	server, client := tcpPair(t)
	bc := transport.NewBatchConn(server, time.Second)
	client.SetLinger(0)
	client.Close() // RST: the server's writes fail
	var err error
	for range 100 {
		if !bc.TryCork() {
			break
		}
		bc.WriteMessage(false, make([]byte, 1000))
		if _, err = bc.TryUncork(); err != nil {
			break
		}
		time.Sleep(time.Millisecond) // the RST arrives asynchronously; not synchronisation of the test's goroutines
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
	if bc.TryCork() {
		t.Error("TryCork accepted a batch on a broken connection")
	}
	if ferr := bc.Flush(); ferr == nil {
		t.Error("Flush after a failed TryUncork reported no error")
	}
}

// inlineConn is a connection served the way the front ends do: a Queue whose pushes write inline when
// the connection is idle, and a writer started on demand for the rest.
type inlineConn struct {
	q       *transport.Queue[[]byte]
	bc      *transport.BatchConn
	wg      sync.WaitGroup
	inlined atomic.Int64 // frames written inline, whole
	shorts  atomic.Int64 // inline writes left pending
	starts  atomic.Int64 // writer starts
	failed  atomic.Bool
	done    chan struct{}
}

func newInlineConn(bc *transport.BatchConn, maxBytes int) *inlineConn {
	c := &inlineConn{q: transport.NewQueue(maxBytes), bc: bc, done: make(chan struct{})}
	c.q.SetInline(transport.InlineFunc[[]byte](func(frames [][]byte) (int, bool) {
		if !c.bc.TryCork() {
			return 0, true
		}
		n := 0
		for _, f := range frames {
			if n > 0 && c.bc.Buffered() >= transport.MaxBatchBytes {
				break
			}
			c.bc.WriteMessage(false, f)
			n++
		}
		flushed, _ := c.bc.TryUncork()
		if flushed {
			c.inlined.Add(int64(n))
		} else {
			c.shorts.Add(1)
		}
		return n, flushed
	}))
	c.q.SetDrain(func() { c.starts.Add(1); c.wg.Add(1); go c.write() })
	return c
}

func (c *inlineConn) write() {
	defer c.wg.Done()
	if err := c.bc.Flush(); err != nil {
		c.failed.Store(true)
		close(c.done)
		return
	}
	var frames [][]byte
	for {
		var shut, idle bool
		frames, shut, idle = c.q.Next(frames)
		if idle {
			return
		}
		c.bc.Cork()
		for _, f := range frames {
			c.bc.WriteMessage(false, f)
		}
		if err := c.bc.Uncork(); err != nil {
			c.failed.Store(true)
			close(c.done)
			return
		}
		clear(frames)
		if shut {
			// The front ends close with CloseSlowClient after an overflow: a close frame, written whole.
			if _, err := c.bc.Write([]byte{0x88, 0x02, byte(transport.CloseSlowClient >> 8), byte(transport.CloseSlowClient & 0xff)}); err != nil {
				c.failed.Store(true)
			}
			close(c.done)
			return
		}
	}
}

// TestQueueInlineOrder: 10 000 messages pushed by several goroutines, with control frames written
// meanwhile, reach a client that reads slowly at times in each pusher's order, every frame whole; some
// go out inline, the rest through the writer (short writes included). A first message, pushed alone
// onto the idle connection with the inline budget fresh, goes out inline whatever the rest does.
func TestQueueInlineOrder(t *testing.T) {
	server, client := tcpPair(t)
	c := newInlineConn(transport.NewBatchConn(server, 10*time.Second), 64<<20)
	const pushers, each = 4, 2500
	payload := func(p, i int) []byte { return fmt.Appendf(nil, "%d:%06d:%0300d", p, i, 0) }
	transport.ResetInlineBudget()
	if ok, _ := c.q.Push(payload(pushers, 0), false); !ok { // from pusher number `pushers`, its only one
		t.Fatal("first push refused")
	}
	if c.inlined.Load() != 1 {
		t.Fatalf("the first message, pushed alone, was not written inline (%d inline, %d writer starts)",
			c.inlined.Load(), c.starts.Load())
	}

	stopPings := make(chan struct{})
	var pings sync.WaitGroup
	pings.Go(func() {
		for {
			select {
			case <-stopPings:
				return
			default:
			}
			if _, err := c.bc.Write(pingFrame); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Microsecond) // a ping now and then; no synchronisation depends on it
		}
	})
	var pw sync.WaitGroup
	for p := range pushers {
		pw.Go(func() {
			for i := range each {
				if ok, _ := c.q.Push(payload(p, i), false); !ok {
					t.Errorf("push %d:%d refused", p, i)
					return
				}
			}
		})
	}
	r := bufio.NewReader(client)
	next := make([]int, pushers+1)
	for got := 0; got < pushers*each+1; {
		b0, p, err := readFrame(r)
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if b0 == pingFrame[0] {
			if len(p) != 0 {
				t.Fatalf("ping with %d bytes of payload: frames were cut", len(p))
			}
			continue
		}
		var pi, i int
		if _, err := fmt.Sscanf(string(p), "%d:%d:", &pi, &i); err != nil || b0 != 0x81 || pi < 0 || pi > pushers {
			t.Fatalf("message %d: %#x %.20q: %v", got, b0, p, err)
		}
		if i != next[pi] {
			t.Fatalf("pusher %d: message %d, want %d", pi, i, next[pi])
		}
		if want := payload(pi, i); string(p) != string(want) {
			t.Fatalf("pusher %d message %d garbled", pi, i)
		}
		next[pi]++
		got++
		if got%1000 == 0 {
			// Stop reading for a moment: the socket buffers fill and inline writes fall short.
			time.Sleep(5 * time.Millisecond)
		}
	}
	pw.Wait()
	close(stopPings)
	pings.Wait()
	c.q.Shut()
	<-c.done
	c.wg.Wait()
	if c.failed.Load() {
		t.Fatal("a write failed")
	}
	t.Logf("%d frames inline, %d short inline writes, %d writer starts", c.inlined.Load(), c.shorts.Load(), c.starts.Load())
}

// TestQueueInlineSlowClientOverflows: a client that stops reading makes an inline write fall short, the
// writer takes over, and the pushes that follow fill the queue until it overflows; the pushers never
// block. What was written (inline or by the writer) reaches the client in order, followed by the close
// frame with CloseSlowClient that the writer sends once the queue is shut (as the front ends do).
func TestQueueInlineSlowClientOverflows(t *testing.T) {
	server, client := tcpPair(t)
	c := newInlineConn(transport.NewBatchConn(server, 5*time.Second), 64<<10)
	began := time.Now()
	overflowed := false
	pushes := 0
	for i := range 100_000 {
		pushes++
		ok, overflow := c.q.Push(fmt.Appendf(nil, "%06d:%0994d", i, 0), false)
		if overflow {
			overflowed = true
			break
		}
		if !ok {
			t.Fatal("push refused before the overflow")
		}
		// Let the writer run, so that the queue overflows because the socket is full (the writer is
		// stuck in its write), not merely because this loop outran the writer.
		runtime.Gosched()
	}
	if !overflowed {
		t.Fatal("100 MB pushed to a client that does not read, and no overflow")
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("pushing until the overflow took %v: a pusher waited for the socket", d)
	}
	if c.shorts.Load() == 0 {
		t.Error("no inline write fell short")
	}
	if ok, _ := c.q.Push([]byte("late"), false); ok {
		t.Error("push accepted after the overflow")
	}
	t.Logf("%d pushes of 1000 bytes before the overflow; %d frames inline, %d short, %d writer starts", pushes, c.inlined.Load(), c.shorts.Load(), c.starts.Load())
	// The client reads again: a prefix of the messages in order, then the close frame.
	r := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	next := 0
	for {
		b0, p, err := readFrame(r)
		if err != nil {
			t.Fatalf("after %d messages: %v", next, err)
		}
		if b0 == 0x88 {
			if len(p) < 2 || int(binary.BigEndian.Uint16(p)) != transport.CloseSlowClient {
				t.Fatalf("close frame %x, want code %d", p, transport.CloseSlowClient)
			}
			break
		}
		if want := fmt.Sprintf("%06d:", next); string(p[:7]) != want {
			t.Fatalf("message %.7q, want %q", p, want)
		}
		next++
	}
	<-c.done
	c.wg.Wait()
	if c.failed.Load() || next == 0 || next >= pushes {
		t.Errorf("writer failed %v; %d messages delivered of %d pushed before the overflow", c.failed.Load(), next, pushes)
	}
}

// TestPushNowIgnoresTheInlineShare: with the process's inline share spent, a Push onto an idle
// connection starts its writer, while a PushNow (a small fan-out's) still writes inline, on the pushing
// goroutine, before it returns.
func TestPushNowIgnoresTheInlineShare(t *testing.T) {
	server, client := tcpPair(t)
	c := newInlineConn(transport.NewBatchConn(server, 10*time.Second), 1<<20)
	transport.SpendInlineBudget(t)
	r := bufio.NewReader(client)
	expect := func(want string) {
		t.Helper()
		if _, p, err := readFrame(r); err != nil || string(p) != want {
			t.Fatalf("read %q, %v; want %q", p, err, want)
		}
	}
	if ok, _ := c.q.Push([]byte("pushed"), false); !ok {
		t.Fatal("push refused")
	}
	expect("pushed")
	c.wg.Wait() // the writer has seen the queue empty
	if c.starts.Load() != 1 || c.inlined.Load() != 0 {
		t.Fatalf("Push with the share spent: %d writer starts, %d inline", c.starts.Load(), c.inlined.Load())
	}
	if ok, _ := c.q.PushNow([]byte("now"), false); !ok {
		t.Fatal("PushNow refused")
	}
	if c.starts.Load() != 1 || c.inlined.Load() != 1 {
		t.Fatalf("PushNow with the share spent: %d writer starts, %d inline", c.starts.Load(), c.inlined.Load())
	}
	expect("now")
	if ok, _ := c.q.PushGroupNow([][]byte{[]byte("group"), []byte("of two")}, false); !ok {
		t.Fatal("PushGroupNow refused")
	}
	if c.starts.Load() != 1 || c.inlined.Load() != 3 {
		t.Fatalf("PushGroupNow with the share spent: %d writer starts, %d inline", c.starts.Load(), c.inlined.Load())
	}
	expect("group")
	expect("of two")
}
