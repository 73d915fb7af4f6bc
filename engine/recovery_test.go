package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
)

// recoveryApp is the server side of the recovery scenarios (e2e/sio.mjs: recover*).
func recoveryApp(e *engine.Engine) {
	e.OnConnection(func(s *engine.Socket) {
		s.On("join", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			ev.Ack(s.Join(ev.Context(), room) == nil)
		})
		s.On("rooms", func(ev *engine.Event) {
			rooms, err := s.Rooms(ev.Context())
			if err != nil {
				ev.Ack(err.Error())
				return
			}
			ev.Ack(rooms)
		})
		s.On("recovered", func(ev *engine.Event) { ev.Ack(s.Recovered()) })
		if !s.Recovered() {
			s.SetData(map[string]any{"user": "ann"}) // kept by a recovered socket, across nodes too
		}
		s.On("data", func(ev *engine.Event) { ev.Ack(s.Data()) })
		s.On("send-to-a", func(ev *engine.Event) {
			var v string
			ev.Bind(0, &v)
			e.To("a").Emit("m", v)
		})
	})
}

func recoveryConfig(max time.Duration) engine.Config {
	return engine.Config{Recovery: engine.RecoveryConfig{Enabled: true, MaxDisconnection: max}}
}

// settled returns once everything emitted before to rooms has been handed to their sockets' outboxes
// (a detached socket's buffer): a FetchSockets pass travels the same routes after the emits, and
// completes only when every socket actor processed it.
func settled(t testing.TB, e *engine.Engine, rooms ...string) {
	t.Helper()
	if _, err := e.In(rooms...).FetchSockets(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// awaitRecovery waits until the engine's recovery counters satisfy cond.
func awaitRecovery(t *testing.T, e *engine.Engine, what string, cond func(engine.RecoveryStats) bool) {
	t.Helper()
	waitUntil(t, what, func() bool { return cond(e.RecoveryStats()) })
}

// TestRecoverSocketIOClient: the official client loses its engine while in two rooms; 20 messages go to
// a, b, a and b together, and its id; it reconnects and is recovered with all of them, once each, in
// emit order per target (the ordering roomio guarantees a live client too).
func TestRecoverSocketIOClient(t *testing.T) {
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			s := serveSIO(t, "127.0.0.1:0", recoveryConfig(time.Minute), recoveryApp)
			run := runScenario(t, "recover", "http://"+s.addr, tr)
			st := run.step(t)
			id, ok := strings.CutPrefix(st, "joined ")
			if !ok {
				t.Fatalf("step %q", st)
			}
			s.e.To("a").Emit("m", "warm")
			if st := run.step(t); !strings.HasPrefix(st, "away ") {
				t.Fatalf("step %q", st)
			}
			awaitRecovery(t, s.e, "the socket detached", func(st engine.RecoveryStats) bool { return st.Detached == 1 })
			for i := range 20 {
				var op engine.BroadcastOperator
				switch i % 4 {
				case 0:
					op = s.e.To("a")
				case 1:
					op = s.e.To("b")
				case 2:
					op = s.e.To("a", "b")
				case 3:
					op = s.e.To(id)
				}
				if err := op.Emit("m", i); err != nil {
					t.Fatal(err)
				}
			}
			s.e.To("a").Volatile().Emit("m", "volatile: not kept")
			settled(t, s.e, "a", "b", id) // all of them buffered: replayed before the CONNECT reply
			run.proceed()
			run.wait(t)
			if st := s.e.RecoveryStats(); st.Recovered != 1 || st.Detached != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestRecoverSocketIOExpired(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", recoveryConfig(200*time.Millisecond), recoveryApp)
	run := runScenario(t, "recover-expired", "http://"+s.addr)
	if st := run.step(t); !strings.HasPrefix(st, "joined ") {
		t.Fatalf("step %q", st)
	}
	s.e.To("a").Emit("m", "warm")
	run.step(t)
	awaitRecovery(t, s.e, "the session expired", func(st engine.RecoveryStats) bool { return st.Expired == 1 && st.Detached == 0 })
	run.proceed()
	run.wait(t)
	if n := s.e.Stats().Rooms; n != 0 {
		t.Fatalf("%d rooms left after the expired socket", n)
	}
}

func TestRecoverSocketIOClientDisconnect(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", recoveryConfig(time.Minute), recoveryApp)
	run := runScenario(t, "recover-client-disconnect", "http://"+s.addr)
	if st := run.step(t); !strings.HasPrefix(st, "joined ") {
		t.Fatalf("step %q", st)
	}
	s.e.To("a").Emit("m", "warm")
	run.wait(t)
	if st := s.e.RecoveryStats(); st.Detached != 0 || st.Recovered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// rawSIO is a minimal Socket.IO client over the Engine.IO WebSocket transport, for what the official
// client will not send.
type rawSIO struct {
	t   testing.TB
	ctx context.Context
	ws  *websocket.Conn
	tcp net.Conn // the connection under ws
}

func dialRawSIO(t testing.TB, addr string) *rawSIO {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	c := &rawSIO{t: t, ctx: ctx}
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket", dialCapture(&c.tcp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow(); cancel() })
	c.ws = ws
	if open := c.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	return c
}

// dialCapture is a websocket.DialOptions whose connection is stored in *conn.
func dialCapture(conn *net.Conn, subprotocols ...string) *websocket.DialOptions {
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		*conn = c
		return c, err
	}
	return &websocket.DialOptions{
		Subprotocols: subprotocols,
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dial}},
	}
}

// read returns the next Engine.IO message, answering pings.
func (c *rawSIO) read() string {
	c.t.Helper()
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if string(data) == "2" {
			c.ws.Write(c.ctx, websocket.MessageText, []byte("3"))
			continue
		}
		return string(data)
	}
}

// connect sends CONNECT with auth and returns the events read before the reply, and the reply's sid and
// pid.
func (c *rawSIO) connect(auth string) (events []string, sid, pid string) {
	c.t.Helper()
	if err := c.ws.Write(c.ctx, websocket.MessageText, []byte("40"+auth)); err != nil {
		c.t.Fatal(err)
	}
	for {
		m := c.read()
		if reply, ok := strings.CutPrefix(m, "40"); ok {
			var r struct{ Sid, Pid string }
			if err := json.Unmarshal([]byte(reply), &r); err != nil {
				c.t.Fatalf("CONNECT reply %q: %v", m, err)
			}
			return events, r.Sid, r.Pid
		}
		events = append(events, m)
	}
}

// event reads the next EVENT and returns its arguments (the offset last, when there is one).
func (c *rawSIO) event() []json.RawMessage {
	c.t.Helper()
	m := c.read()
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(strings.TrimPrefix(m, "42")), &args); err != nil || !strings.HasPrefix(m, "42") {
		c.t.Fatalf("not an event: %q", m)
	}
	return args[1:]
}

// lastOffset returns the offset of an event's arguments.
func lastOffset(t testing.TB, args []json.RawMessage) string {
	t.Helper()
	var off string
	if len(args) == 0 || json.Unmarshal(args[len(args)-1], &off) != nil {
		t.Fatalf("no offset in %s", args)
	}
	return off
}

// detachedClient connects a raw client in room "a", gives it one message (returning its offset), drops
// its connection and waits for the socket to be detached.
func detachedClient(t *testing.T, s *sioServer) (sid, pid, offset string) {
	t.Helper()
	before := s.e.RecoveryStats().Detached
	c := dialRawSIO(t, s.addr)
	_, sid, pid = c.connect("")
	if sid == "" || pid == "" {
		t.Fatalf("sid %q pid %q", sid, pid)
	}
	if err := s.e.Of("/").In(sid).SocketsJoin(ctxT(t), "a"); err != nil {
		t.Fatal(err)
	}
	s.e.To("a").Emit("m", "warm")
	offset = lastOffset(t, c.event())
	c.ws.CloseNow()
	awaitRecovery(t, s.e, "detached", func(st engine.RecoveryStats) bool { return st.Detached == before+1 })
	return sid, pid, offset
}

// TestRecoverBadInput: a forged pid, a pid with an unknown or malformed offset, a pid presented by two
// clients at once. Each gets a fresh socket (or, for the pair, one of them the session), never an error
// and never another session.
func TestRecoverBadInput(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", recoveryConfig(time.Minute), recoveryApp)
	fresh := func(auth, notSID string) {
		t.Helper()
		c := dialRawSIO(t, s.addr)
		events, sid, pid := c.connect(auth)
		if sid == "" || sid == notSID || pid == "" || len(events) != 0 {
			t.Fatalf("auth %s: sid %q pid %q events %q", auth, sid, pid, events)
		}
		c.ws.Write(ctxT(t), websocket.MessageText, []byte("41")) // a client disconnect: not kept
	}
	sid, pid, _ := detachedClient(t, s)
	fresh(`{"pid":"forged","offset":"1"}`, sid)
	fresh(`{"pid":12,"offset":"1"}`, sid)
	fresh(`{"pid":"`+pid+`","offset":"not-an-offset"}`, sid) // the session is dropped with it
	fresh(`{"pid":"`+pid+`","offset":"x"}`, sid)
	awaitRecovery(t, s.e, "the session dropped", func(st engine.RecoveryStats) bool { return st.Detached == 0 && st.Refused == 3 })

	sid, pid, offset := detachedClient(t, s)
	fresh(`{"pid":"`+pid+`","offset":7}`, sid)

	sid, pid, offset = detachedClient(t, s)
	s.e.To("a").Emit("m", "missed")
	settled(t, s.e, "a")
	auth := fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		c := dialRawSIO(t, s.addr)
		wg.Go(func() {
			events, got, _ := c.connect(auth)
			results[i] = fmt.Sprint(got == sid, len(events))
		})
	}
	wg.Wait()
	slices.Sort(results)
	want := []string{"false 0", "false 0", "false 0", "false 0", "false 0", "false 0", "false 0", "true 1"}
	if !slices.Equal(results, want) {
		t.Fatalf("concurrent claims: %v", results)
	}
	if st := s.e.RecoveryStats(); st.Recovered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRecoverOverflowAndBounds: a detached socket past MaxBuffered is dropped and counted; past
// MaxDetached a socket is not kept.
func TestRecoverOverflowAndBounds(t *testing.T) {
	cfg := recoveryConfig(time.Minute)
	cfg.Recovery.MaxBuffered = 5
	cfg.Recovery.MaxDetached = 2
	s := serveSIO(t, "127.0.0.1:0", cfg, recoveryApp)
	sid, pid, offset := detachedClient(t, s)
	for i := range 6 {
		s.e.To("a").Emit("m", i)
	}
	settled(t, s.e, "a")
	awaitRecovery(t, s.e, "overflow", func(st engine.RecoveryStats) bool { return st.Overflowed == 1 && st.Detached == 0 })
	c := dialRawSIO(t, s.addr)
	if events, got, _ := c.connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)); got == sid || len(events) != 0 {
		t.Fatalf("overflowed session recovered: %q %q", got, events)
	}

	detachedClient(t, s)
	detachedClient(t, s)
	c = dialRawSIO(t, s.addr)
	c.connect("")
	c.ws.CloseNow()
	awaitRecovery(t, s.e, "full", func(st engine.RecoveryStats) bool { return st.Full == 1 && st.Detached == 2 })
}

// TestRecoverWithoutOffset: a client that presents no offset gets every packet kept (here: all that
// were ever sent to it), then the connection handlers run again and know the socket was recovered.
func TestRecoverWithoutOffset(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", recoveryConfig(time.Minute), func(e *engine.Engine) {
		recoveryApp(e)
		e.OnConnection(func(s *engine.Socket) {
			if s.Recovered() {
				s.Emit("m", "hello again")
			}
		})
	})
	sid, pid, _ := detachedClient(t, s)
	s.e.To(sid).Emit("m", 1)
	settled(t, s.e, sid)
	c := dialRawSIO(t, s.addr)
	events, got, gotPID := c.connect(fmt.Sprintf(`{"pid":%q}`, pid))
	if got != sid || gotPID != pid || len(events) != 2 {
		t.Fatalf("no offset: sid %q pid %q events %q", got, gotPID, events)
	}
	if a := c.event(); string(a[0]) != `"hello again"` {
		t.Fatalf("connection handler's emit: %s", a)
	}
}
