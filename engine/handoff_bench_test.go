//go:build integration

package engine_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// benchNode starts an engine with the handoff behaviours (snap:, plain:) and id; stop shuts it down.
func benchNode(b *testing.B, id, seed string, events chan string) (e *engine.Engine, url string, stop func()) {
	b.Helper()
	cfg := engine.Config{Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0", NodeID: id}}
	if seed != "" {
		cfg.Cluster.Seeds = []string{seed}
	}
	e, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	handoffSetup(events)(e)
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Shutdown(ctx)
		srv.Close()
	}
	b.Cleanup(stop)
	return e, "ws" + strings.TrimPrefix(srv.URL, "http"), stop
}

// BenchmarkHandoffPause measures the pause a client sees while a behaviour room with a Snapshotter
// moves: a member on node A asks the room (a say, answered with the count and the answering node)
// back to back, while node C joins the cluster (the room moves from B to C) and then shuts down (it
// moves back). Reported: join-ms, the time from C's Start returning until the first answer from C;
// join-pause-ms and leave-pause-ms, the longest single request during each move (the room holds work
// while it moves, so this is the pause); the medians over the iterations; failed/op, requests that
// failed with ErrRoomUnavailable (in flight to the leaving node when it left).
func BenchmarkHandoffPause(b *testing.B) {
	events := make(chan string, 1024)
	go func() {
		for range events {
		}
	}()
	b.Cleanup(func() { close(events) })
	a, aURL, _ := benchNode(b, "node-a", "", events)
	seed := a.ClusterMembers()[0].GossipAddr
	nb, _, _ := benchNode(b, "node-b", seed, events)
	for len(a.ClusterMembers()) != 2 || len(nb.ClusterMembers()) != 2 {
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	cl, err := client.Dial(ctx, aURL+"/", client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.Connect(ctx, "/", nil)
	if err != nil {
		b.Fatal(err)
	}
	type ack struct {
		Node  string `json:"node"`
		Error string `json:"error"`
	}
	failed := 0
	say := func(room string) (ack, time.Duration) {
		start := time.Now()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		res, err := s.EmitWithAck(c, "say", map[string]any{"room": room, "payload": 1})
		var a ack
		if err != nil || len(res) != 1 || res[0].Decode(&a) != nil || a.Error != "" {
			if a.Error == "" {
				b.Fatalf("say: %v %+v", err, a)
			}
			failed++ // in flight to a node as it left (ErrRoomUnavailable): not acked
		}
		return a, time.Since(start)
	}
	var joins, joinPauses, leavePauses []float64
	b.ResetTimer()
	for i := range b.N {
		cID := fmt.Sprintf("node-c%d", i)
		room := movingRoom(b, "snap:", "node-a", "node-b", cID)
		jr, err := s.EmitWithAck(ctx, "join", map[string]any{"room": room})
		if err != nil || len(jr) != 1 || string(jr[0].Data) != `{"ok":true}` {
			b.Fatalf("join %s: %s %v", room, jr[0].Data, err)
		}
		say(room)
		// C joins: ask until C answers.
		var stopC func()
		var started time.Time
		ready := make(chan struct{})
		go func() {
			defer close(ready)
			_, _, stopC = benchNode(b, cID, seed, events)
			started = time.Now()
		}()
		joins = append(joins, 0)
		joinPauses = append(joinPauses, 0)
		for moved := false; !moved; {
			a, d := say(room)
			joinPauses[i] = max(joinPauses[i], ms(d))
			select {
			case <-ready:
				if a.Node == cID {
					joins[i] = ms(time.Since(started))
					moved = true
				}
			default:
			}
		}
		// C shuts down: ask until B answers again.
		left := make(chan struct{})
		go func() {
			defer close(left)
			stopC()
		}()
		leavePauses = append(leavePauses, 0)
		for back := false; !back; {
			a, d := say(room)
			leavePauses[i] = max(leavePauses[i], ms(d))
			select {
			case <-left:
				back = a.Node == "node-b"
			default:
			}
		}
		s.EmitWithAck(ctx, "leave", room)
	}
	b.StopTimer()
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(joins), "join-ms")
	b.ReportMetric(med(joinPauses), "join-pause-ms")
	b.ReportMetric(med(leavePauses), "leave-pause-ms")
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
