package socketio_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/engineio"
	"github.com/roomio/roomio/transport/socketio"
	"github.com/roomio/roomio/transport/wire"
)

// These tests drive a socketio.Server over real HTTP with raw Engine.IO requests: long-polling GETs and
// POSTs with net/http, and WebSockets with coder/websocket. Packets are written in polling notation on
// both transports: text packets as they are, binary ones as "b" + base64.

// testTimeout bounds every wait; nothing should come close to it.
const testTimeout = 10 * time.Second

// acceptor is the transport.Acceptor under the server: it records every session it opened.
type acceptor struct {
	mu       sync.Mutex
	sessions []*session
	opened   chan *session
}

func (a *acceptor) Open(c transport.Conn) transport.Session {
	s := &session{conn: c, packets: make(chan *packet.Packet, 1024), closed: make(chan string, 1)}
	a.mu.Lock()
	a.sessions = append(a.sessions, s)
	a.mu.Unlock()
	a.opened <- s
	return s
}

// session records the packets and the close reason of one connection. It answers CONNECT with a
// KindConnected packet and echoes every event back with the same name and arguments.
type session struct {
	conn    transport.Conn
	packets chan *packet.Packet
	closed  chan string

	ncloses atomic.Int32
	late    atomic.Int32 // packets handed over after Closed
}

func (s *session) Packet(p *packet.Packet) {
	if s.ncloses.Load() > 0 {
		s.late.Add(1)
	}
	switch p.Kind {
	case packet.KindConnect:
		s.conn.Send(&packet.Packet{Kind: packet.KindConnected, Namespace: p.Namespace, SID: s.conn.ID()})
	case packet.KindEvent:
		s.conn.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: p.Namespace, Name: p.Name, Args: p.Args})
	}
	s.packets <- p
}

func (s *session) Closed(reason string) {
	if s.ncloses.Add(1) == 1 {
		s.closed <- reason
	}
}

// show describes p for a failure message.
func show(p *packet.Packet) string {
	return fmt.Sprintf("{Kind:%d Namespace:%q Name:%q Args:%s AckID:%d Message:%q Data:%q}",
		p.Kind, p.Namespace, p.Name, argsString(p.Args), p.AckID, p.Message, p.Data)
}

// nextPacket returns the next packet the session was handed.
func (s *session) nextPacket(t *testing.T) *packet.Packet {
	t.Helper()
	select {
	case p := <-s.packets:
		return p
	case <-time.After(testTimeout):
		t.Fatal("no packet reached the session")
		return nil
	}
}

// noPacket fails if a packet is waiting.
func (s *session) noPacket(t *testing.T) {
	t.Helper()
	select {
	case p := <-s.packets:
		t.Fatalf("unexpected packet handed to the session: %s", show(p))
	default:
	}
}

// waitClosed returns the reason passed to Closed.
func (s *session) waitClosed(t *testing.T) string {
	t.Helper()
	select {
	case r := <-s.closed:
		return r
	case <-time.After(testTimeout):
		t.Fatal("Closed was not called")
		return ""
	}
}

// notClosed fails if Closed was called.
func (s *session) notClosed(t *testing.T) {
	t.Helper()
	if n := s.ncloses.Load(); n != 0 {
		t.Fatalf("Closed called %d times, want 0", n)
	}
}

// env is one test's server: a socketio.Server mounted at /socket.io/ on an httptest server.
type env struct {
	t    *testing.T
	srv  *socketio.Server
	acc  *acceptor
	base string // http://127.0.0.1:port/socket.io/
	hc   *http.Client

	mu    sync.Mutex
	polls []string // the sids of the long-polling sessions opened
}

// newEnv starts a server; opts may change its options. Heartbeats are a minute apart so that no ping
// interleaves with what a test expects. Cleanup shuts the server down and checks that every session was
// closed exactly once and got no packet after that.
func newEnv(t *testing.T, opts func(*socketio.Options)) *env {
	t.Helper()
	e := &env{t: t, acc: &acceptor{opened: make(chan *session, 64)}}
	o := socketio.Options{
		Acceptor: e.acc,
		EngineIO: engineio.Options{PingInterval: time.Minute, PingTimeout: time.Minute},
	}
	if opts != nil {
		opts(&o)
	}
	e.srv = socketio.NewServer(o)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", e.srv)
	hs := httptest.NewServer(mux)
	e.base = hs.URL + "/socket.io/"
	e.hc = &http.Client{Transport: &http.Transport{}, Timeout: testTimeout}
	// Cleanups run last-in first-out: Shutdown ends the pending polls that httptest's Close waits for.
	t.Cleanup(hs.Close)
	t.Cleanup(e.hc.CloseIdleConnections)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.srv.Shutdown(ctx) }()
		// Shutdown delivers a long-polling session's close packet at its next poll and waits for it (up
		// to PingTimeout): poll as a live client would.
		e.mu.Lock()
		polls := e.polls
		e.mu.Unlock()
		for _, sid := range polls {
			e.pollUntilClosed(ctx, sid)
		}
		if err := <-done; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.acc.mu.Lock()
		defer e.acc.mu.Unlock()
		for _, s := range e.acc.sessions {
			if n := s.ncloses.Load(); n != 1 {
				t.Errorf("session %s: Closed called %d times, want 1", s.conn.ID(), n)
			}
			if n := s.late.Load(); n != 0 {
				t.Errorf("session %s: %d packets after Closed", s.conn.ID(), n)
			}
		}
	})
	return e
}

// do sends a request and returns the status and body.
func (e *env) do(method, query, body string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+"?"+query, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, query, err)
	}
	return resp.StatusCode, string(b)
}

// pollUntilClosed polls session sid until it has received the close packet or the session is gone.
func (e *env) pollUntilClosed(ctx context.Context, sid string) {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"?EIO=4&transport=polling&sid="+sid, nil)
		if err != nil {
			return
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || slices.Contains(strings.Split(string(b), "\x1e"), "1") {
			return
		}
	}
}

// client is one Socket.IO connection as its client sees it, over either Engine.IO transport, with the
// server-side session the acceptor got for it.
type client struct {
	e    *env
	tr   string
	sid  string
	ws   *websocket.Conn
	buf  []string // packets received and not yet returned
	sess *session
}

// open opens an Engine.IO session over transport tr.
func (e *env) open(tr string) *client {
	e.t.Helper()
	c := &client{e: e, tr: tr}
	var open string
	if tr == engineio.TransportPolling {
		status, body := e.do(http.MethodGet, "EIO=4&transport=polling", "")
		if status != http.StatusOK {
			e.t.Fatalf("handshake: %d %q", status, body)
		}
		open = body
		defer func() {
			e.mu.Lock()
			e.polls = append(e.polls, c.sid)
			e.mu.Unlock()
		}()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.base, "http")+"?EIO=4&transport=websocket", nil)
		if err != nil {
			e.t.Fatalf("dial: %v", err)
		}
		ws.SetReadLimit(-1)
		e.t.Cleanup(func() { ws.CloseNow() })
		c.ws = ws
		open = c.read()
	}
	sid, ok := strings.CutPrefix(open, `0{"sid":"`)
	if !ok {
		e.t.Fatalf("not an open packet: %q", open)
	}
	c.sid, _, _ = strings.Cut(sid, `"`)
	select {
	case c.sess = <-e.acc.opened:
	case <-time.After(testTimeout):
		e.t.Fatal("the acceptor opened no session")
	}
	if c.sess.conn.ID() != c.sid {
		e.t.Fatalf("acceptor got session %q, client has %q", c.sess.conn.ID(), c.sid)
	}
	return c
}

// connect opens a session over tr and connects the main namespace.
func (e *env) connect(tr string) *client {
	e.t.Helper()
	c := e.open(tr)
	c.send("40")
	c.expect(`40{"sid":"` + c.sid + `"}`)
	if p := c.sess.nextPacket(e.t); p.Kind != packet.KindConnect || p.Namespace != "/" {
		e.t.Fatalf("session got %s, want a CONNECT to /", show(p))
	}
	return c
}

// send sends Engine.IO packets: one POST for all of them, or one WebSocket message each.
func (c *client) send(packets ...string) {
	c.e.t.Helper()
	if c.ws == nil {
		if status, body := c.e.do(http.MethodPost, "EIO=4&transport=polling&sid="+c.sid, strings.Join(packets, "\x1e")); status != http.StatusOK || body != "ok" {
			c.e.t.Fatalf("POST: %d %q", status, body)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, p := range packets {
		typ, data := websocket.MessageText, []byte(p)
		if b64, ok := strings.CutPrefix(p, "b"); ok {
			var err error
			if data, err = base64.StdEncoding.DecodeString(b64); err != nil {
				c.e.t.Fatal(err)
			}
			typ = websocket.MessageBinary
		}
		if err := c.ws.Write(ctx, typ, data); err != nil {
			c.e.t.Fatalf("websocket write %q: %v", p, err)
		}
	}
}

// read reads one WebSocket message in polling notation.
func (c *client) read() string {
	c.e.t.Helper()
	p, err := c.readErr()
	if err != nil {
		c.e.t.Fatalf("websocket read: %v", err)
	}
	return p
}

func (c *client) readErr() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		return "", err
	}
	return string(engineio.AppendPayload(nil, []engineio.Frame{{Data: data, Binary: typ == websocket.MessageBinary}})), nil
}

// poll sends one GET and returns its packets.
func (c *client) poll() []string {
	c.e.t.Helper()
	status, body := c.e.do(http.MethodGet, "EIO=4&transport=polling&sid="+c.sid, "")
	if status != http.StatusOK {
		c.e.t.Fatalf("GET: %d %q", status, body)
	}
	return strings.Split(body, "\x1e")
}

// recv returns the next n packets from the server.
func (c *client) recv(n int) []string {
	c.e.t.Helper()
	for len(c.buf) < n {
		if c.ws != nil {
			c.buf = append(c.buf, c.read())
		} else {
			c.buf = append(c.buf, c.poll()...)
		}
	}
	got := c.buf[:n:n]
	c.buf = c.buf[n:]
	return got
}

// expect receives len(want) packets and compares them with want.
func (c *client) expect(want ...string) {
	c.e.t.Helper()
	if got := c.recv(len(want)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		c.e.t.Fatalf("received %q, want %q", got, want)
	}
}

// expectClosed checks that the server ends the session: the next packet is the Engine.IO close packet,
// after which a poll is refused, or the WebSocket gets a normal close frame. It returns the reason the
// session's Closed got.
func (c *client) expectClosed() string {
	c.e.t.Helper()
	c.expect("1")
	if c.ws != nil {
		_, err := c.readErr()
		if code := websocket.CloseStatus(err); code != websocket.StatusNormalClosure {
			c.e.t.Fatalf("after the close packet: %v (status %d), want a close frame with status 1000", err, code)
		}
	} else {
		status, body := c.e.do(http.MethodGet, "EIO=4&transport=polling&sid="+c.sid, "")
		if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
			c.e.t.Fatalf("poll after the close packet: %d %q, want 400 Session ID unknown", status, body)
		}
	}
	return c.sess.waitClosed(c.e.t)
}

// echo checks that the connection still works: an event comes back, and its session got it.
func (c *client) echo() {
	c.e.t.Helper()
	ev := `42["echo",{"sid":"` + c.sid + `"}]`
	c.send(ev)
	c.expect(ev)
	if p := c.sess.nextPacket(c.e.t); p.Kind != packet.KindEvent || p.Name != "echo" {
		c.e.t.Fatalf("session got %s, want the echo event", show(p))
	}
}

// run runs f over each Engine.IO transport, in parallel.
func run(t *testing.T, f func(t *testing.T, tr string)) {
	for _, tr := range []string{engineio.TransportPolling, engineio.TransportWebSocket} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

// b64 returns a binary packet in polling notation.
func b64(data ...byte) string { return "b" + base64.StdEncoding.EncodeToString(data) }

// parseErrorCase is a misbehaving client's packets that must close its connection with "parse error",
// leaving a second connection to the same server working. Each element of sends is one send call (one
// POST, or WebSocket messages), so a binary packet's state spans requests.
func parseErrorCase(t *testing.T, tr string, sends ...[]string) {
	e := newEnv(t, nil)
	victim := e.connect(tr)
	bystander := e.connect(tr)
	for _, s := range sends {
		victim.send(s...)
	}
	if r := victim.expectClosed(); r != transport.ReasonParseError {
		t.Fatalf("Closed(%q), want %q", r, transport.ReasonParseError)
	}
	victim.sess.noPacket(t)
	bystander.echo()
	bystander.sess.notClosed(t)
}

func TestServerGarbagePacket(t *testing.T) {
	for _, tc := range []struct{ name, packet string }{
		{"unknown type", "4zzz"},
		{"empty", "4"},
		{"bad JSON", `42["x",`},
		{"event not an array", `42{"x":1}`},
		{"event without a name", `42[]`},
		{"invalid UTF-8", "42[\"\xff\"]"},
		{"disconnect with payload", `41{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The event after the bad packet, in the same POST, must not reach the session either.
			run(t, func(t *testing.T, tr string) { parseErrorCase(t, tr, []string{tc.packet, `42["after"]`}) })
		})
	}
}

func TestServerMissingAttachment(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		// The text packet comes in a second POST (or message): the pending packet outlives a request.
		parseErrorCase(t, tr, []string{`451-["x",` + ph(0) + `]`}, []string{`42["y"]`})
	})
}

// attachEvent returns a BINARY_EVENT "x" with n top-level binary arguments, the n attachments (byte i+1
// each), and the same again in polling notation.
func attachEvent(n int) (text string, atts []string) {
	var b strings.Builder
	fmt.Fprintf(&b, `45%d-["x"`, n)
	for i := range n {
		b.WriteString("," + ph(i))
		atts = append(atts, b64(byte(i+1)))
	}
	b.WriteString("]")
	return b.String(), atts
}

func TestServerMaxAttachments(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		victim := e.connect(tr)
		bystander := e.connect(tr)

		// The default limit, 10, is allowed.
		text, atts := attachEvent(10)
		victim.send(append([]string{text}, atts...)...)
		victim.expect(append([]string{text}, atts...)...)
		p := victim.sess.nextPacket(t)
		if p.Kind != packet.KindEvent || len(p.Args) != 10 {
			t.Fatalf("session got %s, want an event with 10 arguments", show(p))
		}
		for i, a := range p.Args {
			if !a.Binary || !bytes.Equal(a.Data, []byte{byte(i + 1)}) {
				t.Fatalf("argument %d: %+v, want binary %d", i, a, i+1)
			}
		}

		// 11 is refused as soon as the text announces them, before any attachment is buffered.
		text, _ = attachEvent(11)
		victim.send(text)
		if r := victim.expectClosed(); r != transport.ReasonParseError {
			t.Fatalf("Closed(%q), want %q", r, transport.ReasonParseError)
		}
		victim.sess.noPacket(t)
		bystander.echo()
		bystander.sess.notClosed(t)
	})
}

func TestServerMaxAttachmentsOption(t *testing.T) {
	e := newEnv(t, func(o *socketio.Options) { o.MaxAttachments = 2 })
	victim := e.connect(engineio.TransportWebSocket)
	text, atts := attachEvent(2)
	victim.send(append([]string{text}, atts...)...)
	victim.expect(append([]string{text}, atts...)...)
	victim.sess.nextPacket(t)
	text, _ = attachEvent(3)
	victim.send(text)
	if r := victim.expectClosed(); r != transport.ReasonParseError {
		t.Fatalf("Closed(%q), want %q", r, transport.ReasonParseError)
	}
}

func TestServerUnexpectedBinary(t *testing.T) {
	run(t, func(t *testing.T, tr string) { parseErrorCase(t, tr, []string{b64(1, 2, 3)}) })
}

func TestServerExtraAttachment(t *testing.T) {
	// One attachment more than announced: the packet is complete, so the extra one is unexpected.
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		victim := e.connect(tr)
		bystander := e.connect(tr)
		victim.send(`451-["x",`+ph(0)+`]`, b64(1), b64(2))
		// The complete event reached the session, and its echo is queued before the close packet.
		if p := victim.sess.nextPacket(t); p.Kind != packet.KindEvent || p.Name != "x" {
			t.Fatalf("session got %s, want event x", show(p))
		}
		victim.expect(`451-["x",`+ph(0)+`]`, b64(1))
		if r := victim.expectClosed(); r != transport.ReasonParseError {
			t.Fatalf("Closed(%q), want %q", r, transport.ReasonParseError)
		}
		victim.sess.noPacket(t)
		bystander.echo()
		bystander.sess.notClosed(t)
	})
}

// TestServerClientConnectError: a CONNECT_ERROR (or any packet a server sends, which a client has no
// business sending) is dropped by the front-end: transport.Session.Packet takes only CONNECT, EVENT, ACK
// and DISCONNECT. As in the reference server, the connection stays open and the packet is not answered.
func TestServerClientConnectError(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		a := e.connect(tr)
		b := e.connect(tr)
		a.send(`44{"message":"x"}`, `44"just a string"`, `44/admin,{"message":"x","data":[1]}`)
		a.echo() // the session saw nothing before the echo, and nothing came back before it
		a.sess.notClosed(t)
		b.echo()
		b.sess.notClosed(t)
	})
}

func TestServerBinaryEvent(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		a := e.connect(tr)
		b := e.connect(tr)
		// socket.io-client numbers placeholders in document order: the top-level one is 0, the nested
		// one 1. The second attachment comes in a request (or message) of its own.
		a.send(`452-["up",`+ph(0)+`,{"nested":`+ph(1)+`},"text"]`, b64(1, 2, 3))
		a.send(b64(4, 5, 6))
		p := a.sess.nextPacket(t)
		want := &packet.Packet{
			Kind: packet.KindEvent, Namespace: "/", Name: "up",
			Args: []packet.Arg{{Data: []byte{1, 2, 3}, Binary: true}, {Data: []byte(`{"nested":` + ph(0) + `}`), Attachments: [][]byte{{4, 5, 6}}},
				{Data: []byte(`"text"`)}},
		}
		if d := packetDiff(p, want); d != "" {
			t.Fatalf("session got a different packet:\n%s", d)
		}
		// The echo is what the client sent: attachments in document order (doc.go, Binary data).
		a.expect(`452-["up",`+ph(0)+`,{"nested":`+ph(1)+`},"text"]`, b64(1, 2, 3), b64(4, 5, 6))

		// A BINARY_ACK in a namespace, with an ack id, and an empty attachment.
		a.send(`461-/admin,7[`+ph(0)+`]`, b64())
		p = a.sess.nextPacket(t)
		want = &packet.Packet{Kind: packet.KindAck, Namespace: "/admin", AckID: 8, Args: []packet.Arg{{Data: []byte{}, Binary: true}}}
		if d := packetDiff(p, want); d != "" {
			t.Fatalf("session got a different ack:\n%s", d)
		}
		a.echo()
		b.echo()
	})
}

func TestServerSendDropsPacketsWithoutSocketIOForm(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		a := e.connect(tr)
		b := e.connect(tr)
		for _, p := range []*packet.Packet{
			{Kind: packet.KindError, Namespace: "/", Code: wire.ErrCodeInvalid, Message: "bad"},
			{Kind: packet.KindPing, Seq: 1},
			{Kind: packet.KindPong, Seq: 1},
			{Kind: packet.KindError, Namespace: "/", Volatile: true},
		} {
			if err := a.sess.conn.Send(p); err != nil {
				t.Fatalf("Send(%v): %v", p.Kind, err)
			}
		}
		if err := a.sess.conn.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "after"}); err != nil {
			t.Fatal(err)
		}
		if tr == engineio.TransportPolling {
			// One poll collects everything queued: the event must be alone.
			if got := a.poll(); len(got) != 1 || got[0] != `42["after"]` {
				t.Fatalf("poll returned %q, want only the event", got)
			}
		} else {
			a.expect(`42["after"]`)
		}
		a.echo()
		a.sess.notClosed(t)
		b.echo()
	})
}

// TestServerSendVolatileQueueFull runs over long-polling only: a WebSocket's writer empties the queue
// as fast as it can, so whether it is full at a given moment cannot be arranged from outside, while a
// polling session's queue fills until the next GET.
func TestServerSendVolatileQueueFull(t *testing.T) {
	e := newEnv(t, func(o *socketio.Options) { o.EngineIO.QueueBytes = 64 })
	a := e.connect(engineio.TransportPolling)
	b := e.connect(engineio.TransportPolling)

	big := &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "big", Args: []packet.Arg{{Data: []byte(`"` + strings.Repeat("x", 100) + `"`)}}}
	small := func(name string) *packet.Packet {
		return &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: name, Volatile: true}
	}
	// A frame larger than the queue is accepted into an empty queue; then the queue is full.
	if err := a.sess.conn.Send(big); err != nil {
		t.Fatalf("Send(big): %v", err)
	}
	for _, p := range []*packet.Packet{small("v1"), small("v2"), {Kind: packet.KindEvent, Namespace: "/", Name: "bin", Args: []packet.Arg{{Data: []byte{1}, Binary: true}}, Volatile: true}} {
		if err := a.sess.conn.Send(p); err != nil {
			t.Fatalf("volatile Send(%s) into a full queue: %v, want nil (dropped)", p.Name, err)
		}
	}
	if got, want := a.poll(), string(big.Encode(socketio.Encoder)); len(got) != 1 || got[0] != want {
		t.Fatalf("poll returned %q, want only %q", got, want)
	}
	a.sess.notClosed(t)
	// The queue is empty again: a volatile packet goes through.
	if err := a.sess.conn.Send(small("v3")); err != nil {
		t.Fatal(err)
	}
	a.expect(`42["v3"]`)
	a.echo()
	a.sess.notClosed(t)
	b.echo()

	// For contrast, a packet that is not volatile overflows the full queue and closes the connection.
	if err := a.sess.conn.Send(big); err != nil {
		t.Fatal(err)
	}
	nv := small("nv")
	nv.Volatile = false
	if err := a.sess.conn.Send(nv); !errors.Is(err, transport.ErrSlowClient) {
		t.Fatalf("Send into a full queue: %v, want ErrSlowClient", err)
	}
	if r := a.sess.waitClosed(t); r != transport.ReasonSlowClient {
		t.Fatalf("Closed(%q), want %q", r, transport.ReasonSlowClient)
	}
	b.echo()
}

// TestServerPendingBinaryKeepsItsDecoder: connections decode with pooled decoders, and one whose binary
// packet waits for its attachment keeps its own meanwhile: other connections' packets, decoded in
// between, neither take it nor disturb the pending packet.
func TestServerPendingBinaryKeepsItsDecoder(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		a := e.connect(tr)
		b := e.connect(tr)
		a.send(`451-["up",` + ph(0) + `]`) // waits for its attachment
		for i := range 20 {
			b.send(fmt.Sprintf(`42["n",%d]`, i))
			p := b.sess.nextPacket(t)
			want := &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "n", Args: []packet.Arg{{Data: []byte(fmt.Sprint(i))}}}
			if d := packetDiff(p, want); d != "" {
				t.Fatalf("b's packet %d:\n%s", i, d)
			}
		}
		a.send(b64(7, 8))
		p := a.sess.nextPacket(t)
		want := &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "up", Args: []packet.Arg{{Data: []byte{7, 8}, Binary: true}}}
		if d := packetDiff(p, want); d != "" {
			t.Fatalf("a's binary packet:\n%s", d)
		}
	})
}
