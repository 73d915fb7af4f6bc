package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/wire"
)

// Options configures a Client. The zero value works; each field names its default.
type Options struct {
	// Format selects the wire format and with it the WebSocket subprotocol. Zero means
	// wire.FormatProto (binary protobuf frames); wire.FormatJSON selects the JSON mapping.
	Format wire.Format
	// Header is sent with the WebSocket handshake request (and with every redial).
	Header http.Header
	// HTTPClient performs the handshake. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Reconnect redials after the connection was lost unexpectedly and connects again, with the same
	// auth, every namespace that was connected, presenting its session for recovery when the server
	// offered one (Socket.Recovered). There is no reconnection after Close, nor after the
	// server closed the connection with 1000 (on purpose), 1002, 1003, 1007, 1009 (protocol errors, which
	// a redial does not fix) or 4003 (connect timeout); a namespace the server disconnected with a
	// Disconnect packet is not connected again. Each dial attempt is bounded by 10s.
	Reconnect bool
	// ReconnectMin is the delay before the first redial; it doubles after each failure up to
	// ReconnectMax. Each delay is jittered to between half and all of its value. Zero means 100ms.
	ReconnectMin time.Duration
	// ReconnectMax caps the delay between redials. Zero means 5s.
	ReconnectMax time.Duration
	// ReconnectAttempts is how many consecutive failed redials end the Client. Zero means no limit.
	ReconnectAttempts int
	// ReadLimit is the largest frame accepted from the server; a larger one ends the connection (close
	// code 1009, not followed by a reconnection). Zero means 16 MiB.
	ReadLimit int64
	// WriteTimeout bounds the writes the client makes on its own: pongs, acks, Connects after a
	// reconnection, Disconnects. Zero means 10s.
	WriteTimeout time.Duration
	// DisablePong stops the client from answering the server's pings, so the server closes the
	// connection with close code 4001 after its ping timeout. For tests.
	DisablePong bool
	// Logger receives the client's diagnostics. Nil discards them.
	Logger *slog.Logger
}

const redialTimeout = 10 * time.Second

func (o Options) withDefaults() Options {
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 100 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 5 * time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 16 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Header = o.Header.Clone()
	return o
}

// Client is one WebSocket connection to a roomio server speaking the native protocol, over which any
// number of namespaces are connected (see Connect). Create it with Dial and end it with Close.
//
// All methods are safe for concurrent use.
type Client struct {
	url  string
	opts Options
	log  *slog.Logger
	typ  websocket.MessageType // the message type of the format

	ctx    context.Context // ends at Close: bounds redials and blocked deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup // the run goroutine and every dispatcher
	hooks  *dispatcher    // runs the Client's own hooks
	ackSeq atomic.Uint64

	// Lock order: Client.mu, then Socket.mu, then dispatcher.mu.
	mu       sync.Mutex
	ws       *websocket.Conn    // the live connection; nil while redialling and after the end
	sockets  map[string]*Socket // by namespace: connecting, connected or awaiting reconnection
	closing  bool               // Close was called
	finished bool               // no connection will follow; done is closed
	err      error              // why the Client ended, set with finished
	done     chan struct{}
	onPing   []func(seq uint64)
	onError  []func(namespace string, code uint32, msg string)
}

// Dial opens a WebSocket to url (ws://, wss://, http:// or https://) with the format's subprotocol.
// ctx bounds the handshake only. The Client then reads until Close; it connects no namespace until
// Connect is called.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.Format != wire.FormatProto && opts.Format != wire.FormatJSON {
		return nil, fmt.Errorf("client: dial: unknown format %d", opts.Format)
	}
	opts = opts.withDefaults()
	c := &Client{
		url:     url,
		opts:    opts,
		log:     opts.Logger.With("component", "client"),
		typ:     websocket.MessageBinary,
		hooks:   newDispatcher(),
		sockets: make(map[string]*Socket),
		done:    make(chan struct{}),
	}
	if opts.Format == wire.FormatJSON {
		c.typ = websocket.MessageText
	}
	ws, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.ws = ws
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.hooks.run()
	}()
	go func() {
		defer c.wg.Done()
		c.run(ws)
	}()
	return c, nil
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	sub := c.opts.Format.Subprotocol()
	ws, _, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{
		HTTPClient:   c.opts.HTTPClient,
		HTTPHeader:   c.opts.Header,
		Subprotocols: []string{sub},
	})
	if err != nil {
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	if got := ws.Subprotocol(); got != sub {
		ws.Close(websocket.StatusProtocolError, "subprotocol "+sub+" required")
		return nil, fmt.Errorf("client: dial: server chose subprotocol %q, want %q", got, sub)
	}
	ws.SetReadLimit(c.opts.ReadLimit)
	return ws, nil
}

// Close closes the connection with close code 1000, stops reconnecting, ends every Socket with
// ReasonClientDisconnect and waits until the client's goroutines, hooks included, have returned. The
// close handshake waits for the server for at most 10s. Close is idempotent and always returns nil.
//
// Close must not be called from a Socket's handler or hook, nor from a Client hook: it waits for them to
// return. Call it from a new goroutine there.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closing = true
	ws := c.ws
	for _, s := range c.sockets {
		c.endSocket(s, ReasonClientDisconnect, ErrClosed)
	}
	c.mu.Unlock()
	if ws != nil {
		// The run goroutine is reading, so the close handshake completes; run then sees closing.
		ws.Close(websocket.StatusNormalClosure, "")
	}
	c.cancel()
	c.wg.Wait()
	return nil
}

// Done returns a channel closed when the Client has ended: after Close, or when the connection was lost
// and no reconnection follows. Err then tells why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the Client runs, and after it ended: ErrClosed after Close, or what ended the
// connection (a *CloseError when the server closed it; see CloseCode).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// OnPing registers fn to be called with the sequence number of each server Ping, after the Pong was
// sent. The server sends ping n+1 only after pong n arrived in time, so a seq of n proves n-1 answered
// heartbeats. Client hooks run one at a time on a goroutine of the Client and must not block.
func (c *Client) OnPing(fn func(seq uint64)) {
	c.mu.Lock()
	c.onPing = append(c.onPing, fn)
	c.mu.Unlock()
}

// OnError registers fn to be called for every Error packet from the server, whatever its namespace
// (an unknown message kind has namespace ""); the connection stays open. code is one of the ErrCode
// constants of package transport/wire ([wire.ErrCodeInvalid] and its siblings). Errors for a connected
// namespace also go to that Socket's OnError. Client hooks run one at a time on a goroutine of the Client
// and must not block.
func (c *Client) OnError(fn func(namespace string, code uint32, msg string)) {
	c.mu.Lock()
	c.onError = append(c.onError, fn)
	c.mu.Unlock()
}

// WriteRaw writes data as one WebSocket message of type typ on the current connection, bypassing the
// protocol: for tests and tools that send malformed or hand-built frames (see wire.EncodeFrame).
func (c *Client) WriteRaw(ctx context.Context, typ websocket.MessageType, data []byte) error {
	ws, err := c.conn()
	if err != nil {
		return err
	}
	if err := ws.Write(ctx, typ, data); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// ConnectOption configures one Connect call.
type ConnectOption func(*connectOptions)

type connectOptions struct {
	setup []func(*Socket)
}

// WithSetup runs fn on the new Socket before the Connect packet is sent, so that handlers and Events
// channels registered there see every event, even one the server emits as soon as it accepts the
// connection. The Socket has no ID yet and cannot emit during fn.
func WithSetup(fn func(*Socket)) ConnectOption {
	return func(o *connectOptions) { o.setup = append(o.setup, fn) }
}

// Connect joins namespace ("" means "/") with auth as the Connect packet's auth JSON (nil sends none;
// json.RawMessage is sent as is; anything else is marshalled with encoding/json). It blocks until the
// server answers or ctx ends: the server's Connected returns the Socket, its ConnectError returns a
// *ConnectError. Connect fails with ErrAlreadyConnected while the Client has a Socket for namespace.
func (c *Client) Connect(ctx context.Context, namespace string, auth any, opts ...ConnectOption) (_ *Socket, err error) {
	defer func() {
		var ce *ConnectError
		if err != nil && !errors.As(err, &ce) { // a ConnectError already names the namespace
			err = fmt.Errorf("client: connect %s: %w", namespace, err)
		}
	}()
	if namespace == "" {
		namespace = "/"
	}
	if !utf8.ValidString(namespace) {
		return nil, fmt.Errorf("%w: namespace is not valid UTF-8", ErrInvalidArg)
	}
	var authData []byte
	if auth != nil {
		if authData, err = packet.MarshalJSON(auth); err != nil {
			return nil, err
		}
	}
	var o connectOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := newSocket(c, namespace, authData)
	for _, fn := range o.setup {
		fn(s)
	}

	c.mu.Lock()
	switch {
	case c.closing || c.finished:
		err := c.endedErr()
		c.mu.Unlock()
		return nil, err
	case c.ws == nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: reconnecting", ErrNotConnected)
	case c.sockets[namespace] != nil:
		c.mu.Unlock()
		return nil, ErrAlreadyConnected
	}
	ws := c.ws
	result := make(chan error, 1)
	s.state, s.result = stateConnecting, result
	c.sockets[namespace] = s
	c.wg.Add(1) // under mu and not closing, so Close's Wait sees it
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		s.run()
	}()

	if err := c.send(ctx, ws, &packet.Packet{Kind: packet.KindConnect, Namespace: namespace, Data: authData}); err != nil {
		c.mu.Lock()
		c.endSocket(s, "", err)
		c.mu.Unlock()
		return nil, err
	}
	select {
	case err := <-result:
		if err != nil {
			return nil, err
		}
		return s, nil
	case <-ctx.Done():
		// If Connected has arrived meanwhile, leave the namespace again; if it arrives later, the read
		// loop answers it with a Disconnect because the namespace has no Socket any more.
		dctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
		s.Disconnect(dctx)
		cancel()
		return nil, ctx.Err()
	}
}

// conn returns the live connection.
func (c *Client) conn() (*websocket.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.finished {
		return nil, c.endedErr()
	}
	if c.ws == nil {
		return nil, fmt.Errorf("%w: reconnecting", ErrNotConnected)
	}
	return c.ws, nil
}

// endedErr is the error entry points return once the Client has ended. c.mu must be held.
func (c *Client) endedErr() error {
	if c.err == nil || c.err == ErrClosed {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, c.err)
}

// send writes p as a one-message frame on ws.
func (c *Client) send(ctx context.Context, ws *websocket.Conn, p *packet.Packet) error {
	if err := ctx.Err(); err != nil {
		// coder/websocket closes the connection when ctx ends during a write; don't start one.
		return err
	}
	if err := ws.Write(ctx, c.typ, wire.EncodeFrame(c.opts.Format, p)); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// sendTimeout is send bounded by the WriteTimeout, for writes the client makes on its own.
func (c *Client) sendTimeout(ws *websocket.Conn, p *packet.Packet) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
	defer cancel()
	return c.send(ctx, ws, p)
}

// run owns the connection: it reads ws until the connection ends, then redials when it should, until the
// Client ends.
func (c *Client) run(ws *websocket.Conn) {
	for {
		err := c.readLoop(ws)
		ws.CloseNow()
		if !c.lost(err) {
			return
		}
		if ws = c.redial(); ws == nil {
			return
		}
	}
}

// lost handles the end of a connection: it ends or suspends every Socket and reports whether to redial.
// When it reports false the Client has ended.
func (c *Client) lost(err error) (reconnect bool) {
	cause, reason, retry := classify(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws = nil
	if c.closing {
		c.finish(ErrClosed)
		return false
	}
	reconnect = c.opts.Reconnect && retry
	c.log.Info("connection lost", "reason", reason, "reconnect", reconnect, "err", err)
	for _, s := range c.sockets {
		if reconnect && s.suspend(reason, cause) {
			continue
		}
		c.endSocket(s, reason, cause)
	}
	if !reconnect {
		c.finish(cause)
	}
	return reconnect
}

// classify turns the error that ended a read loop into the cause reported to the user, the disconnect
// reason and whether a redial may help.
func classify(err error) (cause error, reason string, retry bool) {
	var ce websocket.CloseError
	var pe *parseError
	switch {
	case errors.As(err, &pe):
		return pe, ReasonParseError, false
	case errors.As(err, &ce):
		cause := &CloseError{Code: int(ce.Code), Reason: ce.Reason}
		reason = fmt.Sprintf("%s: %d", ReasonTransportClose, ce.Code)
		if ce.Reason != "" {
			reason += " " + ce.Reason
		}
		switch ce.Code {
		case 1000, 1002, 1003, 1007, 1009, 4003:
			return cause, reason, false
		}
		return cause, reason, true
	case errors.Is(err, websocket.ErrMessageTooBig):
		// coder/websocket has closed the connection with 1009; the server would send the frame again.
		return err, ReasonTransportError, false
	default:
		return err, ReasonTransportError, true
	}
}

// finish ends the Client. c.mu must be held.
func (c *Client) finish(err error) {
	if c.finished {
		return
	}
	c.finished, c.err = true, err
	for _, s := range c.sockets {
		c.endSocket(s, ReasonClientDisconnect, ErrClosed) // none is left unless Close raced with lost
	}
	c.hooks.close()
	close(c.done)
}

// redial dials again with backoff and re-sends Connect for every suspended Socket. It returns nil when
// the Client has ended meanwhile.
func (c *Client) redial() *websocket.Conn {
	var lastErr error
	for attempt := 1; ; attempt++ {
		if max := c.opts.ReconnectAttempts; max > 0 && attempt > max {
			c.mu.Lock()
			c.log.Warn("reconnection abandoned", "attempts", max, "err", lastErr)
			c.abandon(lastErr)
			c.mu.Unlock()
			return nil
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			c.mu.Lock()
			c.finish(ErrClosed)
			c.mu.Unlock()
			return nil
		}
		dctx, cancel := context.WithTimeout(c.ctx, redialTimeout)
		ws, err := c.dial(dctx)
		cancel()
		if err != nil {
			lastErr = err
			c.log.Debug("redial failed", "attempt", attempt, "err", err)
			continue
		}

		c.mu.Lock()
		if c.closing {
			c.finish(ErrClosed)
			c.mu.Unlock()
			ws.CloseNow()
			return nil
		}
		c.ws = ws
		var restore []*packet.Packet
		for _, s := range c.sockets {
			if p := s.resume(); p != nil {
				restore = append(restore, p)
			}
		}
		c.mu.Unlock()
		c.log.Info("reconnected", "attempt", attempt, "namespaces", len(restore))
		for _, p := range restore {
			// A failed write means the connection is already gone: the read loop will report it.
			c.sendTimeout(ws, p)
		}
		return ws
	}
}

// abandon ends the Client and its suspended Sockets after the last redial failed. c.mu must be held.
func (c *Client) abandon(err error) {
	for _, s := range c.sockets {
		c.endSocket(s, "", err)
	}
	c.finish(err)
}

// backoff returns the jittered delay before redial attempt n (from 1).
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.ReconnectMin
	for i := 1; i < n && d < c.opts.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.ReconnectMax)
	// Jitter spreads the redials of many clients cut off by one server restart.
	return d/2 + rand.N(d/2+1)
}

// parseError is a frame from the server that the client could not use; the client closed the connection.
type parseError struct{ err error }

func (e *parseError) Error() string { return "client: bad frame from server: " + e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }

// readLoop reads and handles frames until the connection ends, and returns why it ended.
func (c *Client) readLoop(ws *websocket.Conn) error {
	for {
		// Not bounded by c.ctx: coder/websocket would drop the connection without a close handshake
		// when it ends. Close ends the read with the handshake instead.
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			return err
		}
		if typ != c.typ {
			err := fmt.Errorf("message type %v on subprotocol %s", typ, c.opts.Format.Subprotocol())
			ws.Close(websocket.StatusUnsupportedData, "wrong message type")
			return &parseError{err}
		}
		msgs, err := wire.DecodeFrame(c.opts.Format, data)
		if err != nil {
			code := websocket.StatusProtocolError
			if errors.Is(err, wire.ErrInvalidUTF8) {
				code = websocket.StatusInvalidFramePayloadData // RFC 6455 §7.4.1: 1007
			}
			ws.Close(code, ReasonParseError)
			return &parseError{err}
		}
		for _, m := range msgs {
			p, err := wire.FromMessage(m)
			if err != nil {
				// A kind this version does not know, or an argument that is not JSON: skip the message.
				c.log.Warn("bad message from server", "namespace", p.Namespace, "err", err)
				continue
			}
			c.handle(ws, p)
		}
	}
}

// handle acts on one packet from the server. It runs on the read loop and never waits for user code.
func (c *Client) handle(ws *websocket.Conn, p *packet.Packet) {
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("packet", "kind", p.Kind, "namespace", p.Namespace, "name", p.Name, "ack_id", p.AckID)
	}
	switch p.Kind {
	case packet.KindPing:
		// Answered here, not by a hook, so that slow user code cannot cost the connection.
		if !c.opts.DisablePong {
			c.sendTimeout(ws, &packet.Packet{Kind: packet.KindPong, Seq: p.Seq})
		}
		c.mu.Lock()
		hooks := c.onPing
		c.mu.Unlock()
		if len(hooks) > 0 {
			c.hooks.push(func() {
				for _, fn := range hooks {
					fn(p.Seq)
				}
			})
		}
	case packet.KindPong:
		// Only an answer to a Ping this client never sends.
	case packet.KindConnected:
		c.mu.Lock()
		s := c.sockets[p.Namespace]
		ok := s != nil && s.connected(ws, p.SID, p.PID)
		c.mu.Unlock()
		if !ok {
			// An abandoned Connect (its ctx ended) or a duplicate: leave the namespace.
			c.sendTimeout(ws, &packet.Packet{Kind: packet.KindDisconnect, Namespace: p.Namespace})
		}
	case packet.KindConnectError:
		c.mu.Lock()
		if s := c.sockets[p.Namespace]; s != nil && s.awaitingConnect() {
			c.endSocket(s, "", &ConnectError{Namespace: p.Namespace, Message: p.Message, Data: p.Data})
		}
		c.mu.Unlock()
	case packet.KindEvent:
		if s := c.socket(p.Namespace); s != nil {
			s.event(ws, p)
		}
	case packet.KindAck:
		if s := c.socket(p.Namespace); s != nil {
			s.ack(p)
		}
	case packet.KindDisconnect:
		c.mu.Lock()
		if s := c.sockets[p.Namespace]; s != nil {
			c.endSocket(s, ReasonServerDisconnect, &DisconnectError{Namespace: p.Namespace, Code: p.Code, Reason: p.Message})
		}
		c.mu.Unlock()
	case packet.KindError:
		c.mu.Lock()
		hooks := c.onError
		s := c.sockets[p.Namespace]
		c.mu.Unlock()
		if s != nil {
			s.serverError(p.Code, p.Message, p.AckID)
		}
		if len(hooks) > 0 {
			c.hooks.push(func() {
				for _, fn := range hooks {
					fn(p.Namespace, p.Code, p.Message)
				}
			})
		}
	default:
		c.log.Warn("unexpected packet from server", "kind", p.Kind, "namespace", p.Namespace)
	}
}

// socket returns the Socket for namespace, or nil.
func (c *Client) socket(namespace string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets[namespace]
}
