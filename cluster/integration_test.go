//go:build integration

// Multi-node tests in one process. The test script runs them without -race (go test -tags integration
// ./cluster/), following the rule for in-process protoactor remotes; this package starts no protoactor
// remote runtime, and they also pass under -race (go test -race -tags integration ./cluster/).

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/clustertest"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// threeNodes starts a, b (seeding a) and c (seeding b), strictly one after another (each Start returns
// once joined), and waits until every node has reported the other two up.
func threeNodes(t *testing.T, mod func(*cluster.Config)) (a, b, c *testNode) {
	t.Helper()
	with := func(more func(*cluster.Config)) func(*cluster.Config) {
		return func(cfg *cluster.Config) {
			if mod != nil {
				mod(cfg)
			}
			if more != nil {
				more(cfg)
			}
		}
	}
	a = startNode(t, with(nil))
	b = startNode(t, with(seeds(a)))
	c = startNode(t, with(seeds(b)))
	nodes := []*testNode{a, b, c}
	for _, n := range nodes {
		for _, m := range nodes {
			if m != n {
				n.rec.WaitUp(t, wait, m.ID())
			}
		}
	}
	return a, b, c
}

func TestClusterForms(t *testing.T) {
	a, b, c := threeNodes(t, func(cfg *cluster.Config) { cfg.Key = testKey })
	nodes := []*testNode{a, b, c}
	for _, n := range nodes {
		var want []cluster.Member
		for _, m := range nodes {
			if m != n {
				want = append(want, m.Self())
			}
		}
		slices.SortFunc(want, func(x, y cluster.Member) int { return cmpString(x.ID, y.ID) })
		if got := n.Members(); !slices.Equal(got, want) {
			t.Errorf("%s: Members() = %+v, want %+v", n.ID(), got, want)
		}
		// MemberUp reported each peer once, with the metadata it gossips.
		for _, e := range n.rec.Events() {
			if e.Kind != clustertest.Up {
				t.Errorf("%s: unexpected %v event for %s", n.ID(), e.Kind, e.Member.ID)
			}
		}
		if ups := len(n.rec.Events()); ups != 2 {
			t.Errorf("%s: %d MemberUp calls, want 2", n.ID(), ups)
		}
	}
}

func cmpString(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// 10 000 envelopes from each of two senders reach the third node complete and in order per sender.
func TestSendOrder(t *testing.T) {
	const count = 10000
	a, b, c := threeNodes(t, nil)
	var wg sync.WaitGroup
	for _, from := range []*testNode{a, b} {
		wg.Go(func() {
			for i := range uint64(count) {
				if err := from.Send(c.ID(), event(i, from.ID())); err != nil {
					t.Errorf("Send %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, from := range []*testNode{a, b} {
		got := c.rec.WaitReceived(t, wait, from.ID(), count)
		if len(got) != count {
			t.Fatalf("from %s: %d envelopes, want %d", from.ID(), len(got), count)
		}
		for i, env := range got {
			if seqOf(env) != uint64(i) || env.From != from.ID() || env.Version != cluster.ProtocolVersion {
				t.Fatalf("from %s: envelope %d is seq %d from %q v%d", from.ID(), i, seqOf(env), env.From, env.Version)
			}
		}
		if st := from.Stats(); st.Sent != count || st.Dropped != 0 {
			t.Errorf("%s: Stats() = %+v", from.ID(), st)
		}
	}
	// The sender's Member is the one MemberUp reported.
	for _, e := range c.rec.Events() {
		if e.Kind == clustertest.Received && e.Member != a.Self() && e.Member != b.Self() {
			t.Fatalf("received from %+v", e.Member)
		}
	}
	if st := c.Stats(); st.Received != 2*count || st.Rejected != 0 {
		t.Errorf("receiver Stats() = %+v", st)
	}
}

// SendMany encodes once and reaches every named peer.
func TestSendMany(t *testing.T) {
	a, b, c := threeNodes(t, nil)
	if err := a.SendMany([]string{b.ID(), c.ID()}, event(42, "all")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{b, c} {
		if got := n.rec.WaitReceived(t, wait, a.ID(), 1); seqOf(got[0]) != 42 {
			t.Fatalf("%s got %v", n.ID(), got)
		}
	}
}

func TestUnknownKindRejected(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, seeds(a))
	a.rec.WaitUp(t, wait, b.ID())
	wrongVersion := encoded(t, stamped(a.ID(), cluster.ProtocolVersion+1, 1))
	for _, raw := range [][]byte{
		unknownKind(a.ID()), // a newer peer's body kind
		encoded(t, &clusterv1.Envelope{From: a.ID(), Version: cluster.ProtocolVersion}), // empty
		wrongVersion,
		{0xff, 0xff}, // garbage
	} {
		if err := a.SendRaw(b.ID(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Send(b.ID(), event(5, "ok")); err != nil {
		t.Fatal(err)
	}
	got := b.rec.WaitReceived(t, wait, a.ID(), 1)
	waitFor(t, wait, "4 rejections", func() bool { return b.Stats().Rejected == 4 })
	if len(b.rec.Received("")) != 1 || seqOf(got[0]) != 5 {
		t.Fatalf("received %v", b.rec.Received(""))
	}
}

// A node with another key (or none) cannot join, and its streams are refused before anything is
// delivered.
func TestWrongKeyRefused(t *testing.T) {
	a := startNode(t, func(c *cluster.Config) { c.Key = testKey })
	for _, key := range [][]byte{[]byte("fedcba9876543210"), nil} {
		t.Run(fmt.Sprintf("key=%q", key), func(t *testing.T) {
			before := a.Stats().Rejected
			x := newNode(t, func(c *cluster.Config) {
				c.Key = key
				c.Seeds = []string{a.Self().GossipAddr}
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := x.Start(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Start with the wrong key: %v, want a join timeout", err)
			}
			if len(a.Members()) != 0 || len(a.rec.Events()) != 0 {
				t.Fatalf("a sees %v, events %v", a.Members(), a.rec.Events())
			}

			// Bypass gossip: point a started node with the wrong key at a's stream listener.
			y := startNode(t, func(c *cluster.Config) { c.Key = key })
			y.AddPeer(a.Self())
			y.rec.WaitUp(t, wait, a.ID())
			if err := y.Send(a.ID(), event(1, "intrusion")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, wait, "a rejection", func() bool { return a.Stats().Rejected > before })
			if got := a.rec.Received(""); len(got) != 0 {
				t.Fatalf("a received %v", got)
			}
		})
	}
}

// A graceful Leave is reported down by the others at once, not after failure detection.
func TestLeave(t *testing.T) {
	a, b, c := threeNodes(t, nil)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, c} {
		e := n.rec.WaitDown(t, wait, b.ID())
		t.Logf("%s saw %s leave after %v", n.ID(), b.ID(), e.At.Sub(start))
		if d := e.At.Sub(start); d > time.Second {
			t.Errorf("%s saw the leave after %v", n.ID(), d)
		}
		if err := n.Send(b.ID(), event(1, "x")); !errors.Is(err, cluster.ErrUnknownNode) {
			t.Errorf("Send to a departed node: %v", err)
		}
	}
	if got := ids(a.Members()); !slices.Equal(got, []string{c.ID()}) {
		t.Errorf("a.Members() = %v", got)
	}
}

// A node that vanishes without leaving (kill -9 as its peers see it) is reported down within the
// failure-detection time: about 5–6 probe intervals.
func TestCrashDetected(t *testing.T) {
	probe := 200 * time.Millisecond
	if os.Getenv("CLUSTER_LAN_DEFAULTS") != "" {
		probe = 0 // measure memberlist's LAN defaults (1 s probes)
	}
	a, b, c := threeNodes(t, func(cfg *cluster.Config) { cfg.ProbeInterval = probe })
	start := time.Now()
	c.Crash()
	for _, n := range []*testNode{a, b} {
		e := n.rec.WaitDown(t, 60*time.Second, c.ID())
		t.Logf("%s declared %s down after %v (probe interval %v)", n.ID(), c.ID(), e.At.Sub(start), probe)
		if probe > 0 && e.At.Sub(start) > 20*probe {
			t.Errorf("detection took %v", e.At.Sub(start))
		}
	}
}

// Envelopes for a peer that crashed pile up to PeerQueue and the rest are dropped; when the peer is
// declared down its queue is dropped too, and the receiver rejects nothing it should not.
func TestQueueBoundedPeerCrashed(t *testing.T) {
	const limit, total = 50, 1000
	a := startNode(t, func(c *cluster.Config) { c.PeerQueue = limit })
	b := startNode(t, seeds(a))
	a.rec.WaitUp(t, wait, b.ID())
	b.Crash()
	full := 0
	for i := range total {
		err := a.Send(b.ID(), event(uint64(i), "x"))
		switch {
		case errors.Is(err, cluster.ErrQueueFull):
			full++
		case errors.Is(err, cluster.ErrUnknownNode):
			t.Fatal("b was declared down before the sends (not expected with 200 ms probes)")
		case err != nil:
			t.Fatal(err)
		}
	}
	if q := a.QueueLen(b.ID()); q > limit {
		t.Fatalf("queue holds %d", q)
	}
	if full < total-limit {
		t.Fatalf("%d sends found the queue full, want at least %d", full, total-limit)
	}
	a.rec.WaitDown(t, wait, b.ID())
	if st := a.Stats(); st.Dropped+st.Sent != total {
		t.Fatalf("Stats() = %+v: sent + dropped != %d", st, total)
	}
}

// Shutdown writes what is queued before leaving, so a burst sent just before it arrives.
func TestShutdownDrains(t *testing.T) {
	const count = 5000
	a := startNode(t, nil)
	b := startNode(t, seeds(a))
	a.rec.WaitUp(t, wait, b.ID())
	// Drain covers open streams: a peer whose stream is still being set up when Shutdown starts counts
	// as drained (doc.go). So first see one envelope through, then queue the burst.
	if err := a.Send(b.ID(), event(0, "x")); err != nil {
		t.Fatal(err)
	}
	b.rec.WaitReceived(t, wait, a.ID(), 1)
	for i := range uint64(count) {
		if err := a.Send(b.ID(), event(i+1, "x")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.rec.WaitReceived(t, wait, a.ID(), count+1)
	if len(got) != count+1 {
		t.Fatalf("received %d", len(got))
	}
	b.rec.WaitDown(t, wait, a.ID())
	if err := a.Send(b.ID(), event(1, "x")); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Send after Shutdown: %v", err)
	}
}

// A new node started from scratch (fresh id) after one crashed is an ordinary new member.
func TestReplacementNode(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, seeds(a))
	a.rec.WaitUp(t, wait, b.ID())
	b.Crash()
	a.rec.WaitDown(t, wait, b.ID())
	b2 := startNode(t, seeds(a))
	a.rec.WaitUp(t, wait, b2.ID())
	if b2.ID() == b.ID() {
		t.Fatal("same id")
	}
	if err := a.Send(b2.ID(), event(1, "hello")); err != nil {
		t.Fatal(err)
	}
	b2.rec.WaitReceived(t, wait, a.ID(), 1)
	if got := ids(a.Members()); !slices.Equal(got, []string{b2.ID()}) {
		t.Fatalf("a.Members() = %v", got)
	}
}

// gated is a Handler whose Receive waits for a gate: a Handler slower than the wire.
type gated struct {
	clustertest.Recorder
	gate chan struct{}
}

func (g *gated) Receive(from cluster.Member, env *clusterv1.Envelope) {
	<-g.gate
	g.Recorder.Receive(from, env)
}

// A receiver whose Handler falls behind pushes back to the sender through its bounded inbound queue
// and HTTP/2 flow control: the sender's queue fills and drops, nothing grows without bound, and what
// was accepted arrives in order once the Handler catches up.
func TestSlowHandlerPushesBack(t *testing.T) {
	const peerQueue, inbound, total = 100, 50, 200000
	a := startNode(t, func(c *cluster.Config) { c.PeerQueue = peerQueue })
	h := &gated{gate: make(chan struct{})}
	cfg := baseConfig(t)
	cfg.InboundQueue = inbound
	cfg.Seeds = []string{a.Self().GossipAddr}
	b, err := cluster.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	opened := false
	open := func() {
		if !opened {
			opened = true
			close(h.gate)
		}
	}
	t.Cleanup(func() {
		open()
		_ = b.Shutdown(context.Background())
	})
	a.rec.WaitUp(t, wait, b.ID())

	payload := string(make([]byte, 256))
	full := 0
	for i := range uint64(total) {
		switch err := a.Send(b.ID(), event(i, payload)); {
		case errors.Is(err, cluster.ErrQueueFull):
			full++
		case err != nil:
			t.Fatal(err)
		}
	}
	waitFor(t, wait, "the sender's queue to fill", func() bool { return a.QueueLen(b.ID()) == peerQueue })
	st := a.Stats()
	t.Logf("handler blocked: %d sent (inbound queue %d + flow-control windows), %d dropped, %d queued", st.Sent, inbound, st.Dropped, a.QueueLen(b.ID()))
	if full == 0 || st.Sent >= total/2 {
		t.Fatalf("no backpressure: Stats() = %+v", st)
	}
	open()
	waitFor(t, wait, "the queue to empty", func() bool { return a.QueueLen(b.ID()) == 0 })
	sent := a.Stats().Sent
	got := h.WaitReceived(t, wait, a.ID(), int(sent))
	if uint64(len(got)) != sent {
		t.Fatalf("received %d of %d sent", len(got), sent)
	}
	for i := 1; i < len(got); i++ {
		if seqOf(got[i]) <= seqOf(got[i-1]) {
			t.Fatalf("out of order at %d: %d after %d", i, seqOf(got[i]), seqOf(got[i-1]))
		}
	}
}
