package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// conn is one connection of a run, whatever its protocol. Its methods are safe for concurrent use.
type conn interface {
	// join emits the join event with room and waits for the ack; an ack {"ok":false} is an error.
	join(ctx context.Context, room string) error
	// say emits the say event, its arguments built by args around payload, without an ack.
	say(ctx context.Context, room string, payload []byte) error
	// close ends the connection and waits for its goroutines.
	close()
}

// connHooks are what a connection reports to the run. said runs on the connection's receiving
// goroutine, one call at a time per connection; ended runs once, when the connection ends for any reason
// (also after close).
type connHooks struct {
	said  func(args []byte)
	ended func(err error)
}

// errClosed is the cause of a connection the tool closed itself.
var errClosed = errors.New("loadgen: closed by the tool")

// eioTransport is an Engine.IO v4 transport: it carries whole Engine.IO packets (type character +
// data). send may block while the transport is busy (backpressure), until ctx ends.
type eioTransport interface {
	send(ctx context.Context, pkt []byte) error
	close()
}

// sioConn is a Socket.IO v5 client connected to one namespace.
type sioConn struct {
	rc        *runConfig
	tr        eioTransport
	hooks     connHooks
	connected chan struct{} // closed on the server's CONNECT
	done      chan struct{} // closed when the connection ended
	endOnce   sync.Once
	nextAck   atomic.Int64

	mu    sync.Mutex
	acks  map[int64]chan []byte
	cause error
}

// dialSIO opens a Socket.IO connection: the Engine.IO handshake on the configured transport, then the
// namespace CONNECT, waiting for its answer.
func dialSIO(ctx context.Context, rc *runConfig, hooks connHooks) (_ *sioConn, err error) {
	c := &sioConn{rc: rc, hooks: hooks, connected: make(chan struct{}), done: make(chan struct{}),
		acks: map[int64]chan []byte{}}
	if rc.Protocol == SocketIOPolling {
		c.tr, err = dialPolling(ctx, rc, c.receive, c.end)
	} else {
		c.tr, err = dialWebSocket(ctx, rc, c.receive, c.end)
	}
	if err != nil {
		return nil, err
	}
	var auth []byte
	if rc.Auth != "" {
		auth = []byte(rc.Auth)
	}
	if err := c.tr.send(ctx, append([]byte{'4'}, appendSIO(nil, sioConnect, rc.Namespace, -1, auth)...)); err != nil {
		c.close()
		return nil, err
	}
	select {
	case <-c.connected:
		return c, nil
	case <-c.done:
		c.close()
		return nil, c.err()
	case <-ctx.Done():
		c.close()
		return nil, fmt.Errorf("namespace connect: %w", ctx.Err())
	}
}

func (c *sioConn) isConnected() bool {
	select {
	case <-c.connected:
		return true
	default:
		return false
	}
}

func (c *sioConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// end records why the connection ended (the first cause wins) and fails pending acks.
func (c *sioConn) end(err error) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.cause = err
		c.mu.Unlock()
		close(c.done)
		// A connection that never connected its namespace is a connect error, which dialSIO returns.
		if c.isConnected() && c.hooks.ended != nil {
			c.hooks.ended(err)
		}
	})
}

// receive handles one Engine.IO packet from the server.
func (c *sioConn) receive(pkt []byte) {
	if len(pkt) == 0 {
		return
	}
	switch pkt[0] {
	case '2': // ping: the client answers with a pong (Engine.IO "Heartbeat")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.tr.send(ctx, []byte{'3'}); err != nil {
			c.end(fmt.Errorf("pong: %w", err))
		}
	case '1':
		c.end(errors.New("server closed the Engine.IO session"))
	case '4':
		p, err := parseSIO(pkt[1:])
		if err != nil {
			c.end(err)
			return
		}
		if p.Namespace != c.rc.Namespace {
			return
		}
		c.handle(p)
	}
	// 0 open (after the handshake), 3 pong, 5 upgrade, 6 noop: nothing to do.
}

func (c *sioConn) handle(p sioPacket) {
	switch p.Type {
	case sioConnect:
		select {
		case <-c.connected:
		default:
			close(c.connected)
		}
	case sioConnectError:
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(p.Data, &e)
		c.end(fmt.Errorf("connect error: %s", e.Message))
	case sioDisconnect:
		c.end(errors.New("io server disconnect"))
	case sioEvent, sioBinaryEvent:
		if args, ok := isEvent(p.Data, c.rc.saidPrefix); ok && c.hooks.said != nil {
			c.hooks.said(args)
		}
	case sioAck, sioBinaryAck:
		c.mu.Lock()
		ch := c.acks[p.ID]
		delete(c.acks, p.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- p.Data
		}
	}
}

func (c *sioConn) join(ctx context.Context, room string) error {
	id := c.nextAck.Add(1) - 1
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.acks[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.acks, id)
		c.mu.Unlock()
	}()
	args, _ := json.Marshal([]string{c.rc.JoinEvent, room})
	if err := c.tr.send(ctx, append([]byte{'4'}, appendSIO(nil, sioEvent, c.rc.Namespace, id, args)...)); err != nil {
		return err
	}
	select {
	case data := <-ch:
		return ackError(firstArg(data))
	case <-c.done:
		return c.err()
	case <-ctx.Done():
		return fmt.Errorf("join ack: %w", ctx.Err())
	}
}

func (c *sioConn) say(ctx context.Context, room string, payload []byte) error {
	b := make([]byte, 0, 64+len(room)+len(payload))
	b = append(b, '4')
	b = appendSIO(b, sioEvent, c.rc.Namespace, -1, nil)
	b = c.rc.appendSayArgs(b, room, payload)
	return c.tr.send(ctx, b)
}

func (c *sioConn) close() {
	// A Socket.IO DISCONNECT first, as socket.io-client's disconnect() does; then the transport closes
	// (it sends the Engine.IO close where it can).
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	select {
	case <-c.done:
	default:
		_ = c.tr.send(ctx, append([]byte{'4'}, appendSIO(nil, sioDisconnect, c.rc.Namespace, -1, nil)...))
	}
	cancel()
	c.tr.close()
	c.end(errClosed)
}

// engineQuery returns u with the Engine.IO query parameters.
func engineQuery(target, transport, sid string) string {
	u, _ := url.Parse(target)
	q := url.Values{"EIO": {"4"}, "transport": {transport}}
	if sid != "" {
		q.Set("sid", sid)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// openPacket is the Engine.IO handshake's data.
type openPacket struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"`
	PingTimeout  int64  `json:"pingTimeout"`
	MaxPayload   int64  `json:"maxPayload"`
}

func parseOpen(pkt []byte) (openPacket, error) {
	var o openPacket
	if len(pkt) == 0 || pkt[0] != '0' {
		return o, fmt.Errorf("handshake: want an Engine.IO open packet, got %.40q", pkt)
	}
	if err := json.Unmarshal(pkt[1:], &o); err != nil || o.SID == "" {
		return o, fmt.Errorf("handshake: bad open packet %.80q", pkt)
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1_000_000
	}
	return o, nil
}

// wsReadLimit bounds one WebSocket message from the server.
const wsReadLimit = 16 << 20

// wsTransport is Engine.IO over WebSocket from the first request (no polling, no upgrade).
type wsTransport struct {
	ws     *websocket.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func dialWebSocket(ctx context.Context, rc *runConfig, recv func([]byte), end func(error)) (*wsTransport, error) {
	u := engineQuery(rc.target, "websocket", "")
	u = "ws" + strings.TrimPrefix(u, "http")
	ws, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: rc.hc})
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("websocket handshake: %s", res.Status)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	ws.SetReadLimit(wsReadLimit)
	_, first, err := ws.Read(ctx)
	if err == nil {
		_, err = parseOpen(first)
	}
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	t := &wsTransport{ws: ws, cancel: cancel}
	t.wg.Go(func() {
		for {
			typ, data, err := ws.Read(rctx)
			if err != nil {
				end(err)
				return
			}
			// Binary messages are the attachments of binary packets: the tool's payloads are JSON.
			if typ == websocket.MessageText {
				recv(data)
			}
		}
	})
	return t, nil
}

func (t *wsTransport) send(ctx context.Context, pkt []byte) error {
	return t.ws.Write(ctx, websocket.MessageText, pkt)
}

func (t *wsTransport) close() {
	_ = t.ws.Close(websocket.StatusNormalClosure, "")
	t.cancel()
	t.wg.Wait()
}

// maxPollBody bounds one long-polling response.
const maxPollBody = 64 << 20

// pollTransport is Engine.IO over HTTP long-polling, never upgraded: one GET outstanding at a time and
// one POST at a time (Engine.IO servers refuse overlapping requests of either kind), packets queued for
// the POST loop and sent in batches of up to the server's maxPayload.
type pollTransport struct {
	hc         *http.Client
	url        string
	maxPayload int
	out        chan []byte
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	end        func(error)
	closed     chan struct{} // closed when the close packet was posted
	closeOnce  sync.Once
}

func dialPolling(ctx context.Context, rc *runConfig, recv func([]byte), end func(error)) (*pollTransport, error) {
	body, err := pollRequest(ctx, rc.hc, http.MethodGet, engineQuery(rc.target, "polling", ""), nil)
	if err != nil {
		return nil, fmt.Errorf("polling handshake: %w", err)
	}
	pkts := splitPayload(body)
	if len(pkts) == 0 {
		return nil, errors.New("polling handshake: empty answer")
	}
	open, err := parseOpen(pkts[0])
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithCancel(context.Background())
	t := &pollTransport{hc: rc.hc, url: engineQuery(rc.target, "polling", open.SID),
		maxPayload: int(min(open.MaxPayload, 16<<20)), out: make(chan []byte, 64), ctx: tctx, cancel: cancel,
		end: end, closed: make(chan struct{})}
	for _, p := range pkts[1:] {
		recv(p)
	}
	t.wg.Go(func() { t.pollLoop(recv) })
	t.wg.Go(t.postLoop)
	return t, nil
}

// pollRequest makes one request and returns the body of a 200 answer.
func pollRequest(ctx context.Context, hc *http.Client, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxPollBody+1))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s %.100q", method, req.URL.Path, res.Status, b)
	}
	if len(b) > maxPollBody {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", method, maxPollBody)
	}
	return b, nil
}

func (t *pollTransport) pollLoop(recv func([]byte)) {
	for {
		body, err := pollRequest(t.ctx, t.hc, http.MethodGet, t.url, nil)
		if err != nil {
			t.fail(fmt.Errorf("poll: %w", err))
			return
		}
		for _, p := range splitPayload(body) {
			if len(p) > 0 && p[0] == 'b' {
				continue // a base64 binary packet: an attachment, not the tool's
			}
			recv(p)
			if len(p) > 0 && p[0] == '1' {
				t.cancel() // the session is over: the POST loop stops too
				return
			}
		}
	}
}

func (t *pollTransport) postLoop() {
	var buf, carry []byte
	for {
		var first []byte
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-t.out:
			case <-t.ctx.Done():
				return
			}
		}
		buf = append(buf[:0], first...)
		isClose := string(first) == "1"
	batch:
		for !isClose {
			select {
			case p := <-t.out:
				if len(buf)+1+len(p) > t.maxPayload {
					carry = p
					break batch
				}
				buf = append(append(buf, 0x1e), p...)
				isClose = string(p) == "1"
			default:
				break batch
			}
		}
		if _, err := pollRequest(t.ctx, t.hc, http.MethodPost, t.url, buf); err != nil {
			t.fail(fmt.Errorf("post: %w", err))
			return
		}
		if isClose {
			close(t.closed)
			return
		}
	}
}

// fail ends the connection with err, unless it is already being closed, and stops both loops (so
// that senders no longer wait for the POST loop).
func (t *pollTransport) fail(err error) {
	if t.ctx.Err() == nil {
		t.end(err)
	}
	t.cancel()
}

func (t *pollTransport) send(ctx context.Context, pkt []byte) error {
	select {
	case t.out <- pkt:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.ctx.Done():
		return errClosed
	}
}

// close posts the Engine.IO close packet after what is queued (waiting up to 2s), then stops both loops.
func (t *pollTransport) close() {
	t.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(t.ctx, 2*time.Second)
		defer cancel()
		if t.send(ctx, []byte{'1'}) == nil {
			select {
			case <-t.closed:
			case <-ctx.Done():
			}
		}
		t.cancel()
		t.wg.Wait()
	})
}
