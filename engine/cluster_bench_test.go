//go:build integration

package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

// benchCluster starts n in-process nodes whose sockets join room "bench" on connect.
func benchCluster(b *testing.B, n int) []*engine.Engine {
	b.Helper()
	var es []*engine.Engine
	var seed string
	for i := range n {
		cfg := engine.Config{Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}}
		if i > 0 {
			cfg.Cluster.Seeds = []string{seed}
		}
		e, err := engine.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		e.OnConnection(func(s *engine.Socket) { s.Join(context.Background(), "bench") })
		if err := e.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		if i == 0 {
			seed = e.ClusterMembers()[0].GossipAddr
		}
		es = append(es, e)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, e := range es {
		for len(e.ClusterMembers()) != n {
			if time.Now().After(deadline) {
				b.Fatal("cluster did not converge")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return es
}

// addSinks connects k in-process sockets to e.
func addSinks(b *testing.B, e *engine.Engine, k int, delivered *atomic.Int64) []*sink {
	b.Helper()
	var out []*sink
	for i := range k {
		s := &sink{id: fmt.Sprint(i), q: transport.NewQueue(1 << 20), delivered: delivered}
		e.Open(s).Packet(&packet.Packet{Kind: packet.KindConnect, Namespace: "/"})
		out = append(out, s)
	}
	return out
}

func drainUntil(delivered *atomic.Int64, want int64, sinks []*sink) {
	for delivered.Load() < want {
		runtime.Gosched()
	}
	ctx := context.Background()
	var frames [][]byte
	for _, s := range sinks {
		frames, _, _ = s.q.Take(ctx, frames)
	}
}

// BenchmarkClusterFanout: a room spread over 3 in-process nodes (members in-process sinks on every
// node), emits from node 0; deliveries counted on all nodes, queues drained inside the timing.
func BenchmarkClusterFanout(b *testing.B) {
	for _, perNode := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("members=3x%d", perNode), func(b *testing.B) {
			es := benchCluster(b, 3)
			var delivered atomic.Int64
			var sinks []*sink
			for _, e := range es {
				sinks = append(sinks, addSinks(b, e, perNode, &delivered)...)
			}
			total := int64(3 * perNode)
			waitMembers(b, es[0], int(total))
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			sent := int64(0)
			for i := 1; i <= b.N; i++ {
				es[0].To("bench").Emit("tick", i)
				sent += total
				if i%window == 0 || i == b.N {
					drainUntil(&delivered, sent, sinks)
				}
			}
			b.ReportMetric(float64(sent)/time.Since(began).Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkClusterEmitCost: a room whose only member is on node 0, emitted to from node 1, as the
// cluster grows: interest routing keeps it at one cross-node message per emit.
func BenchmarkClusterEmitCost(b *testing.B) {
	for _, n := range []int{3, 10} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			es := benchCluster(b, n)
			var delivered atomic.Int64
			sinks := addSinks(b, es[0], 1, &delivered)
			waitMembers(b, es[1], 1)
			sent0, _, _, _ := es[1].ClusterStats()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				es[1].To("bench").Emit("tick", i)
				if i%window == 0 || i == b.N {
					drainUntil(&delivered, int64(i), sinks)
				}
			}
			b.StopTimer()
			sent1, _, _, _ := es[1].ClusterStats()
			b.ReportMetric(float64(sent1-sent0)/float64(b.N), "msgs/emit")
		})
	}
}
