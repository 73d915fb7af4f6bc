package native

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
	wirev1 "github.com/roomio/roomio/proto/roomio/wire/v1"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/netpoll"
	"github.com/roomio/roomio/transport/wire"
)

// Options configures a Server. Zero values are replaced by the defaults named on each field.
type Options struct {
	// Acceptor receives every new connection. Required.
	Acceptor transport.Acceptor
	// MaxMessageSize is the largest frame accepted from a client; a larger one closes the connection with
	// transport.CloseTooBig. Zero means 1 MiB.
	MaxMessageSize int64
	// QueueBytes bounds each connection's outbound queue (see transport.Queue). Zero means 1 MiB.
	QueueBytes int
	// MaxBatchBytes caps how many queued bytes the writer joins into one frame. Zero means 64 KiB.
	MaxBatchBytes int
	// PingInterval is the time between server pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong before closing with ClosePingTimeout.
	// Zero means 20s.
	PingTimeout time.Duration
	// WriteTimeout bounds one write to the socket; a client that does not take a frame in time is
	// disconnected. Zero means 10s.
	WriteTimeout time.Duration
	// OriginPatterns lists the cross-origin hosts allowed to open a WebSocket (coder/websocket
	// AcceptOptions.OriginPatterns). Same-origin requests and requests without an Origin header are always
	// allowed; any other origin is refused with 403. "*" allows every origin.
	OriginPatterns []string
	// MaxFrameMessages is the most messages one client frame may hold; a frame with more closes the
	// connection with transport.CloseTooBig before any of its messages is handled. Zero means
	// wire.DefaultMaxFrameMessages (1024).
	MaxFrameMessages int
	// HeaderBytes bounds the request header bytes a connection keeps for its Handshake (see
	// transport.KeepHandshake). Zero means transport.DefaultHeaderBytes (8 KiB).
	HeaderBytes int
	// AddrLimit, when set, counts each connection against its remote IP address; an upgrade request from
	// an address at its limit is answered 429 Too Many Requests.
	AddrLimit *transport.AddrLimit
	// Meter, when set, counts the connections' messages and bytes and the refused upgrades.
	Meter *transport.Meter
	// Logger receives warnings about misbehaving clients. Nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 1 << 20
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 64 << 10
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxFrameMessages <= 0 {
		o.MaxFrameMessages = wire.DefaultMaxFrameMessages
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is the native protocol's WebSocket endpoint: an http.Handler that upgrades each request and
// runs the connection until it ends. Create it with NewServer; stop it with Shutdown.
type Server struct {
	opts Options

	mu      sync.Mutex
	closing bool
	// dropping is set when Shutdown's context ended: connections are dropped, not closed gracefully.
	dropping bool
	conns    map[*Conn]struct{}
	wg       sync.WaitGroup
	// poller holds the idle connections, which have no reader goroutine (package transport/netpoll).
	poller *netpoll.Poller
}

// NewServer returns a Server for opts.
func NewServer(opts Options) *Server {
	if opts.Acceptor == nil {
		panic("native: Options.Acceptor is required")
	}
	s := &Server{opts: opts.withDefaults(), conns: make(map[*Conn]struct{})}
	s.poller = netpoll.New(s.wg.Go, transport.QuietBeforePark)
	return s
}

// ServeHTTP upgrades r to a WebSocket and serves it until the connection ends. The subprotocol selects
// the format: roomio.v1.proto or roomio.v1.json; a client that offers neither gets the JSON mapping.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	release, ok := s.opts.AddrLimit.Acquire(r.RemoteAddr)
	if !ok {
		s.opts.Meter.Refuse(transport.RefusedConnsPerIP)
		http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
		return
	}
	served := false // the connection's goroutine took over release
	defer func() {
		if !served {
			release()
		}
	}()

	opts := &websocket.AcceptOptions{Subprotocols: []string{wire.SubprotocolProto, wire.SubprotocolJSON}}
	for _, p := range s.opts.OriginPatterns {
		if p == "*" {
			opts.InsecureSkipVerify = true
		}
	}
	if !opts.InsecureSkipVerify {
		opts.OriginPatterns = s.opts.OriginPatterns
	}
	uw := &transport.UpgradeWriter{ResponseWriter: w, WriteTimeout: s.opts.WriteTimeout}
	ws, err := websocket.Accept(uw, r, opts)
	if err != nil {
		// Accept has answered (403 for a refused origin, 400/426 for a bad upgrade).
		if strings.Contains(err.Error(), "Origin") {
			s.opts.Meter.Refuse(transport.RefusedOrigin)
		} else {
			s.opts.Meter.Refuse(transport.RefusedBadRequest)
		}
		s.opts.Logger.Warn("websocket upgrade refused", "remote_addr", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(s.opts.MaxMessageSize)
	format := wire.FormatJSON
	if ws.Subprotocol() == wire.SubprotocolProto {
		format = wire.FormatProto
	}
	c := &Conn{
		id:      newID(),
		srv:     s,
		ws:      ws,
		bc:      uw.Conn,
		br:      uw.Reader,
		carried: uw.Carried > 0,
		done:    make(chan struct{}),
		format:  format,
		queue:   transport.NewQueue(s.opts.QueueBytes),
		meter:   s.opts.Meter.Shard(),
		hs:      transport.KeepHandshake(r, s.opts.HeaderBytes),
	}
	c.queue.SetMeter(c.meter)
	// A connection accepted while Shutdown runs is registered all the same, so that Shutdown's deadline
	// reaches it: it is closed like the others (1001), or dropped at once once Shutdown gave up waiting.
	// (A close handshake outside Shutdown's reach waited up to 5 s for a client that does not read.)
	s.mu.Lock()
	if s.dropping {
		s.mu.Unlock()
		ws.CloseNow()
		return
	}
	s.conns[c] = struct{}{}
	closing := s.closing
	s.mu.Unlock()
	if closing {
		c.Close(transport.CloseGoingAway, transport.ReasonShuttingDown)
	}
	// The connection runs on a goroutine of its own, so that the request's goroutine, with net/http's
	// connection state, request and buffers, ends here: an idle connection holds no goroutine at all
	// (its reader parks it in the server's poller). The connection is counted in the WaitGroup until
	// its end path (end) has run.
	served = true
	c.release = release
	s.wg.Add(1)
	go c.serve()
}

// Shutdown stops accepting connections, closes every open one with transport.CloseGoingAway after its
// queued frames are written, and waits for all of them to end or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close(transport.CloseGoingAway, transport.ReasonShuttingDown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Closing a connection's socket fails its pending Read, which also ends a close handshake in
		// progress; CloseNow would instead wait for that handshake (up to 5s).
		s.mu.Lock()
		s.dropping = true
		for c := range s.conns {
			c.drop()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Conn is one native-protocol connection. It implements transport.Conn.
type Conn struct {
	id      string
	srv     *Server
	ws      *websocket.Conn
	format  wire.Format
	queue   *transport.Queue[[]byte]
	meter   *transport.MeterShard // nil without Options.Meter
	hs      transport.KeptHandshake
	session transport.Session
	bc      *transport.BatchConn // the socket under ws
	release func()               // the connection's count against its address (AddrLimit)

	// The reader runs only while there is something to read: once it has taken every byte that came
	// off the socket (br holds none, and no carried bytes wait ahead of it), it parks the connection in
	// the server's poller (pc) and its goroutine returns; the poller starts it again (resume) when the
	// socket is readable or closed. pc is nil when the connection cannot park (no descriptor): the
	// reader then blocks in its reads. carried: bytes sent with the upgrade request wait ahead of br
	// until the first read (transport.UpgradeWriter.Carried). Owned by the reader.
	br       *bufio.Reader
	pc       *netpoll.Conn
	carried  bool
	resumeFn func() // resume, built once: starting the reader allocates nothing

	// The writer (writeBatches) runs only while the queue has something to write. buf is its encoding
	// buffer, kept between runs while small; dropped tells it that the reader has ended, so a shut queue
	// is not followed by a close handshake; done is closed when it has finished for good.
	buf     []byte
	dropped atomic.Bool
	done    chan struct{}
	// runWriter is writeBatches counted in the server's WaitGroup, built once: a go statement of a func
	// value without arguments allocates nothing, so starting the writer costs no allocation.
	runWriter func()

	closeOnce   sync.Once
	closing     atomic.Bool // set after closeCode, closeReason and closeCause, which are then read-only
	closeCode   int
	closeReason string      // sent in the close frame
	closeCause  string      // passed to Session.Closed: one of the transport.Reason constants
	abort       atomic.Bool // closing without writing what is queued

	// hbMu serialises the heartbeat timer's callback with pong handling, so a pong that arrives while the
	// callback is still arming the ping timeout re-arms the interval after it, not before.
	hbMu     sync.Mutex
	timer    *time.Timer // set under hbMu before the callback can run
	awaiting atomic.Bool // a ping is unanswered
	pingSeq  uint64      // guarded by hbMu
}

// ID implements transport.Conn.
func (c *Conn) ID() string { return c.id }

// Handshake implements transport.Conn.
func (c *Conn) Handshake() transport.Handshake { return c.hs.Handshake() }

// Format returns the connection's wire format.
func (c *Conn) Format() wire.Format { return c.format }

// Send implements transport.Conn.
func (c *Conn) Send(p *packet.Packet) error { return c.send(p, false) }

// SendNow implements transport.NowSender.
func (c *Conn) SendNow(p *packet.Packet) error { return c.send(p, true) }

// Hold implements transport.Holder.
func (c *Conn) Hold() { c.queue.Hold() }

// Release implements transport.Holder.
func (c *Conn) Release() { c.queue.Release() }

func (c *Conn) send(p *packet.Packet, now bool) error {
	var ok, overflow bool
	if now {
		ok, overflow = c.queue.PushNow(p.Encode(c.format.Encoder()), p.Volatile)
	} else {
		ok, overflow = c.queue.Push(p.Encode(c.format.Encoder()), p.Volatile)
	}
	if overflow {
		c.srv.opts.Logger.Warn("slow client disconnected", "conn", c.id, "remote_addr", c.hs.RemoteAddr())
		c.closeWith(transport.CloseSlowClient, transport.ReasonSlowClient, transport.ReasonSlowClient, true)
		return transport.ErrSlowClient
	}
	if !ok {
		return transport.ErrClosed
	}
	return nil
}

// Close implements transport.Conn: queued frames are written first. reason is also what the Session's
// Closed receives.
func (c *Conn) Close(code int, reason string) { c.closeWith(code, reason, reason, false) }

// closeWith starts closing with code and the close frame's reason; cause is the reason for Session.Closed.
func (c *Conn) closeWith(code int, reason, cause string, abort bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason, c.closeCause = code, reason, cause
		c.abort.Store(abort)
		c.closing.Store(true)
		c.queue.Shut()
	})
}

// serve starts the connection on its goroutine, which becomes its first reader (resume).
func (c *Conn) serve() {
	// The connection parks in the poller; every close of its socket (BatchConn.Close) takes it out of
	// the poller first, and resumes its reader if it is parked.
	c.resumeFn = c.resume
	if pc := c.srv.poller.Register(c.bc.RawConn(), c.bc, c.resumeFn, c.idle); pc != nil {
		pc.OnPark(transport.ReleaseWhileParked(c.br, c.bc))
		if c.bc.OnClose(pc.Close) {
			c.pc = pc
		} else {
			pc.Close() // already closed (Shutdown dropped it): read until the read fails
		}
	}
	c.runWriter = func() {
		defer c.srv.wg.Done()
		c.writeBatches()
	}
	// Frames sent from Open start the writer (or are written inline).
	if c.bc.CanTryWrite() {
		c.queue.SetInline((*inlineWriter)(c))
	}
	c.queue.SetDrain(c.startWriter)
	c.session = c.srv.opts.Acceptor.Open(c)
	c.hbMu.Lock()
	c.timer = time.AfterFunc(c.srv.opts.PingInterval, c.heartbeat)
	c.hbMu.Unlock()
	if c.park() {
		return // nothing to read yet
	}
	c.resume()
}

// park parks the connection when the reader has taken every byte that came off the socket (idle); it
// reports whether it did (the caller's goroutine must then return without touching the connection).
func (c *Conn) park() bool { return c.pc != nil && c.pc.Park() }

// idle reports whether the reader has taken every byte that came off the socket. netpoll.Conn.Park calls
// it under its lock: the writer's close handshake, which reads the connection too, starts only after
// netpoll.Conn.Close.
func (c *Conn) idle() bool { return !c.carried && c.br.Buffered() == 0 }

// resume runs the reader, which reads at once (the socket is readable, or closed): it reads until the
// connection parks (the goroutine returns; the poller calls resume again on a worker goroutine) or
// ends (this goroutine runs the end path).
func (c *Conn) resume() {
	reason, parked := c.readLoop()
	if parked {
		return
	}
	c.end(reason)
}

// end runs once the reader has seen the end of the connection: it stops the heartbeat, drops the
// socket, waits for the writer, reports the end to the session and releases the connection.
func (c *Conn) end(reason string) {
	c.timer.Stop()
	c.dropped.Store(true)
	c.drop()
	c.queue.Shut() // the writer runs once more (or is running) and finishes
	<-c.done
	c.ws.CloseNow()
	c.session.Closed(reason)
	if c.pc != nil {
		c.pc.Close() // done by the socket's close already; here for a connection that never closed it
	}
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
	c.release()
	c.srv.wg.Done()
}

// drop closes the socket under the WebSocket: a pending Read fails, and so does a close handshake; a
// parked connection is resumed, and its reader finds the end.
func (c *Conn) drop() { c.bc.Close() }

// heartbeat runs on the timer: it alternately sends a ping and checks that the pong came back.
func (c *Conn) heartbeat() {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if c.awaiting.Load() {
		c.closeWith(transport.ClosePingTimeout, transport.ReasonPingTimeout, transport.ReasonPingTimeout, true)
		return
	}
	c.pingSeq++
	c.awaiting.Store(true)
	if c.Send(&packet.Packet{Kind: packet.KindPing, Seq: c.pingSeq}) != nil {
		return
	}
	c.timer.Reset(c.srv.opts.PingTimeout)
	// The next firing checks the pong; after a pong, Pong handling re-arms the interval.
}

// readLoop reads without a context: a connection is dropped by closing its socket (drop), so a read
// needs no timer of its own. After each message it parks the connection (parked: the goroutine must
// return) when every byte that came off the socket has been taken; a frame that arrives in pieces is
// read whole, the read waiting for the rest. It returns the reason of the connection's end otherwise.
func (c *Conn) readLoop() (reason string, parked bool) {
	wantType := websocket.MessageText
	if c.format == wire.FormatProto {
		wantType = websocket.MessageBinary
	}
	for first := true; ; first = false {
		if !first && c.park() {
			return "", true
		}
		typ, data, err := transport.ReadMessage(context.Background(), c.ws)
		c.carried = false // the first read took them (they fit in br's buffer)
		if err != nil {
			switch {
			case c.closing.Load():
				return c.closeCause, false
			case errors.Is(err, websocket.ErrMessageTooBig):
				return transport.ReasonTooBig, false
			case websocket.CloseStatus(err) != -1:
				return transport.ReasonTransportClose, false
			default:
				return transport.ReasonTransportError, false
			}
		}
		c.meter.Received(len(data))
		if c.closing.Load() {
			continue // closing: drain the peer until the close handshake ends
		}
		if typ != wantType {
			c.closeWith(transport.CloseUnsupportedData, "wrong frame type for subprotocol "+c.format.Subprotocol(), transport.ReasonParseError, false)
			continue
		}
		msgs, err := wire.DecodeFrameLimit(c.format, data, c.srv.opts.MaxFrameMessages)
		if err != nil {
			code := transport.CloseProtocolError
			switch {
			case errors.Is(err, wire.ErrInvalidUTF8):
				code = transport.CloseInvalidPayload
			case errors.Is(err, wire.ErrTooManyMessages):
				code = transport.CloseTooBig
			}
			c.srv.opts.Logger.Warn("bad frame", "conn", c.id, "err", err)
			c.closeWith(code, transport.CloseReason(err.Error()), transport.ReasonParseError, false)
			continue
		}
		// A frame's bad messages are answered with one Error, for the first of them: the answer to a frame
		// is bounded by the frame, not by how many messages it packs.
		answered := false
		for _, m := range msgs {
			if c.closing.Load() {
				break // a session closed the connection (rate limit, backpressure): skip the rest
			}
			c.dispatch(m, &answered)
		}
	}
}

// dispatch handles one message of a frame; answered records that the frame has had its Error packet.
func (c *Conn) dispatch(m *wirev1.Message, answered *bool) {
	p, err := wire.FromMessage(m)
	if err != nil {
		code := uint32(wire.ErrCodeInvalid)
		if errors.Is(err, wire.ErrUnknownKind) {
			code = wire.ErrCodeUnknownKind
		}
		// A RoomMessage that asked for an ack gets its own error with its id back, so the client's
		// request ends at once (bounded by the frame's message count); any other bad message of the frame
		// shares the frame's one Error packet.
		if p.Kind == packet.KindRoomMessage && p.AckID != 0 {
			c.Send(&packet.Packet{Kind: packet.KindError, Namespace: p.Namespace, Code: code, Message: err.Error(), AckID: p.AckID})
			return
		}
		c.answer(answered, &packet.Packet{Kind: packet.KindError, Namespace: p.Namespace, Code: code, Message: err.Error()})
		return
	}
	switch p.Kind {
	case packet.KindPong:
		c.hbMu.Lock()
		if c.awaiting.CompareAndSwap(true, false) {
			c.timer.Reset(c.srv.opts.PingInterval)
		}
		c.hbMu.Unlock()
	case packet.KindPing:
		c.Send(&packet.Packet{Kind: packet.KindPong, Seq: p.Seq})
	case packet.KindConnect, packet.KindEvent, packet.KindAck, packet.KindDisconnect, packet.KindRoomMessage:
		c.session.Packet(p)
	default: // server-to-client kinds sent by a client
		c.answer(answered, &packet.Packet{Kind: packet.KindError, Namespace: p.Namespace, Code: wire.ErrCodeInvalid, Message: "message kind not accepted from clients"})
	}
}

// answer sends a frame's Error packet, once per frame.
func (c *Conn) answer(answered *bool, p *packet.Packet) {
	if *answered {
		return
	}
	*answered = true
	c.Send(p)
}

// startWriter starts the writer (transport.Queue.SetDrain). The connection holds the server's WaitGroup
// above zero until its end path, which waits for the writer to close done, so this Add cannot race with
// Shutdown's Wait.
func (c *Conn) startWriter() {
	c.srv.wg.Add(1)
	go c.runWriter()
}

// inlineWriter is a Conn as its queue's inline writer (transport.Queue.SetInline), without WriteInline
// in Conn's own methods.
type inlineWriter Conn

// WriteInline: the push that finds the connection idle encodes what is queued and writes it itself
// with one non-blocking write, without starting the writer or setting a deadline. It declines (takes
// nothing) when the connection is busy (a control frame being written) or closing; what the socket
// does not take is left pending in the BatchConn, and the writer, started then, sends it first under
// the deadline.
func (w *inlineWriter) WriteInline(frames [][]byte) (n int, flushed bool) {
	c := (*Conn)(w)
	if c.abort.Load() || c.dropped.Load() || !c.bc.TryCork() {
		return 0, true
	}
	n = c.encode(frames)
	flushed, _ = c.bc.TryUncork() // an error is reported again by the writer's Flush
	return n, flushed
}

// encode frames the frames as WebSocket messages into the corked BatchConn, joining as many as fit in
// one message (at most Options.MaxBatchBytes, at least one frame each), until the batch holds
// transport.MaxBatchBytes. It returns how many frames it framed. The writer (or the inline write) owns c.buf.
func (c *Conn) encode(frames [][]byte) int {
	binary := c.format == wire.FormatProto
	max := c.srv.opts.MaxBatchBytes
	buf := c.buf
	done := 0
	for done < len(frames) {
		batch := frames[done:]
		n, size := 1, len(batch[0])
		for n < len(batch) && size+len(batch[n]) <= max {
			size += len(batch[n])
			n++
		}
		buf = wire.AppendBatch(c.format, buf[:0], batch[:n])
		c.bc.WriteMessage(binary, buf)
		done += n
		if c.bc.Buffered() >= transport.MaxBatchBytes {
			break
		}
	}
	if cap(buf) > keptBuf {
		buf = nil
	}
	c.buf = buf[:0]
	return done
}

// keptBuf is the largest encoding buffer the writer keeps between runs.
const keptBuf = 4 << 10

// writeBatches is the connection's writer, started by the push that finds the queue idle: it writes what
// is queued, joined into frames of at most MaxBatchBytes, all of them with one syscall (BatchConn) under
// one deadline (WriteTimeout), and returns once the queue is empty. The WebSocket messages are framed by
// BatchConn.WriteMessage, without coder/websocket's per-message locks. Once the queue is shut it closes the
// connection and closes done.
func (c *Conn) writeBatches() {
	// What an inline write left pending goes first (nothing to do otherwise).
	if err := c.bc.Flush(); err != nil {
		c.ws.CloseNow()
		close(c.done)
		return
	}
	var frames [][]byte
	for {
		var shut, idle bool
		frames, shut, idle = c.queue.Next(frames)
		if idle {
			return
		}
		if !c.abort.Load() && !c.dropped.Load() && len(frames) > 0 {
			batch := frames
			c.bc.Cork()
			var err error
			for len(batch) > 0 {
				// Up to MaxBatchBytes per write: uncork, and go on with the rest.
				batch = batch[c.encode(batch):]
				if len(batch) > 0 {
					if err = c.bc.Uncork(); err != nil {
						break
					}
					c.bc.Cork()
				}
			}
			if uerr := c.bc.Uncork(); err == nil {
				err = uerr
			}
			if err != nil {
				c.ws.CloseNow()
				close(c.done)
				return
			}
		}
		clear(frames) // drop references to shared packet bytes
		if !shut {
			// Let the producers that share this P push before the queue is looked at again: a writer that
			// finds it empty at once ends, and the next push pays a write and a start of its own. Measured
			// (BenchmarkDelivery, 16 emits in flight): fewer, larger batches and less CPU per delivery.
			runtime.Gosched()
		}
		if shut {
			if !c.dropped.Load() {
				// Only closeWith shuts the queue, except an overflow, which shuts it before Send gets to
				// call closeWith: make sure the close fields are set (and visible) before reading them.
				c.closeWith(transport.CloseSlowClient, transport.ReasonSlowClient, transport.ReasonSlowClient, true)
				// coder/websocket allows 5s to write the close frame and 5s more for the answer. A client
				// that does not take frames (a slow client) would hold the connection that long; bound it
				// by WriteTimeout like any other write. Dropping the socket ends the reader's Read too.
				t := time.AfterFunc(c.srv.opts.WriteTimeout, c.drop)
				if c.pc != nil {
					// The close handshake reads the client's answer on this goroutine: the reader must not
					// look at the buffers meanwhile, nor stay parked. It reads on until the socket closes.
					c.pc.Close()
				}
				c.ws.Close(websocket.StatusCode(c.closeCode), c.closeReason)
				t.Stop()
			}
			close(c.done)
			return
		}
	}
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
