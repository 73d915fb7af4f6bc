package actors_test

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
)

// wait bounds every wait of these tests; nothing here takes more than a few milliseconds when it works.
const wait = 5 * time.Second

// fakeSocket is the engine's side of one socket: it records what its actor queues (as Outbox) and what
// it asks of the engine (as Handle), in order.
type fakeSocket struct {
	mu     sync.Mutex
	events []string // "send <name>", "expect <ack id>", "disconnect <close>"
	sent   []string // names of the queued packets since the last take
	acks   map[uint64]func([]packet.Arg, error)
	// hold, when set, runs once, in the next Send, before it records (a test holds the sender there).
	hold func()
	nows int // of the sends, those that came through SendNow (a small fan-out's)
}

func newFakeSocket() *fakeSocket {
	return &fakeSocket{acks: make(map[uint64]func([]packet.Arg, error))}
}

func (f *fakeSocket) Send(p *packet.Packet) error {
	f.mu.Lock()
	hold := f.hold
	f.hold = nil
	f.mu.Unlock()
	if hold != nil {
		hold()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "send "+p.Name)
	f.sent = append(f.sent, p.Name)
	return nil
}

// SendNow records as Send does and counts the call: the engine's outboxes write a small fan-out's
// packet at once.
func (f *fakeSocket) SendNow(p *packet.Packet) error {
	f.Send(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nows++
	return nil
}

func (f *fakeSocket) ExpectAck(id uint64, fn func([]packet.Arg, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprint("expect ", id))
	f.acks[id] = fn
}

func (f *fakeSocket) CancelAck(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.acks, id)
}

func (f *fakeSocket) ForceDisconnect(close bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprint("disconnect ", close))
}

// ack answers the pending ack id as the client would.
func (f *fakeSocket) ack(t *testing.T, id uint64, args []packet.Arg, err error) {
	t.Helper()
	f.mu.Lock()
	fn := f.acks[id]
	delete(f.acks, id)
	f.mu.Unlock()
	if fn == nil {
		t.Fatalf("no pending ack %d", id)
	}
	fn(args, err)
}

// take returns the names of the packets queued since the last take.
func (f *fakeSocket) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sent
	f.sent = nil
	return s
}

func (f *fakeSocket) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// sock is one socket actor of a harness with its fake connection.
type sock struct {
	id  string
	pid *actor.PID
	*fakeSocket
}

// harness runs one namespace actor in a real actor system. Its cleanup stops the namespace, asserts
// that no actor is left running and shuts the system down.
type harness struct {
	t     *testing.T
	sys   *actor.ActorSystem
	live  *actors.Live
	ns    *actor.PID
	mu    sync.Mutex
	hooks []string // room hook calls, in order
}

func newHarness(t *testing.T, configure ...func(*actors.Hooks)) *harness {
	t.Helper()
	// The engine's dispatcher: the actors run on Workers, as in a node.
	h := &harness{t: t, sys: actors.NewSystem(slog.New(slog.DiscardHandler)),
		live: &actors.Live{Workers: actors.NewWorkers()}}
	hooks := actors.Hooks{
		Created: func(room string) { h.record("created " + room) },
		Deleted: func(room string) { h.record("deleted " + room) },
		Joined:  func(room, sid string) { h.record("joined " + room + " " + sid) },
		Left:    func(room, sid string) { h.record("left " + room + " " + sid) },
	}
	for _, f := range configure {
		f(&hooks)
	}
	h.ns = h.sys.Root.Spawn(actors.NamespaceProps(hooks, h.live))
	t.Cleanup(func() {
		if err := h.sys.Root.PoisonFuture(h.ns).Wait(); err != nil {
			t.Errorf("stopping the namespace: %v", err)
		}
		// Stopping the namespace stopped its rooms and sockets first.
		h.assertLive(0, 0, 0)
		h.sys.Shutdown()
		h.live.Workers.Stop()
	})
	return h
}

func (h *harness) record(event string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, event)
}

// takeHooks returns the hook calls since the last takeHooks.
func (h *harness) takeHooks() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.hooks
	h.hooks = nil
	return s
}

// addSocket spawns a socket actor and returns once it is running.
func (h *harness) addSocket(id string, maxRooms int) *sock {
	h.t.Helper()
	f := newFakeSocket()
	res, err := h.sys.Root.RequestFuture(h.ns, &actors.AddSocket{SID: id, Outbox: f, Handle: f, MaxRooms: maxRooms}, wait).Result()
	if err != nil {
		h.t.Fatalf("AddSocket %s: %v", id, err)
	}
	s := &sock{id: id, pid: res.(*actor.PID), fakeSocket: f}
	h.rooms(s) // the actor has started once it answers
	return s
}

// await waits until c is done and returns its snapshot.
func (h *harness) await(c *actors.Collector) ([]actors.Result, int, error) {
	h.t.Helper()
	select {
	case <-c.Done():
	case <-time.After(wait):
		h.t.Fatalf("collector not done after %v", wait)
	}
	return c.Snapshot()
}

func (h *harness) join(s *sock, rooms ...string) error {
	h.t.Helper()
	c := actors.NewCollector()
	h.sys.Root.Send(s.pid, &actors.JoinRooms{Rooms: rooms, Collector: c})
	_, _, err := h.await(c)
	return err
}

func (h *harness) leave(s *sock, rooms ...string) error {
	h.t.Helper()
	c := actors.NewCollector()
	h.sys.Root.Send(s.pid, &actors.LeaveRooms{Rooms: rooms, Collector: c})
	_, _, err := h.await(c)
	return err
}

func (h *harness) rooms(s *sock) []string {
	h.t.Helper()
	rooms, err := getRooms(h.sys, s.pid)
	if err != nil {
		h.t.Fatalf("GetRooms %s: %v", s.id, err)
	}
	return rooms
}

// getRooms asks a socket actor for its rooms and waits for the answer (nil once the socket closed).
func getRooms(sys *actor.ActorSystem, pid *actor.PID) ([]string, error) {
	reply := make(chan []string, 1)
	sys.Root.Send(pid, &actors.GetRooms{Reply: reply})
	select {
	case rooms := <-reply:
		return rooms, nil
	case <-time.After(wait):
		return nil, errors.New("no answer")
	}
}

// run sends b with a fresh collector and waits for it.
func (h *harness) run(b *actors.Broadcast) ([]actors.Result, int, error) {
	h.t.Helper()
	b.Collector = actors.NewCollector()
	h.sys.Root.Send(h.ns, b)
	return h.await(b.Collector)
}

// emit sends a plain emit of an event called name and waits until every socket has processed it.
func (h *harness) emit(name string, rooms, except []string) {
	h.t.Helper()
	h.sys.Root.Send(h.ns, &actors.Broadcast{Rooms: rooms, Except: except, Op: actors.OpEmit,
		Packet: &packet.Packet{Kind: packet.KindEvent, Name: name}})
	h.flush()
}

// flush waits until everything sent to the namespace before has been processed by its sockets.
func (h *harness) flush() {
	h.t.Helper()
	h.run(&actors.Broadcast{Op: actors.OpFlush})
}

func (h *harness) assertLive(namespaces, rooms, sockets int64) {
	h.t.Helper()
	got := [3]int64{h.live.Namespaces.Load(), h.live.Rooms.Load(), h.live.Sockets.Load()}
	if want := [3]int64{namespaces, rooms, sockets}; got != want {
		h.t.Errorf("live namespaces, rooms, sockets = %v, want %v", got, want)
	}
}

// eventually polls cond until it holds, failing the test after wait. It is for conditions no message
// reports, such as an actor having stopped.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) eventuallyLive(namespaces, rooms, sockets int64) {
	h.t.Helper()
	want := [3]int64{namespaces, rooms, sockets}
	eventually(h.t, fmt.Sprintf("live namespaces, rooms, sockets = %v", want), func() bool {
		return [3]int64{h.live.Namespaces.Load(), h.live.Rooms.Load(), h.live.Sockets.Load()} == want
	})
}

func isDone(c *actors.Collector) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}
