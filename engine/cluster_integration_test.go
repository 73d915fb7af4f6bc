//go:build integration

// In-process multi-node tests. They run without the race detector (scripts/test.sh runs them as
// `go test -tags integration`), because several nodes in one process share grpc's process-global
// logger, which grpc reads without synchronisation; the multi-process tests in cmd/roomio carry the
// race detector's coverage of the cluster.

package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// startNodes starts n engines that form one cluster, one after another, and waits until every node
// sees all the others.
func startNodes(t *testing.T, n int, setup func(e *engine.Engine)) []*harness {
	t.Helper()
	var hs []*harness
	var seed string
	for i := range n {
		cfg := engine.Config{Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}}
		if seed != "" {
			cfg.Cluster.Seeds = []string{seed}
		}
		h := start(t, cfg, setup)
		if i == 0 {
			seed = h.e.ClusterMembers()[0].GossipAddr
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		waitUntil(t, "the cluster to converge", func() bool { return len(h.e.ClusterMembers()) == n })
	}
	return hs
}

func TestClusterRoomEmitAcrossNodes(t *testing.T) {
	hs := startNodes(t, 3, nil)
	a, b, c := hs[0].connect("/", nil), hs[1].connect("/", nil), hs[2].connect("/", nil)
	hs[0].join(a, "r")
	hs[1].join(b, "r", "s")
	hs[2].join(c, "s")
	// From node 2, which has no member of r: a and b get it once; c does not.
	hs[2].e.To("r").Emit("x", 1)
	hs[2].e.To("r", "s").Except("nobody").Emit("u", 2) // a union across nodes
	hs[2].e.To("r").Emit("mr")
	hs[2].e.To("s").Emit("ms")
	if got := a.until(t, "mr"); !slices.Equal(sorted(got), []string{"u", "x"}) {
		t.Fatalf("a got %v", got)
	}
	if got := b.until(t, "mr", "ms"); !slices.Equal(sorted(got), []string{"u", "x"}) {
		t.Fatalf("b got %v", got)
	}
	if got := c.until(t, "ms"); !slices.Equal(got, []string{"u"}) {
		t.Fatalf("c got %v", got)
	}
	// A socket's broadcast excludes it on every node.
	hs[1].server(b.ID()).To("s").Emit("from-b")
	hs[1].e.To("s").Emit("ms2")
	if got := c.until(t, "ms2"); !slices.Equal(got, []string{"from-b"}) {
		t.Fatalf("c got %v", got)
	}
	if got := b.until(t, "ms2"); len(got) != 0 {
		t.Fatalf("sender got %v", got)
	}
	// To a socket id of another node.
	hs[0].e.To(c.ID()).Emit("direct")
	if ev := c.next(t); ev.Name != "direct" {
		t.Fatalf("c got %q", ev.Name)
	}
	// Local stays on the node.
	hs[0].e.Local().Emit("local-only")
	hs[0].e.Emit("everyone")
	if got := b.until(t, "everyone"); len(got) != 0 {
		t.Fatalf("b got %v from another node's Local emit", got)
	}
	if got := a.until(t, "everyone"); !slices.Equal(got, []string{"local-only"}) {
		t.Fatalf("a got %v", got)
	}
}

func TestClusterBroadcastWithAck(t *testing.T) {
	hs := startNodes(t, 3, nil)
	var us []*user
	for i, h := range hs {
		u := h.connect("/", nil)
		h.join(u, "r")
		if i < 2 {
			u.On("poll", func(args []client.Arg, ack client.AckFunc) { ack(u.ID()) })
		}
		us = append(us, u)
	}
	replies, err := hs[0].e.To("r").Except(us[2].ID()).Timeout(5*time.Second).EmitWithAck(ctxT(t), "poll")
	if err != nil || len(replies) != 2 {
		t.Fatalf("%d replies, %v", len(replies), err)
	}
	start := time.Now()
	replies, err = hs[1].e.To("r").Timeout(300*time.Millisecond).EmitWithAck(ctxT(t), "poll")
	if !errors.Is(err, engine.ErrTimeout) || len(replies) != 2 {
		t.Fatalf("%d replies, %v; want 2 and a timeout", len(replies), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestClusterFetchSocketsAndRemoteHandles(t *testing.T) {
	hs := startNodes(t, 3, nil)
	var us []*user
	for _, h := range hs {
		u := h.connect("/", map[string]string{"who": "x"})
		h.join(u, "r")
		us = append(us, u)
	}
	hs[2].server(us[2].ID()).SetData(map[string]any{"n": 3})
	socks, err := hs[0].e.To("r").FetchSockets(ctxT(t))
	if err != nil || len(socks) != 3 {
		t.Fatalf("%d sockets, %v", len(socks), err)
	}
	var remote *engine.RemoteSocket
	for _, s := range socks {
		if s.ID == us[2].ID() {
			remote = s
		}
	}
	if remote == nil || remote.Node == hs[0].e.NodeID() || string(remote.Handshake.Auth) != `{"who":"x"}` {
		t.Fatalf("remote socket %+v", remote)
	}
	if m, ok := remote.Data.(map[string]any); !ok || m["n"] != float64(3) {
		t.Fatalf("remote data %#v", remote.Data)
	}
	if err := remote.Join(ctxT(t), "joined-remotely"); err != nil {
		t.Fatal(err)
	}
	hs[0].e.To("joined-remotely").Emit("welcome")
	if ev := us[2].next(t); ev.Name != "welcome" {
		t.Fatalf("got %q", ev.Name)
	}
	remote.Emit("via-handle")
	if ev := us[2].next(t); ev.Name != "via-handle" {
		t.Fatalf("got %q", ev.Name)
	}
	if err := hs[1].e.To("r").SocketsJoin(ctxT(t), "all"); err != nil {
		t.Fatal(err)
	}
	if socks, _ := hs[2].e.To("all").FetchSockets(ctxT(t)); len(socks) != 3 {
		t.Fatalf("SocketsJoin across nodes: %d in all", len(socks))
	}
	reason := make(chan string, 1)
	us[1].OnDisconnect(func(r string) { reason <- r })
	if err := hs[0].e.To(us[1].ID()).DisconnectSockets(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reason:
		if r != client.ReasonServerDisconnect {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(waitFor):
		t.Fatal("remote socket not disconnected")
	}
}

// TestClusterInterestRouting: an emit to a room whose members are all on one node costs at most one
// cross-node message, whatever the cluster size (counted, not timed).
func TestClusterInterestRouting(t *testing.T) {
	const n = 10
	hs := startNodes(t, n, nil)
	u := hs[0].connect("/", nil)
	hs[0].join(u, "r")
	const emits = 100
	for _, from := range []int{0, 4, 9} {
		sent0, _, _, _ := hs[from].e.ClusterStats()
		for i := range emits {
			hs[from].e.To("r").Emit("x", i)
		}
		for i := range emits {
			ev := u.next(t)
			var got int
			if err := ev.Decode(&got); err != nil || got != i {
				t.Fatalf("from node %d: message %d is %d (%v)", from, i, got, err)
			}
		}
		want := uint64(emits)
		if from == 0 {
			want = 0 // the room's only members are local
		}
		// Sent counts an envelope once its write to the stream returned, which can be after the peer
		// delivered it.
		sent := func() uint64 { s, _, _, _ := hs[from].e.ClusterStats(); return s - sent0 }
		waitUntil(t, "the emits counted", func() bool { return sent() >= want })
		if d := sent(); d != want {
			t.Errorf("from node %d: %d cross-node messages for %d emits, want %d", from, d, emits, want)
		}
	}
	// A namespace-wide emit goes to every peer.
	sent0, _, _, _ := hs[5].e.ClusterStats()
	hs[5].e.Emit("all")
	if ev := u.next(t); ev.Name != "all" {
		t.Fatalf("got %q", ev.Name)
	}
	// Node 0's copy may arrive before the envelopes to other peers left their queues (Sent counts an
	// envelope once it is written to the peer's stream): wait for them, then check there is no extra.
	sent := func() uint64 { s, _, _, _ := hs[5].e.ClusterStats(); return s - sent0 }
	waitUntil(t, "the namespace-wide emit sent to every peer", func() bool { return sent() >= n-1 })
	if d := sent(); d != n-1 {
		t.Errorf("namespace-wide emit: %d messages, want %d", d, n-1)
	}
}

// TestClusterJoinThenEmitVisibility: once Join returns on one node, an emit begun afterwards on another
// node reaches the socket, for rooms that are new to the cluster each time.
func TestClusterJoinThenEmitVisibility(t *testing.T) {
	hs := startNodes(t, 3, nil)
	u := hs[0].connect("/", nil)
	for i := range 50 {
		room := fmt.Sprintf("fresh-%d", i)
		hs[0].join(u, room)
		hs[1+i%2].e.To(room).Emit("hello", room)
		ev := u.next(t)
		var got string
		if ev.Decode(&got); got != room {
			t.Fatalf("emit to %s right after the join: got %q %v", room, ev.Name, ev.Args)
		}
	}
}

// TestClusterInterestAckAfterRoutedEmits: a node acknowledges a peer's new interest only once every
// operation that looked up its peers before the update has queued its envelopes, so nothing routed by
// the old interest reaches a peer after what the acknowledgement lets happen (a recovery handover's
// barrier counts on it). Node 0's emit is held between its look-up and its send while node 1's socket
// joins the room: the join must not complete before the emit is released.
func TestClusterInterestAckAfterRoutedEmits(t *testing.T) {
	hs := startNodes(t, 2, nil)
	u := hs[1].connect("/", nil)
	held, release := make(chan struct{}), make(chan struct{})
	releaseEmit := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseEmit) // a failing test still lets the emit go before the nodes stop
	var once sync.Once
	hs[0].e.SetAfterTargets(func() { once.Do(func() { close(held); <-release }) })
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		hs[0].e.To("r").Emit("m", 1)
	}()
	<-held
	waiting := make(chan struct{}, 1)
	hs[0].e.SetBeforeRoutesWait(func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	joined := make(chan error, 1)
	go func() { joined <- hs[1].server(u.ID()).Join(ctxT(t), "r") }()
	select {
	case <-waiting:
	case err := <-joined:
		t.Fatalf("the join completed (err %v) while an emit routed before it was still unsent", err)
	}
	releaseEmit()
	<-emitted
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
}

func TestClusterServerSideEmit(t *testing.T) {
	got := make(chan string, 10)
	hs := startNodes(t, 3, func(e *engine.Engine) {
		e.OnServerSideEmit(func(ev *engine.ServerEvent) {
			var s string
			ev.Args[0].Decode(&s)
			got <- ev.Name + ":" + s
			if ev.HasAck() {
				ev.Ack("pong from " + ev.Node)
			}
		})
	})
	if err := hs[0].e.ServerSideEmit("hello", "world"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case s := <-got:
			if s != "hello:world" {
				t.Fatalf("got %q", s)
			}
		case <-time.After(waitFor):
			t.Fatal("server event did not arrive")
		}
	}
	replies, err := hs[1].e.ServerSideEmitWithAck(ctxT(t), "ping", "x")
	if err != nil || len(replies) != 2 {
		t.Fatalf("%d replies, %v", len(replies), err)
	}
	for _, r := range replies {
		var s string
		if r.Err != nil || r.Args[0].Decode(&s) != nil || s != "pong from "+hs[1].e.NodeID() {
			t.Fatalf("reply %+v %q", r, s)
		}
	}
	for range 2 {
		<-got
	}
}

// TestClusterTimeouts: at the caller's timeout the answers so far come back. A node whose socket stays
// silent still answers in time with its partial result (it replies a margin before the caller's
// deadline); a node that cannot answer at all is named in the *TimeoutError.
func TestClusterTimeouts(t *testing.T) {
	hs := startNodes(t, 2, nil)
	hs[1].e.OnServerSideEmit(func(ev *engine.ServerEvent) {}) // never acks
	answering, silent := hs[0].connect("/", nil), hs[1].connect("/", nil)
	answering.On("poll", func(args []client.Arg, ack client.AckFunc) { ack("yes") })
	hs[0].join(answering, "r")
	hs[1].join(silent, "r")
	replies, err := hs[0].e.To("r").Timeout(300*time.Millisecond).EmitWithAck(ctxT(t), "poll")
	var te *engine.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("err = %v, want a *TimeoutError", err)
	}
	if len(replies) != 1 || te.Answered != 1 || te.Expected != 2 || len(te.Nodes) != 0 {
		t.Fatalf("%d replies, %+v; want 1 of 2 answered and no silent node", len(replies), te)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = hs[0].e.ServerSideEmitWithAck(ctx, "hello")
	if !errors.As(err, &te) || !slices.Equal(te.Nodes, []string{hs[1].e.NodeID()}) {
		t.Fatalf("err = %v, want a *TimeoutError naming %s", err, hs[1].e.NodeID())
	}
}

// TestClusterReadinessAndUserID: every node of a cluster becomes ready (interest synced with every
// peer), and a socket's user id reaches another node's FetchSockets (the cluster's SocketInfo.user_id).
func TestClusterReadinessAndUserID(t *testing.T) {
	var hs []*harness
	var seed string
	for i := range 3 {
		cfg := engine.Config{Auth: engine.AuthConfig{Authenticator: userAuth{}},
			Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}}
		if seed != "" {
			cfg.Cluster.Seeds = []string{seed}
		}
		h := start(t, cfg, nil)
		if i == 0 {
			seed = h.e.ClusterMembers()[0].GossipAddr
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		waitUntil(t, "every node to be ready", func() bool { return len(h.e.ClusterMembers()) == 3 && h.e.Readiness() == nil })
	}
	u := hs[0].connect("/", map[string]string{"user": "yan"})
	socks, err := hs[2].e.In("home").FetchSockets(ctxT(t))
	if err != nil || len(socks) != 1 || socks[0].ID != u.ID() || socks[0].UserID != "yan" {
		t.Fatalf("FetchSockets on another node = %+v, %v; want %s with user yan", socks, err, u.ID())
	}
}
