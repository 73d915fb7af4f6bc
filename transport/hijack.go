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
	"time"
)

// Buffer sizes of a hijacked WebSocket connection. coder/websocket reads frame headers through the
// reader and writes every frame through the writer, then flushes it into the [BatchConn] under it, which
// gathers a batch anyway: neither needs net/http's 4 KiB. A read of a payload at least as large as the
// reader's buffer goes straight to the socket.
const (
	hijackReadBuffer  = 512
	hijackWriteBuffer = 256
)

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
	bc := &BatchConn{Conn: c, timeout: w.WriteTimeout}
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
	return bc, bufio.NewReadWriter(br, bufio.NewWriterSize(bc, hijackWriteBuffer)), nil
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (w *UpgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// BatchConn is a net.Conn whose writes can be gathered: between Cork and Uncork every Write is appended
// to a buffer, and Uncork writes the buffer with one syscall under one write deadline. A writer corks
// the connection, writes a batch of WebSocket messages through coder/websocket (which flushes each
// message into the connection), then uncorks: the client gets the whole batch in one write instead of
// one per message, and no per-message context or timer is needed. Outside a batch, writes (control
// frames the reader answers, the close frame) go straight to the connection, in order with the batches.
// Its methods are safe for concurrent use.
type BatchConn struct {
	net.Conn
	timeout time.Duration

	mu     sync.Mutex // held across the connection's Write: keeps batches and direct writes in order
	corked bool
	buf    *[]byte // the batch's bytes while corked; from batchPool
}

// batchPool recycles batch buffers between connections: an idle connection holds none.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBatch is the largest buffer put back in batchPool; a larger one (a burst of big messages) is
// left to the collector.
const maxPooledBatch = 64 << 10

// Write implements net.Conn: while corked it appends p to the batch.
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
	c.arm()
	return c.Conn.Write(p)
}

// arm sets the write deadline for the write about to start. It is left in place afterwards: every
// write to the connection arms it again first, so a stale one never fails a later write. The caller
// holds c.mu.
func (c *BatchConn) arm() {
	if c.timeout > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
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

// Uncork ends a batch: what was written since Cork goes to the connection in one write, bounded by the
// write timeout. An error means the connection is broken (the caller closes it).
func (c *BatchConn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
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
	if cap(*b) <= maxPooledBatch {
		*b = (*b)[:0]
		batchPool.Put(b)
	}
	return err
}
