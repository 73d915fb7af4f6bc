package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/transport/wire"
)

// recorder is a behaviour that records its hooks as lines ("create {opts}", "join <id>", "leave <id>
// <why>", "dispose") on a channel and runs the test's overrides.
type recorder struct {
	engine.BaseBehavior
	log      chan string
	onCreate func(r *engine.RoomContext, opts engine.Arg) error
	onJoin   func(r *engine.RoomContext, j *engine.Joiner) error
	onMsg    func(r *engine.RoomContext, m *engine.RoomMessage)
	onTick   func(r *engine.RoomContext, dt time.Duration)
	onTimer  func(r *engine.RoomContext, key any)
}

func (b *recorder) OnCreate(r *engine.RoomContext, opts engine.Arg) error {
	b.log <- "create " + string(opts.Data)
	if b.onCreate != nil {
		return b.onCreate(r, opts)
	}
	return nil
}

func (b *recorder) OnJoin(r *engine.RoomContext, j *engine.Joiner) error {
	if b.onJoin != nil {
		if err := b.onJoin(r, j); err != nil {
			b.log <- "refuse " + j.ID
			return err
		}
	}
	b.log <- "join " + j.ID
	return nil
}

func (b *recorder) OnLeave(r *engine.RoomContext, id string, why engine.LeaveReason) {
	b.log <- "leave " + id + " " + string(why)
}

func (b *recorder) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	if b.onMsg != nil {
		b.onMsg(r, m)
		return
	}
	// Echo: the room answers the request and tells the other members.
	r.EmitExcept(m.From, "said", m.Event)
	m.Reply("room:" + r.Name() + ":" + m.Event)
}

func (b *recorder) OnTick(r *engine.RoomContext, dt time.Duration) {
	if b.onTick != nil {
		b.onTick(r, dt)
	}
}

func (b *recorder) OnTimer(r *engine.RoomContext, key any) {
	if b.onTimer != nil {
		b.onTimer(r, key)
	}
}

func (b *recorder) OnDispose(r *engine.RoomContext) { b.log <- "dispose" }

// expectLog reads the next lines of the recorder's log and compares them with want.
func expectLog(t *testing.T, log <-chan string, want ...string) {
	t.Helper()
	for i, w := range want {
		select {
		case got := <-log:
			if got != w {
				t.Fatalf("hook %d = %q, want %q (want %q)", i, got, w, want)
			}
		case <-time.After(waitFor):
			t.Fatalf("hook %d: nothing, want %q", i, w)
		}
	}
}

// joinHandlers makes every socket answer "join" {room, opts} with JoinRoom's result, and "leave" room:
// the application's part of a join a client asks for.
func joinHandlers(e *engine.Engine) {
	e.OnConnection(func(s *engine.Socket) {
		s.On("join", func(ev *engine.Event) {
			var req struct {
				Room string          `json:"room"`
				Opts json.RawMessage `json:"opts"`
			}
			if err := ev.Bind(0, &req); err != nil {
				ev.Ack(map[string]any{"error": err.Error()})
				return
			}
			var opts any
			if req.Opts != nil && string(req.Opts) != "null" {
				opts = req.Opts
			}
			if err := s.JoinRoom(ev.Context(), req.Room, opts); err != nil {
				var re *engine.RefusedError
				if errors.As(err, &re) {
					ev.Ack(map[string]any{"error": re.Err.Error()})
					return
				}
				ev.Ack(map[string]any{"error": err.Error()})
				return
			}
			ev.Ack(map[string]any{"ok": true})
		})
		s.On("leave", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			s.Leave(ev.Context(), room)
			ev.Ack(true)
		})
	})
}

// askJoin asks the server to join room with opts and returns the ack's error text ("" when joined).
func askJoin(t *testing.T, u *user, room string, opts any) string {
	t.Helper()
	args, err := u.EmitWithAck(ctxT(t), "join", map[string]any{"room": room, "opts": opts})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := client.DecodeArgs(args, &res); err != nil {
		t.Fatal(err)
	}
	return res.Error
}

func TestBehaviorHookOrder(t *testing.T) {
	log := make(chan string, 100)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("game:", func(string) engine.Behavior { return &recorder{log: log} })
		joinHandlers(e)
	})
	a, b := h.connect("/", nil), h.connect("/", nil)
	if msg := askJoin(t, a, "game:1", map[string]int{"level": 3}); msg != "" {
		t.Fatal(msg)
	}
	if msg := askJoin(t, b, "game:1", nil); msg != "" {
		t.Fatal(msg)
	}
	expectLog(t, log, `create {"level":3}`, "join "+a.ID(), "join "+b.ID())
	if got := roomsOf(t, h.server(a.ID())); !slices.Contains(got, "game:1") {
		t.Fatalf("rooms of a joined socket = %v", got)
	}
	// A broadcast to a behaviour room reaches its members like a plain room's.
	h.e.To("game:1").Emit("news", 1)
	for _, u := range []*user{a, b} {
		if got := u.until(t, "news"); len(got) != 0 {
			t.Fatalf("unexpected events %v", got)
		}
	}
	if _, err := b.EmitWithAck(ctxT(t), "leave", "game:1"); err != nil {
		t.Fatal(err)
	}
	expectLog(t, log, "leave "+b.ID()+" left")
	a.c.Close()
	expectLog(t, log, "leave "+a.ID()+" disconnected", "dispose")
	waitUntil(t, "the room actor to stop", func() bool { return h.e.Stats().Rooms == 0 })
	// A new join creates the room again.
	if msg := askJoin(t, b, "game:1", nil); msg != "" {
		t.Fatal(msg)
	}
	expectLog(t, log, "create ", "join "+b.ID())
}

func TestBehaviorRefusal(t *testing.T) {
	eachFormat(t, func(t *testing.T, f wire.Format) {
		log := make(chan string, 100)
		h := start(t, engine.Config{}, func(e *engine.Engine) {
			e.Of("/").Define("vault:", func(string) engine.Behavior {
				return &recorder{log: log,
					onCreate: func(r *engine.RoomContext, opts engine.Arg) error {
						if string(opts.Data) == `"forbidden"` {
							return errors.New("cannot create this room")
						}
						r.SetMaxClients(2)
						return nil
					},
					onJoin: func(r *engine.RoomContext, j *engine.Joiner) error {
						if string(j.Options.Data) != `"secret"` {
							return errors.New("wrong password")
						}
						return nil
					}}
			})
			joinHandlers(e)
		})
		a, b, c := h.connect("/", nil, f), h.connect("/", nil, f), h.connect("/", nil, f)
		if msg := askJoin(t, a, "vault:1", "forbidden"); msg != "cannot create this room" {
			t.Fatalf("refused create: client got %q", msg)
		}
		expectLog(t, log, `create "forbidden"`)
		waitUntil(t, "the refused room to stop", func() bool { return h.e.Stats().Rooms == 0 })
		if msg := askJoin(t, a, "vault:1", "guess"); msg != "wrong password" {
			t.Fatalf("refused join: client got %q", msg)
		}
		expectLog(t, log, `create "guess"`, "refuse "+a.ID(), "dispose")
		// The refused room is not among the socket's rooms, and Join returns the typed error.
		if got := roomsOf(t, h.server(a.ID())); slices.Contains(got, "vault:1") {
			t.Fatalf("a refused socket is in the room: %v", got)
		}
		err := h.server(a.ID()).Join(ctxT(t), "vault:1")
		var re *engine.RefusedError
		if !errors.As(err, &re) || re.Room != "vault:1" || re.Err.Error() != "wrong password" {
			t.Fatalf("Join = %v, want a *RefusedError with the behaviour's reason", err)
		}
		expectLog(t, log, "create ", "refuse "+a.ID(), "dispose")
		for _, u := range []*user{a, b} {
			if msg := askJoin(t, u, "vault:1", "secret"); msg != "" {
				t.Fatal(msg)
			}
		}
		if msg := askJoin(t, c, "vault:1", "secret"); msg != engine.ErrRoomFull.Error() {
			t.Fatalf("third join of a 2-client room: %q, want %q", msg, engine.ErrRoomFull)
		}
		if err := h.server(c.ID()).JoinRoom(ctxT(t), "vault:1", "secret"); !errors.Is(err, engine.ErrRoomFull) {
			t.Fatalf("JoinRoom of a full room = %v, want ErrRoomFull", err)
		}
		// An emit to the room does not reach the refused socket.
		h.e.To("vault:1").Emit("news")
		a.until(t, "news")
		if _, err := c.EmitWithAck(ctxT(t), "leave", "nothing"); err != nil { // a barrier: news would be before
			t.Fatal(err)
		}
		select {
		case ev := <-c.rec:
			t.Fatalf("a refused socket got %q", ev.Name)
		default:
		}
	})
}

func TestBehaviorMessages(t *testing.T) {
	eachFormat(t, func(t *testing.T, f wire.Format) {
		log := make(chan string, 100)
		h := start(t, engine.Config{}, func(e *engine.Engine) {
			e.Of("/").Define("chat:", func(string) engine.Behavior {
				return &recorder{log: log, onMsg: func(r *engine.RoomContext, m *engine.RoomMessage) {
					switch m.Event {
					case "never":
						// No answer: the caller's timeout ends it.
					case "later":
						r.SetTimer(time.Millisecond, m) // answered from OnTimer
					default:
						if m.From != "" {
							r.EmitExcept(m.From, "said", m.Event)
						}
						m.Reply("room:" + m.Event)
					}
				}, onTimer: func(r *engine.RoomContext, key any) {
					key.(*engine.RoomMessage).Reply("late")
				}}
			}, engine.WithMaxMessageBytes(100))
			joinHandlers(e)
		})
		a, b, out := h.connect("/", nil, f), h.connect("/", nil, f), h.connect("/", nil, f)
		for _, u := range []*user{a, b} {
			if msg := askJoin(t, u, "chat:1", nil); msg != "" {
				t.Fatal(msg)
			}
		}
		// A native client addresses the room directly; the room answers and tells the others.
		args, err := a.RoomRequest(ctxT(t), "chat:1", "hello")
		var got string
		if err == nil {
			err = client.DecodeArgs(args, &got)
		}
		if err != nil || got != "room:hello" {
			t.Fatalf("RoomRequest = %q, %v", got, err)
		}
		if ev := b.next(t); ev.Name != "said" {
			t.Fatalf("b got %q, want said", ev.Name)
		}
		if err := a.RoomEmit(ctxT(t), "chat:1", "fire"); err != nil {
			t.Fatal(err)
		}
		if ev := b.next(t); ev.Name != "said" || string(ev.Args[0].Data) != `"fire"` {
			t.Fatalf("b got %q %v", ev.Name, ev.Args)
		}
		// A reply after OnMessage returned (from a timer hook).
		if args, err := a.RoomRequest(ctxT(t), "chat:1", "later"); err != nil || string(args[0].Data) != `"late"` {
			t.Fatalf("late reply = %v, %v", args, err)
		}
		// Bad input, each a documented error.
		bad := []struct {
			name string
			u    *user
			room string
			args []any
			code uint32
		}{
			{"not a member", out, "chat:1", nil, wire.ErrCodeNotInRoom},
			{"no such room", out, "chat:2", nil, wire.ErrCodeNotInRoom},
			{"plain room", a, "lobby", nil, wire.ErrCodeNoBehavior},
			{"too big", a, "chat:1", []any{strings.Repeat("x", 200)}, wire.ErrCodeRoomTooBig},
		}
		for _, tc := range bad {
			_, err := tc.u.RoomRequest(ctxT(t), tc.room, "hello", tc.args...)
			var se *client.ServerError
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("%s: RoomRequest = %v, want a ServerError with code %d", tc.name, err, tc.code)
			}
		}
		// A reply that never comes: the caller's context ends the wait.
		ctx, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
		defer cancel()
		if _, err := a.RoomRequest(ctx, "chat:1", "never"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unanswered RoomRequest = %v, want the context's error", err)
		}
		ctx2, cancel2 := context.WithTimeout(ctxT(t), 50*time.Millisecond)
		defer cancel2()
		if _, err := h.e.Room("chat:1").Request(ctx2, "never"); !errors.Is(err, engine.ErrTimeout) {
			t.Fatalf("unanswered Room.Request = %v, want ErrTimeout", err)
		}
		// Server code: a request from the server, the socket's own calls and their errors.
		if args, err := h.e.Room("chat:1").Request(ctxT(t), "status"); err != nil || string(args[0].Data) != `"room:status"` {
			t.Fatalf("Room.Request = %v, %v", args, err)
		}
		if _, err := h.e.Room("chat:9").Request(ctxT(t), "status"); !errors.Is(err, engine.ErrNoRoom) {
			t.Fatalf("Request to a room that does not exist = %v, want ErrNoRoom", err)
		}
		if _, err := h.server(out.ID()).RequestRoom(ctxT(t), "chat:1", "x"); !errors.Is(err, engine.ErrNotInRoom) {
			t.Fatalf("RequestRoom from a non-member = %v, want ErrNotInRoom", err)
		}
		if err := h.server(a.ID()).SendToRoom("lobby", "x"); !errors.Is(err, engine.ErrNoBehavior) {
			t.Fatalf("SendToRoom to a plain room = %v, want ErrNoBehavior", err)
		}
		if err := h.server(a.ID()).SendToRoom("chat:1", "x", strings.Repeat("y", 200)); !errors.Is(err, engine.ErrRoomMessageTooBig) {
			t.Fatalf("SendToRoom too big = %v, want ErrRoomMessageTooBig", err)
		}
		if err := h.server(a.ID()).SendToRoom("chat:1", "server-said"); err != nil {
			t.Fatal(err)
		}
		if ev := b.next(t); ev.Name != "said" || string(ev.Args[0].Data) != `"server-said"` {
			t.Fatalf("b got %q %v", ev.Name, ev.Args)
		}
	})
}

func TestBehaviorBusy(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("slow:", func(string) engine.Behavior {
			return &recorder{log: make(chan string, 100), onMsg: func(r *engine.RoomContext, m *engine.RoomMessage) {
				entered <- struct{}{}
				<-release
				m.Reply("done")
			}}
		}, engine.WithMaxPending(2))
		e.Of("/").Define("fast:", func(string) engine.Behavior { return &recorder{log: make(chan string, 100)} })
		joinHandlers(e)
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before Shutdown, even when the test fails
	u := h.connect("/", nil)
	for _, r := range []string{"slow:1", "fast:1"} {
		if msg := askJoin(t, u, r, nil); msg != "" {
			t.Fatal(msg)
		}
	}
	// One message blocks the slow room's hook; the next two wait in its mailbox (they time out here);
	// the one after is refused at once.
	if err := h.server(u.ID()).SendToRoom("slow:1", "work"); err != nil {
		t.Fatal(err)
	}
	<-entered
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(ctxT(t), 10*time.Millisecond)
		_, err := h.e.Room("slow:1").Request(ctx, "probe")
		cancel()
		if errors.Is(err, engine.ErrRoomBusy) {
			if i != 2 {
				t.Fatalf("refused after %d waiting messages, want 2", i)
			}
			break
		}
		if !errors.Is(err, engine.ErrTimeout) || i > 2 {
			t.Fatalf("probe %d = %v", i, err)
		}
	}
	var se *client.ServerError
	if _, err := u.RoomRequest(ctxT(t), "slow:1", "more"); !errors.As(err, &se) || se.Code != wire.ErrCodeRoomBusy {
		t.Fatalf("native request to a busy room = %v, want code %d", err, wire.ErrCodeRoomBusy)
	}
	// The slow room stalls nobody else: another room answers, the namespace emits, joins complete.
	if args, err := h.e.Room("fast:1").Request(ctxT(t), "ping"); err != nil || string(args[0].Data) != `"room:fast:1:ping"` {
		t.Fatalf("fast room while slow room blocks: %v, %v", args, err)
	}
	if msg := askJoin(t, u, "fast:2", nil); msg != "" {
		t.Fatal(msg)
	}
	h.e.Emit("still-alive")
	u.until(t, "still-alive")
	unblock()
	for range 2 {
		<-entered // the two waiting probes
	}
	if args, err := h.e.Room("slow:1").Request(ctxT(t), "after"); err != nil || string(args[0].Data) != `"done"` {
		t.Fatalf("slow room after release = %v, %v", args, err)
	}
}

func TestBehaviorTimers(t *testing.T) {
	const (
		interval = 20 * time.Millisecond // 50 Hz
		window   = time.Second
	)
	type tick struct {
		at time.Time
		dt time.Duration
	}
	ticks := make(chan tick, 1000)
	fired := make(chan any, 10)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("loop:", func(string) engine.Behavior {
			return &recorder{log: make(chan string, 100),
				onCreate: func(r *engine.RoomContext, _ engine.Arg) error {
					r.SetTick(interval)
					r.SetTimer(30*time.Millisecond, "once")
					id := r.SetTimer(10*time.Millisecond, "cancelled")
					if !r.CancelTimer(id) {
						return errors.New("a fresh timer could not be cancelled")
					}
					return nil
				},
				onTick:  func(r *engine.RoomContext, dt time.Duration) { ticks <- tick{time.Now(), dt} },
				onTimer: func(r *engine.RoomContext, key any) { fired <- key }}
		})
		joinHandlers(e)
	})
	u := h.connect("/", nil)
	if msg := askJoin(t, u, "loop:1", nil); msg != "" {
		t.Fatal(msg)
	}
	first := <-ticks
	n := 0
	var late time.Duration
	for {
		tk := <-ticks
		n++
		if d := tk.dt - interval; d > late {
			late = d
		}
		if tk.at.Sub(first.at) >= window {
			break
		}
	}
	// 50 ticks are due in the window. The bounds are generous (a loaded machine, the race detector):
	// ticks are never bunched, so at most one more than due; and a fixed schedule loses at most a few.
	if want := int(window / interval); n < want*6/10 || n > want+1 {
		t.Fatalf("%d ticks in %v at %v, want about %d", n, window, interval, want)
	}
	t.Logf("%d ticks in %v at %v; worst dt over the interval %v", n, window, interval, late)
	select {
	case key := <-fired:
		if key != "once" {
			t.Fatalf("timer fired with %v, want once", key)
		}
	case <-time.After(waitFor):
		t.Fatal("the one-shot timer never fired")
	}
	select {
	case key := <-fired:
		t.Fatalf("a second timer fired: %v", key)
	default:
	}
}

func TestBehaviorPanics(t *testing.T) {
	log := make(chan string, 100)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("bad:", func(name string) engine.Behavior {
			return &recorder{log: log,
				onCreate: func(r *engine.RoomContext, opts engine.Arg) error {
					if string(opts.Data) == `"panic"` {
						panic("create exploded")
					}
					return nil
				},
				onJoin: func(r *engine.RoomContext, j *engine.Joiner) error {
					if string(j.Options.Data) == `"panic"` {
						panic("join exploded")
					}
					return nil
				},
				onMsg: func(r *engine.RoomContext, m *engine.RoomMessage) {
					if m.Event == "panic" {
						panic("message exploded")
					}
					m.Reply("fine")
				},
				onTick: func(r *engine.RoomContext, dt time.Duration) {
					r.SetTick(0)
					panic("tick exploded")
				}}
		})
		joinHandlers(e)
	})
	a, b := h.connect("/", nil), h.connect("/", nil)
	// A panicking OnCreate refuses the join; no room is left behind.
	if msg := askJoin(t, a, "bad:1", "panic"); msg != engine.ErrRoomInternal.Error() {
		t.Fatalf("join after a panicking OnCreate: %q", msg)
	}
	expectLog(t, log, `create "panic"`)
	waitUntil(t, "the room to stop", func() bool { return h.e.Stats().Rooms == 0 })
	if msg := askJoin(t, a, "bad:1", nil); msg != "" {
		t.Fatal(msg)
	}
	// A panicking OnJoin refuses that join; the room survives for the others.
	if msg := askJoin(t, b, "bad:1", "panic"); msg != engine.ErrRoomInternal.Error() {
		t.Fatalf("join with a panicking OnJoin: %q", msg)
	}
	// A panicking OnMessage fails that request; the room keeps answering.
	var se *client.ServerError
	if _, err := a.RoomRequest(ctxT(t), "bad:1", "panic"); !errors.As(err, &se) || se.Code != wire.ErrCodeRoomFailed {
		t.Fatalf("request with a panicking OnMessage = %v, want code %d", err, wire.ErrCodeRoomFailed)
	}
	if _, err := h.e.Room("bad:1").Request(ctxT(t), "panic"); !errors.Is(err, engine.ErrRoomInternal) {
		t.Fatalf("Room.Request with a panicking OnMessage = %v, want ErrRoomInternal", err)
	}
	if args, err := a.RoomRequest(ctxT(t), "bad:1", "ok"); err != nil || string(args[0].Data) != `"fine"` {
		t.Fatalf("request after the panics = %v, %v", args, err)
	}
	expectLog(t, log, "create ", "join "+a.ID())
}

func TestBehaviorDispose(t *testing.T) {
	log := make(chan string, 100)
	type counter struct{ n int }
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("keep:", func(string) engine.Behavior {
			c := &counter{}
			return &recorder{log: log, onMsg: func(r *engine.RoomContext, m *engine.RoomMessage) {
				switch m.Event {
				case "count":
					c.n++
					m.Reply(c.n)
				case "close":
					m.Reply("closing")
					r.Dispose()
				}
			}}
		}, engine.WithDisposeDelay(time.Hour))
		joinHandlers(e)
	})
	a, b := h.connect("/", nil), h.connect("/", nil)
	if msg := askJoin(t, a, "keep:1", nil); msg != "" {
		t.Fatal(msg)
	}
	a.RoomRequest(ctxT(t), "keep:1", "count")
	// Left empty, the room waits for its dispose delay: a member coming back finds its state.
	a.EmitWithAck(ctxT(t), "leave", "keep:1")
	expectLog(t, log, "create ", "join "+a.ID(), "leave "+a.ID()+" left")
	if msg := askJoin(t, b, "keep:1", nil); msg != "" {
		t.Fatal(msg)
	}
	if msg := askJoin(t, a, "keep:1", nil); msg != "" {
		t.Fatal(msg)
	}
	if args, err := a.RoomRequest(ctxT(t), "keep:1", "count"); err != nil || string(args[0].Data) != "2" {
		t.Fatalf("count after the room waited = %v, %v; want 2", args, err)
	}
	// Dispose on request kicks every member at once, without waiting for the delay.
	if _, err := a.RoomRequest(ctxT(t), "keep:1", "close"); err != nil {
		t.Fatal(err)
	}
	got := []string{<-log, <-log, <-log, <-log, <-log}
	want := []string{"join " + b.ID(), "join " + a.ID(), "leave " + a.ID() + " kicked", "leave " + b.ID() + " kicked", "dispose"}
	slices.Sort(got[2:4])
	slices.Sort(want[2:4])
	if !slices.Equal(got, want) {
		t.Fatalf("hooks = %q, want %q", got, want)
	}
	waitUntil(t, "kicked sockets to leave", func() bool {
		return !slices.Contains(roomsOf(t, h.server(a.ID())), "keep:1") && h.e.Stats().Rooms == 0
	})
	if _, err := a.RoomRequest(ctxT(t), "keep:1", "count"); err == nil {
		t.Fatal("a kicked socket could still address the room")
	}
}

func TestHookQueueNeverBlocksNamespace(t *testing.T) {
	release := make(chan struct{})
	var ran atomic.Int64
	h := start(t, engine.Config{MaxRoomsPerSocket: 5000}, func(e *engine.Engine) {
		e.Of("/").OnJoinRoom(func(room, id string) {
			ran.Add(1)
			<-release
		})
	})
	u := h.connect("/", nil)
	rooms := make([]string, 2000)
	for i := range rooms {
		rooms[i] = fmt.Sprint("r", i)
	}
	// The hook blocks on its first event; the 2000 joins still complete.
	h.join(u, rooms...)
	if d := h.e.DroppedHookEvents(); d == 0 {
		t.Fatal("no hook event was dropped past the queue's bound")
	}
	close(release)
	t.Logf("hook events run %d, dropped %d", ran.Load(), h.e.DroppedHookEvents())
}

// A socket that leaves a behaviour room, or leaves and joins again, while the room is still deciding its
// first join ends where its last call says, and the room agrees.
func TestBehaviorJoinLeaveRace(t *testing.T) {
	log := make(chan string, 100)
	gate, entered := make(chan struct{}), make(chan struct{}, 10)
	var gated atomic.Bool
	gated.Store(true)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("slow:", func(string) engine.Behavior {
			return &recorder{log: log, onJoin: func(r *engine.RoomContext, j *engine.Joiner) error {
				if gated.Load() {
					entered <- struct{}{}
					<-gate
				}
				return nil
			}}
		})
	})
	t.Cleanup(func() {
		if gated.CompareAndSwap(true, false) {
			close(gate)
		}
	})
	u, other := h.connect("/", nil), h.connect("/", nil)
	s := h.server(u.ID())
	for _, tc := range []struct {
		room   string
		rejoin bool
	}{{"slow:left", false}, {"slow:back", true}} {
		if tc.rejoin {
			// Another member keeps the room from being disposed when u's first membership ends, whether
			// u's second join reaches it before or after.
			gated.Store(false)
			if err := h.server(other.ID()).Join(ctxT(t), tc.room); err != nil {
				t.Fatal(err)
			}
			expectLog(t, log, "create ", "join "+other.ID())
		}
		gated.Store(true)
		gate = make(chan struct{})
		joined := make(chan error, 1)
		go func() { joined <- s.Join(ctxT(t), tc.room) }()
		<-entered // the room is deciding the first join
		if err := s.Leave(ctxT(t), tc.room); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(roomsOf(t, s), tc.room) {
			t.Fatalf("%s: in the room after Leave", tc.room)
		}
		second := make(chan error, 1)
		if tc.rejoin {
			go func() { second <- s.Join(ctxT(t), tc.room) }()
		}
		gated.Store(false)
		close(gate)
		if err := <-joined; err != nil {
			t.Fatalf("%s: first join: %v", tc.room, err)
		}
		if tc.rejoin {
			if err := <-second; err != nil {
				t.Fatalf("%s: second join: %v", tc.room, err)
			}
			expectLog(t, log, "join "+u.ID(), "leave "+u.ID()+" left", "join "+u.ID())
			if !slices.Contains(roomsOf(t, s), tc.room) {
				t.Fatalf("%s: not in the room after joining again", tc.room)
			}
			if args, err := h.e.Room(tc.room).Request(ctxT(t), "who"); err != nil || string(args[0].Data) != `"room:`+tc.room+`:who"` {
				t.Fatalf("%s: room after the race: %v, %v", tc.room, args, err)
			}
			continue
		}
		expectLog(t, log, "create ", "join "+u.ID(), "leave "+u.ID()+" left", "dispose")
		if slices.Contains(roomsOf(t, s), tc.room) {
			t.Fatalf("%s: in the room after its join was overtaken by a leave", tc.room)
		}
	}
}

// Shutdown disposes every behaviour room, ticking or not, and leaves no actor.
func TestBehaviorShutdownDisposes(t *testing.T) {
	log := make(chan string, 100)
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Of("/").Define("t:", func(string) engine.Behavior {
		return &recorder{log: log, onCreate: func(r *engine.RoomContext, _ engine.Arg) error {
			r.SetTick(time.Millisecond)
			r.SetTimer(time.Hour, "never")
			return nil
		}}
	})
	var sock atomic.Pointer[engine.Socket]
	e.OnConnection(func(s *engine.Socket) { sock.Store(s) })
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	c, err := client.Dial(ctxT(t), "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Connect(ctxT(t), "/", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the connection handler", func() bool { return sock.Load() != nil })
	if err := sock.Load().Join(ctxT(t), "t:1", "t:2"); err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	disposed := 0
	for len(log) > 0 {
		if <-log == "dispose" {
			disposed++
		}
	}
	if disposed != 2 {
		t.Fatalf("%d rooms disposed at shutdown, want 2", disposed)
	}
	if st := e.Stats(); !st.Idle() {
		t.Fatalf("actors left: %+v", st)
	}
}

// TestRequestRoomFunc: a socket's requests passed on without waiting reach the room in the order sent
// and are answered once each, in that order; a request the room never answers gets ErrTimeout once,
// when its ctx ends; an error RequestRoomFunc returns means no reply; the room's own refusal (not a
// member) comes as the reply.
func TestRequestRoomFunc(t *testing.T) {
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("chat:", func(string) engine.Behavior {
			return &recorder{log: make(chan string, 100), onMsg: func(r *engine.RoomContext, m *engine.RoomMessage) {
				if m.Event != "never" {
					m.Reply(m.Event)
				}
			}}
		}, engine.WithMaxMessageBytes(100))
		joinHandlers(e)
	})
	a, out := h.connect("/", nil), h.connect("/", nil)
	if msg := askJoin(t, a, "chat:1", nil); msg != "" {
		t.Fatal(msg)
	}
	s := h.server(a.ID())
	type answer struct {
		got string
		err error
	}
	const n = 200
	answers := make(chan answer, n+1)
	reply := func(args []engine.Arg, err error) {
		var got string
		if err == nil {
			err = args[0].Decode(&got)
		}
		answers <- answer{got, err}
	}
	for i := range n {
		if err := s.RequestRoomFunc(ctxT(t), "chat:1", fmt.Sprint(i), reply); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if a := <-answers; a.err != nil || a.got != fmt.Sprint(i) {
			t.Fatalf("answer %d = %q, %v", i, a.got, a.err)
		}
	}

	// Unanswered: ErrTimeout when ctx ends, once (the request after it is answered, and nothing else came).
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Millisecond)
	defer cancel()
	if err := s.RequestRoomFunc(ctx, "chat:1", "never", reply); err != nil {
		t.Fatal(err)
	}
	if a := <-answers; !errors.Is(a.err, engine.ErrTimeout) {
		t.Fatalf("unanswered request = %q, %v, want ErrTimeout", a.got, a.err)
	}
	if err := s.RequestRoomFunc(ctxT(t), "chat:1", "after", reply); err != nil {
		t.Fatal(err)
	}
	if a := <-answers; a.err != nil || a.got != "after" {
		t.Fatalf("answer after the timeout = %q, %v", a.got, a.err)
	}

	// Errors found before the room is reached are returned, and reply is never called.
	noReply := func([]engine.Arg, error) { t.Error("reply called after RequestRoomFunc returned an error") }
	if err := s.RequestRoomFunc(ctxT(t), "lobby", "x", noReply); !errors.Is(err, engine.ErrNoBehavior) {
		t.Fatalf("to a plain room = %v, want ErrNoBehavior", err)
	}
	if err := s.RequestRoomFunc(ctxT(t), "chat:1", "x", noReply, strings.Repeat("y", 200)); !errors.Is(err, engine.ErrRoomMessageTooBig) {
		t.Fatalf("too big = %v, want ErrRoomMessageTooBig", err)
	}
	done, cancelDone := context.WithCancel(ctxT(t))
	cancelDone()
	if err := s.RequestRoomFunc(done, "chat:1", "x", noReply, func() {}); !errors.Is(err, engine.ErrInvalidArg) {
		t.Fatalf("bad argument = %v, want ErrInvalidArg", err)
	}
	// The room's refusal is the reply.
	if err := h.server(out.ID()).RequestRoomFunc(ctxT(t), "chat:1", "x", reply); err != nil {
		t.Fatal(err)
	}
	if a := <-answers; !errors.Is(a.err, engine.ErrNotInRoom) {
		t.Fatalf("from a non-member = %q, %v, want ErrNotInRoom", a.got, a.err)
	}

	// On the socket's own context (a handler's Event.Context, registered with it directly): answered as
	// any other, and one the room never answers gets ErrTimeout when the socket disconnects.
	if err := s.RequestRoomFunc(s.Context(), "chat:1", "own", reply); err != nil {
		t.Fatal(err)
	}
	if a := <-answers; a.err != nil || a.got != "own" {
		t.Fatalf("answer on the socket's context = %q, %v", a.got, a.err)
	}
	if err := s.RequestRoomFunc(s.Context(), "chat:1", "never", reply); err != nil {
		t.Fatal(err)
	}
	a.c.Close()
	if a := <-answers; !errors.Is(a.err, engine.ErrTimeout) || !strings.Contains(a.err.Error(), context.Canceled.Error()) {
		t.Fatalf("unanswered request on the socket's context after its disconnect = %q, %v, want ErrTimeout (context canceled)", a.got, a.err)
	}
}
