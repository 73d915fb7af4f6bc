//go:build integration

package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

// stampRoom numbers each message and emits [seq, the sender's timestamp] to every member.
type stampRoom struct {
	engine.BaseBehavior
	seq int
}

func (r *stampRoom) OnMessage(c *engine.RoomContext, m *engine.RoomMessage) {
	r.seq++
	c.Emit("said", r.seq, m.Args[0])
	m.Reply(r.seq)
}

// latSink is an in-process connection that records, for every "said", the time since the sender's
// stamp, and counts deliveries out of seq order.
type latSink struct {
	id        string
	delivered *atomic.Int64
	mu        sync.Mutex
	lat       []time.Duration
	last      int
	disorder  int
}

func (s *latSink) ID() string                     { return s.id }
func (s *latSink) Close(int, string)              {}
func (s *latSink) Handshake() transport.Handshake { return transport.Handshake{} }
func (s *latSink) Send(p *packet.Packet) error {
	if p.Kind != packet.KindEvent || p.Name != "said" {
		return nil
	}
	now := time.Now()
	var seq int
	var sent int64
	json.Unmarshal(p.Args[0].Data, &seq)
	json.Unmarshal(p.Args[1].Data, &sent)
	s.mu.Lock()
	s.lat = append(s.lat, now.Sub(time.Unix(0, sent)))
	if seq <= s.last {
		s.disorder++
	}
	s.last = seq
	s.mu.Unlock()
	s.delivered.Add(1)
	return nil
}

// BenchmarkClusterBehaviorRoom measures messages through one behaviour room whose 30 members are on
// three in-process nodes (10 each): one socket per node sends (RequestRoom, 1 or 16 in flight each), the
// room on its owner numbers each message and emits it to every member; the timing ends when every
// member got every message. Reported: messages/s through the room, deliveries/s, and the latency from
// the send to each delivery (p50, p99, max), with any delivery out of seq order counted (must be 0).
func BenchmarkClusterBehaviorRoom(b *testing.B) {
	for _, window := range []int{1, 16} {
		b.Run(fmt.Sprintf("inflight=%d", 3*window), func(b *testing.B) { benchClusterBehaviorRoom(b, window) })
	}
}

// newBenchCluster starts nodes in-process nodes of one cluster, each with cfg (its Cluster addresses
// set here) and setup, and waits (at most 30 s) until every node sees all of them.
func newBenchCluster(b *testing.B, nodes int, cfg engine.Config, setup func(e *engine.Engine)) []*engine.Engine {
	b.Helper()
	var es []*engine.Engine
	var seed string
	for i := range nodes {
		c := cfg
		c.Cluster = engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}
		if i > 0 {
			c.Cluster.Seeds = []string{seed}
		}
		e := newBehaviorBenchEngine(b, c, setup)
		if i == 0 {
			seed = e.ClusterMembers()[0].GossipAddr
		}
		es = append(es, e)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, e := range es {
		for len(e.ClusterMembers()) != nodes {
			if time.Now().After(deadline) {
				b.Fatalf("the cluster did not form: a node sees %d of %d", len(e.ClusterMembers()), nodes)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return es
}

func benchClusterBehaviorRoom(b *testing.B, window int) {
	const (
		nodes, perNode = 3, 10
		room           = "br:1"
	)
	es := newBenchCluster(b, nodes, engine.Config{}, func(e *engine.Engine) {
		e.Of("/").Define("br:", func(string) engine.Behavior { return &stampRoom{} }, engine.WithMaxPending(1<<20))
	})
	var delivered atomic.Int64
	var sinks []*latSink
	var senders []*engine.Socket
	for n, e := range es {
		var mu sync.Mutex
		var socks []*engine.Socket
		all := make(chan struct{})
		e.OnConnection(func(s *engine.Socket) {
			mu.Lock()
			socks = append(socks, s)
			if len(socks) == perNode {
				close(all)
			}
			mu.Unlock()
		})
		for i := range perNode {
			s := &latSink{id: fmt.Sprint(n, ".", i), delivered: &delivered}
			sinks = append(sinks, s)
			e.Open(s).Packet(&packet.Packet{Kind: packet.KindConnect, Namespace: "/"})
		}
		<-all
		for _, s := range socks {
			if err := s.JoinRoom(context.Background(), room, nil); err != nil {
				b.Fatal(err)
			}
		}
		senders = append(senders, socks[0])
	}
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, s := range senders {
		for range window {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := s.RequestRoom(context.Background(), room, "say", time.Now().UnixNano()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := int64(b.N) * nodes * perNode
	for delivered.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	var lat []time.Duration
	disorder := 0
	for _, s := range sinks {
		s.mu.Lock()
		lat = append(lat, s.lat...)
		disorder += s.disorder
		s.mu.Unlock()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(float64(disorder), "out-of-order")
}

// BenchmarkClusterRoomsListing measures Namespace.Rooms on three in-process nodes holding 3 000 rooms of
// one behaviour (about 1 000 owned by each, one member each, metadata {"mode": "a" or "b"}): a
// cluster-wide listing of all of them, and one filtered to half.
func BenchmarkClusterRoomsListing(b *testing.B) {
	const nodes, rooms = 3, 3000
	es := newBenchCluster(b, nodes, engine.Config{MaxRoomsPerSocket: rooms}, func(e *engine.Engine) {
		e.Of("/").Define("l:", func(room string) engine.Behavior { return &metaRoom{} })
	})
	var delivered atomic.Int64
	socks, _ := benchSockets(b, es[0], 1, &delivered)
	for i := 0; i < rooms; i += 100 {
		var names []string
		for j := i; j < i+100; j++ {
			names = append(names, fmt.Sprint("l:", j))
		}
		if err := socks[0].Join(context.Background(), names...); err != nil {
			b.Fatal(err)
		}
	}
	ns := es[1].Of("/")
	for _, c := range []struct {
		name   string
		filter map[string]any
		want   int
	}{{"all", nil, rooms}, {"filtered", map[string]any{"mode": "a"}, rooms / 2}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				l, err := ns.Rooms(context.Background(), "l:", c.filter)
				if err != nil || !l.Complete || len(l.Rooms) != c.want {
					b.Fatalf("%d rooms, complete %v, %v", len(l.Rooms), l.Complete, err)
				}
			}
		})
	}
}

// metaRoom sets metadata {"mode": "a"} on even-numbered rooms, "b" on the others.
type metaRoom struct{ engine.BaseBehavior }

func (metaRoom) OnCreate(r *engine.RoomContext, _ engine.Arg) error {
	var n int
	fmt.Sscanf(r.Name(), "l:%d", &n)
	r.SetMetadata(map[string]string{"mode": string(rune('a' + n%2))})
	return nil
}
