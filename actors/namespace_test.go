package actors_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
)

// fourSockets joins s1 to a and b, s2 to a, s3 to b, and s4 to a room named after s1.
func fourSockets(t *testing.T, h *harness) []*sock {
	t.Helper()
	s := []*sock{h.addSocket("s1", 0), h.addSocket("s2", 0), h.addSocket("s3", 0), h.addSocket("s4", 0)}
	for i, rooms := range [][]string{{"a", "b"}, {"a"}, {"b"}, {"s1"}} {
		if err := h.join(s[i], rooms...); err != nil {
			t.Fatalf("join %s %v: %v", s[i].id, rooms, err)
		}
	}
	return s
}

// reached emits to rooms except except and returns, per socket, how many copies it queued.
func reached(t *testing.T, h *harness, socks []*sock, rooms, except []string) map[string]int {
	t.Helper()
	h.emit("e", rooms, except)
	got := make(map[string]int)
	for _, s := range socks {
		if n := len(s.take()); n > 0 {
			got[s.id] = n
		}
	}
	return got
}

func once(ids ...string) map[string]int {
	m := make(map[string]int)
	for _, id := range ids {
		m[id] = 1
	}
	return m
}

func TestBroadcastUnionReachesEachSocketOnce(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	for _, tc := range []struct {
		name  string
		rooms []string
		want  map[string]int
	}{
		{"one room", []string{"a"}, once("s1", "s2")},
		{"union", []string{"a", "b"}, once("s1", "s2", "s3")},
		{"union reversed", []string{"b", "a"}, once("s1", "s2", "s3")},
		// A socket's own-id room has no actor; other sockets may still join a room of that name.
		{"own id", []string{"s2"}, once("s2")},
		{"room named after a socket", []string{"s1"}, once("s1", "s4")},
		{"own id and a room", []string{"s1", "a"}, once("s1", "s2", "s4")},
		{"namespace", nil, once("s1", "s2", "s3", "s4")},
		{"no such room", []string{"zzz"}, once()},
	} {
		if got := reached(t, h, socks, tc.rooms, nil); !mapsEqual(got, tc.want) {
			t.Errorf("%s: To(%v) reached %v, want %v", tc.name, tc.rooms, got, tc.want)
		}
	}
}

func TestBroadcastExceptIsExact(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	for _, tc := range []struct {
		name          string
		rooms, except []string
		want          map[string]int
	}{
		{"room except room", []string{"a"}, []string{"b"}, once("s2")},
		{"namespace except room", nil, []string{"a"}, once("s3", "s4")},
		{"union except own id", []string{"a", "b"}, []string{"s2"}, once("s1", "s3")},
		// Excepting s1's id skips s1 and everyone who joined a room of that name.
		{"namespace except a socket", nil, []string{"s1"}, once("s2", "s3")},
		{"except everything", nil, []string{"a", "b", "s4"}, once()},
		{"except nothing known", []string{"a"}, []string{"zzz"}, once("s1", "s2")},
	} {
		if got := reached(t, h, socks, tc.rooms, tc.except); !mapsEqual(got, tc.want) {
			t.Errorf("%s: To(%v).Except(%v) reached %v, want %v", tc.name, tc.rooms, tc.except, got, tc.want)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRoomLifecycle(t *testing.T) {
	h := newHarness(t)
	s1, s2 := h.addSocket("s1", 0), h.addSocket("s2", 0)
	step := func(what string, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := h.takeHooks(); !slices.Equal(got, want) {
			t.Fatalf("%s: hooks %q, want %q", what, got, want)
		}
	}

	step("s1 joins a", h.join(s1, "a"), "created a", "joined a s1")
	// The join completes once the room actor holds the member, so it is running by then.
	h.assertLive(1, 1, 2)
	step("s2 joins a and b", h.join(s2, "a", "b"), "joined a s2", "created b", "joined b s2")
	h.assertLive(1, 2, 2)
	step("s1 joins a again", h.join(s1, "a"))
	step("s1 leaves a", h.leave(s1, "a"), "left a s1")
	step("s2 leaves a", h.leave(s2, "a"), "left a s2", "deleted a")
	// The emptied room actor was poisoned: it stops once its mailbox is drained.
	h.eventuallyLive(1, 1, 2)
	step("s2 leaves its own-id room", h.leave(s2, "s2"))
	step("s2 leaves a room it is not in", h.leave(s2, "zzz"))
	if got, want := h.rooms(s2), []string{"b", "s2"}; !slices.Equal(got, want) {
		t.Fatalf("rooms of s2 = %v, want %v", got, want)
	}
	if got, want := h.rooms(s1), []string{"s1"}; !slices.Equal(got, want) {
		t.Fatalf("rooms of s1 = %v, want %v", got, want)
	}
	step("s1 joins a again", h.join(s1, "a", "c"), "created a", "joined a s1", "created c", "joined c s1")
	h.assertLive(1, 3, 2)
}

// TestInterestHookHoldsTheJoin checks that the Interest hook sees a room's first local member before the
// join completes, and that a leg it adds holds the join until it settles it.
func TestInterestHookHoldsTheJoin(t *testing.T) {
	type interest struct {
		room  string
		added bool
		c     *actors.Collector
	}
	calls := make(chan interest, 4)
	h := newHarness(t, func(hooks *actors.Hooks) {
		hooks.Interest = func(room string, added bool, c *actors.Collector) {
			if c != nil {
				c.AddLegs(1)
			}
			calls <- interest{room, added, c}
		}
	})
	s1 := h.addSocket("s1", 0)
	join := actors.NewCollector()
	h.sys.Root.Send(s1.pid, &actors.JoinRooms{Rooms: []string{"a"}, Collector: join})
	got := <-calls
	if got.room != "a" || !got.added || got.c != join {
		t.Fatalf("Interest(%q, %v, %p), want (a, true, the join's collector)", got.room, got.added, got.c)
	}
	// The namespace is inside the nsJoin that called the hook: a flush sent now follows the join's
	// messages to the room and the socket, so once it is done only the hook's leg is left.
	h.flush()
	if isDone(join) {
		t.Fatal("the join completed while the Interest hook still held a leg")
	}
	join.LegDone()
	h.await(join)

	// A second member does not call the hook; the last one leaving does, without a collector.
	s2 := h.addSocket("s2", 0)
	if err := h.join(s2, "a"); err != nil {
		t.Fatal(err)
	}
	if err := h.leave(s1, "a"); err != nil {
		t.Fatal(err)
	}
	if err := h.leave(s2, "a"); err != nil {
		t.Fatal(err)
	}
	got = <-calls
	if got.room != "a" || got.added || got.c != nil {
		t.Fatalf("Interest(%q, %v, %p), want (a, false, nil)", got.room, got.added, got.c)
	}
	if len(calls) != 0 {
		t.Fatalf("%d unexpected Interest calls", len(calls))
	}
	h.eventuallyLive(1, 0, 2)
}

func TestOpFetch(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	res, expected, err := h.run(&actors.Broadcast{Rooms: []string{"a", "b"}, Except: []string{"s3"}, Op: actors.OpFetch})
	if err != nil || expected != 2 || len(res) != 2 {
		t.Fatalf("fetch: %d results, %d expected, %v; want 2, 2, nil", len(res), expected, err)
	}
	slices.SortFunc(res, func(a, b actors.Result) int { return compare(a.SID, b.SID) })
	for i, want := range []struct {
		s     *sock
		rooms []string
	}{{socks[0], []string{"a", "b", "s1"}}, {socks[1], []string{"a", "s2"}}} {
		r := res[i]
		if r.SID != want.s.id || r.Info == nil || r.Info.SID != want.s.id || !slices.Equal(r.Info.Rooms, want.rooms) ||
			r.Info.Ref != actors.Handle(want.s.fakeSocket) {
			t.Errorf("result %d = %+v (info %+v), want %s in %v", i, r, r.Info, want.s.id, want.rooms)
		}
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestOpJoinAndOpLeave(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	h.takeHooks()
	if _, _, err := h.run(&actors.Broadcast{Rooms: []string{"a"}, Op: actors.OpJoin, OpRooms: []string{"x", "y"}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range socks[:2] {
		if got := h.rooms(s); !slices.Contains(got, "x") || !slices.Contains(got, "y") {
			t.Errorf("rooms of %s = %v, want x and y among them", s.id, got)
		}
	}
	// The join is complete once the room actors hold the members: an emit sent now reaches them.
	if got := reached(t, h, socks, []string{"x"}, nil); !mapsEqual(got, once("s1", "s2")) {
		t.Errorf("To(x) after OpJoin reached %v, want s1 and s2", got)
	}
	h.assertLive(1, 5, 4) // a, b, the room named s1, x, y

	if _, _, err := h.run(&actors.Broadcast{Rooms: []string{"x"}, Except: []string{"b"}, Op: actors.OpLeave, OpRooms: []string{"x", "y"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := h.rooms(socks[1]), []string{"a", "s2"}; !slices.Equal(got, want) {
		t.Errorf("rooms of s2 after OpLeave = %v, want %v", got, want)
	}
	if got, want := h.rooms(socks[0]), []string{"a", "b", "s1", "x", "y"}; !slices.Equal(got, want) {
		t.Errorf("rooms of s1 (excepted) = %v, want %v", got, want)
	}
	if got := reached(t, h, socks, []string{"y"}, nil); !mapsEqual(got, once("s1")) {
		t.Errorf("To(y) after OpLeave reached %v, want s1", got)
	}
}

func TestOpDisconnect(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	if _, _, err := h.run(&actors.Broadcast{Rooms: []string{"a"}, Except: []string{"b"}, Op: actors.OpDisconnect, Close: true}); err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		want := []string(nil)
		if s.id == "s2" {
			want = []string{"disconnect true"}
		}
		if got := s.log(); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", s.id, got, want)
		}
	}
}

func TestOpEmitWithAck(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	c := actors.NewCollector()
	h.sys.Root.Send(h.ns, &actors.Broadcast{Rooms: []string{"a"}, Op: actors.OpEmit, Collector: c,
		Packet: &packet.Packet{Kind: packet.KindEvent, Name: "q", AckID: 7}})
	h.flush()
	// Every leg has been settled: what is left are the two acks.
	if isDone(c) || c.Pending() {
		t.Fatalf("done %v, pending %v; want waiting for acks only", isDone(c), c.Pending())
	}
	if got := c.Expecting(); len(got) != 2 {
		t.Fatalf("Expecting %d handles, want 2", len(got))
	}
	for _, s := range socks[:2] {
		// The ack is registered before the packet is queued, so an answer cannot overtake it.
		if got, want := s.log(), []string{"expect 7", "send q"}; !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", s.id, got, want)
		}
	}
	socks[0].ack(t, 7, []packet.Arg{{Data: []byte(`1`)}}, nil)
	if isDone(c) {
		t.Fatal("done with one ack missing")
	}
	timeout := errors.New("ack timeout")
	socks[1].ack(t, 7, nil, timeout)
	res, expected, err := h.await(c)
	if err != nil || expected != 2 || len(res) != 2 {
		t.Fatalf("%d results, %d expected, %v", len(res), expected, err)
	}
	if res[0].SID != "s1" || string(res[0].Args[0].Data) != "1" || res[1].SID != "s2" || res[1].Err != timeout {
		t.Fatalf("results %+v", res)
	}
}

func TestOpFlushEmptyNamespace(t *testing.T) {
	h := newHarness(t)
	h.flush()
	h.assertLive(1, 0, 0)
}

func TestTooManyRooms(t *testing.T) {
	h := newHarness(t)
	s := h.addSocket("s", 2)
	if err := h.join(s, "a", "b", "c"); !errors.Is(err, actors.ErrTooManyRooms) {
		t.Fatalf("join over the limit: %v, want ErrTooManyRooms", err)
	}
	// The rooms before the limit were joined; the own-id room does not count.
	if got, want := h.rooms(s), []string{"a", "b", "s"}; !slices.Equal(got, want) {
		t.Fatalf("rooms = %v, want %v", got, want)
	}
	if err := h.join(s, "a"); err != nil {
		t.Fatalf("joining a room already joined: %v", err)
	}
	if _, _, err := h.run(&actors.Broadcast{Rooms: []string{"s"}, Op: actors.OpJoin, OpRooms: []string{"d"}}); !errors.Is(err, actors.ErrTooManyRooms) {
		t.Fatalf("OpJoin over the limit: %v, want ErrTooManyRooms", err)
	}
	if err := h.leave(s, "a"); err != nil {
		t.Fatal(err)
	}
	if err := h.join(s, "d"); err != nil {
		t.Fatalf("join after a leave: %v", err)
	}
}

// Room actors apply emits to their members through the socket's shared room set while the socket
// actor changes it: the filter stays exact for the rooms that do not change, and the emits of one
// emitter to one target keep their order.
func TestFanOutWhileTheRoomSetChanges(t *testing.T) {
	h := newHarness(t)
	s1 := h.addSocket("s1", 0)
	s2 := h.addSocket("s2", 0)
	if err := h.join(s1, "a", "b", "x"); err != nil {
		t.Fatal(err)
	}
	if err := h.join(s2, "a"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	churned := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				churned <- n
				return
			default:
			}
			// Join and leave c and d, which no emit names: only the set's other rooms decide.
			c := actors.NewCollector()
			h.sys.Root.Send(s1.pid, &actors.JoinRooms{Rooms: []string{"c", "d"}, Collector: c})
			<-c.Done()
			c = actors.NewCollector()
			h.sys.Root.Send(s1.pid, &actors.LeaveRooms{Rooms: []string{"c"}, Collector: c})
			<-c.Done()
			n++
		}
	}()
	const n = 500
	var want1, want2 []string
	for i := range n {
		u, e := fmt.Sprint("u", i), fmt.Sprint("e", i)
		h.sys.Root.Send(h.ns, &actors.Broadcast{Rooms: []string{"a", "b"}, Op: actors.OpEmit,
			Packet: &packet.Packet{Kind: packet.KindEvent, Name: u}})
		h.sys.Root.Send(h.ns, &actors.Broadcast{Rooms: []string{"a"}, Except: []string{"x"}, Op: actors.OpEmit,
			Packet: &packet.Packet{Kind: packet.KindEvent, Name: e}})
		want1 = append(want1, u)
		want2 = append(want2, u, e)
	}
	h.flush()
	close(stop)
	if rounds := <-churned; rounds == 0 {
		t.Fatal("the room set never changed during the emits")
	}
	if got := s1.take(); !slices.Equal(got, want1) {
		t.Errorf("s1 (in a, b and x) got %d packets %v…, want the %d union emits once each, in order, and no except emit", len(got), got[:min(len(got), 6)], n)
	}
	if got := s2.take(); !slices.Equal(got, want2) {
		t.Errorf("s2 (in a) got %d packets, want %d in emit order", len(got), len(want2))
	}
}

// TestSmallFanoutSendsNow: a room of at most SmallFanout members queues an emit on each through the
// outbox's SendNow (written at once when the connection is idle); a larger room, and an emit to every
// socket of a namespace larger than that, through Send. Each member gets the emit once either way.
func TestSmallFanoutSendsNow(t *testing.T) {
	h := newHarness(t)
	var socks []*sock
	for i := range actors.SmallFanout + 1 {
		s := h.addSocket(fmt.Sprint("s", i), 0)
		if err := h.join(s, "big"); err != nil {
			t.Fatal(err)
		}
		if i < actors.SmallFanout {
			if err := h.join(s, "small"); err != nil {
				t.Fatal(err)
			}
		}
		socks = append(socks, s)
	}
	nows := func() (n int) {
		for _, s := range socks {
			s.mu.Lock()
			n += s.nows
			s.nows = 0
			s.mu.Unlock()
		}
		return n
	}
	for _, tc := range []struct {
		rooms           []string
		reached, viaNow int
	}{
		{[]string{"small"}, actors.SmallFanout, actors.SmallFanout},
		{[]string{"big"}, actors.SmallFanout + 1, 0},
		{nil, actors.SmallFanout + 1, 0}, // every socket of the namespace
		{[]string{"s3"}, 1, 1},           // one socket, by its own-id room
	} {
		got := reached(t, h, socks, tc.rooms, nil)
		if len(got) != tc.reached {
			t.Errorf("%v: %d sockets reached, want %d", tc.rooms, len(got), tc.reached)
		}
		for id, n := range got {
			if n != 1 {
				t.Errorf("%v: %s got %d copies", tc.rooms, id, n)
			}
		}
		if n := nows(); n != tc.viaNow {
			t.Errorf("%v: %d sends through SendNow, want %d", tc.rooms, n, tc.viaNow)
		}
	}
}

// emitHooks is a behaviour whose Message emits an event named after the message to every member.
type emitHooks struct{ logHooks }

func (e *emitHooks) Message(r *actors.Room, m *actors.RoomMessage) {
	r.Emit(&packet.Packet{Kind: packet.KindEvent, Name: m.Event}, "")
	m.Reply(nil, nil)
}

// TestSmallBehaviourRoomSendsNow: a behaviour room's Emit goes out through SendNow up to SmallFanout
// members, through Send beyond, each member once.
func TestSmallBehaviourRoomSendsNow(t *testing.T) {
	h := newHarness(t, func(hk *actors.Hooks) {
		hk.Behavior = func(string) *actors.RoomSpec { return &actors.RoomSpec{Hooks: &emitHooks{}} }
		hk.IsBehavior = func(string) bool { return true }
	})
	var socks []*sock
	for i := range actors.SmallFanout + 1 {
		s := h.addSocket(fmt.Sprint("s", i), 0)
		if i < actors.SmallFanout {
			if err := h.join(s, "small"); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.join(s, "big"); err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	for _, tc := range []struct {
		room            string
		reached, viaNow int
	}{
		{"small", actors.SmallFanout, actors.SmallFanout},
		{"big", actors.SmallFanout + 1, 0},
	} {
		for _, s := range socks {
			s.take()
			s.mu.Lock()
			s.nows = 0
			s.mu.Unlock()
		}
		done := make(chan error, 1)
		h.sys.Root.Send(h.ns, &actors.RoomMessage{Room: tc.room, Event: "hello", Ask: true,
			Reply: func(_ []packet.Arg, err error) { done <- err }})
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", tc.room, err)
			}
		case <-time.After(wait):
			t.Fatalf("%s: no answer", tc.room)
		}
		reached, nows := 0, 0
		for _, s := range socks {
			got := s.take()
			if len(got) > 1 {
				t.Errorf("%s: %s got %v", tc.room, s.id, got)
			}
			reached += len(got)
			s.mu.Lock()
			nows += s.nows
			s.mu.Unlock()
		}
		if reached != tc.reached || nows != tc.viaNow {
			t.Errorf("%s: %d sockets reached, %d through SendNow; want %d, %d", tc.room, reached, nows, tc.reached, tc.viaNow)
		}
	}
}
