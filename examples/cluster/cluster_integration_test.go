//go:build integration

// In-process multi-node test, run without the race detector (go test -tags integration
// ./examples/cluster/): the three nodes share grpc's process-global logger, which races under -race.

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
)

const waitFor = 10 * time.Second

// TestClusterChat starts the example's cluster on free ports and chats across it: a user on the first
// node and one on the last join a room, and what each says reaches the other.
func TestClusterChat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := startCluster(ctx, []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var clients []*client.Client
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := c.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for _, cl := range clients {
			cl.Close()
		}
	})
	// Every node must know every other before a broadcast can reach them all.
	deadline := time.Now().Add(waitFor)
	for _, n := range c.nodes {
		for len(n.eng.ClusterMembers()) != len(c.nodes) {
			if time.Now().After(deadline) {
				t.Fatalf("node %s sees %d members, want %d", n.addr, len(n.eng.ClusterMembers()), len(c.nodes))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	type user struct {
		s   *client.Socket
		rec chan client.Event
	}
	connect := func(addr string) user {
		t.Helper()
		cl, err := client.Dial(ctx, "ws://"+addr+"/ws", client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		u := user{rec: make(chan client.Event, 100)}
		u.s, err = cl.Connect(ctx, "/", nil, client.WithSetup(func(s *client.Socket) {
			s.OnAny(func(ev string, args []client.Arg, ack client.AckFunc) {
				u.rec <- client.Event{Name: ev, Args: args, Ack: ack}
			})
		}))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	call := func(u user, event string, args ...any) {
		t.Helper()
		res, err := u.s.EmitWithAck(ctx, event, args...)
		var ack struct{ OK bool }
		if err != nil || len(res) != 1 || json.Unmarshal(res[0].Data, &ack) != nil || !ack.OK {
			t.Fatalf("%s%v acked %v, %v; want ok", event, args, res, err)
		}
	}
	expect := func(u user, name string, want map[string]any) {
		t.Helper()
		select {
		case ev := <-u.rec:
			var got map[string]any
			if ev.Name != name || len(ev.Args) != 1 || json.Unmarshal(ev.Args[0].Data, &got) != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("user %s got %q %v, want %q %v", u.s.ID(), ev.Name, ev.Args, name, want)
			}
		case <-time.After(waitFor):
			t.Fatalf("user %s: no %q arrived", u.s.ID(), name)
		}
	}

	a, b := connect(c.nodes[0].addr), connect(c.nodes[2].addr)
	call(a, "join", "lobby")
	call(b, "join", "lobby")
	expect(a, "joined", map[string]any{"room": "lobby", "id": b.s.ID()})
	call(b, "say", "lobby", "hello from node 3")
	for _, u := range []user{a, b} {
		// The first message said in lobby through node 3 (each node numbers its own until behaviour rooms
		// are placed on one node of the cluster).
		expect(u, "said", map[string]any{"room": "lobby", "from": b.s.ID(), "payload": "hello from node 3", "seq": 1.0})
	}
	call(a, "whisper", b.s.ID(), "psst")
	expect(b, "whispered", map[string]any{"from": a.s.ID(), "payload": "psst"})
}
