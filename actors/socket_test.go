package actors_test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
)

func TestCloseSocketLeavesItsRooms(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	h.takeHooks()
	h.sys.Root.Send(socks[0].pid, &actors.CloseSocket{})
	// Room b had s1 and s3, a had s1 and s2: both stay. Nothing else reaches s1.
	h.eventuallyLive(1, 3, 3)
	if got, want := h.takeHooks(), []string{"left a s1", "left b s1"}; !slices.Equal(got, want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}
	if got := reached(t, h, socks, nil, nil); !mapsEqual(got, once("s2", "s3", "s4")) {
		t.Fatalf("namespace-wide emit after the close reached %v", got)
	}
	// s1 was the namespace's only entry of its own id; s4's room named s1 remains.
	if got := reached(t, h, socks, []string{"s1"}, nil); !mapsEqual(got, once("s4")) {
		t.Fatalf("To(s1) after the close reached %v, want s4", got)
	}

	// A closed socket's last member room goes with it.
	h.sys.Root.Send(socks[2].pid, &actors.CloseSocket{})
	h.eventuallyLive(1, 2, 2)
	if got, want := h.takeHooks(), []string{"left b s3", "deleted b"}; !slices.Equal(got, want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}

	// Messages to a stopped socket are dead letters; NewSystem's subscriber settles their legs.
	if err := h.join(socks[0], "c"); err != nil {
		t.Fatalf("join of a stopped socket: %v", err)
	}
	if err := h.leave(socks[0], "a"); err != nil {
		t.Fatalf("leave of a stopped socket: %v", err)
	}
}

// TestCloseRacesFanOut closes a socket while fan-outs are travelling to it: each completes, whether the
// socket answered before its close or settled the delivery without acting on it.
func TestCloseRacesFanOut(t *testing.T) {
	h := newHarness(t)
	socks := fourSockets(t, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.sys.Root.Send(socks[0].pid, &actors.CloseSocket{})
	}()
	for range 20 {
		res, _, err := h.run(&actors.Broadcast{Rooms: []string{"a", "b"}, Op: actors.OpFetch})
		if err != nil || len(res) < 2 || len(res) > 3 {
			t.Fatalf("fetch: %d results, %v", len(res), err)
		}
	}
	<-done
	h.eventuallyLive(1, 3, 3)
}

// TestCloseHandshake plays the namespace's part by hand: the socket actor keeps running, settling
// what reaches it, until the namespace and every room it was in have confirmed they dropped it.
func TestCloseHandshake(t *testing.T) {
	sys := actors.NewSystem(slog.New(slog.DiscardHandler))
	live := new(actors.Live)
	f := newFakeSocket()
	child := make(chan *actor.PID, 1)
	removed := make(chan []string, 1)
	parent := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			child <- ctx.Spawn(actors.SocketProps(&actors.AddSocket{SID: "s", Outbox: f, Handle: f}, live))
		case *actors.JoinRooms, *actors.LeaveRooms:
			t.Errorf("the namespace got %T", m)
		default:
			if sid, rooms, ok := actors.RemoveSocket(m); ok {
				if sid != "s" {
					t.Errorf("RemoveSocket from %q", sid)
				}
				removed <- rooms
			}
		}
	}))
	t.Cleanup(func() {
		if err := sys.Root.PoisonFuture(parent).Wait(); err != nil {
			t.Error(err)
		}
		sys.Shutdown()
	})
	pid := <-child
	getRooms := func() []string {
		t.Helper()
		rooms, err := getRooms(sys, pid)
		if err != nil {
			t.Fatalf("GetRooms: %v", err)
		}
		return rooms
	}
	if got := getRooms(); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("rooms = %v", got)
	}

	sys.Root.Send(pid, &actors.CloseSocket{})
	if rooms := <-removed; len(rooms) != 0 {
		t.Fatalf("RemoveSocket rooms = %v, want none (the own-id room has no actor)", rooms)
	}
	sys.Root.Send(pid, &actors.CloseSocket{}) // a second close is a no-op
	// Closing: the socket still answers, with nothing, and settles what it is sent without acting on it.
	if got := getRooms(); got != nil {
		t.Fatalf("rooms while closing = %v, want nil", got)
	}
	c := actors.NewCollector()
	sys.Root.Send(pid, &actors.JoinRooms{Rooms: []string{"a"}, Collector: c})
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("a join sent to a closing socket was not settled")
	}
	if live.Sockets.Load() != 1 {
		t.Fatalf("live sockets = %d while closing, want 1", live.Sockets.Load())
	}

	// The namespace says two rooms will confirm; the socket waits for both.
	sys.Root.Send(pid, actors.Released(2))
	sys.Root.Send(pid, actors.RoomReleased())
	if got := getRooms(); got != nil {
		t.Fatalf("rooms while closing = %v, want nil", got)
	}
	if live.Sockets.Load() != 1 {
		t.Fatal("the socket stopped before every room confirmed")
	}
	sys.Root.Send(pid, actors.RoomReleased())
	eventually(t, "stopped", func() bool { return live.Sockets.Load() == 0 })
	if len(f.log()) != 0 {
		t.Fatalf("the closed socket acted: %q", f.log())
	}
}

// TestDrainKeepsEmitsInFlight: with CloseSocket.Drain, the emits on their way through a room when the
// socket starts leaving still reach its Outbox, up to the room's confirmation of the leave (connection
// state recovery hands them to another node). The room is held inside the first emit's delivery while
// the socket handles the CloseSocket, so the two that wait behind it in the room's mailbox are applied
// after it.
func TestDrainKeepsEmitsInFlight(t *testing.T) {
	h := newHarness(t)
	s := h.addSocket("s1", 0)
	if err := h.join(s, "r"); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.hold = func() { close(entered); <-release }
	s.mu.Unlock()
	for _, name := range []string{"m1", "m2", "m3"} {
		h.sys.Root.Send(h.ns, &actors.Broadcast{Rooms: []string{"r"}, Op: actors.OpEmit, Packet: &packet.Packet{Kind: packet.KindEvent, Name: name}})
	}
	<-entered
	stopped := make(chan struct{})
	h.sys.Root.Send(s.pid, &actors.CloseSocket{Drain: true, Stopped: func() { close(stopped) }})
	if _, err := getRooms(h.sys, s.pid); err != nil { // answered after the CloseSocket
		t.Fatal(err)
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(wait):
		t.Fatal("the socket did not stop")
	}
	if got := s.take(); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("queued %v, want [m1 m2 m3]", got)
	}
}
