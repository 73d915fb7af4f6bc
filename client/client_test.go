package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/native"
	"github.com/roomio/roomio/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait on an event; nothing in these tests sleeps.
const waitFor = 5 * time.Second

// echoAcceptor is a tiny engine: it accepts every namespace but "/forbidden" (refused) and "/slow" or
// "/late" (never answered), echoes "echo" events, acks every event that asks (but "silent"), and
// records what it sees on buffered channels.
type echoAcceptor struct {
	opened      chan transport.Conn
	connects    chan connectRecord
	events      chan *packet.Packet
	acks        chan *packet.Packet
	disconnects chan *packet.Packet
	closed      chan string
}

type connectRecord struct {
	conn, ns, auth string
}

func newEchoAcceptor() *echoAcceptor {
	return &echoAcceptor{
		opened:      make(chan transport.Conn, 100),
		connects:    make(chan connectRecord, 100),
		events:      make(chan *packet.Packet, 1000),
		acks:        make(chan *packet.Packet, 100),
		disconnects: make(chan *packet.Packet, 100),
		closed:      make(chan string, 100),
	}
}

// offer records v without ever blocking the server's reader.
func offer[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

func (a *echoAcceptor) Open(c transport.Conn) transport.Session {
	offer(a.opened, c)
	return &echoSession{a: a, c: c, nss: make(map[string]bool)}
}

type echoSession struct {
	a   *echoAcceptor
	c   transport.Conn
	nss map[string]bool // connected namespaces; only touched by the reader goroutine
}

func (s *echoSession) Packet(p *packet.Packet) {
	c, ns := s.c, p.Namespace
	switch p.Kind {
	case packet.KindConnect:
		offer(s.a.connects, connectRecord{conn: c.ID(), ns: ns, auth: string(p.Data)})
		switch ns {
		case "/forbidden":
			c.Send(&packet.Packet{Kind: packet.KindConnectError, Namespace: ns, Message: "forbidden", Data: []byte(`{"why":"no"}`)})
			return
		case "/slow", "/late":
			return
		}
		s.nss[ns] = true
		c.Send(&packet.Packet{Kind: packet.KindConnected, Namespace: ns, SID: c.ID() + ns})
		if ns == "/welcome" {
			c.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: ns, Name: "welcome", Args: []packet.Arg{{Data: []byte(`"hi"`)}}})
		}
	case packet.KindEvent:
		if !s.nss[ns] {
			c.Send(&packet.Packet{Kind: packet.KindError, Namespace: ns, Code: wire.ErrCodeNotConnected, Message: "not connected"})
			return
		}
		offer(s.a.events, p)
		switch p.Name {
		case "echo":
			c.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: ns, Name: "echo", Args: p.Args})
		case "ask":
			c.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: ns, Name: "question", Args: p.Args, AckID: 42})
		case "bye":
			delete(s.nss, ns)
			c.Send(&packet.Packet{Kind: packet.KindDisconnect, Namespace: ns, Code: 7, Message: "bye"})
		case "kick":
			delete(s.nss, ns)
			c.Send(&packet.Packet{Kind: packet.KindDisconnect, Namespace: ns, Code: 8, Message: "kicked"})
			c.Close(transport.CloseNormal, "kicked")
		case "silent":
			return
		}
		if p.AckID != 0 {
			c.Send(&packet.Packet{Kind: packet.KindAck, Namespace: ns, AckID: p.AckID, Args: p.Args})
		}
	case packet.KindAck:
		offer(s.a.acks, p)
	case packet.KindDisconnect:
		delete(s.nss, ns)
		offer(s.a.disconnects, p)
	}
}

func (s *echoSession) Closed(reason string) { offer(s.a.closed, reason) }

// newServer starts a native server over loopback with an echoAcceptor and returns its ws:// URL.
func newServer(t *testing.T, tweak func(*native.Options)) (*echoAcceptor, string) {
	t.Helper()
	a := newEchoAcceptor()
	opts := native.Options{Acceptor: a}
	if tweak != nil {
		tweak(&opts)
	}
	ns := native.NewServer(opts)
	srv := httptest.NewServer(ns)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := ns.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return a, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string, f wire.Format, tweak func(*client.Options)) *client.Client {
	t.Helper()
	opts := client.Options{Format: f}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := client.Dial(ctxT(t), url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func connect(t *testing.T, c *client.Client, ns string, auth any, opts ...client.ConnectOption) *client.Socket {
	t.Helper()
	s, err := c.Connect(ctxT(t), ns, auth, opts...)
	if err != nil {
		t.Fatalf("Connect %s: %v", ns, err)
	}
	return s
}

// ctxT returns a context that ends with the test or after waitFor.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed")
		}
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out after %v", waitFor)
	}
	panic("unreachable")
}

func waitClosed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("timed out after %v waiting for a close", waitFor)
	}
}

// run runs fn once per wire format.
func run(t *testing.T, fn func(t *testing.T, f wire.Format)) {
	for _, tc := range []struct {
		name string
		f    wire.Format
	}{{"proto", wire.FormatProto}, {"json", wire.FormatJSON}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, tc.f)
		})
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		conn := recv(t, a.opened)

		s := connect(t, c, "", map[string]string{"token": "<t&k>"})
		if s.Namespace() != "/" || s.ID() != conn.ID()+"/" || !s.Connected() {
			t.Fatalf("socket: namespace %q id %q connected %v", s.Namespace(), s.ID(), s.Connected())
		}
		if got := recv(t, a.connects); got.ns != "/" || got.auth != `{"token":"<t&k>"}` {
			t.Fatalf("server saw connect %+v", got)
		}

		// A second namespace over the same connection; no auth.
		chat := connect(t, c, "/chat", nil)
		if got := recv(t, a.connects); got.ns != "/chat" || got.auth != "" || got.conn != conn.ID() {
			t.Fatalf("server saw connect %+v", got)
		}
		if chat.ID() != conn.ID()+"/chat" {
			t.Fatalf("chat id %q", chat.ID())
		}
		if _, err := c.Connect(ctxT(t), "/chat", nil); !errors.Is(err, client.ErrAlreadyConnected) {
			t.Fatalf("second Connect /chat: %v, want ErrAlreadyConnected", err)
		}
	})
}

func TestConnectError(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		_, url := newServer(t, nil)
		c := dial(t, url, f, nil)

		_, err := c.Connect(ctxT(t), "/forbidden", json.RawMessage(`{"token":"x"}`))
		var ce *client.ConnectError
		if !errors.As(err, &ce) {
			t.Fatalf("Connect: %v, want *ConnectError", err)
		}
		if ce.Namespace != "/forbidden" || ce.Message != "forbidden" || string(ce.Data) != `{"why":"no"}` {
			t.Fatalf("ConnectError %+v (data %s)", ce, ce.Data)
		}
		if got, want := err.Error(), "client: connect /forbidden refused: forbidden"; got != want {
			t.Fatalf("error text %q, want %q (one prefix)", got, want)
		}
		// The connection is still usable, and the refused namespace may be tried again.
		connect(t, c, "/", nil)
		if _, err := c.Connect(ctxT(t), "/forbidden", nil); !errors.As(err, &ce) {
			t.Fatalf("Connect again: %v", err)
		}
	})
}

func TestConnectContext(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		conn := recv(t, a.opened)

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Connect(ctx, "/late", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect: %v, want DeadlineExceeded", err)
		}
		// A Connected arriving after the caller gave up is answered with a Disconnect.
		conn.Send(&packet.Packet{Kind: packet.KindConnected, Namespace: "/late", SID: "late"})
		if p := recv(t, a.disconnects); p.Namespace != "/late" {
			t.Fatalf("server saw disconnect of %q", p.Namespace)
		}
		// The namespace is free again.
		ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Connect(ctx, "/late", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect again: %v, want DeadlineExceeded", err)
		}
	})
}

func TestWithSetup(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		_, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		var welcome <-chan client.Event
		connect(t, c, "/welcome", nil, client.WithSetup(func(s *client.Socket) {
			welcome = s.Events("welcome", 1)
		}))
		var msg string
		if err := recv(t, welcome).Decode(&msg); err != nil || msg != "hi" {
			t.Fatalf("welcome: %q, %v", msg, err)
		}
	})
}

func TestEmitEcho(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		_, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		echoes := s.Events("echo", 1)
		all := s.Events("", 1)
		handled := make(chan []client.Arg, 1)
		s.On("echo", func(args []client.Arg, ack client.AckFunc) {
			if ack != nil {
				t.Errorf("ack for an event that asked none")
			}
			handled <- args
		})
		anyCh := make(chan string, 1)
		s.OnAny(func(event string, _ []client.Arg, _ client.AckFunc) {
			if len(handled) != 0 {
				t.Errorf("OnAny ran after the event's handler; it runs first, as in socket.io-client")
			}
			anyCh <- event
		})

		type obj struct {
			A int    `json:"a"`
			B string `json:"b"`
		}
		if err := s.Emit(ctxT(t), "echo", "<a&b>", obj{1, "x"}, 42, nil); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		ev := recv(t, echoes)
		var (
			str string
			o   obj
			n   int
		)
		if err := ev.Decode(&str, &o, &n); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if ev.Name != "echo" || str != "<a&b>" || o != (obj{1, "x"}) || n != 42 || ev.Ack != nil {
			t.Fatalf("echo %+v: %q %+v %d", ev, str, o, n)
		}
		// No HTML escaping, compact JSON.
		if got := string(ev.Args[0].Data); got != `"<a&b>"` {
			t.Fatalf("arg 0 on the wire: %s", got)
		}
		if got := string(ev.Args[1].Data); got != `{"a":1,"b":"x"}` {
			t.Fatalf("arg 1 on the wire: %s", got)
		}
		if got := string(ev.Args[3].Data); got != "null" {
			t.Fatalf("arg 3 on the wire: %s", got)
		}
		if got := recv(t, all); got.Name != "echo" {
			t.Fatalf("catch-all channel got %q", got.Name)
		}
		if got := recv(t, handled); len(got) != 4 {
			t.Fatalf("handler got %d args", len(got))
		}
		if got := recv(t, anyCh); got != "echo" {
			t.Fatalf("OnAny got %q", got)
		}
	})
}

func TestBinaryArgs(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		echoes := s.Events("echo", 1)

		bin := []byte{0, 1, 2, 0xfe, 0xff}
		args := []any{bin, json.RawMessage(`{"k":[1,2]}`), client.Arg{Data: []byte(`"as is"`)}, client.Arg{Data: []byte{9}, Binary: true}}
		if err := s.Emit(ctxT(t), "echo", args...); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		// The server decoded what the client meant...
		sent := recv(t, a.events)
		check := func(what string, got []client.Arg) {
			t.Helper()
			want := []client.Arg{{Data: bin, Binary: true}, {Data: []byte(`{"k":[1,2]}`)}, {Data: []byte(`"as is"`)}, {Data: []byte{9}, Binary: true}}
			if len(got) != len(want) {
				t.Fatalf("%s: %d args", what, len(got))
			}
			for i := range want {
				if got[i].Binary != want[i].Binary || string(got[i].Data) != string(want[i].Data) {
					t.Fatalf("%s: arg %d = %+v, want %+v", what, i, got[i], want[i])
				}
			}
		}
		check("server", sent.Args)
		// ...and the client decodes the echo.
		ev := recv(t, echoes)
		check("echo", ev.Args)
		var b []byte
		if err := ev.Args[0].Decode(&b); err != nil || string(b) != string(bin) {
			t.Fatalf("Decode binary: %v, %v", b, err)
		}

		got, err := s.EmitWithAck(ctxT(t), "bin", bin)
		if err != nil {
			t.Fatalf("EmitWithAck: %v", err)
		}
		if len(got) != 1 || !got[0].Binary || string(got[0].Data) != string(bin) {
			t.Fatalf("ack args %+v", got)
		}
	})
}

func TestEmitWithAck(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		_, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		chat := connect(t, c, "/chat", nil)

		args, err := s.EmitWithAck(ctxT(t), "sum", 1, "two", map[string]bool{"three": true})
		if err != nil {
			t.Fatalf("EmitWithAck: %v", err)
		}
		var (
			one   int
			two   string
			three map[string]bool
		)
		if err := client.DecodeArgs(args, &one, &two, &three); err != nil || one != 1 || two != "two" || !three["three"] {
			t.Fatalf("ack: %d %q %v, %v", one, two, three, err)
		}
		// Acks with no args, on another namespace of the same connection.
		if args, err := chat.EmitWithAck(ctxT(t), "nothing"); err != nil || len(args) != 0 {
			t.Fatalf("EmitWithAck on /chat: %v, %v", args, err)
		}

		// The ctx deadline is the ack timeout.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := s.EmitWithAck(ctx, "silent"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EmitWithAck silent: %v, want DeadlineExceeded", err)
		}
	})
}

// TestServerAck has the server ask the client for an ack; the handler first emits with ack itself,
// which must not deadlock because handlers do not run on the read loop.
func TestServerAck(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		secondAck := make(chan error, 1)
		s.On("question", func(args []client.Arg, ack client.AckFunc) {
			if ack == nil {
				t.Errorf("no ack func for an event with an ack id")
				return
			}
			nested, err := s.EmitWithAck(ctxT(t), "nested", "inner")
			if err != nil {
				t.Errorf("nested EmitWithAck: %v", err)
				return
			}
			if err := ack(args[0], nested[0], []byte{7}); err != nil {
				t.Errorf("ack: %v", err)
			}
			secondAck <- ack("again")
		})
		if err := s.Emit(ctxT(t), "ask", "what?"); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		p := recv(t, a.acks)
		if p.Namespace != "/" || p.AckID != 42 || len(p.Args) != 3 ||
			string(p.Args[0].Data) != `"what?"` || string(p.Args[1].Data) != `"inner"` || !p.Args[2].Binary {
			t.Fatalf("server got ack %+v", p)
		}
		if err := recv(t, secondAck); !errors.Is(err, client.ErrAckSent) {
			t.Fatalf("second ack: %v, want ErrAckSent", err)
		}
	})
}

// TestHandlerOrder checks that one socket's handlers run one at a time in arrival order.
func TestHandlerOrder(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		_, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		const n = 200
		got := make(chan int, n)
		s.On("echo", func(args []client.Arg, _ client.AckFunc) {
			var i int
			if err := args[0].Decode(&i); err != nil {
				t.Errorf("decode: %v", err)
			}
			got <- i
		})
		for i := range n {
			if err := s.Emit(ctxT(t), "echo", i); err != nil {
				t.Fatalf("Emit %d: %v", i, err)
			}
		}
		for i := range n {
			if v := recv(t, got); v != i {
				t.Fatalf("event %d arrived as %d", i, v)
			}
		}
	})
}

// TestPingPong keeps a connection up through several heartbeats. The server sends ping n+1 only after
// pong n came back within PingTimeout, so seeing ping 5 proves 4 answered heartbeats, beyond the timeout.
func TestPingPong(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, func(o *native.Options) {
			o.PingInterval, o.PingTimeout = 50*time.Millisecond, 100*time.Millisecond
		})
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		pings := make(chan uint64, 100)
		c.OnPing(func(seq uint64) { offer(pings, seq) })
		start := time.Now()
		for {
			if seq := recv(t, pings); seq >= 5 {
				break
			}
		}
		if el := time.Since(start); el < 100*time.Millisecond {
			t.Fatalf("5 pings in %v", el)
		}
		if _, err := s.EmitWithAck(ctxT(t), "still", "there"); err != nil {
			t.Fatalf("EmitWithAck after heartbeats: %v", err)
		}
		select {
		case reason := <-a.closed:
			t.Fatalf("server closed the connection: %s", reason)
		default:
		}
	})
}

func TestPingTimeout(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, func(o *native.Options) {
			o.PingInterval, o.PingTimeout = 50*time.Millisecond, 50*time.Millisecond
		})
		c := dial(t, url, f, func(o *client.Options) { o.DisablePong = true })
		s := connect(t, c, "/", nil)
		reasons := make(chan string, 1)
		s.OnDisconnect(func(r string) { reasons <- r })

		if got, want := recv(t, reasons), "transport close: 4001 ping timeout"; got != want {
			t.Fatalf("reason %q, want %q", got, want)
		}
		waitClosed(t, c.Done())
		waitClosed(t, s.Done())
		if code := client.CloseCode(c.Err()); code != transport.ClosePingTimeout {
			t.Fatalf("client close code %d (%v)", code, c.Err())
		}
		if code := client.CloseCode(s.Err()); code != transport.ClosePingTimeout {
			t.Fatalf("socket close code %d (%v)", code, s.Err())
		}
		if got := recv(t, a.closed); got != transport.ReasonPingTimeout {
			t.Fatalf("server reason %q", got)
		}
		if err := s.Emit(ctxT(t), "echo"); !errors.Is(err, client.ErrNotConnected) {
			t.Fatalf("Emit after close: %v", err)
		}
		if _, err := c.Connect(ctxT(t), "/x", nil); !errors.Is(err, client.ErrClosed) || client.CloseCode(err) != 4001 {
			t.Fatalf("Connect after close: %v", err)
		}
	})
}

func TestServerDisconnect(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, func(o *client.Options) {
			o.Reconnect, o.ReconnectMin = true, time.Millisecond
		})
		conn := recv(t, a.opened)
		s := connect(t, c, "/", "auth")
		recv(t, a.connects)
		reasons := make(chan string, 1)
		s.OnDisconnect(func(r string) { reasons <- r })
		echoes := s.Events("echo", 1)

		// A pending ack fails when the server removes the socket.
		pending := make(chan error, 1)
		go func() {
			_, err := s.EmitWithAck(ctxT(t), "silent")
			pending <- err
		}()
		if p := recv(t, a.events); p.Name != "silent" {
			t.Fatalf("server saw %q", p.Name)
		}
		if err := s.Emit(ctxT(t), "bye"); err != nil {
			t.Fatalf("Emit bye: %v", err)
		}
		if got := recv(t, reasons); got != client.ReasonServerDisconnect {
			t.Fatalf("reason %q", got)
		}
		waitClosed(t, s.Done())
		if _, ok := <-echoes; ok {
			t.Fatalf("Events channel not closed")
		}
		var de *client.DisconnectError
		if !errors.As(s.Err(), &de) || de.Code != 7 || de.Reason != "bye" {
			t.Fatalf("socket Err %v", s.Err())
		}
		if err := recv(t, pending); !errors.Is(err, client.ErrNotConnected) || !errors.As(err, &de) {
			t.Fatalf("pending EmitWithAck: %v", err)
		}
		if err := s.Emit(ctxT(t), "echo"); !errors.Is(err, client.ErrNotConnected) {
			t.Fatalf("Emit after server disconnect: %v", err)
		}

		// The connection lives on and "/" is not connected again: the next Connect the server sees is
		// the one for "/other".
		other := connect(t, c, "/other", nil)
		if got := recv(t, a.connects); got.ns != "/other" || got.conn != conn.ID() {
			t.Fatalf("server saw connect %+v", got)
		}

		// Disconnect then close with 1000: no reconnection, the client ends.
		otherReasons := make(chan string, 1)
		other.OnDisconnect(func(r string) { otherReasons <- r })
		if err := other.Emit(ctxT(t), "kick"); err != nil {
			t.Fatalf("Emit kick: %v", err)
		}
		if got := recv(t, otherReasons); got != client.ReasonServerDisconnect {
			t.Fatalf("reason %q", got)
		}
		waitClosed(t, c.Done())
		var ce *client.CloseError
		if !errors.As(c.Err(), &ce) || ce.Code != transport.CloseNormal || ce.Reason != "kicked" {
			t.Fatalf("client Err %v", c.Err())
		}
		select {
		case <-a.opened:
			t.Fatalf("client redialled after close code 1000")
		default:
		}
	})
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, func(o *client.Options) {
			o.Reconnect, o.ReconnectMin, o.ReconnectMax = true, time.Millisecond, 20*time.Millisecond
		})
		conn := recv(t, a.opened)
		s := connect(t, c, "/", map[string]string{"token": "a"})
		chat := connect(t, c, "/chat", nil)
		recv(t, a.connects)
		recv(t, a.connects)
		oldID := s.ID()
		reasons := make(chan string, 1)
		s.OnDisconnect(func(r string) { reasons <- r })
		reconnected := make(chan string, 1)
		s.OnReconnect(func() { reconnected <- s.ID() })
		chatReconnected := make(chan struct{}, 1)
		chat.OnReconnect(func() { chatReconnected <- struct{}{} })
		echoes := s.Events("echo", 1)

		conn.Close(transport.CloseGoingAway, transport.ReasonShuttingDown)
		if got, want := recv(t, reasons), "transport close: 1001 server shutting down"; got != want {
			t.Fatalf("reason %q, want %q", got, want)
		}
		conn2 := recv(t, a.opened)
		if conn2.ID() == conn.ID() {
			t.Fatalf("same connection")
		}
		got := map[string]string{}
		for range 2 {
			r := recv(t, a.connects)
			if r.conn != conn2.ID() {
				t.Fatalf("connect %+v not on the new connection", r)
			}
			got[r.ns] = r.auth
		}
		if got["/"] != `{"token":"a"}` || got["/chat"] != "" || len(got) != 2 {
			t.Fatalf("re-connects %v", got)
		}
		if id := recv(t, reconnected); id == oldID || id != conn2.ID()+"/" {
			t.Fatalf("new id %q (old %q)", id, oldID)
		}
		recv(t, chatReconnected)
		select {
		case <-c.Done():
			t.Fatalf("client ended: %v", c.Err())
		default:
		}
		if err := s.Emit(ctxT(t), "echo", "back"); err != nil {
			t.Fatalf("Emit after reconnection: %v", err)
		}
		var msg string
		if err := recv(t, echoes).Decode(&msg); err != nil || msg != "back" {
			t.Fatalf("echo %q, %v", msg, err)
		}
	})
}

func TestReconnectAttempts(t *testing.T) {
	t.Parallel()
	a := newEchoAcceptor()
	ns := native.NewServer(native.Options{Acceptor: a})
	srv := httptest.NewServer(ns)
	defer srv.Close()
	c, err := client.Dial(ctxT(t), srv.URL, client.Options{
		Reconnect: true, ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond, ReconnectAttempts: 3,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	s := connect(t, c, "/", nil)
	// The server goes away for good: every redial is refused, and the client gives up.
	if err := ns.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitClosed(t, c.Done())
	waitClosed(t, s.Done())
	if c.Err() == nil || client.CloseCode(c.Err()) != -1 {
		t.Fatalf("client Err %v", c.Err())
	}
	if s.Err() == nil {
		t.Fatalf("socket Err nil")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, func(o *client.Options) { o.Reconnect = true })
		s := connect(t, c, "/", nil)
		reasons := make(chan string, 1)
		s.OnDisconnect(func(r string) { reasons <- r })
		echoes := s.Events("echo", 0)

		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Close waited for the hooks.
		select {
		case r := <-reasons:
			if r != client.ReasonClientDisconnect {
				t.Fatalf("reason %q", r)
			}
		default:
			t.Fatalf("OnDisconnect had not run when Close returned")
		}
		select {
		case <-s.Done():
		default:
			t.Fatalf("socket not done when Close returned")
		}
		if _, ok := <-echoes; ok {
			t.Fatalf("Events channel not closed")
		}
		if !errors.Is(c.Err(), client.ErrClosed) || !errors.Is(s.Err(), client.ErrClosed) {
			t.Fatalf("Err: client %v, socket %v", c.Err(), s.Err())
		}
		if err := s.Emit(ctxT(t), "echo"); !errors.Is(err, client.ErrNotConnected) {
			t.Fatalf("Emit after Close: %v", err)
		}
		if _, err := c.Connect(ctxT(t), "/", nil); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("Connect after Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if got := recv(t, a.closed); got != transport.ReasonTransportClose {
			t.Fatalf("server reason %q", got)
		}
	})
}

func TestSocketDisconnect(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/chat", nil)
		reasons := make(chan string, 1)
		s.OnDisconnect(func(r string) { reasons <- r })
		if err := s.Disconnect(ctxT(t)); err != nil {
			t.Fatalf("Disconnect: %v", err)
		}
		if p := recv(t, a.disconnects); p.Namespace != "/chat" {
			t.Fatalf("server saw disconnect of %q", p.Namespace)
		}
		if got := recv(t, reasons); got != client.ReasonClientDisconnect {
			t.Fatalf("reason %q", got)
		}
		waitClosed(t, s.Done())
		if !errors.Is(s.Err(), client.ErrDisconnected) {
			t.Fatalf("Err %v", s.Err())
		}
		if err := s.Disconnect(ctxT(t)); err != nil {
			t.Fatalf("second Disconnect: %v", err)
		}
		// The namespace can be joined again.
		connect(t, c, "/chat", nil)
	})
}

// TestServerErrors provokes Error packets: an argument that is not JSON (sent as an Arg, which Emit
// does not validate), an event for a namespace not connected, and a message kind the server does not
// know (sent with WriteRaw).
func TestServerErrors(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		_, url := newServer(t, nil)
		c := dial(t, url, f, nil)
		s := connect(t, c, "/", nil)
		type serverErr struct {
			ns   string
			code uint32
		}
		clientErrs := make(chan serverErr, 10)
		c.OnError(func(ns string, code uint32, _ string) { clientErrs <- serverErr{ns, code} })
		socketErrs := make(chan uint32, 10)
		s.OnError(func(code uint32, _ string) { socketErrs <- code })

		if err := s.Emit(ctxT(t), "echo", client.Arg{Data: []byte("{")}); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		if got := recv(t, socketErrs); got != wire.ErrCodeInvalid {
			t.Fatalf("socket error code %d", got)
		}
		if got := recv(t, clientErrs); got != (serverErr{"/", wire.ErrCodeInvalid}) {
			t.Fatalf("client error %+v", got)
		}

		frame := wire.EncodeFrame(f, &packet.Packet{Kind: packet.KindEvent, Namespace: "/nope", Name: "echo"})
		typ := websocket.MessageBinary
		unknown := []byte{0x0a, 0x02, 0x78, 0x01} // Frame{messages: [Message{field 15: 1}]}
		if f == wire.FormatJSON {
			typ, unknown = websocket.MessageText, []byte(`{"messages":[{}]}`)
		}
		if err := c.WriteRaw(ctxT(t), typ, frame); err != nil {
			t.Fatalf("WriteRaw: %v", err)
		}
		if got := recv(t, clientErrs); got != (serverErr{"/nope", wire.ErrCodeNotConnected}) {
			t.Fatalf("client error %+v", got)
		}
		if err := c.WriteRaw(ctxT(t), typ, unknown); err != nil {
			t.Fatalf("WriteRaw: %v", err)
		}
		if got := recv(t, clientErrs); got != (serverErr{"", wire.ErrCodeUnknownKind}) {
			t.Fatalf("client error %+v", got)
		}
		// Still connected.
		if _, err := s.EmitWithAck(ctxT(t), "ok"); err != nil {
			t.Fatalf("EmitWithAck: %v", err)
		}
		select {
		case code := <-socketErrs:
			t.Fatalf("socket got error %d for another namespace", code)
		default:
		}
	})
}

func TestMalformedFrame(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, f wire.Format) {
		a, url := newServer(t, nil)
		c := dial(t, url, f, func(o *client.Options) { o.Reconnect = true })
		s := connect(t, c, "/", nil)
		reasons := make(chan string, 1)
		s.OnDisconnect(func(r string) { reasons <- r })

		typ, data := websocket.MessageBinary, []byte{0xff, 0xff}
		if f == wire.FormatJSON {
			typ, data = websocket.MessageText, []byte("{not json")
		}
		if err := c.WriteRaw(ctxT(t), typ, data); err != nil {
			t.Fatalf("WriteRaw: %v", err)
		}
		if got := recv(t, reasons); !strings.HasPrefix(got, "transport close: 1002 ") {
			t.Fatalf("reason %q", got)
		}
		// A protocol error is not retried.
		waitClosed(t, c.Done())
		if code := client.CloseCode(c.Err()); code != transport.CloseProtocolError {
			t.Fatalf("close code %d (%v)", code, c.Err())
		}
		recv(t, a.closed)
	})
}

func TestInvalidArgs(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, nil)
	c := dial(t, url, wire.FormatProto, nil)
	s := connect(t, c, "/", nil)
	for _, tc := range []struct {
		name  string
		event string
		arg   any
	}{
		{"raw JSON", "e", json.RawMessage("{")},
		{"unmarshalable", "e", make(chan int)},
		{"arg not UTF-8", "e", client.Arg{Data: []byte{'"', 0xff, '"'}}},
		{"name not UTF-8", "\xff", 1},
	} {
		if err := s.Emit(ctxT(t), tc.event, tc.arg); !errors.Is(err, client.ErrInvalidArg) {
			t.Errorf("%s: Emit: %v, want ErrInvalidArg", tc.name, err)
		}
	}
	if _, err := c.Connect(ctxT(t), "/a", make(chan int)); !errors.Is(err, client.ErrInvalidArg) {
		t.Errorf("Connect with bad auth: %v", err)
	}
	// Still usable.
	if _, err := s.EmitWithAck(ctxT(t), "ok"); err != nil {
		t.Fatalf("EmitWithAck: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, nil)
	if _, err := client.Dial(ctxT(t), url+"/", client.Options{Format: wire.Format(9)}); err == nil {
		t.Fatalf("Dial with an unknown format succeeded")
	}
	srv := httptest.NewServer(nil) // 404 for everything
	defer srv.Close()
	if _, err := client.Dial(ctxT(t), srv.URL, client.Options{}); err == nil {
		t.Fatalf("Dial to a non-WebSocket endpoint succeeded")
	}
}

// rawServer is a WebSocket endpoint that writes one message of type typ to each connection, then reads
// until the connection ends and reports the close code it received.
func rawServer(t *testing.T, sub string, typ websocket.MessageType, data []byte) (string, <-chan int) {
	t.Helper()
	codes := make(chan int, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{sub}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.Write(r.Context(), typ, data)
		_, _, err = ws.Read(r.Context())
		offer(codes, int(websocket.CloseStatus(err)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, codes
}

func TestParseError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    wire.Format
		typ  websocket.MessageType
		data []byte
		code int
		err  error // in Err's chain, when not nil
	}{
		{"proto garbage", wire.FormatProto, websocket.MessageBinary, []byte{0xff, 0xff}, transport.CloseProtocolError, wire.ErrMalformed},
		{"json garbage", wire.FormatJSON, websocket.MessageText, []byte("{nope"), transport.CloseProtocolError, wire.ErrMalformed},
		{"empty frame", wire.FormatProto, websocket.MessageBinary, nil, transport.CloseProtocolError, wire.ErrMalformed},
		{"json not UTF-8", wire.FormatJSON, websocket.MessageText, []byte{'"', 0xff}, transport.CloseInvalidPayload, wire.ErrInvalidUTF8},
		{"text on proto", wire.FormatProto, websocket.MessageText, []byte("{}"), transport.CloseUnsupportedData, nil},
		{"binary on json", wire.FormatJSON, websocket.MessageBinary, []byte{0x0a, 0}, transport.CloseUnsupportedData, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, codes := rawServer(t, tc.f.Subprotocol(), tc.typ, tc.data)
			c := dial(t, url, tc.f, func(o *client.Options) { o.Reconnect = true })
			// A bad frame from the server is not retried: the client ends.
			waitClosed(t, c.Done())
			err := c.Err()
			if err == nil || client.CloseCode(err) != -1 || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("Err %v", err)
			}
			if got := recv(t, codes); got != tc.code {
				t.Fatalf("server got close code %d, want %d", got, tc.code)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, nil)
	c := dial(t, url, wire.FormatProto, func(o *client.Options) { o.ReadLimit, o.Reconnect = 512, true })
	s := connect(t, c, "/", nil)
	reasons := make(chan string, 1)
	s.OnDisconnect(func(r string) { reasons <- r })
	if err := s.Emit(ctxT(t), "echo", strings.Repeat("x", 1024)); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	if got := recv(t, reasons); got != client.ReasonTransportError {
		t.Fatalf("reason %q", got)
	}
	waitClosed(t, c.Done())
	if !errors.Is(c.Err(), websocket.ErrMessageTooBig) {
		t.Fatalf("Err %v", c.Err())
	}
}

// TestCloseWhileReconnecting closes a client that waits for its next redial.
func TestCloseWhileReconnecting(t *testing.T) {
	t.Parallel()
	a, url := newServer(t, nil)
	c := dial(t, url, wire.FormatJSON, func(o *client.Options) { o.Reconnect, o.ReconnectMin = true, time.Hour })
	s := connect(t, c, "/", nil)
	reasons := make(chan string, 2)
	s.OnDisconnect(func(r string) { reasons <- r })
	recv(t, a.opened).Close(transport.CloseSlowClient, transport.ReasonSlowClient)
	if got, want := recv(t, reasons), "transport close: 4002 slow client"; got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
	if s.Connected() {
		t.Fatalf("socket connected while the client redials")
	}
	if err := s.Emit(ctxT(t), "echo"); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Emit while reconnecting: %v", err)
	}
	if _, err := c.Connect(ctxT(t), "/other", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Connect while reconnecting: %v", err)
	}
	c.Close()
	waitClosed(t, s.Done())
	if !errors.Is(c.Err(), client.ErrClosed) || !errors.Is(s.Err(), client.ErrClosed) {
		t.Fatalf("Err: client %v, socket %v", c.Err(), s.Err())
	}
	select {
	case r := <-reasons:
		t.Fatalf("second disconnect reason %q", r)
	default:
	}
}
