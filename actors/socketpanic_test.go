package actors_test

import (
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
)

// panickyHandle panics when asked to disconnect its socket.
type panickyHandle struct{ *fakeSocket }

func (panickyHandle) ForceDisconnect(bool) { panic("handle failed") }

// TestSocketActorContainsPanics: a panic while a socket actor handles a message drops that message only:
// the actor keeps its state and answers, is counted once, and the namespace's shared socket props go on
// spawning sockets.
func TestSocketActorContainsPanics(t *testing.T) {
	h := newHarness(t)
	f := newFakeSocket()
	res, err := h.sys.Root.RequestFuture(h.ns, &actors.AddSocket{SID: "p1", Outbox: f, Handle: panickyHandle{f}}, wait).Result()
	if err != nil {
		t.Fatal(err)
	}
	p1 := &sock{id: "p1", pid: res.(*actor.PID), fakeSocket: f}
	if err := h.join(p1, "a"); err != nil {
		t.Fatal(err)
	}
	// No collector: the dropped delivery never settles its leg.
	h.sys.Root.Send(h.ns, &actors.Broadcast{Rooms: []string{"p1"}, Op: actors.OpDisconnect})
	if got, want := h.rooms(p1), []string{"a", "p1"}; !slices.Equal(got, want) {
		t.Fatalf("rooms after the panic: %v, want %v", got, want)
	}
	s2 := h.addSocket("s2", 0)
	if err := h.join(s2, "a"); err != nil {
		t.Fatal(err)
	}
	h.emit("hello", []string{"a"}, nil)
	if got := f.take(); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("p1 after the panic received %v, want [hello]", got)
	}
	if got := s2.take(); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("s2 received %v, want [hello]", got)
	}
	h.assertLive(1, 1, 2)
}
