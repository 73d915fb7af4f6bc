package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Buffer sizes of a hijacked WebSocket connection. coder/websocket reads frame headers through the
// reader and writes every frame through the writer, then flushes it into the [BatchConn] under it, which
// gathers a batch anyway: neither needs net/http's 4 KiB. A read of a payload at least as large as the
// reader's buffer goes straight to the socket. Data messages do not go through the writer at all
// (BatchConn.WriteMessage); coder/websocket writes only control frames (pong, close) and the upgrade's
// probe through it, and each must reach the BatchConn in one Write, which its lock keeps whole among the
// batches: the writer holds the largest control frame, a 2-byte header and 125 bytes of payload (RFC
// 6455 §5.5), and nothing more, since every connection keeps it for its whole life.
const (
	hijackReadBuffer  = 512
	hijackWriteBuffer = 128
)

// maxControlFrame is a server's largest control frame (unmasked): hijackWriteBuffer must hold it, or the
// constant conversion below fails to compile.
const maxControlFrame = 2 + 125

const _ = uint(hijackWriteBuffer - maxControlFrame)

// UpgradeWriter is the http.ResponseWriter to give websocket.Accept: its Hijack hands coder/websocket a
// [BatchConn] over the hijacked connection with small buffers (hijackReadBuffer, hijackWriteBuffer)
// instead of net/http's two 4 KiB ones, which an idle connection would otherwise hold for its lifetime.
// Bytes the client sent after its request (already in net/http's reader) are carried over.
type UpgradeWriter struct {
	http.ResponseWriter
	// Wrap, when set, wraps the hijacked connection first (under the BatchConn).
	Wrap func(net.Conn) net.Conn
	// WriteTimeout bounds each write to the connection (a batch, or a control frame coder/websocket
	// writes). Zero means no bound.
	WriteTimeout time.Duration
	// Conn is the connection handed to coder/websocket, set by a successful Hijack.
	Conn *BatchConn
	// Reader is the buffered reader coder/websocket reads the connection through, set by a successful
	// Hijack. Between messages, Reader.Buffered() == 0 means the reader has taken every byte that came
	// off the socket (see Carried), so the connection can wait for the next one without a goroutine
	// (package transport/netpoll).
	Reader *bufio.Reader
	// Carried is how many bytes the client sent after its request, already read by net/http at the
	// hijack. websocket.Accept moves them from Reader's buffer to a reader ahead of the socket, where
	// Reader.Buffered() does not count them, until the first read of a message takes them all (they
	// fit in Reader's buffer): a reader parks only after that read.
	Carried int
}

// Hijack implements http.Hijacker.
func (w *UpgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if w.Wrap != nil {
		c = w.Wrap(c)
	}
	bc := NewBatchConn(c, w.WriteTimeout)
	w.Conn = bc
	n := brw.Reader.Buffered()
	var r io.Reader = bc
	if n > 0 {
		pending, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), bc)
	}
	br := bufio.NewReaderSize(r, max(hijackReadBuffer, n))
	if n > 0 {
		br.Peek(n) // into br's buffer: websocket.Accept keeps what is buffered and resets the reader
	}
	w.Reader, w.Carried = br, n
	return bc, bufio.NewReadWriter(br, bufio.NewWriterSize(bc, hijackWriteBuffer)), nil
}

// parkedBuffers holds read buffers that parked connections let go (ReleaseWhileParked): whole
// bufio.Readers, since bufio takes no buffer of the caller's.
var parkedBuffers sync.Pool

// ReleaseWhileParked returns the function for netpoll.Conn.OnPark that lets br's buffer go while its
// connection is parked: an idle connection then keeps the reader's struct (~100 B), not its buffer
// (hijackReadBuffer). When the connection stops being parked, br gets a buffer again (one a parked
// connection let go, or a new one) and reads from src. The poller parks a connection only when br holds
// no unread byte, and calls the function before anything may read br again.
func ReleaseWhileParked(br *bufio.Reader, src io.Reader) func(parked bool) {
	return func(parked bool) {
		if parked {
			held := new(bufio.Reader)
			*held = *br
			*br = bufio.Reader{}
			parkedBuffers.Put(held)
			return
		}
		if held, ok := parkedBuffers.Get().(*bufio.Reader); ok {
			*br = *held // held is dropped: nothing else refers to its buffer
			br.Reset(src)
			return
		}
		*br = *bufio.NewReaderSize(src, hijackReadBuffer)
	}
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (w *UpgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// BatchConn is a net.Conn whose writes can be gathered: between Cork and Uncork every Write is appended
// to a buffer, and Uncork writes the buffer with one syscall under one write deadline. A writer corks
// the connection, writes a batch of WebSocket messages through coder/websocket (which flushes each
// message into the connection), then uncorks: the client gets the whole batch in one write instead of
// one per message, and no per-message context or timer is needed. Outside a batch, writes (control
// frames the reader answers, the close frame) go straight to the connection, in order with the batches.
//
// A batch may instead end with TryUncork, which never blocks: one non-blocking write attempt, and what
// the socket did not take stays pending in the connection, ahead of anything written later (Flush, the
// next Uncork or a direct Write sends it first, under the deadline).
//
// The write deadline is amortised: it is set to now+timeout only when the one in place ends in less than
// 90 % of the timeout, so a busy connection sets it about once every timeout/10 rather than per write; a
// write is then cut after between 0.9× and 1× the timeout.
// Its methods are safe for concurrent use.
type BatchConn struct {
	net.Conn
	timeout time.Duration
	rc      syscall.RawConn        // the socket's descriptor, for TryUncork; nil: TryUncork never writes
	onClose atomic.Pointer[func()] // run by the first Close (OnClose); closedHook once Close ran

	mu       sync.Mutex // held across the connection's Write: keeps batches and direct writes in order
	corked   bool
	buf      *[]byte   // the batch's bytes while corked, or the pending remainder of a TryUncork; from batchPool
	pending  bool      // buf holds bytes a TryUncork left unwritten (not corked)
	failed   error     // a TryUncork's write failed: the connection is broken, Flush and Uncork report it
	deadline time.Time // the write deadline in place (zero: none)

	// tryWrite's non-blocking write, built once (a func value passed to RawConn.Write would otherwise
	// be allocated per write), and its argument and results; guarded by mu.
	rawWrite func(fd uintptr) bool
	rawBuf   []byte
	rawN     int
	rawErr   error
}

// NewBatchConn returns a BatchConn over c whose writes are bounded by timeout (zero: no bound). When c
// exposes its descriptor (syscall.Conn: a TCP or Unix socket, not TLS), TryUncork can write without
// blocking.
func NewBatchConn(c net.Conn, timeout time.Duration) *BatchConn {
	bc := &BatchConn{Conn: c, timeout: timeout}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil && canRawWrite {
			bc.rc = rc
			bc.rawWrite = bc.writeFD
		}
	}
	return bc
}

// CanTryWrite reports whether TryUncork can write (the connection exposes its descriptor).
func (c *BatchConn) CanTryWrite() bool { return c.rc != nil }

// RawConn returns the socket's descriptor (syscall.RawConn), or nil when the connection does not
// expose it (TLS, a wrapper that hides it, a platform without write(2) on descriptors).
func (c *BatchConn) RawConn() syscall.RawConn { return c.rc }

// closedHook marks a BatchConn whose Close has run.
var closedHook = new(func())

// OnClose makes f run once, by the first Close, before the connection closes (to take the socket out
// of a poller: a closed descriptor leaves epoll without an event). It reports false, and f will not
// run, when Close has run already or a function was set before.
func (c *BatchConn) OnClose(f func()) bool { return c.onClose.CompareAndSwap(nil, &f) }

// Close closes the connection, after running what OnClose set (the first time). Every close of a
// connection a reader may park must go through it rather than through the net.Conn under it.
func (c *BatchConn) Close() error {
	if f := c.onClose.Swap(closedHook); f != nil && f != closedHook {
		(*f)()
	}
	return c.Conn.Close()
}

// batchPool recycles batch buffers between connections (and ReadMessage's read buffers): an idle
// connection holds none.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBatch is the largest buffer put back in batchPool; a larger one (a burst of big messages) is
// left to the collector.
const maxPooledBatch = 64 << 10

// Write implements net.Conn: while corked it appends p to the batch. Otherwise it writes what a
// TryUncork left pending, then p.
func (c *BatchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		if c.buf == nil {
			c.buf = batchPool.Get().(*[]byte)
		}
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	if c.pending {
		*c.buf = append(*c.buf, p...)
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	c.arm()
	return c.Conn.Write(p)
}

// deadlineSlack is the share of the timeout a deadline in place may have used before arm sets a new one.
const deadlineSlack = 10

// arm makes sure a write deadline is in place for the write about to start, ending between 0.9× and 1×
// the timeout from now: it is set again only when less than 90 % of the timeout remains, so a busy
// connection does not pay a SetWriteDeadline per write. It is left in place afterwards (every blocking
// write arms first, so a stale one never fails a later write). The caller holds c.mu.
func (c *BatchConn) arm() {
	if c.timeout <= 0 {
		return
	}
	now := time.Now()
	if c.deadline.Sub(now) >= c.timeout-c.timeout/deadlineSlack {
		return
	}
	c.deadline = now.Add(c.timeout)
	c.Conn.SetWriteDeadline(c.deadline)
}

// WriteMessage appends p to the batch as one WebSocket data message: a single unmasked frame with FIN
// set (RFC 6455 §5.2), text or binary, without compression (RSV1 clear, valid with or without
// permessage-deflate, §7 of RFC 7692). It is coder/websocket's Write without its per-message locks and
// copies: the writer that owns the connection's data messages calls it between Cork and Uncork.
// coder/websocket still writes the control frames (pong, close), each with one Write, which the
// connection's lock keeps whole and in order with the batch. It returns an error when not corked.
func (c *BatchConn) WriteMessage(isBinary bool, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return errNotCorked
	}
	if c.buf == nil {
		c.buf = batchPool.Get().(*[]byte)
	}
	b := *c.buf
	op := byte(0x1) // text
	if isBinary {
		op = 0x2
	}
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	*c.buf = append(b, p...)
	return nil
}

var errNotCorked = errors.New("transport: WriteMessage outside a batch")

// Buffered returns how many bytes the batch holds so far.
func (c *BatchConn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return 0
	}
	return len(*c.buf)
}

// MaxBatchBytes is how many bytes a writer gathers before it uncorks within a batch: a burst of large
// messages goes out in writes of about this size rather than all at once, so the batch buffer stays
// small beside the queue's bound.
const MaxBatchBytes = 64 << 10

// Cork starts a batch: writes are gathered until Uncork.
func (c *BatchConn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork ends a batch: what was written since Cork (after what a TryUncork left pending) goes to the
// connection in one write, bounded by the write timeout. An error means the connection is broken (the
// caller closes it).
func (c *BatchConn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

// Flush writes what a TryUncork left pending, bounded by the write timeout (nothing when nothing is).
func (c *BatchConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		return nil
	}
	return c.flushLocked()
}

// Pending reports whether a TryUncork left bytes unwritten (Flush or Uncork sends them).
func (c *BatchConn) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

// flushLocked writes c.buf whole under the deadline and releases it. The caller holds c.mu.
func (c *BatchConn) flushLocked() error {
	if c.failed != nil {
		if c.buf != nil {
			release(c.buf)
			c.buf = nil
		}
		return c.failed
	}
	c.pending = false
	if c.buf == nil {
		return nil
	}
	b := c.buf
	c.buf = nil
	var err error
	if len(*b) > 0 {
		c.arm()
		_, err = c.Conn.Write(*b)
	}
	release(b)
	return err
}

// release returns a batch buffer to the pool unless it grew too large.
func release(b *[]byte) {
	if cap(*b) <= maxPooledBatch {
		*b = (*b)[:0]
		batchPool.Put(b)
	}
}

// TryCork starts a batch like Cork, unless the connection is busy (another goroutine is writing to it:
// a control frame, a blocked flush) or bytes are pending: then it reports false and nothing changes. It
// never waits, so a producer can try to write a batch itself without blocking.
func (c *BatchConn) TryCork() bool {
	if c.rc == nil || !c.mu.TryLock() {
		return false
	}
	if c.pending || c.corked || c.failed != nil {
		c.mu.Unlock()
		return false
	}
	c.corked = true
	c.mu.Unlock()
	return true
}

// TryUncork ends a batch started by TryCork with one non-blocking write: the socket takes what fits in
// its buffer, and no deadline is needed since the write cannot block. It reports whether everything was
// written; if not (the client reads slowly, or its socket buffer is full), the rest stays pending, and
// Flush (or the next Uncork or Write) must send it. An error means the connection is broken; Flush and
// Uncork report it again, so the writer that follows finds it.
func (c *BatchConn) TryUncork() (flushed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.buf == nil {
		return true, nil
	}
	b := *c.buf
	n, err := c.tryWrite(b)
	if err != nil {
		c.failed = err
		c.pending = false
		release(c.buf)
		c.buf = nil
		return false, err
	}
	if n == len(b) {
		release(c.buf)
		c.buf = nil
		return true, nil
	}
	*c.buf = b[:copy(b, b[n:])]
	c.pending = true
	return false, nil
}
