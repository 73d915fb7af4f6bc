package native_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/native"
	"github.com/roomio/roomio/transport/wire"
	"github.com/roomio/roomio/transport/wire/wiretest"
)

// testTimeout bounds every wait; nothing should come close to it.
const testTimeout = 10 * time.Second

// testAcceptor records every connection it is given. Its sessions record the packets they receive and,
// when echo is set, send every event straight back.
type testAcceptor struct {
	echo   bool
	opened chan *testSession
}

func (a *testAcceptor) Open(c transport.Conn) transport.Session {
	s := &testSession{
		conn:    c,
		echo:    a.echo,
		packets: make(chan *packet.Packet, 1<<12),
		closed:  make(chan string, 1),
	}
	a.opened <- s
	return s
}

type testSession struct {
	conn    transport.Conn
	echo    bool
	packets chan *packet.Packet
	closed  chan string
	ncloses atomic.Int32
}

func (s *testSession) Packet(p *packet.Packet) {
	if s.echo && p.Kind == packet.KindEvent {
		s.conn.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: p.Namespace, Name: p.Name, Args: p.Args, AckID: p.AckID})
	}
	s.packets <- p
}

func (s *testSession) Closed(reason string) {
	if s.ncloses.Add(1) == 1 {
		s.closed <- reason
	}
}

// waitClosed returns the reason passed to Closed.
func (s *testSession) waitClosed(t *testing.T) string {
	t.Helper()
	select {
	case r := <-s.closed:
		return r
	case <-time.After(testTimeout):
		t.Fatal("Session.Closed was not called")
		return ""
	}
}

// nextPacket returns the next packet the session received.
func (s *testSession) nextPacket(t *testing.T) *packet.Packet {
	t.Helper()
	select {
	case p := <-s.packets:
		return p
	case <-time.After(testTimeout):
		t.Fatal("no packet reached the session")
		return nil
	}
}

type testServer struct {
	http *httptest.Server
	srv  *native.Server
	acc  *testAcceptor
}

// newTestServer serves a native.Server with an echoing testAcceptor on loopback. opt, if not nil, edits
// the Options first. Cleanup shuts both servers down.
func newTestServer(t *testing.T, opt func(*native.Options)) *testServer {
	t.Helper()
	acc := &testAcceptor{echo: true, opened: make(chan *testSession, 64)}
	o := native.Options{Acceptor: acc}
	if opt != nil {
		opt(&o)
	}
	ts := &testServer{srv: native.NewServer(o), acc: acc}
	ts.http = httptest.NewServer(ts.srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.http.Close()
	})
	return ts
}

func (ts *testServer) url() string { return "ws" + strings.TrimPrefix(ts.http.URL, "http") }

type dialOptions struct {
	subprotocols []string
	header       http.Header
	query        string
	noRead       bool      // never read: a client that stalls its socket
	noPong       bool      // read, but never answer the server's pings
	raw          *net.Conn // when set, receives the client's TCP connection (to write raw bytes)
}

// proto and json are the dial options for the two subprotocols.
var (
	protoDial = dialOptions{subprotocols: []string{wire.SubprotocolProto}}
	jsonDial  = dialOptions{subprotocols: []string{wire.SubprotocolJSON}}
)

func dialFor(f wire.Format) dialOptions {
	if f == wire.FormatJSON {
		return jsonDial
	}
	return protoDial
}

func msgType(f wire.Format) websocket.MessageType {
	if f == wire.FormatJSON {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

// dialErr opens a WebSocket, returning the handshake's response and error.
func (ts *testServer) dialErr(o dialOptions) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := ts.http.Client() // closed with the server, so refused handshakes leave no idle conns
	if o.raw != nil {
		client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			*o.raw = c
			return c, err
		}}}
	}
	return websocket.Dial(ctx, ts.url()+o.query, &websocket.DialOptions{
		Subprotocols: o.subprotocols,
		HTTPHeader:   o.header,
		HTTPClient:   client,
	})
}

// testClient is one client connection. Unless dialled with noRead, a goroutine reads it, answers the
// server's pings (unless noPong) and hands every packet, then the error that ended the connection, to in.
type testClient struct {
	t    *testing.T
	ws   *websocket.Conn
	f    wire.Format
	sess *testSession // the server side, as the acceptor saw it
	in   chan clientItem
	stop chan struct{}
	done chan struct{}
	seq  int
}

type clientItem struct {
	p   *packet.Packet
	err error
}

func (ts *testServer) dial(t *testing.T, o dialOptions) *testClient {
	t.Helper()
	ws, _, err := ts.dialErr(o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1) // the server's batches may exceed the default 32 KiB
	c := &testClient{
		t:    t,
		ws:   ws,
		f:    wire.FormatJSON,
		in:   make(chan clientItem, 1<<12),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if ws.Subprotocol() == wire.SubprotocolProto {
		c.f = wire.FormatProto
	}
	select {
	case c.sess = <-ts.acc.opened:
	case <-time.After(testTimeout):
		ws.CloseNow()
		t.Fatal("the acceptor was not given the connection")
	}
	t.Cleanup(func() {
		close(c.stop)
		ws.CloseNow()
		<-c.done
	})
	if o.noRead {
		close(c.done)
	} else {
		go c.readLoop(!o.noPong)
	}
	return c
}

func (c *testClient) readLoop(answerPings bool) {
	defer close(c.done)
	deliver := func(it clientItem) bool {
		select {
		case c.in <- it:
			return true
		case <-c.stop:
			return false
		}
	}
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			deliver(clientItem{err: err})
			return
		}
		if typ != msgType(c.f) {
			deliver(clientItem{err: fmt.Errorf("server sent a %v message on %s", typ, c.f.Subprotocol())})
			return
		}
		msgs, err := wire.DecodeFrame(c.f, b)
		if err != nil {
			deliver(clientItem{err: fmt.Errorf("server sent an undecodable frame %q: %w", b, err)})
			return
		}
		for _, m := range msgs {
			p, err := wire.FromMessage(m)
			if err != nil {
				deliver(clientItem{err: fmt.Errorf("server sent %v: %w", m, err)})
				return
			}
			if p.Kind == packet.KindPing && answerPings {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				c.ws.Write(ctx, msgType(c.f), wire.EncodeFrame(c.f, &packet.Packet{Kind: packet.KindPong, Seq: p.Seq}))
				cancel()
			}
			if !deliver(clientItem{p: p}) {
				return
			}
		}
	}
}

// writeRaw writes one WebSocket message.
func (c *testClient) writeRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes ps as one frame.
func (c *testClient) send(ps ...*packet.Packet) {
	c.t.Helper()
	c.writeRaw(msgType(c.f), wire.EncodeFrame(c.f, ps...))
}

// nextAny returns the next packet from the server, pings included.
func (c *testClient) nextAny() *packet.Packet {
	c.t.Helper()
	select {
	case it, ok := <-c.in:
		if !ok {
			c.t.Fatal("connection already ended")
		}
		if it.err != nil {
			c.t.Fatalf("connection ended: %v", it.err)
		}
		return it.p
	case <-time.After(testTimeout):
		c.t.Fatal("no packet from the server")
		return nil
	}
}

// next returns the next packet from the server that is not a ping.
func (c *testClient) next() *packet.Packet {
	c.t.Helper()
	for {
		if p := c.nextAny(); p.Kind != packet.KindPing {
			return p
		}
	}
}

// waitClose reads until the connection ends and returns the close frame's code and reason.
func (c *testClient) waitClose() (websocket.StatusCode, string) {
	c.t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case it, ok := <-c.in:
			if !ok {
				c.t.Fatal("connection already ended")
			}
			if it.err == nil {
				continue
			}
			var ce websocket.CloseError
			if !errors.As(it.err, &ce) {
				c.t.Fatalf("connection ended without a close frame: %v", it.err)
			}
			return ce.Code, ce.Reason
		case <-deadline:
			c.t.Fatal("the server did not close the connection")
		}
	}
}

// expectClose waits for the server to close the connection with code; it returns the close reason.
func (c *testClient) expectClose(code int) string {
	c.t.Helper()
	got, reason := c.waitClose()
	if int(got) != code {
		c.t.Fatalf("closed with %d %q, want %d", got, reason, code)
	}
	if len(reason) > 123 || !utf8.ValidString(reason) {
		c.t.Fatalf("close reason %q breaks RFC 6455 §5.5/§7.1.6 (len %d)", reason, len(reason))
	}
	return reason
}

// checkAlive sends an event and waits for its echo.
func (c *testClient) checkAlive() {
	c.t.Helper()
	c.seq++
	arg := []byte(strconv.Quote(fmt.Sprintf("alive %d", c.seq)))
	c.send(&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "alive", Args: []packet.Arg{{Data: arg}}})
	p := c.next()
	if p.Kind != packet.KindEvent || p.Name != "alive" || len(p.Args) != 1 || !bytes.Equal(p.Args[0].Data, arg) {
		c.t.Fatalf("got %+v, want the echo of event alive %s", p, arg)
	}
}

// expectError waits for an Error packet with code.
func (c *testClient) expectError(code int, namespace string) *packet.Packet {
	c.t.Helper()
	p := c.next()
	if p.Kind != packet.KindError || p.Code != uint32(code) || p.Namespace != namespace {
		c.t.Fatalf("got %+v, want an Error packet with code %d for namespace %q", p, code, namespace)
	}
	return p
}

func event(name string, args ...string) *packet.Packet {
	p := &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: name}
	for _, a := range args {
		p.Args = append(p.Args, packet.Arg{Data: []byte(a)})
	}
	return p
}

// badFrameTest checks that one bad client message closes that connection with code, and that a second
// connection to the same server is unaffected.
func badFrameTest(t *testing.T, ts *testServer, o dialOptions, typ websocket.MessageType, frame []byte, code int, reason string) {
	t.Helper()
	other := ts.dial(t, o)
	c := ts.dial(t, o)
	c.checkAlive()
	c.writeRaw(typ, frame)
	c.expectClose(code)
	if got := c.sess.waitClosed(t); got != reason {
		t.Errorf("Session.Closed(%q), want %q", got, reason)
	}
	if err := c.sess.conn.Send(event("late")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after close = %v, want ErrClosed", err)
	}
	other.checkAlive()
}

func TestMalformedFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		o     dialOptions
		frame []byte
	}{
		{"proto/garbage", protoDial, []byte{0xff, 0xff, 0xff}},
		{"proto/empty", protoDial, nil},
		{"proto/no-messages", protoDial, wiretest.ProtoFrame()},
		{"json/garbage", jsonDial, []byte("not json")},
		{"json/empty", jsonDial, nil},
		{"json/no-messages", jsonDial, []byte(`{"messages":[]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			typ := websocket.MessageBinary
			if tc.o.subprotocols[0] == wire.SubprotocolJSON {
				typ = websocket.MessageText
			}
			badFrameTest(t, ts, tc.o, typ, tc.frame, transport.CloseProtocolError, transport.ReasonParseError)
		})
	}
}

func TestMalformedFrameLongReason(t *testing.T) {
	t.Parallel()
	// The close reason carries the decoder's error, which quotes the input; cut to fit a control frame, it
	// must still be valid UTF-8 (RFC 6455 §5.5.1). Pad the frame so the cut falls inside a character.
	var frame []byte
	for pad := range 4 {
		f := []byte(`{"messages":[{"event":{"name":"x","ackId":"` + strings.Repeat("1", pad) + strings.Repeat("é", 100) + `"}}]}`)
		_, err := wire.DecodeFrame(wire.FormatJSON, f)
		if err == nil {
			t.Fatal("the crafted frame decodes")
		}
		if s := err.Error(); len(s) > 130 && !utf8.RuneStart(s[120]) {
			frame = f
			break
		}
	}
	if frame == nil {
		t.Fatal("the decoder's error text no longer quotes the input: rewrite this test for the new text")
	}
	ts := newTestServer(t, nil)
	badFrameTest(t, ts, jsonDial, websocket.MessageText, frame, transport.CloseProtocolError, transport.ReasonParseError)
}

func TestWrongMessageType(t *testing.T) {
	t.Parallel()
	t.Run("text-on-proto", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, nil)
		frame := wire.EncodeFrame(wire.FormatJSON, event("e"))
		badFrameTest(t, ts, protoDial, websocket.MessageText, frame, transport.CloseUnsupportedData, transport.ReasonParseError)
	})
	t.Run("binary-on-json", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, nil)
		frame := wire.EncodeFrame(wire.FormatJSON, event("e"))
		badFrameTest(t, ts, jsonDial, websocket.MessageBinary, frame, transport.CloseUnsupportedData, transport.ReasonParseError)
	})
}

func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	frame := []byte("{\"messages\":[{\"event\":{\"name\":\"\xff\xfe\"}}]}")
	badFrameTest(t, ts, jsonDial, websocket.MessageText, frame, transport.CloseInvalidPayload, transport.ReasonParseError)
}

func TestMessageTooBig(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		const limit = 1024
		ts := newTestServer(t, func(o *native.Options) { o.MaxMessageSize = limit })
		other := ts.dial(t, dialFor(f))
		c := ts.dial(t, dialFor(f))
		// Exactly the limit is fine.
		// pad returns an event whose frame is at least n bytes.
		pad := func(n int) *packet.Packet {
			for l := max(n-len(wire.EncodeFrame(f, event("big", `""`)))-8, 0); ; l++ {
				p := event("big", strconv.Quote(strings.Repeat("x", l)))
				if len(wire.EncodeFrame(f, p)) >= n {
					return p
				}
			}
		}
		p := pad(limit)
		if n := len(wire.EncodeFrame(f, p)); n != limit {
			t.Fatalf("padded frame is %d bytes, want %d", n, limit)
		}
		c.send(p)
		if got := c.next(); got.Name != "big" {
			t.Fatalf("got %+v, want the echo of the big event", got)
		}
		// Over the limit: the server closes as soon as it has read the frame's header. The frame fits in
		// one write of the client (its buffer is 4 KiB), which has ended by then: a frame still being
		// written when the server closes may meet a reset instead (its rest arrives at a closed socket).
		c.send(pad(2 * limit))
		c.expectClose(transport.CloseTooBig)
		if got := c.sess.waitClosed(t); got != transport.ReasonTooBig {
			t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonTooBig)
		}
		other.checkAlive()
	})
}

func TestUnknownKindAnswered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		o     dialOptions
		frame []byte
	}{
		{"proto", protoDial, append(wiretest.ProtoFrame(wiretest.UnknownKind()), wire.EncodeFrame(wire.FormatProto, event("after"))...)},
		{"json", jsonDial, []byte(`{"messages":[{"future":{"x":1}},{"event":{"namespace":"/","name":"after"}}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			other := ts.dial(t, tc.o)
			c := ts.dial(t, tc.o)
			c.writeRaw(msgType(c.f), tc.frame)
			c.expectError(wire.ErrCodeUnknownKind, "")
			// The rest of the frame is still processed, and the connection stays open.
			if p := c.next(); p.Kind != packet.KindEvent || p.Name != "after" {
				t.Fatalf("got %+v, want the echo of event after", p)
			}
			if p := c.sess.nextPacket(t); p.Name != "after" {
				t.Fatalf("session got %+v, want event after", p)
			}
			c.checkAlive()
			other.checkAlive()
		})
	}
}

func TestInvalidArgAnswered(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, nil)
		other := ts.dial(t, dialFor(f))
		c := ts.dial(t, dialFor(f))
		c.send(&packet.Packet{Kind: packet.KindEvent, Namespace: "/room", Name: "e", Args: []packet.Arg{{Data: []byte("{")}}})
		c.expectError(wire.ErrCodeInvalid, "/room")
		c.send(&packet.Packet{Kind: packet.KindConnect, Namespace: "/auth", Data: []byte("{nope")})
		c.expectError(wire.ErrCodeInvalid, "/auth")
		c.checkAlive()
		// Neither invalid message reached the session.
		if p := c.sess.nextPacket(t); p.Name != "alive" {
			t.Fatalf("session got %+v, want only the alive event", p)
		}
		other.checkAlive()
	})
}

func TestServerKindFromClient(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, nil)
		c := ts.dial(t, dialFor(f))
		c.send(&packet.Packet{Kind: packet.KindConnected, Namespace: "/x", SID: "forged"})
		c.expectError(wire.ErrCodeInvalid, "/x")
		c.checkAlive()
	})
}

func TestSessionGetsPacketsInOrder(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, func(o *native.Options) { o.Acceptor.(*testAcceptor).echo = false })
		c := ts.dial(t, dialFor(f))
		want := []*packet.Packet{
			{Kind: packet.KindConnect, Namespace: "/chat", Data: []byte(`{"token":"t"}`)},
			{Kind: packet.KindEvent, Namespace: "/chat", Name: "msg", AckID: 9, Args: []packet.Arg{{Data: []byte(`"hi"`)}, {Data: []byte{1, 2}, Binary: true}}},
			{Kind: packet.KindAck, Namespace: "/chat", AckID: 3, Args: []packet.Arg{{Data: []byte(`true`)}}},
			{Kind: packet.KindDisconnect, Namespace: "/chat"},
		}
		c.send(want[:2]...) // a batch
		c.send(want[2])
		c.send(want[3])
		for i, w := range want {
			if d := wiretest.PacketDiff(c.sess.nextPacket(t), w); d != "" {
				t.Fatalf("packet %d: %s", i, d)
			}
		}
	})
}

func TestClientPing(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, nil)
		c := ts.dial(t, dialFor(f))
		c.send(&packet.Packet{Kind: packet.KindPing, Seq: 77})
		if p := c.next(); p.Kind != packet.KindPong || p.Seq != 77 {
			t.Fatalf("got %+v, want pong 77", p)
		}
		// Unsolicited pongs are accepted silently.
		c.send(&packet.Packet{Kind: packet.KindPong, Seq: 5})
		c.checkAlive()
	})
}

func heartbeatOptions(o *native.Options) {
	o.PingInterval = 50 * time.Millisecond
	o.PingTimeout = 100 * time.Millisecond
}

func TestHeartbeatAnswered(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, heartbeatOptions)
		other := ts.dial(t, dialFor(f))
		c := ts.dial(t, dialFor(f))
		// Several intervals pass with the client answering every ping (readLoop pongs).
		var last uint64
		for pings := 0; pings < 6; {
			p := c.nextAny()
			if p.Kind != packet.KindPing {
				t.Fatalf("got %+v, want only pings", p)
			}
			if p.Seq <= last {
				t.Fatalf("ping seq %d after %d", p.Seq, last)
			}
			last = p.Seq
			pings++
		}
		select {
		case r := <-c.sess.closed:
			t.Fatalf("a client answering pings was closed: %q", r)
		default:
		}
		c.checkAlive()
		other.checkAlive()
	})
}

func TestHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, heartbeatOptions)
		other := ts.dial(t, dialFor(f))
		o := dialFor(f)
		o.noPong = true
		c := ts.dial(t, o)
		if p := c.nextAny(); p.Kind != packet.KindPing {
			t.Fatalf("got %+v, want a ping", p)
		}
		if reason := c.expectClose(transport.ClosePingTimeout); reason != transport.ReasonPingTimeout {
			t.Errorf("close reason %q, want %q", reason, transport.ReasonPingTimeout)
		}
		if got := c.sess.waitClosed(t); got != transport.ReasonPingTimeout {
			t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonPingTimeout)
		}
		other.checkAlive()
	})
}

func TestSlowClient(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, func(o *native.Options) {
			o.QueueBytes = 4096
			// The writer is stuck on a full socket when the queue overflows; this bounds how long.
			o.WriteTimeout = 250 * time.Millisecond
		})
		fast := ts.dial(t, dialFor(f))
		o := dialFor(f)
		o.noRead = true
		slow := ts.dial(t, o)

		// One shared packet, as a broadcast would send, so it is encoded once.
		flood := event("flood", strconv.Quote(strings.Repeat("f", 1000)))
		var sent []*packet.Packet
		var err error
		floods := 0
		for ; floods < 1_000_000; floods++ {
			if err = slow.sess.conn.Send(flood); err != nil {
				break
			}
			// Let the writers run, so the slow client's queue overflows because its socket is full (the
			// writer is stuck in Write), not merely because this loop outran the writer.
			runtime.Gosched()
			// Now and then a small packet for the fast client, which reads: it must get all of them.
			if floods%8 == 0 {
				p := event("tick", strconv.Itoa(len(sent)))
				if err := fast.sess.conn.Send(p); err != nil {
					t.Fatalf("Send to the fast client: %v", err)
				}
				sent = append(sent, p)
			}
		}
		if !errors.Is(err, transport.ErrSlowClient) {
			t.Fatalf("flooding a client that does not read: Send = %v, want ErrSlowClient", err)
		}
		overflowed := time.Now()
		if err := slow.sess.conn.Send(flood); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Send after overflow = %v, want ErrClosed", err)
		}
		if got := slow.sess.waitClosed(t); got != transport.ReasonSlowClient {
			t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonSlowClient)
		}
		// The writer is stuck on the full socket, writing data or the close frame: WriteTimeout bounds both
		// (coder/websocket alone would give the close frame 5s).
		if d := time.Since(overflowed); d > 2*time.Second {
			t.Errorf("the slow client was dropped %v after the overflow, want about WriteTimeout", d)
		}
		// The fast client keeps getting everything sent to it, during and after.
		for range 40 {
			p := event("tick", strconv.Itoa(len(sent)))
			if err := fast.sess.conn.Send(p); err != nil {
				t.Fatalf("Send to the fast client: %v", err)
			}
			sent = append(sent, p)
		}
		for i, want := range sent {
			if d := wiretest.PacketDiff(fast.next(), want); d != "" {
				t.Fatalf("fast client, packet %d of %d: %s", i, len(sent), d)
			}
		}
		fast.checkAlive()
		t.Logf("%d floods before the overflow; the fast client got %d packets", floods, len(sent))
	})
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *native.Options) { o.OriginPatterns = []string{"good.example", "*.good.example"} })
	other := ts.dial(t, protoDial)
	withOrigin := func(origin string) dialOptions {
		o := protoDial
		o.header = http.Header{"Origin": {origin}}
		return o
	}
	host := strings.TrimPrefix(ts.http.URL, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true}, // no Origin header: not a browser
		{"http://" + host, true},
		{"http://good.example", true},
		{"https://chat.good.example", true},
		{"http://evil.example", false},
		{"http://good.example.evil.example", false},
		{"null", false},
	} {
		o := protoDial
		if tc.origin != "" {
			o = withOrigin(tc.origin)
		}
		if tc.ok {
			c := ts.dial(t, o)
			c.checkAlive()
			continue
		}
		ws, resp, err := ts.dialErr(o)
		if err == nil {
			ws.CloseNow()
			t.Errorf("Origin %q: handshake accepted, want 403", tc.origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: %v (response %v), want 403", tc.origin, err, resp)
		}
		other.checkAlive()
	}

	t.Run("star", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(o *native.Options) { o.OriginPatterns = []string{"*"} })
		c := ts.dial(t, withOrigin("http://anything.example"))
		c.checkAlive()
	})
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, nil)
		c := ts.dial(t, withOrigin("http://"+strings.TrimPrefix(ts.http.URL, "http://")))
		c.checkAlive()
		if _, resp, err := ts.dialErr(withOrigin("http://good.example")); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin with no patterns: %v (response %v), want 403", err, resp)
		}
	})
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, nil)
		a := ts.dial(t, dialFor(f))
		b := ts.dial(t, dialFor(f))
		a.checkAlive()
		// Queue packets, then shut down at once: they must all be written before the close.
		var want []*packet.Packet
		for i := range 5 {
			p := event("bye", strconv.Itoa(i))
			if err := a.sess.conn.Send(p); err != nil {
				t.Fatalf("Send: %v", err)
			}
			want = append(want, p)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			done <- ts.srv.Shutdown(ctx)
		}()
		for i, w := range want {
			if d := wiretest.PacketDiff(a.next(), w); d != "" {
				t.Fatalf("packet %d: %s", i, d)
			}
		}
		if reason := a.expectClose(transport.CloseGoingAway); reason != transport.ReasonShuttingDown {
			t.Errorf("close reason %q, want %q", reason, transport.ReasonShuttingDown)
		}
		b.expectClose(transport.CloseGoingAway)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Shutdown did not return")
		}
		for _, c := range []*testClient{a, b} {
			if got := c.sess.waitClosed(t); got != transport.ReasonShuttingDown {
				t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonShuttingDown)
			}
		}
		if err := a.sess.conn.Send(event("late")); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Send after Shutdown = %v, want ErrClosed", err)
		}
		// New connections are refused.
		ws, resp, err := ts.dialErr(dialFor(f))
		if err == nil {
			ws.CloseNow()
			t.Fatal("handshake accepted after Shutdown")
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("dial after Shutdown: %v (response %v), want 503", err, resp)
		}
		// Shutdown is idempotent.
		if err := ts.srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
}

func TestShutdownContext(t *testing.T) {
	t.Parallel()
	// A client that never reads cannot finish the close handshake; Shutdown gives up when its context
	// ends, drops the connection, and still waits for it.
	ts := newTestServer(t, nil)
	c := ts.dial(t, dialOptions{subprotocols: protoDial.subprotocols, noRead: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	// Well under coder/websocket's 5s close-handshake timeout: the connection was dropped, not waited for.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown returned after %v, want soon after its context ended", d)
	}
	if got := c.sess.waitClosed(t); got != transport.ReasonShuttingDown {
		t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonShuttingDown)
	}
}

func TestConnClose(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		ts := newTestServer(t, nil)
		other := ts.dial(t, dialFor(f))
		c := ts.dial(t, dialFor(f))
		// The engine's Close writes what is queued first.
		c.sess.conn.Send(event("last"))
		c.sess.conn.Close(transport.CloseNormal, transport.ReasonForcedClose)
		c.sess.conn.Close(transport.CloseGoingAway, "second close is ignored")
		if p := c.next(); p.Name != "last" {
			t.Fatalf("got %+v, want event last", p)
		}
		if reason := c.expectClose(transport.CloseNormal); reason != transport.ReasonForcedClose {
			t.Errorf("close reason %q, want %q", reason, transport.ReasonForcedClose)
		}
		if got := c.sess.waitClosed(t); got != transport.ReasonForcedClose {
			t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonForcedClose)
		}
		other.checkAlive()
	})
}

func TestClientCloses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	c := ts.dial(t, protoDial)
	c.checkAlive()
	if err := c.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := c.sess.waitClosed(t); got != transport.ReasonTransportClose {
		t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonTransportClose)
	}

	c = ts.dial(t, protoDial)
	c.ws.CloseNow()
	if got := c.sess.waitClosed(t); got != transport.ReasonTransportError {
		t.Errorf("Session.Closed(%q) after a dropped connection, want %q", got, transport.ReasonTransportError)
	}
}

func TestSubprotocol(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		offer []string
		want  wire.Format
	}{
		{"none", nil, wire.FormatJSON},
		{"unknown", []string{"chat.v2"}, wire.FormatJSON},
		{"json", []string{wire.SubprotocolJSON}, wire.FormatJSON},
		{"proto", []string{wire.SubprotocolProto}, wire.FormatProto},
		{"both", []string{wire.SubprotocolJSON, wire.SubprotocolProto}, wire.FormatProto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			c := ts.dial(t, dialOptions{subprotocols: tc.offer})
			wantSub := tc.want.Subprotocol()
			if tc.name == "none" || tc.name == "unknown" {
				wantSub = ""
			}
			if got := c.ws.Subprotocol(); got != wantSub {
				t.Fatalf("negotiated subprotocol %q, want %q", got, wantSub)
			}
			nc, ok := c.sess.conn.(*native.Conn)
			if !ok {
				t.Fatalf("the acceptor got a %T, want *native.Conn", c.sess.conn)
			}
			if nc.Format() != tc.want {
				t.Fatalf("server format %v, want %v", nc.Format(), tc.want)
			}
			// The client's read loop checks the message type of every frame against the format.
			c.checkAlive()
		})
	}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	a := ts.dial(t, dialOptions{subprotocols: protoDial.subprotocols, query: "/?token=abc&x=1", header: http.Header{"X-Test": {"yes"}}})
	b := ts.dial(t, protoDial)
	hs := a.sess.conn.Handshake()
	if hs.Query.Get("token") != "abc" || hs.Query.Get("x") != "1" {
		t.Errorf("Query = %v", hs.Query)
	}
	if !strings.Contains(hs.URL, "token=abc") {
		t.Errorf("URL = %q", hs.URL)
	}
	if hs.Headers.Get("X-Test") != "yes" {
		t.Errorf("Headers = %v", hs.Headers)
	}
	if hs.RemoteAddr == "" || hs.Secure || hs.Time.IsZero() || time.Since(hs.Time) > testTimeout {
		t.Errorf("Handshake = %+v", hs)
	}
	if a.sess.conn.ID() == "" || a.sess.conn.ID() == b.sess.conn.ID() {
		t.Errorf("IDs %q and %q, want distinct and non-empty", a.sess.conn.ID(), b.sess.conn.ID())
	}
}

func TestBatchLimit(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		// More than MaxBatchBytes queued at once arrives in several frames, all in order.
		ts := newTestServer(t, func(o *native.Options) { o.MaxBatchBytes = 512 })
		c := ts.dial(t, dialFor(f))
		var want []*packet.Packet
		for i := range 200 {
			p := event("n", strconv.Itoa(i))
			want = append(want, p)
			if err := c.sess.conn.Send(p); err != nil {
				t.Fatal(err)
			}
		}
		for i, w := range want {
			if d := wiretest.PacketDiff(c.next(), w); d != "" {
				t.Fatalf("packet %d: %s", i, d)
			}
		}
	})
}
