package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/clustertest"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

func TestNewValidates(t *testing.T) {
	sys := newSystem(t)
	for _, tc := range []struct {
		name string
		cfg  cluster.Config
		h    cluster.Handler
		want string
	}{
		{"no system", cluster.Config{}, &clustertest.Recorder{}, "System"},
		{"nil handler", cluster.Config{System: sys}, nil, "Handler"},
		{"key length", cluster.Config{System: sys, Key: make([]byte, 15)}, &clustertest.Recorder{}, "Key"},
		{"node id chars", cluster.Config{System: sys, NodeID: "a/b"}, &clustertest.Recorder{}, "NodeID"},
		{"node id length", cluster.Config{System: sys, NodeID: strings.Repeat("a", 65)}, &clustertest.Recorder{}, "NodeID"},
		{"peer queue", cluster.Config{System: sys, PeerQueue: -1}, &clustertest.Recorder{}, "PeerQueue"},
		{"gossip addr", cluster.Config{System: sys, GossipAddr: "localhost"}, &clustertest.Recorder{}, "GossipAddr"},
		{"remote port", cluster.Config{System: sys, RemoteAddr: "127.0.0.1:99999"}, &clustertest.Recorder{}, "RemoteAddr"},
		{"advertise gossip name", cluster.Config{System: sys, AdvertiseGossip: "example.com:7946"}, &clustertest.Recorder{}, "AdvertiseGossip"},
		{"advertise remote port", cluster.Config{System: sys, AdvertiseRemote: "10.0.0.1:0"}, &clustertest.Recorder{}, "AdvertiseRemote"},
		{"seed", cluster.Config{System: sys, Seeds: []string{"10.0.0.1"}}, &clustertest.Recorder{}, "Seeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cluster.New(tc.cfg, tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one mentioning %s", err, tc.want)
			}
		})
	}
	for _, key := range [][]byte{nil, make([]byte, 16), make([]byte, 24), make([]byte, 32)} {
		if _, err := cluster.New(cluster.Config{System: sys, Key: key}, &clustertest.Recorder{}); err != nil {
			t.Errorf("New with a %d-byte key: %v", len(key), err)
		}
	}
}

func TestNodeIDs(t *testing.T) {
	sys := newSystem(t)
	valid := regexp.MustCompile(`^[a-z2-7]{8}$`)
	seen := map[string]bool{}
	for range 100 {
		n, err := cluster.New(cluster.Config{System: sys}, &clustertest.Recorder{})
		if err != nil {
			t.Fatal(err)
		}
		if !valid.MatchString(n.ID()) || seen[n.ID()] {
			t.Fatalf("id %q: want 8 fresh lower-case base32 characters", n.ID())
		}
		seen[n.ID()] = true
	}
	n, err := cluster.New(cluster.Config{System: sys, NodeID: "node-1_A"}, &clustertest.Recorder{})
	if err != nil || n.ID() != "node-1_A" {
		t.Fatalf("explicit id: %v, %q", err, n.ID())
	}
}

func TestSingleNodeLifecycle(t *testing.T) {
	n := startNode(t, nil)
	self := n.Self()
	if self.ID != n.ID() || self.Version != cluster.ProtocolVersion {
		t.Fatalf("Self() = %+v", self)
	}
	for _, addr := range []string{self.GossipAddr, self.RemoteAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
			t.Fatalf("Self() = %+v: want real ports", self)
		}
	}
	if m := n.Members(); len(m) != 0 {
		t.Fatalf("Members() = %v, want none", m)
	}
	if err := n.Send("nobody", event(1, "x")); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Fatalf("Send to an unknown node: %v", err)
	}
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("Leave alone: %v", err)
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := n.Send("nobody", event(1, "x")); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Send after Shutdown: %v", err)
	}
	if err := n.Start(context.Background()); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := n.Leave(context.Background()); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Leave after Shutdown: %v", err)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	n := newNode(t, nil)
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
}

// A port that cannot be bound is an error from Start, not a panic (protoactor's remote.Start panics),
// and what Start had already started is stopped: the router name is free again.
func TestStartFailsCleanly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()

	cfg := baseConfig(t)
	for _, tc := range []struct {
		name string
		mod  func(*cluster.Config)
	}{
		{"remote port taken", func(c *cluster.Config) { c.RemoteAddr = busy.Addr().String() }},
		{"gossip port taken", func(c *cluster.Config) { c.GossipAddr = busyUDP.LocalAddr().String() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.mod(&c)
			n, err := cluster.New(c, &clustertest.Recorder{})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Start(context.Background()); err == nil {
				t.Fatal("Start succeeded")
			}
			if err := n.Send("x", event(1, "x")); !errors.Is(err, cluster.ErrClosed) {
				t.Fatalf("Send after a failed Start: %v", err)
			}
			if err := n.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown after a failed Start: %v", err)
			}
		})
	}
	// Same actor system: the router name was released.
	n, err := cluster.New(cfg, &clustertest.Recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("Start after failed starts: %v", err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSendRefusesBadEnvelopes(t *testing.T) {
	n := startNode(t, nil)
	n.AddPeer(cluster.Member{ID: "ghost", RemoteAddr: "127.0.0.1:1", Version: cluster.ProtocolVersion})
	n.rec.WaitUp(t, wait, "ghost")
	if err := n.Send("ghost", &clusterv1.Envelope{}); !errors.Is(err, cluster.ErrNoBody) {
		t.Fatalf("Send without body: %v", err)
	}
	big := &clusterv1.Envelope{Body: &clusterv1.Envelope_ServerEvent{ServerEvent: &clusterv1.ServerEvent{
		Name: strings.Repeat("x", cluster.MaxEnvelopeSize)}}}
	if err := n.Send("ghost", big); !errors.Is(err, cluster.ErrTooLarge) {
		t.Fatalf("Send too large: %v", err)
	}
	if err := n.SendMany([]string{"ghost", "nobody"}, event(1, "x")); !errors.Is(err, cluster.ErrUnknownNode) ||
		!strings.Contains(err.Error(), "nobody") || strings.Contains(err.Error(), "ghost") {
		t.Fatalf("SendMany: %v", err)
	}
	if got := n.Members(); len(got) != 1 || got[0].ID != "ghost" {
		t.Fatalf("Members() = %v", got)
	}
}

func TestMemberlistLogLevels(t *testing.T) {
	var buf strings.Builder
	w := cluster.MemberlistWriter(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for _, line := range []string{
		"[DEBUG] memberlist: Stream connection from=1.2.3.4:5",
		"[INFO] memberlist: Marking x as failed",
		"[WARN] memberlist: Was able to connect to x over TCP but UDP probes failed",
		"[ERR] memberlist: failed to receive: no installed keys could decrypt the message",
		"[ERR] memberlist: Failed to send gossip to 1.2.3.4:5: write udp: use of closed network connection",
		"plain line",
	} {
		fmt.Fprintln(w, line)
	}
	want := []string{
		`level=DEBUG msg="Stream connection from=1.2.3.4:5"`,
		`level=INFO msg="Marking x as failed"`,
		`level=WARN msg="Was able to connect`,
		`level=ERROR msg="failed to receive`,
		`level=DEBUG msg="Failed to send gossip`,
		`level=INFO msg="plain line"`,
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %s, want %s", i, lines[i], w)
		}
	}
}
