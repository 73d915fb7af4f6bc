package cluster_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/clustertest"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// wait bounds every wait on an event in these tests.
const wait = 10 * time.Second

// testLogger logs to stderr when CLUSTER_TEST_LOG is set (debug, info, warn, error), else nowhere.
func testLogger() *slog.Logger {
	var level slog.Level
	v := os.Getenv("CLUSTER_TEST_LOG")
	if v == "" || level.UnmarshalText([]byte(v)) != nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	logger := testLogger()
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger.With("component", "protoactor") }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	t.Cleanup(sys.Shutdown)
	return sys
}

type testNode struct {
	*cluster.Node
	rec *clustertest.Recorder
}

// baseConfig is a loopback node with ports chosen by the system and fast failure detection.
func baseConfig(t testing.TB) cluster.Config {
	return cluster.Config{
		GossipAddr:    "127.0.0.1:0",
		RemoteAddr:    "127.0.0.1:0",
		System:        newSystem(t),
		Logger:        testLogger(),
		ProbeInterval: 200 * time.Millisecond,
	}
}

// newNode creates a node; mod may change its config.
func newNode(t testing.TB, mod func(*cluster.Config)) *testNode {
	t.Helper()
	cfg := baseConfig(t)
	if mod != nil {
		mod(&cfg)
	}
	rec := &clustertest.Recorder{}
	n, err := cluster.New(cfg, rec)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown %s: %v", n.ID(), err)
		}
	})
	return &testNode{Node: n, rec: rec}
}

// startNode creates and starts a node; Start returns once it has joined its seeds.
func startNode(t testing.TB, mod func(*cluster.Config)) *testNode {
	t.Helper()
	n := newNode(t, mod)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return n
}

// seeds joins the node to the given nodes.
func seeds(nodes ...*testNode) func(*cluster.Config) {
	return func(c *cluster.Config) {
		for _, n := range nodes {
			c.Seeds = append(c.Seeds, n.Self().GossipAddr)
		}
	}
}

func event(seq uint64, name string) *clusterv1.Envelope {
	return &clusterv1.Envelope{Body: &clusterv1.Envelope_ServerEvent{ServerEvent: &clusterv1.ServerEvent{RequestId: seq, Name: name}}}
}

func seqOf(env *clusterv1.Envelope) uint64 { return env.GetServerEvent().GetRequestId() }

// waitFor polls cond until it holds or the deadline passes (for state that has no event to wait on).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ids(ms []cluster.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
