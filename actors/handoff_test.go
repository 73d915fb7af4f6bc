package actors_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
)

// fakePlace is a Placement where this node ("self") owns every room; Pull waits for the test to answer
// (pulled), and nodes can be declared lost.
type fakePlace struct {
	mu     sync.Mutex
	lost   map[string]bool
	pulled chan func(*actors.RoomState)
}

func (p *fakePlace) Owner(string) (string, bool)                                            { return "self", true }
func (p *fakePlace) Join(string, string, string, uint64, packet.Arg, bool)                  {}
func (p *fakePlace) Leave(string, string, string, actors.LeaveReason)                       {}
func (p *fakePlace) Emit(string, *packet.Packet, string)                                    {}
func (p *fakePlace) EmitTo(string, *packet.Packet)                                          {}
func (p *fakePlace) Kick(string, string)                                                    {}
func (p *fakePlace) Pull(_ string, done func(*actors.RoomState))                            { p.pulled <- done }
func (p *fakePlace) Replicate(string, *actors.RoomState) bool                               { return false }
func (p *fakePlace) Dropped(string)                                                         {}
func (p *fakePlace) Push(_, _ string, _ *actors.RoomState, done func())                     {}
func (p *fakePlace) Fence(_ string, done func())                                            { done() }
func (p *fakePlace) Successor(string) (string, bool)                                        { return "", false }
func (p *fakePlace) RelayJoin(string, string, string, packet.Arg, bool, uint8, func(error)) {}
func (p *fakePlace) RelayLeave(string, string, string, actors.LeaveReason, uint8)           {}
func (p *fakePlace) RelayMessage(string, *actors.RoomMessage, uint8)                        {}

func (p *fakePlace) NodeAlive(node string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.lost[node]
}

func (p *fakePlace) Alive(sid string) bool {
	node, _, _ := strings.Cut(sid, ".")
	return p.NodeAlive(node)
}

// logHooks is a behaviour that records its hooks and keeps a count it can snapshot.
type logHooks struct {
	mu  sync.Mutex
	log []string
	n   int
}

func (l *logHooks) add(s string) {
	l.mu.Lock()
	l.log = append(l.log, s)
	l.mu.Unlock()
}

func (l *logHooks) entries() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log...)
}

func (l *logHooks) Create(*actors.Room, *actors.Joiner) error { l.add("create"); return nil }
func (l *logHooks) Join(_ *actors.Room, j *actors.Joiner) error {
	l.add("join " + j.SID)
	return nil
}
func (l *logHooks) Left(_ *actors.Room, sid string, why actors.LeaveReason) {
	l.add(fmt.Sprintf("left %s %d", sid, why))
}
func (l *logHooks) Message(_ *actors.Room, m *actors.RoomMessage) {
	l.n++
	l.add(fmt.Sprintf("message %s %d", m.Event, l.n))
	m.Reply(nil, nil)
}
func (l *logHooks) Tick(*actors.Room, time.Duration) {}
func (l *logHooks) Timer(*actors.Room, any)          {}
func (l *logHooks) Dispose(*actors.Room)             { l.add("dispose") }
func (l *logHooks) Snapshot(*actors.Room) ([]byte, bool, error) {
	return []byte(fmt.Sprint(l.n)), true, nil
}
func (l *logHooks) Restore(_ *actors.Room, data []byte) error {
	fmt.Sscan(string(data), &l.n)
	l.add("restore " + string(data))
	return nil
}

func placedHarness(t *testing.T) (*harness, *fakePlace, *logHooks) {
	p := &fakePlace{lost: map[string]bool{}, pulled: make(chan func(*actors.RoomState), 4)}
	l := &logHooks{}
	h := newHarness(t, func(hk *actors.Hooks) {
		hk.Placement = p
		hk.Behavior = func(string) *actors.RoomSpec { return &actors.RoomSpec{Hooks: l} }
		hk.IsBehavior = func(string) bool { return true }
	})
	return h, p, l
}

func (h *harness) ownerJoin(room, sid string) chan error {
	ch := make(chan error, 1)
	h.sys.Root.Send(h.ns, &actors.OwnerJoin{Room: room, SID: sid, Answer: func(err error) { ch <- err }})
	return ch
}

// TestPlacedRoomHoldsUntilRestored: the owner's actor of a placed room holds the joins and messages
// that arrive before the cluster's answer to its pull, restores the state, then runs them in arrival
// order; restored members join again without OnJoin.
func TestPlacedRoomHoldsUntilRestored(t *testing.T) {
	h, p, l := placedHarness(t)
	j1 := h.ownerJoin("r", "n2.a") // a restored member rejoining
	j2 := h.ownerJoin("r", "n2.b") // a new member
	var replies []chan error
	for _, sid := range []string{"n2.a", "n2.b", "n2.a"} {
		ch := make(chan error, 1)
		replies = append(replies, ch)
		h.sys.Root.Send(h.ns, &actors.RoomMessage{Room: "r", SID: sid, Event: "say", Ask: true,
			Reply: func(_ []packet.Arg, err error) { ch <- err }})
	}
	done := <-p.pulled
	if got := l.entries(); len(got) != 0 {
		t.Fatalf("hooks ran before the state came: %v", got)
	}
	done(&actors.RoomState{Found: true, Snapshot: true, Version: 3, Data: []byte("5"), Members: []string{"n2.a"}})
	for i, ch := range append([]chan error{j1, j2}, replies...) {
		if err := <-ch; err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	want := []string{"restore 5", "join n2.b", "message say 6", "message say 7", "message say 8"}
	if got := l.entries(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("hooks %v, want %v", got, want)
	}
}

// TestPlacedRoomNodeLost: members of a node that left the cluster leave the room with LeaveNodeLost at
// the next rebalance, and restored members of a lost node at the restore.
func TestPlacedRoomNodeLost(t *testing.T) {
	h, p, l := placedHarness(t)
	j := h.ownerJoin("r", "n2.a")
	p.mu.Lock()
	p.lost["n4"] = true
	p.mu.Unlock()
	(<-p.pulled)(&actors.RoomState{Found: true, Snapshot: true, Data: []byte("0"), Members: []string{"n3.x", "n4.y"}})
	if err := <-j; err != nil {
		t.Fatal(err)
	}
	if err := <-h.ownerJoin("r", "n3.b"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.lost["n3"] = true
	p.mu.Unlock()
	h.sys.Root.Send(h.ns, &actors.Rebalance{})
	eventually(t, "the lost members to leave", func() bool {
		n := 0
		for _, e := range l.entries() {
			if strings.HasPrefix(e, "left ") {
				n++
			}
		}
		return n == 3
	})
	got := l.entries()
	if fmt.Sprint(got[:3]) != fmt.Sprint([]string{"restore 0", fmt.Sprintf("left n4.y %d", actors.LeaveNodeLost), "join n2.a"}) {
		t.Fatalf("hooks %v", got)
	}
	left := map[string]bool{}
	for _, e := range got[3:] {
		left[e] = true
	}
	for _, sid := range []string{"n3.x", "n3.b"} {
		if !left[fmt.Sprintf("left %s %d", sid, actors.LeaveNodeLost)] {
			t.Fatalf("%s did not leave with LeaveNodeLost: %v", sid, got)
		}
	}
}

// replPlace is a fakePlace with a replica node: it records each replica push.
type replPlace struct {
	fakePlace
	pushes chan uint64 // the versions pushed
}

func (p *replPlace) Replicate(_ string, st *actors.RoomState) bool {
	p.pushes <- st.Version
	return true
}

// gateHooks is logHooks whose first message's hook waits for release.
type gateHooks struct {
	logHooks
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gateHooks) Message(r *actors.Room, m *actors.RoomMessage) {
	g.once.Do(func() {
		g.entered <- struct{}{}
		<-g.release
	})
	g.logHooks.Message(r, m)
}

// TestReplicatedRoomGroupCommit: a replicated room whose mailbox holds many messages replicates once per
// batch of them (at most maxCommitBatch outputs each), not once per message, and still answers none of
// them before the replica node acknowledged a version that includes it; the answers keep their order.
func TestReplicatedRoomGroupCommit(t *testing.T) {
	p := &replPlace{fakePlace: fakePlace{lost: map[string]bool{}, pulled: make(chan func(*actors.RoomState), 4)},
		pushes: make(chan uint64, 1000)}
	g := &gateHooks{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, func(hk *actors.Hooks) {
		hk.Placement = p
		hk.Behavior = func(string) *actors.RoomSpec { return &actors.RoomSpec{Hooks: g, Replicate: true} }
		hk.IsBehavior = func(string) bool { return true }
	})
	joined := h.ownerJoin("r", "n2.a")
	(<-p.pulled)(nil) // a new room
	v := <-p.pushes   // the join's change
	h.sys.Root.Send(h.ns, &actors.ReplicaAck{Room: "r", Version: v})
	if err := <-joined; err != nil {
		t.Fatal(err)
	}

	const n = 100
	replies := make(chan int, n)
	send := func(i int) {
		h.sys.Root.Send(h.ns, &actors.RoomMessage{Room: "r", SID: "n2.a", Event: fmt.Sprint(i), Ask: true,
			Reply: func(_ []packet.Arg, err error) {
				if err != nil {
					t.Errorf("message %d: %v", i, err)
				}
				replies <- i
			}})
	}
	send(0)
	<-g.entered // the first hook holds the room while the others queue up behind it
	for i := 1; i < n; i++ {
		send(i)
	}
	// The namespace forwards the messages to the room: once it has handled a flush sent after them, they
	// are all in the room's mailbox, behind the held hook.
	h.flush()
	close(g.release)
	// Nothing is answered before the replica node acknowledged; acknowledge each push as it comes.
	pushes, answered := 0, 0
	for answered < n {
		select {
		case v := <-p.pushes:
			if pushes == 0 {
				select {
				case i := <-replies:
					t.Fatalf("message %d answered before the replica acknowledged anything", i)
				default:
				}
			}
			pushes++
			h.sys.Root.Send(h.ns, &actors.ReplicaAck{Room: "r", Version: v})
		case i := <-replies:
			if i != answered {
				t.Fatalf("answer #%d is message %d", answered, i)
			}
			answered++
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d answered after %d replica pushes", answered, n, pushes)
		}
	}
	// One push per message would be n; the messages queued behind the first are committed in batches of
	// at most maxCommitBatch (64) outputs: the first message alone or with the batch, then the rest.
	if pushes > 4 {
		t.Fatalf("%d replica pushes for %d messages, want a few batches", pushes, n)
	}
	t.Logf("%d messages, %d replica pushes", n, pushes)
}
