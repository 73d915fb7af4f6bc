package engine_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/transport/wire"
)

var formats = []struct {
	name string
	f    wire.Format
}{{"proto", wire.FormatProto}, {"json", wire.FormatJSON}}

// eachFormat runs fn once per native wire format (every behaviour is checked against every wire format).
func eachFormat(t *testing.T, fn func(t *testing.T, f wire.Format)) {
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) { fn(t, tc.f) })
	}
}

func TestRoomsAndOwnIDRoom(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	u := h.connect("/", nil)
	s := h.server(u.ID())
	if got := roomsOf(t, s); !slices.Equal(got, []string{u.ID()}) {
		t.Fatalf("rooms of a new socket = %v, want only its own id", got)
	}
	h.join(u, "b", "a")
	want := []string{"a", "b", u.ID()}
	slices.Sort(want)
	if got := roomsOf(t, s); !slices.Equal(got, want) {
		t.Fatalf("rooms = %v, want %v", got, want)
	}
	if err := s.Leave(ctxT(t), u.ID()); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(ctxT(t), "a"); err != nil {
		t.Fatal(err)
	}
	want = []string{"b", u.ID()}
	slices.Sort(want)
	if got := roomsOf(t, s); !slices.Equal(got, want) {
		t.Fatalf("after leaving a and the own-id room: rooms = %v, want %v", got, want)
	}
}

func TestToRoomReachesMembersOnly(t *testing.T) {
	eachFormat(t, func(t *testing.T, f wire.Format) {
		h := start(t, engine.Config{}, nil)
		a, b, out := h.connect("/", nil, f), h.connect("/", nil, f), h.connect("/", nil, f)
		h.join(a, "r")
		h.join(b, "r")
		if err := h.e.Of("/").To("r").Emit("news", "hello", 42); err != nil {
			t.Fatal(err)
		}
		for _, u := range []*user{a, b} {
			ev := u.next(t)
			var s string
			var n int
			if ev.Name != "news" || ev.Decode(&s, &n) != nil || s != "hello" || n != 42 {
				t.Fatalf("member got %q %v, want news(hello, 42)", ev.Name, ev.Args)
			}
		}
		// The outsider joins, which the room actor orders after the emit; then a marker through the room.
		h.join(out, "r")
		h.e.Of("/").To("r").Emit("marker")
		if got := out.until(t, "marker"); len(got) != 0 {
			t.Fatalf("non-member received %v", got)
		}
	})
}

func TestUnionDeliversOnce(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	both, onlyA, onlyB := h.connect("/", nil), h.connect("/", nil), h.connect("/", nil)
	h.join(both, "a", "b")
	h.join(onlyA, "a")
	h.join(onlyB, "b")
	ns := h.e.Of("/")
	for i := range 50 {
		if err := ns.To("a").To("b").Emit("x", i); err != nil {
			t.Fatal(err)
		}
	}
	ns.To("a").Emit("ma")
	ns.To("b").Emit("mb")
	// Each marker travels the route of the copies before it, so once a socket has its markers every
	// copy of x that could reach it has arrived.
	for name, tc := range map[string]struct {
		u       *user
		markers []string
	}{"both": {both, []string{"ma", "mb"}}, "onlyA": {onlyA, []string{"ma"}}, "onlyB": {onlyB, []string{"mb"}}} {
		got := tc.u.until(t, tc.markers...)
		if n := count(got, "x"); n != 50 || len(got) != 50 {
			t.Errorf("%s received %v: x %d times for 50 emits to a∪b", name, got, n)
		}
	}
}

// Rooms are a set: naming a room twice (To("a").To("a"), To("a", "b", "a")) still delivers once.
func TestRoomNamedTwiceDeliversOnce(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	u := h.connect("/", nil)
	h.join(u, "a", "b")
	ns := h.e.Of("/")
	ns.To("a").To("a").Emit("x")
	ns.To("a", "b", "a").Except("c", "c").Emit("x")
	ns.To("a").Emit("ma")
	ns.To("b").Emit("mb")
	if got := u.until(t, "ma", "mb"); count(got, "x") != 2 || len(got) != 2 {
		t.Fatalf("received %v, want x twice (once per emit)", got)
	}
}

func TestExceptExcludesAlsoInUnion(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	in, vip, other := h.connect("/", nil), h.connect("/", nil), h.connect("/", nil)
	h.join(in, "a")
	h.join(vip, "a", "b", "vip")
	h.join(other, "b")
	ns := h.e.Of("/")
	ns.To("a").Except("vip").Emit("x1")
	ns.To("a", "b").Except("vip").Emit("x2")
	ns.Except("vip").Emit("x3")
	ns.To("a").Emit("ma")
	ns.To("b").Emit("mb")
	ns.Emit("mall")
	if got := vip.until(t, "ma", "mb", "mall"); len(got) != 0 {
		t.Fatalf("excepted socket received %v", got)
	}
	// Order across different targets is not guaranteed (docs/guarantees.md), so compare sets.
	if got := in.until(t, "ma", "mall"); !slices.Equal(sorted(got), []string{"x1", "x2", "x3"}) {
		t.Fatalf("member of a received %v, want x1 x2 x3", got)
	}
	if got := other.until(t, "mb", "mall"); !slices.Equal(sorted(got), []string{"x2", "x3"}) {
		t.Fatalf("member of b received %v, want x2 x3", got)
	}
}

func TestBroadcastExcludesSender(t *testing.T) {
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").OnConnection(func(s *engine.Socket) {
			s.On("shout", func(ev *engine.Event) {
				s.Broadcast().Emit("shouted", s.ID())
				s.To("room").Emit("to-room", s.ID())
				ev.Ack("done")
			})
		})
	})
	sender, a, b := h.connect("/", nil), h.connect("/", nil), h.connect("/", nil)
	for _, u := range []*user{sender, a, b} {
		h.join(u, "room")
	}
	if _, err := sender.EmitWithAck(ctxT(t), "shout"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{a, b} {
		if got := u.until(t, "shouted", "to-room"); len(got) != 0 {
			t.Fatalf("unexpected %v", got)
		}
	}
	h.e.Of("/").Emit("mall")
	h.e.Of("/").To("room").Emit("mroom")
	if got := sender.until(t, "mall", "mroom"); len(got) != 0 {
		t.Fatalf("sender received its own broadcast: %v", got)
	}
}

func TestToSocketID(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	a, b := h.connect("/", nil), h.connect("/", nil)
	ns := h.e.Of("/")
	ns.To(a.ID()).Emit("private", "for a")
	ev := a.next(t)
	var s string
	if ev.Name != "private" || ev.Decode(&s) != nil || s != "for a" {
		t.Fatalf("got %q %v", ev.Name, ev.Args)
	}
	ns.To(b.ID()).Emit("marker")
	if got := b.until(t, "marker"); len(got) != 0 {
		t.Fatalf("b received %v", got)
	}
	// The own-id room unites with real rooms without duplicates.
	h.join(a, "r")
	ns.To("r", a.ID()).Emit("once")
	ns.To("r").Emit("mr")
	ns.To(a.ID()).Emit("mid")
	if got := a.until(t, "mr", "mid"); count(got, "once") != 1 {
		t.Fatalf("a received %v, want exactly one 'once'", got)
	}
}

func TestNamespaceIsolation(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	h.e.Of("/chat").OnConnection(h.track)
	root, chat := h.connect("/", nil), h.connect("/chat", nil)
	h.join(root, "same")
	h.join(chat, "same")
	h.e.Of("/chat").To("same").Emit("in-chat")
	h.e.Of("/").To("same").Emit("in-root")
	if ev := chat.next(t); ev.Name != "in-chat" {
		t.Fatalf("/chat socket got %q", ev.Name)
	}
	if ev := root.next(t); ev.Name != "in-root" {
		t.Fatalf("/ socket got %q", ev.Name)
	}
	h.e.Of("/chat").To("same").Emit("m")
	if got := chat.until(t, "m"); len(got) != 0 {
		t.Fatalf("/chat socket got %v", got)
	}
}

func TestNamespaceWideEmit(t *testing.T) {
	h := start(t, engine.Config{}, func(e *engine.Engine) { e.Of("/other") })
	var us []*user
	for range 5 {
		us = append(us, h.connect("/", nil))
	}
	other := h.connect("/other", nil)
	h.e.Emit("everyone", map[string]int{"n": 1})
	for _, u := range us {
		ev := u.next(t)
		var m map[string]int
		if ev.Name != "everyone" || ev.Decode(&m) != nil || m["n"] != 1 {
			t.Fatalf("got %q %v", ev.Name, ev.Args)
		}
	}
	h.e.Of("/other").Emit("marker")
	if got := other.until(t, "marker"); len(got) != 0 {
		t.Fatalf("other namespace got %v", got)
	}
}

func TestRoomsRemovedWhenEmptyAndHooksFire(t *testing.T) {
	events := make(chan string, 100)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		ns := e.Of("/")
		ns.OnCreateRoom(func(r string) { events <- "create " + r })
		ns.OnDeleteRoom(func(r string) { events <- "delete " + r })
		ns.OnJoinRoom(func(r, id string) { events <- "join " + r })
		ns.OnLeaveRoom(func(r, id string) { events <- "leave " + r })
	})
	a, b := h.connect("/", nil), h.connect("/", nil)
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case got := <-events:
				if got != w {
					t.Fatalf("hook %q, want %q", got, w)
				}
			case <-time.After(waitFor):
				t.Fatalf("hook %q never fired", w)
			}
		}
	}
	h.join(a, "r")
	expect("create r", "join r")
	if st := h.e.Stats(); st.Rooms != 1 {
		t.Fatalf("room actors = %d, want 1", st.Rooms)
	}
	h.join(b, "r")
	expect("join r")
	if err := h.server(a.ID()).Leave(ctxT(t), "r"); err != nil {
		t.Fatal(err)
	}
	expect("leave r")
	b.c.Close() // the last member leaves by disconnecting
	expect("leave r", "delete r")
	waitUntil(t, "the room actor to stop", func() bool { return h.e.Stats().Rooms == 0 })
}

func TestOrderFromOneEmitter(t *testing.T) {
	eachFormat(t, func(t *testing.T, f wire.Format) {
		h := start(t, engine.Config{}, nil)
		u := h.connect("/", nil, f)
		h.join(u, "r")
		const n = 10000
		go func() {
			for i := range n {
				h.e.Of("/").To("r").Emit("seq", i)
			}
		}()
		for i := range n {
			ev := u.next(t)
			var got int
			if err := ev.Decode(&got); err != nil || got != i {
				t.Fatalf("message %d: got %v (%v)", i, got, err)
			}
		}
	})
}

func TestManySocketsConcurrently(t *testing.T) {
	// 1000 connections from one address: no per-address limit.
	h := start(t, engine.Config{MaxConnsPerIP: -1}, func(e *engine.Engine) {
		e.Of("/").OnConnection(func(s *engine.Socket) {
			s.On("churn", func(ev *engine.Event) {
				var i int
				ev.Bind(0, &i)
				c := ctxT(t)
				room := fmt.Sprintf("r%d", i%10)
				s.Join(c, room, "all")
				s.To(room).Emit("hi", s.ID())
				s.Leave(c, room)
				s.Join(c, fmt.Sprintf("final%d", i%3))
				ev.Ack(true)
			})
		})
	})
	const n = 1000
	// 1000 real WebSocket connections, one socket each, all churning at once.
	var us []*user
	for range n {
		us = append(us, h.connect("/", nil))
	}
	errs := make(chan error, n)
	for i, u := range us {
		go func() {
			_, err := u.EmitWithAck(ctxT(t), "churn", i)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ns := h.e.Of("/")
	all, err := ns.To("all").FetchSockets(ctxT(t))
	if err != nil || len(all) != n {
		t.Fatalf("room all has %d sockets (%v), want %d", len(all), err, n)
	}
	total := 0
	for k := range 3 {
		socks, err := ns.To(fmt.Sprintf("final%d", k)).FetchSockets(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		total += len(socks)
		for _, s := range socks {
			if !slices.Contains(s.Rooms, fmt.Sprintf("final%d", k)) || !slices.Contains(s.Rooms, "all") || len(s.Rooms) != 3 {
				t.Fatalf("socket %s rooms %v", s.ID, s.Rooms)
			}
		}
	}
	if total != n {
		t.Fatalf("final rooms hold %d sockets, want %d", total, n)
	}
	for k := range 10 {
		socks, _ := ns.To(fmt.Sprintf("r%d", k)).FetchSockets(ctxT(t))
		if len(socks) != 0 {
			t.Fatalf("room r%d still has %d sockets", k, len(socks))
		}
	}
	if st := h.e.Stats(); st.Sockets != n || st.Rooms != 4 {
		t.Fatalf("stats %+v, want %d sockets and 4 rooms (all, final0-2)", st, n)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// A room named after another socket's id cannot be joined (it would receive what the server sends to that
// socket, To(id)), neither by Join nor by SocketsJoin; a socket's own id can (it is always in it). To(id)
// reaches the socket only.
func TestJoinOfASocketIDRoomIsRefused(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	a, b := h.connect("/", nil), h.connect("/", nil)
	sb := h.server(b.ID())
	if err := sb.Join(ctxT(t), "ok", a.ID()); !errors.Is(err, engine.ErrSocketRoom) {
		t.Fatalf("Join(a's id) = %v, want ErrSocketRoom", err)
	}
	if err := sb.Join(ctxT(t), b.ID()); err != nil {
		t.Fatalf("Join(own id) = %v", err)
	}
	if err := h.e.In(b.ID()).SocketsJoin(ctxT(t), a.ID()); !errors.Is(err, engine.ErrSocketRoom) {
		t.Fatalf("SocketsJoin(a's id) = %v, want ErrSocketRoom", err)
	}
	if got, want := roomsOf(t, sb), sorted([]string{b.ID(), "ok"}); !slices.Equal(got, want) {
		t.Fatalf("b's rooms %v, want %v", got, want)
	}
	h.e.To(a.ID()).Emit("for-a")
	h.e.To("ok").Emit("m")
	if got := b.until(t, "m"); len(got) != 0 {
		t.Fatalf("b got %v", got)
	}
	if ev := a.next(t); ev.Name != "for-a" {
		t.Fatalf("a got %q", ev.Name)
	}
}
