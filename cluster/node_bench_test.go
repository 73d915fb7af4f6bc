//go:build integration

package cluster_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/clustertest"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// counter counts received envelopes and signals when a target is reached.
type counter struct {
	clustertest.Recorder
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func (c *counter) Receive(cluster.Member, *clusterv1.Envelope) {
	if c.n.Add(1) == c.target.Load() {
		c.done <- struct{}{}
	}
}

// BenchmarkSend measures one-way throughput between two nodes in one process: b.N envelopes (a
// ServerEvent of about 100 bytes) from a to b, until b's Handler has seen them all.
func BenchmarkSend(b *testing.B) {
	a := startNode(b, nil)
	h := &counter{done: make(chan struct{}, 1)}
	cfg := baseConfig(b)
	cfg.Seeds = []string{a.Self().GossipAddr}
	r, err := cluster.New(cfg, h)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	a.rec.WaitUp(b, wait, r.ID())
	env := event(1, string(make([]byte, 100)))

	b.ReportAllocs()
	h.target.Store(int64(b.N))
	start := time.Now()
	for b.Loop() {
		for {
			err := a.Send(r.ID(), env)
			if !errors.Is(err, cluster.ErrQueueFull) {
				if err != nil {
					b.Fatal(err)
				}
				break
			}
			time.Sleep(10 * time.Microsecond) // the benchmark wants every envelope: back off
		}
	}
	select {
	case <-h.done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", h.n.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
