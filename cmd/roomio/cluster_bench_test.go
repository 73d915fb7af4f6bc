package main_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
)

// BenchmarkClusterProcessesFanout measures cross-node deliveries with one OS process per node: a room
// spread over 3 node processes (the chat app; native clients on every node), a client on node 1 says to
// it with up to 16 says in flight, and a delivery counts when a client decoded the "said" event.
//
//	go test -run='^$' -bench=ClusterProcesses -benchtime=2s ./cmd/roomio/
func BenchmarkClusterProcessesFanout(b *testing.B) {
	for _, perNode := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=3x%d", perNode), func(b *testing.B) {
			c := newTestCluster(b)
			nodes := c.startNodes(3)
			var delivered atomic.Int64
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var sender *client.Socket
			for i, n := range nodes {
				for j := range perNode {
					cl, err := client.Dial(ctx, "ws://"+n.p.addr+"/ws", client.Options{})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { cl.Close() })
					s, err := cl.Connect(ctx, "/", nil, client.WithSetup(func(s *client.Socket) {
						s.On("said", func([]client.Arg, client.AckFunc) { delivered.Add(1) })
					}))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.EmitWithAck(ctx, "join", "bench"); err != nil {
						b.Fatal(err)
					}
					if i == 0 && j == 0 {
						sender = s
					}
				}
			}
			members := int64(3 * perNode)
			await := func(want int64) {
				for delivered.Load() < want {
					runtime.Gosched()
					if ctx.Err() != nil {
						b.Fatalf("%d of %d deliveries", delivered.Load(), want)
					}
				}
			}
			b.ResetTimer()
			began := time.Now()
			for i := 1; i <= b.N; i++ {
				if err := sender.Emit(ctx, "say", "bench", i); err != nil {
					b.Fatal(err)
				}
				if i > 16 {
					await(int64(i-16) * members)
				}
			}
			await(int64(b.N) * members)
			b.ReportMetric(float64(int64(b.N)*members)/time.Since(began).Seconds(), "deliveries/s")
		})
	}
}
