//go:build integration

package engine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/engine"
)

// TestClusterRoomsListing: rooms owned by each of three nodes, with members on every node, are listed
// by every node with their owner, metadata and member count.
func TestClusterRoomsListing(t *testing.T) {
	var created atomic.Int64
	hs := startNodes(t, 3, func(e *engine.Engine) { matchSetup(&created)(e); joinHandlers(e) })
	// One room owned by each node.
	rooms := map[string]string{} // room → owner
	for i := 0; len(rooms) < 3; i++ {
		name := fmt.Sprintf("big:%d", i)
		owner := hs[0].e.Of("/").NodeOf(name)
		dup := false
		for _, o := range rooms {
			dup = dup || o == owner
		}
		if !dup {
			rooms[name] = owner
		}
	}
	want := map[string]int{}
	k := 0
	for name := range rooms {
		k++
		for i := range k { // room k gets k members, on nodes 0..k-1
			u := hs[i].connect("/", nil)
			if msg := askJoin(t, u, name, map[string]string{"mode": name}); msg != "" {
				t.Fatalf("join %s: %s", name, msg)
			}
			want[name]++
		}
	}
	for _, h := range hs {
		list, err := h.e.Of("/").Rooms(ctxT(t), "big:", nil)
		if err != nil || !list.Complete || len(list.Rooms) != 3 {
			t.Fatalf("node %s: %+v, %v", h.e.NodeID(), list, err)
		}
		for _, r := range list.Rooms {
			if r.Node != rooms[r.Name] || r.Clients != want[r.Name] || string(r.Metadata) != fmt.Sprintf(`{"mode":%q}`, r.Name) {
				t.Fatalf("node %s lists %+v; want owner %s, %d members", h.e.NodeID(), r, rooms[r.Name], want[r.Name])
			}
		}
		// The filter is applied on every node.
		for name := range rooms {
			l, _ := h.e.Of("/").Rooms(ctxT(t), "big:", map[string]any{"mode": name})
			if len(l.Rooms) != 1 || l.Rooms[0].Name != name {
				t.Fatalf("filtered on %s: %+v", name, l)
			}
		}
	}
	// A listing whose time is up before the peers answer says so.
	dead, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	l, err := hs[0].e.Of("/").Rooms(dead, "big:", nil)
	if err != nil || l.Complete || len(l.Missing) != 2 {
		t.Fatalf("expired listing: %+v, %v", l, err)
	}
}

// TestClusterJoinOrCreateRace: many sockets on three nodes ask at once for a room of a behaviour; with
// room for all of them, exactly one room is created and everybody is in it; with three places a room,
// exactly ceil(n/3) rooms are created, each full but the last.
func TestClusterJoinOrCreateRace(t *testing.T) {
	var created atomic.Int64
	hs := startNodes(t, 3, matchSetup(&created))
	var users []*user
	for _, h := range hs {
		for range 15 {
			users = append(users, h.connect("/", nil))
		}
	}
	began := time.Now()
	res := findAll(t, users, "big:", map[string]string{"mode": "x"}, map[string]string{"mode": "x"})
	t.Logf("45 join-or-creates at once: %v", time.Since(began))
	for _, f := range res {
		if f.Error != "" || f.Room != res[0].Room {
			t.Fatalf("find: %+v, first %+v", f, res[0])
		}
	}
	if created.Load() != 1 {
		t.Fatalf("%d rooms created for 45 finds with room for all, want 1", created.Load())
	}
	list, _ := hs[2].e.Of("/").Rooms(ctxT(t), "big:", nil)
	if len(list.Rooms) != 1 || list.Rooms[0].Clients != 45 {
		t.Fatalf("listing: %+v", list)
	}

	created.Store(0)
	began = time.Now()
	res = findAll(t, users, "m", map[string]string{"mode": "y"}, map[string]string{"mode": "y"})
	t.Logf("45 join-or-creates at once, 3 places a room: %v", time.Since(began))
	per := map[string]int{}
	for _, f := range res {
		if f.Error != "" {
			t.Fatalf("find: %+v", f)
		}
		per[f.Room]++
	}
	if created.Load() != 15 || len(per) != 15 {
		t.Fatalf("45 finds, 3 places a room: %d created, members %v; want 15 full rooms", created.Load(), per)
	}
	for r, n := range per {
		if n != 3 {
			t.Fatalf("room %s has %d members", r, n)
		}
	}
	list, _ = hs[1].e.Of("/").Rooms(ctxT(t), "m", map[string]any{"mode": "y"})
	if len(list.Rooms) != 15 {
		t.Fatalf("listing: %d rooms", len(list.Rooms))
	}
}
