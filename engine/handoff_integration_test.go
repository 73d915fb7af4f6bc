//go:build integration

package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/roomio/roomio/engine"
)

// snapRoom numbers what is said in it and can move between nodes with its count (Snapshotter); plainRoom
// is the same without the Snapshotter. Both report their lifecycle on events ("create <node>
// recreated=<bool>", "restore <node> <seq>").
type plainRoom struct {
	engine.BaseBehavior
	node   string
	events chan<- string
	seq    int
}

func (b *plainRoom) OnCreate(r *engine.RoomContext, _ engine.Arg) error {
	b.events <- fmt.Sprintf("create %s recreated=%v", b.node, r.Recreated())
	return nil
}

func (b *plainRoom) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	b.seq++
	var p any
	m.Bind(0, &p)
	r.Emit("said", map[string]any{"room": r.Name(), "seq": b.seq, "from": m.From, "payload": p})
	m.Reply(map[string]any{"seq": b.seq, "node": b.node})
}

type snapRoom struct{ plainRoom }

func (b *snapRoom) Snapshot(*engine.RoomContext) ([]byte, error) {
	return []byte(strconv.Itoa(b.seq)), nil
}

func (b *snapRoom) Restore(_ *engine.RoomContext, state []byte) error {
	n, err := strconv.Atoi(string(state))
	b.seq = n
	b.events <- fmt.Sprintf("restore %s %d", b.node, n)
	return err
}

func handoffSetup(events chan string) func(e *engine.Engine) {
	return func(e *engine.Engine) {
		e.Of("/").Define("snap:", func(string) engine.Behavior { return &snapRoom{plainRoom{node: e.NodeID(), events: events}} })
		e.Of("/").Define("plain:", func(string) engine.Behavior { return &plainRoom{node: e.NodeID(), events: events} })
		joinHandlers(e)
		roomSayHandler(e, func(res json.RawMessage) any { return res })
	}
}

// ownerOf is the placement rule (proto/roomio/cluster/v1/cluster.proto) over node ids.
func ownerOf(ids []string, ns, room string) string {
	var best string
	var bh uint64
	for _, id := range ids {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s\x00%s", id, ns, room)
		v := h.Sum64()
		v ^= v >> 33
		v *= 0xff51afd7ed558ccd
		v ^= v >> 33
		v *= 0xc4ceb9fe1a85ec53
		v ^= v >> 33
		if best == "" || v > bh || (v == bh && id > best) {
			best, bh = id, v
		}
	}
	return best
}

// startNamed starts a node with id joining seed ("" for none); its cleanup shuts it down unless the
// test did.
func startNamed(t *testing.T, id, seed string, setup func(e *engine.Engine)) *harness {
	t.Helper()
	cfg := engine.Config{Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0", NodeID: id}}
	if seed != "" {
		cfg.Cluster.Seeds = []string{seed}
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, sockets: make(map[string]*engine.Socket), arrived: make(chan struct{}, 1)}
	e.Of("/").OnConnection(h.track)
	setup(e)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	h.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil && !errors.Is(err, engine.ErrClosed) {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		if st := e.Stats(); !st.Idle() {
			t.Errorf("actors or broadcasts left after Shutdown: %+v", st)
		}
	})
	return h
}

func converged(t *testing.T, hs ...*harness) {
	t.Helper()
	for _, h := range hs {
		waitUntil(t, "the cluster to converge", func() bool { return len(h.e.ClusterMembers()) == len(hs) })
	}
}

// movingRoom returns a room of prefix owned by b among {a, b} and by c among {a, b, c}.
func movingRoom(t testing.TB, prefix, a, b, c string) string {
	for i := range 1000 {
		room := fmt.Sprintf("%s%d", prefix, i)
		if ownerOf([]string{a, b}, "/", room) == b && ownerOf([]string{a, b, c}, "/", room) == c {
			return room
		}
	}
	t.Fatal("no room name fits")
	return ""
}

type sayAck struct {
	Seq   int    `json:"seq"`
	Node  string `json:"node"`
	Error string `json:"error"`
}

func sayOnce(t *testing.T, u *user, room string, payload int) sayAck {
	t.Helper()
	args, err := u.EmitWithAck(ctxT(t), "say", map[string]any{"room": room, "payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	var a sayAck
	if err := args[0].Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

type roomSaid struct {
	Room    string `json:"room"`
	Seq     int    `json:"seq"`
	From    string `json:"from"`
	Payload int    `json:"payload"`
}

// saids collects u's said events of room until it has n, checking that they are numbered 1…n; it
// counts the EventRoomReset events it passes.
func saids(t *testing.T, u *user, room string, n int, resets *int) []roomSaid {
	t.Helper()
	var got []roomSaid
	for len(got) < n {
		ev := u.next(t)
		if ev.Name == engine.EventRoomReset {
			*resets++
		}
		if ev.Name != "said" {
			continue
		}
		var s roomSaid
		if err := ev.Decode(&s); err != nil {
			t.Fatal(err)
		}
		if s.Room != room {
			continue
		}
		if s.Seq != len(got)+1 {
			t.Fatalf("said #%d has seq %d (%v so far)", len(got), s.Seq, got)
		}
		got = append(got, s)
	}
	return got
}

// expectEvents waits for the room events want, in any order, and nothing else.
func expectEvents(t *testing.T, events <-chan string, want ...string) {
	t.Helper()
	left := map[string]int{}
	for _, w := range want {
		left[w]++
	}
	for range want {
		select {
		case got := <-events:
			if left[got] == 0 {
				t.Fatalf("room event %q, want %q", got, want)
			}
			left[got]--
		case <-ctxT(t).Done():
			t.Fatalf("room events missing of %q: %v", want, left)
		}
	}
}

// TestClusterHandoff: a room with a Snapshotter moves with its state when a node joins and becomes its
// owner, and again when that node shuts down; members on every node stay joined and receive every
// message, numbered without a gap, including those said while the room moves (held by the new owner and
// delivered in order). A room without one is re-created on its new owner (Recreated, EventRoomReset).
func TestClusterHandoff(t *testing.T) {
	events := make(chan string, 100)
	setup := handoffSetup(events)
	a := startNamed(t, "node-a", "", setup)
	seed := a.e.ClusterMembers()[0].GossipAddr
	b := startNamed(t, "node-b", seed, setup)
	converged(t, a, b)
	snap := movingRoom(t, "snap:", "node-a", "node-b", "node-c")
	plain := movingRoom(t, "plain:", "node-a", "node-b", "node-c")

	var members []*user
	for _, h := range []*harness{a, b, a, b} {
		u := h.connect("/", nil)
		for _, r := range []string{snap, plain} {
			if msg := askJoin(t, u, r, nil); msg != "" {
				t.Fatalf("join %s: %s", r, msg)
			}
		}
		members = append(members, u)
	}
	expectEvents(t, events, "create node-b recreated=false", "create node-b recreated=false")
	var mu sync.Mutex
	maxSeq := 0
	record := func(a sayAck) {
		mu.Lock()
		maxSeq = max(maxSeq, a.Seq)
		mu.Unlock()
	}
	for k := range 5 {
		if ack := sayOnce(t, members[k%2], snap, k); ack.Seq != k+1 || ack.Node != "node-b" {
			t.Fatalf("say %d: %+v", k, ack)
		}
		sayOnce(t, members[0], plain, k)
	}

	// Senders on both nodes keep saying while node C joins and the room moves to it.
	var stop atomic.Bool
	var wg sync.WaitGroup
	acked := map[int]int{} // payload → seq
	for i, s := range members[:2] {
		wg.Go(func() {
			for k := 0; !stop.Load() || k < 5; k++ {
				p := (i+1)*1000 + k
				ack := sayOnce(t, s, snap, p)
				if ack.Error != "" {
					t.Errorf("say during the move: %s", ack.Error)
					return
				}
				record(ack)
				mu.Lock()
				acked[p] = ack.Seq
				mu.Unlock()
			}
		})
	}
	c := startNamed(t, "node-c", seed, setup)
	converged(t, a, b, c)
	waitUntil(t, "a say answered by node C", func() bool {
		ack := sayOnce(t, members[2], snap, 99)
		record(ack)
		return ack.Node == "node-c"
	})
	stop.Store(true)
	wg.Wait()
	// The snapshot room was restored on C; the plain room starts over there, its rejoined members told.
	ev := <-events
	if !strings.HasPrefix(ev, "restore node-c ") {
		if ev != "create node-c recreated=true" {
			t.Fatalf("room event %q", ev)
		}
		ev = <-events
	} else {
		expectEvents(t, events, "create node-c recreated=true")
	}
	if !strings.HasPrefix(ev, "restore node-c ") {
		t.Fatalf("room event %q, want the snapshot room's restore on node-c", ev)
	}
	if ack := sayOnce(t, members[0], plain, 0); ack.Seq != 1 || ack.Node != "node-c" {
		t.Fatalf("plain room after the move: %+v", ack)
	}

	// Everyone got every message once, in one order, up to the last acked; payloads carry their acked seq.
	total := maxSeq
	var first []roomSaid
	for i, u := range members {
		resets := 0
		got := saids(t, u, snap, total, &resets)
		if resets > 1 {
			t.Fatalf("member %d: %d %s events", i, resets, engine.EventRoomReset)
		}
		if resets == 0 { // the plain room's, after its re-creation on C
			for ev := u.next(t); ev.Name != engine.EventRoomReset; ev = u.next(t) {
			}
		}
		if first == nil {
			first = got
		}
		for k := range got {
			if got[k] != first[k] {
				t.Fatalf("member %d: said #%d = %+v, member 0 got %+v", i, k, got[k], first[k])
			}
		}
	}
	if t.Failed() {
		return
	}
	for _, s := range first {
		if seq, ok := acked[s.Payload]; ok && seq != s.Seq {
			t.Fatalf("payload %d acked seq %d, said with %d", s.Payload, seq, s.Seq)
		}
	}

	// C shuts down: it hands the room back to B before it leaves; the count goes on.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	converged(t, a, b)
	ack := sayOnce(t, members[1], snap, 7)
	if ack.Seq != total+1 || ack.Node != "node-b" {
		t.Fatalf("say after C left: %+v, want seq %d from node-b", ack, total+1)
	}
	for i, u := range members {
		for {
			ev := u.next(t)
			var s roomSaid
			if ev.Name != "said" || ev.Decode(&s) != nil || s.Room != snap {
				continue
			}
			if s.Seq != total+1 || s.Payload != 7 {
				t.Fatalf("member %d: after C left, said %+v, want seq %d", i, s, total+1)
			}
			break
		}
	}
}

// TestClusterRequestRoomFuncMove: a socket passes says to a room without waiting for their answers, up
// to 64 in flight, while a node joins and the room moves to it: the room handles them in the order
// sent (its count grows with the payload), and each is answered once.
func TestClusterRequestRoomFuncMove(t *testing.T) {
	events := make(chan string, 1000)
	setup := handoffSetup(events)
	a := startNamed(t, "node-a", "", setup)
	seed := a.e.ClusterMembers()[0].GossipAddr
	b := startNamed(t, "node-b", seed, setup)
	converged(t, a, b)
	room := movingRoom(t, "snap:", "node-a", "node-b", "node-c")
	u := a.connect("/", nil)
	if msg := askJoin(t, u, room, nil); msg != "" {
		t.Fatal(msg)
	}
	s := a.server(u.ID())
	type answer struct {
		p   int
		ack sayAck
		err error
	}
	answers := make(chan answer, 64)
	slots := make(chan struct{}, 64)
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		p := 0
		defer func() { sent <- p }()
		for ; ; p++ {
			select {
			case <-stop:
				return
			case slots <- struct{}{}:
			}
			p := p
			err := s.RequestRoomFunc(ctxT(t), room, "say", func(args []engine.Arg, err error) {
				var ack sayAck
				if err == nil {
					err = args[0].Decode(&ack)
				}
				answers <- answer{p, ack, err}
			}, p)
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var c *harness
	started := make(chan struct{})
	go func() {
		defer close(started)
		c = startNamed(t, "node-c", seed, setup)
	}()
	seqs := map[int]int{}
	fromC := 0
	for fromC < 300 {
		an := <-answers
		<-slots
		if an.err != nil || an.ack.Error != "" {
			t.Fatalf("say %d: %+v %v", an.p, an.ack, an.err)
		}
		seqs[an.p] = an.ack.Seq
		if an.ack.Node == "node-c" {
			fromC++
		}
	}
	close(stop)
	n := <-sent
	for len(seqs) < n {
		an := <-answers
		if an.err != nil || an.ack.Error != "" {
			t.Fatalf("say %d: %+v %v", an.p, an.ack, an.err)
		}
		seqs[an.p] = an.ack.Seq
	}
	<-started
	converged(t, a, b, c)
	for p := 1; p < n; p++ {
		if seqs[p] <= seqs[p-1] {
			t.Fatalf("say %d handled as #%d, after say %d (#%d): out of order", p, seqs[p], p-1, seqs[p-1])
		}
	}
	t.Logf("%d says, %d answered by node-c", n, fromC)
}
