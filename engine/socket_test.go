package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/wire"
)

func TestAcksBothWays(t *testing.T) {
	eachFormat(t, func(t *testing.T, f wire.Format) {
		h := start(t, engine.Config{}, func(e *engine.Engine) {
			e.OnConnection(func(s *engine.Socket) {
				s.On("add", func(ev *engine.Event) {
					var a, b int
					if ev.Bind(0, &a) != nil || ev.Bind(1, &b) != nil {
						ev.Ack("bad args")
						return
					}
					ev.Ack(a+b, []byte{1, 2, 3})
				})
			})
		})
		u := h.connect("/", nil, f)
		// client → server → ack
		res, err := u.EmitWithAck(ctxT(t), "add", 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		var sum int
		if len(res) != 2 || res[0].Decode(&sum) != nil || sum != 5 || !res[1].Binary || !slices.Equal(res[1].Data, []byte{1, 2, 3}) {
			t.Fatalf("ack = %v", res)
		}
		// server → client → ack
		u.On("question", func(args []client.Arg, ack client.AckFunc) { ack("answer", json.RawMessage(`{"k":[1,2]}`)) })
		got, err := h.server(u.ID()).EmitWithAck(ctxT(t), "question")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got[0].Data) != `"answer"` || string(got[1].Data) != `{"k":[1,2]}` {
			t.Fatalf("client ack = %v", got)
		}
		// A server emit whose ack never comes times out.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := h.server(u.ID()).EmitWithAck(ctx, "ignored"); !errors.Is(err, engine.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	})
}

func TestBroadcastWithAck(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	var us []*user
	for i := range 4 {
		u := h.connect("/", nil)
		h.join(u, "r")
		if i < 3 {
			u.On("poll", func(args []client.Arg, ack client.AckFunc) { ack(u.ID()) })
		}
		us = append(us, u)
	}
	// All three answering sockets, selected by a room of their own.
	for _, u := range us[:3] {
		h.join(u, "answering")
	}
	replies, err := h.e.To("answering").Timeout(5*time.Second).EmitWithAck(ctxT(t), "poll")
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 3 {
		t.Fatalf("%d replies, want 3", len(replies))
	}
	for _, r := range replies {
		var id string
		if r.Err != nil || r.Args[0].Decode(&id) != nil || id != r.SocketID {
			t.Fatalf("reply %+v", r)
		}
	}
	// The fourth never answers: partial replies and a timeout error.
	start := time.Now()
	replies, err = h.e.To("r").Timeout(200*time.Millisecond).EmitWithAck(ctxT(t), "poll")
	if !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if len(replies) != 3 {
		t.Fatalf("%d partial replies, want 3", len(replies))
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("EmitWithAck took %v with a 200ms timeout", time.Since(start))
	}
	// A socket that disconnects before answering ends the wait with an error reply, not a hang. The
	// silent socket has the poll above, unanswered: take it, so that the poll it is seen to get next is
	// this one (closing it on the first would race with this poll's delivery).
	silent := us[3]
	if ev := silent.next(t); ev.Name != "poll" {
		t.Fatalf("got %q", ev.Name)
	}
	done := make(chan []engine.AckReply, 1)
	go func() {
		r, _ := h.e.To(silent.ID()).EmitWithAck(ctxT(t), "poll")
		done <- r
	}()
	if ev := silent.next(t); ev.Name != "poll" {
		t.Fatalf("got %q", ev.Name)
	}
	silent.c.Close()
	select {
	case r := <-done:
		if len(r) != 1 || !errors.Is(r[0].Err, engine.ErrDisconnected) {
			t.Fatalf("replies %+v, want one ErrDisconnected", r)
		}
	case <-time.After(waitFor):
		t.Fatal("EmitWithAck hung after the socket disconnected")
	}
}

func TestMiddlewareRejection(t *testing.T) {
	eachFormat(t, func(t *testing.T, f wire.Format) {
		h := start(t, engine.Config{}, func(e *engine.Engine) {
			e.Use(func(s *engine.Socket) error {
				var auth struct{ Token string }
				json.Unmarshal(s.Handshake().Auth, &auth)
				if auth.Token != "secret" {
					return &engine.ConnectError{Message: "not authorized", Data: map[string]string{"hint": "send a token"}}
				}
				s.SetData(auth.Token)
				return nil
			})
		})
		c := h.dial(client.Options{Format: f})
		_, err := c.Connect(ctxT(t), "/", map[string]string{"token": "wrong"})
		var ce *client.ConnectError
		if !errors.As(err, &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"hint":"send a token"}` {
			t.Fatalf("err = %v, want connect error with message and data", err)
		}
		// The same connection can still connect with the right auth.
		s, err := c.Connect(ctxT(t), "/", map[string]string{"token": "secret"})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.server(s.ID()).Data(); got != "secret" {
			t.Fatalf("data = %v", got)
		}
	})
}

func TestUnknownNamespace(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	c := h.dial(client.Options{})
	_, err := c.Connect(ctxT(t), "/nope", nil)
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Fatalf("err = %v", err)
	}
}

func TestDynamicNamespaces(t *testing.T) {
	connected := make(chan string, 4)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OfPattern(regexp.MustCompile(`/team-\d+`)).OnConnection(func(s *engine.Socket) {
			connected <- s.Namespace().Name()
		})
	})
	a := h.connect("/team-1", nil)
	b := h.connect("/team-22", nil)
	for range 2 {
		select {
		case <-connected:
		case <-time.After(waitFor):
			t.Fatal("dynamic namespace handler did not run")
		}
	}
	if _, err := h.dial(client.Options{}).Connect(ctxT(t), "/team-x", nil); err == nil {
		t.Fatal("a name the pattern refuses connected")
	}
	h.e.Of("/team-1").Emit("only-1")
	if ev := a.next(t); ev.Name != "only-1" {
		t.Fatalf("got %q", ev.Name)
	}
	h.e.Of("/team-22").Emit("m")
	if got := b.until(t, "m"); len(got) != 0 {
		t.Fatalf("team-22 got %v", got)
	}
}

func TestPacketMiddlewareAndCatchAll(t *testing.T) {
	seen := make(chan string, 10)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.Use(func(ev *engine.Event) error {
				if ev.Name == "forbidden" {
					return errors.New("not allowed")
				}
				return nil
			})
			s.OnAny(func(ev *engine.Event) { seen <- "any:" + ev.Name })
			s.On("ok", func(ev *engine.Event) { seen <- "ok" })
		})
	})
	u := h.connect("/", nil)
	errCh := make(chan string, 1)
	u.OnError(func(code uint32, msg string) {
		if code == wire.ErrCodeRejected {
			errCh <- msg
		}
	})
	u.Emit(ctxT(t), "forbidden")
	u.Emit(ctxT(t), "ok")
	select {
	case msg := <-errCh:
		if msg != "not allowed" {
			t.Fatalf("error message %q", msg)
		}
	case <-time.After(waitFor):
		t.Fatal("no error packet for the rejected event")
	}
	for _, want := range []string{"any:ok", "ok"} {
		if got := <-seen; got != want {
			t.Fatalf("handler order: got %q, want %q", got, want)
		}
	}
}

func TestDisconnectReasons(t *testing.T) {
	reasons := make(chan string, 10)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.OnDisconnect(func(r string) { reasons <- r })
		})
	})
	serverReason := func() string {
		t.Helper()
		select {
		case r := <-reasons:
			return r
		case <-time.After(waitFor):
			t.Fatal("no disconnect hook")
			return ""
		}
	}
	clientReason := func(u *user) chan string {
		ch := make(chan string, 1)
		u.OnDisconnect(func(r string) { ch <- r })
		return ch
	}
	wait := func(ch chan string) string {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(waitFor):
			t.Fatal("client saw no disconnect")
			return ""
		}
	}

	// Server disconnects the socket.
	u := h.connect("/", nil)
	cr := clientReason(u)
	h.server(u.ID()).Disconnect(false)
	if r := serverReason(); r != "server namespace disconnect" {
		t.Errorf("server reason %q", r)
	}
	if r := wait(cr); r != client.ReasonServerDisconnect {
		t.Errorf("client reason %q", r)
	}

	// Client leaves the namespace.
	u = h.connect("/", nil)
	if err := u.Disconnect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if r := serverReason(); r != "client namespace disconnect" {
		t.Errorf("server reason %q", r)
	}

	// Client closes the connection.
	u = h.connect("/", nil)
	u.c.Close()
	if r := serverReason(); r != "transport close" {
		t.Errorf("server reason %q", r)
	}

	// Server closes the whole connection.
	u = h.connect("/", nil)
	cr = clientReason(u)
	h.server(u.ID()).Disconnect(true)
	if r := serverReason(); r != "server namespace disconnect" {
		t.Errorf("server reason %q", r)
	}
	if r := wait(cr); r != client.ReasonServerDisconnect {
		t.Errorf("client reason %q", r)
	}
}

func TestHeartbeatDropsSilentClient(t *testing.T) {
	reasons := make(chan string, 2)
	h := start(t, engine.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	})
	alive := h.connect("/", nil)
	pings := make(chan uint64, 100)
	alive.c.OnPing(func(seq uint64) { pings <- seq })
	c := h.dial(client.Options{DisablePong: true})
	if _, err := c.Connect(ctxT(t), "/", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reasons:
		if r != "ping timeout" {
			t.Fatalf("reason %q, want ping timeout", r)
		}
	case <-time.After(waitFor):
		t.Fatal("silent client was not dropped")
	}
	<-c.Done()
	if code := client.CloseCode(c.Err()); code != transport.ClosePingTimeout {
		t.Fatalf("close code %d, want %d", code, transport.ClosePingTimeout)
	}
	// The answering client lives on through several more ping rounds.
	for range 5 {
		select {
		case <-pings:
		case <-time.After(waitFor):
			t.Fatal("pings stopped")
		}
	}
	if !alive.Connected() {
		t.Fatal("answering client was dropped")
	}
}

func TestConnectTimeout(t *testing.T) {
	h := start(t, engine.Config{ConnectTimeout: 100 * time.Millisecond}, nil)
	c := h.dial(client.Options{})
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("idle connection was not closed")
	}
	if code := client.CloseCode(c.Err()); code != transport.CloseConnectTimeout {
		t.Fatalf("close code %d (%v), want %d", code, c.Err(), transport.CloseConnectTimeout)
	}
}

func TestServerUtilities(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	a, b, c := h.connect("/", nil), h.connect("/", nil), h.connect("/", nil)
	h.join(a, "x")
	h.join(b, "x")
	h.server(a.ID()).SetData("A")
	ns := h.e.Of("/")
	socks, err := ns.To("x").FetchSockets(ctxT(t))
	if err != nil || len(socks) != 2 {
		t.Fatalf("fetch: %d sockets, %v", len(socks), err)
	}
	for _, s := range socks {
		if s.ID == a.ID() && s.Data != "A" {
			t.Fatalf("data %v", s.Data)
		}
		if !slices.Contains(s.Rooms, "x") || !slices.Contains(s.Rooms, s.ID) {
			t.Fatalf("rooms %v", s.Rooms)
		}
	}
	// The handle acts on the socket.
	if err := socks[0].Emit("via-handle", 1); err != nil {
		t.Fatal(err)
	}
	if err := ns.To("x").SocketsJoin(ctxT(t), "y"); err != nil {
		t.Fatal(err)
	}
	ns.To("y").Emit("in-y")
	for _, u := range []*user{a, b} {
		if got := u.until(t, "in-y"); count(got, "via-handle") > 1 {
			t.Fatalf("got %v", got)
		}
	}
	if err := ns.To("y").SocketsLeave(ctxT(t), "x"); err != nil {
		t.Fatal(err)
	}
	if socks, _ := ns.To("x").FetchSockets(ctxT(t)); len(socks) != 0 {
		t.Fatalf("x still has %d sockets", len(socks))
	}
	cr := make(chan string, 1)
	c.OnDisconnect(func(r string) { cr <- r })
	if err := ns.Except("y").DisconnectSockets(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-cr:
		if r != client.ReasonServerDisconnect {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(waitFor):
		t.Fatal("c was not disconnected")
	}
	if socks, _ := ns.FetchSockets(ctxT(t)); len(socks) != 2 {
		t.Fatalf("%d sockets left, want 2", len(socks))
	}
}

func TestJoinLimit(t *testing.T) {
	h := start(t, engine.Config{MaxRoomsPerSocket: 2}, nil)
	u := h.connect("/", nil)
	s := h.server(u.ID())
	if err := s.Join(ctxT(t), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctxT(t), "c"); !errors.Is(err, engine.ErrTooManyRooms) {
		t.Fatalf("err = %v, want ErrTooManyRooms", err)
	}
	if err := s.Join(ctxT(t), ""); !errors.Is(err, engine.ErrInvalidRoom) {
		t.Fatalf("err = %v, want ErrInvalidRoom", err)
	}
}
