package main_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
)

// placeOwner is the cluster's placement rule for behaviour rooms (proto/roomio/cluster/v1): of the live
// nodes, the one with the highest fmix64(FNV-1a 64 of node id, 0, namespace, 0, room) (the greater id
// on a tie).
func placeOwner(nodes []*procNode, ns, room string) *procNode {
	var best *procNode
	var bh uint64
	for _, n := range nodes {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s\x00%s", n.id, ns, room)
		v := h.Sum64()
		v ^= v >> 33
		v *= 0xff51afd7ed558ccd
		v ^= v >> 33
		v *= 0xc4ceb9fe1a85ec53
		v ^= v >> 33
		if best == nil || v > bh || (v == bh && n.id > best.id) {
			best, bh = n, v
		}
	}
	return best
}

// roomOwnedBy returns a chat room name whose owner among nodes is not one of avoid.
func roomOwnedBy(t testing.TB, nodes []*procNode, avoid ...*procNode) string {
	t.Helper()
	for i := range 100 {
		room := fmt.Sprintf("room%d", i)
		o := placeOwner(nodes, "/", room)
		ok := true
		for _, a := range avoid {
			ok = ok && o != a
		}
		if ok {
			return room
		}
	}
	t.Fatal("no room name fits")
	return ""
}

// TestClusterProcessesPlacedRoomOrder: a chat room has members on three node processes and lives on one
// of them (not the node of its first joiner); senders on every node say concurrently; every member
// receives every message once, with seq 1, 2, 3… and no gap, in one order; each say's ack carries the
// seq its said event has.
func TestClusterProcessesPlacedRoomOrder(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	room := roomOwnedBy(t, nodes, nodes[0])
	t.Logf("room %s is owned by %s", room, placeOwner(nodes, "/", room).name)
	var members []*user
	for i, n := range nodes {
		for j := range 2 {
			u := n.user(t, fmt.Sprintf("u%d%d", i+1, j+1))
			u.call(t, joined(room), "join", room) // the first on node 1, which does not own the room
			members = append(members, u)
		}
	}
	const perSender = 30
	senders := []*user{members[0], members[2], members[4]}
	acks := make([]map[int]int, len(senders)) // payload → acked seq
	var wg sync.WaitGroup
	for i, s := range senders {
		acks[i] = make(map[int]int)
		wg.Go(func() {
			for k := range perSender {
				ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
				res, err := s.EmitWithAck(ctx, "say", room, i*1000+k)
				cancel()
				var a struct {
					OK  bool `json:"ok"`
					Seq int  `json:"seq"`
				}
				if err != nil || len(res) != 1 || res[0].Decode(&a) != nil || !a.OK {
					t.Errorf("%s: say %d: %s %v", s.name, k, argsJSON(res), err)
					return
				}
				acks[i][i*1000+k] = a.Seq
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := perSender * len(senders)
	type saidMsg struct {
		Room    string `json:"room"`
		From    string `json:"from"`
		Payload int    `json:"payload"`
		Seq     int    `json:"seq"`
	}
	var first []saidMsg
	for _, u := range members {
		evs := u.all(t, "said", total)
		if len(evs) != total {
			t.Fatalf("%s: %d said events, want %d", u.name, len(evs), total)
		}
		var got []saidMsg
		for i, ev := range evs {
			var m saidMsg
			if err := ev.Decode(&m); err != nil || m.Room != room || m.Seq != i+1 {
				t.Fatalf("%s: said #%d is %s, want seq %d", u.name, i, argsJSON(ev.Args), i+1)
			}
			got = append(got, m)
		}
		if first == nil {
			first = got
			continue
		}
		for i := range got {
			if got[i] != first[i] {
				t.Fatalf("%s: said #%d = %+v, %s got %+v", u.name, i, got[i], members[0].name, first[i])
			}
		}
	}
	for _, m := range first {
		s := m.Payload / 1000
		if m.From != senders[s].ID() || acks[s][m.Payload] != m.Seq {
			t.Fatalf("said %+v: sender %s acked seq %d", m, senders[s].name, acks[s][m.Payload])
		}
	}
}
