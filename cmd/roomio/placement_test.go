package main_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
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

// sayResult is one say of a sender: its payload and, when acked, the seq the room gave it.
type sayResult struct {
	payload, seq int
}

// sayMany makes each sender say n payloads (sender i: i*1000+base+k) concurrently, one after another's
// ack; a say that fails is not acked (it may or may not have been said). It returns the acked says.
func sayMany(t *testing.T, room string, senders []*user, base, n int) []sayResult {
	t.Helper()
	var mu sync.Mutex
	var out []sayResult
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() {
			for k := range n {
				p := i*1000 + base + k
				ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
				res, err := s.EmitWithAck(ctx, "say", room, p)
				cancel()
				var a struct {
					OK  bool `json:"ok"`
					Seq int  `json:"seq"`
				}
				if err != nil || len(res) != 1 || res[0].Decode(&a) != nil || !a.OK {
					t.Logf("%s: say %d not acked: %s %v", s.name, p, argsJSON(res), err)
					if err != nil && s.Socket.Err() != nil {
						return // its node is gone
					}
					continue
				}
				mu.Lock()
				out = append(out, sayResult{p, a.Seq})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

type chatSaid struct {
	Room    string `json:"room"`
	From    string `json:"from"`
	Payload int    `json:"payload"`
	Seq     int    `json:"seq"`
}

// checkOrder asserts that every member received said events numbered 1…total, once each, the same
// sequence for all, and that every acked say is there with its acked seq.
func checkOrder(t *testing.T, members []*user, room string, total int, acked []sayResult) {
	t.Helper()
	var first []chatSaid
	for _, u := range members {
		evs := saidEvents(u, total)
		if len(evs) < total {
			var seqs []int
			for _, ev := range evs {
				var m chatSaid
				ev.Decode(&m)
				seqs = append(seqs, m.Seq)
			}
			t.Fatalf("%s: %d said events of %d within %v: seqs %v", u.name, len(evs), total, clusterWait, seqs)
		}
		var got []chatSaid
		for i, ev := range evs[:total] {
			var m chatSaid
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
	bySeq := make(map[int]int, len(first))
	for _, m := range first {
		bySeq[m.Seq] = m.Payload
	}
	for _, a := range acked {
		if p, ok := bySeq[a.seq]; !ok || p != a.payload {
			t.Fatalf("say %d acked with seq %d, said there: %d (%v)", a.payload, a.seq, p, ok)
		}
	}
}

func maxSeq(acked []sayResult) int {
	m := 0
	for _, a := range acked {
		m = max(m, a.seq)
	}
	return m
}

// TestClusterProcessesRoomHandoff: a chat room (replicated) with members on three node processes moves
// with its seq and history when a fourth node joins and becomes its owner, and back when that node gets
// SIGTERM, senders on every node saying all along: every member receives every message once, in one
// order, with no gap. Then its owner is killed (kill -9): the room resumes on a survivor from the
// replica with every acknowledged message in its history, and the surviving members receive from the
// new owner.
func TestClusterProcessesRoomHandoff(t *testing.T) {
	c := newTestCluster(t)
	ids := []string{"n1", "n2", "n3", "n4"}
	probe := []string{"-probe-interval", "200ms"}
	var nodes []*procNode
	for i, id := range ids[:3] {
		join := ""
		if i > 0 {
			join = nodes[0].p.gossip
		}
		nodes = append(nodes, c.startNode(id, freePorts(t), false, join, append([]string{"-node-id", id}, probe...)...))
	}
	c.nodes = nodes
	c.converge(nodes...)
	// A room that node 1 does not own, which node 4 will own.
	var room string
	var owner *procNode
	for i := range 1000 {
		r := fmt.Sprintf("room%d", i)
		o := placeOwner(nodes, "/", r)
		four := []*procNode{nodes[0], nodes[1], nodes[2], {id: "n4"}}
		if o != nodes[0] && placeOwner(four, "/", r).id == "n4" {
			room, owner = r, o
			break
		}
	}
	t.Logf("room %s: owned by %s, then n4", room, owner.name)
	var members []*user
	for i, n := range nodes {
		for j := range 2 {
			u := n.user(t, fmt.Sprintf("u%d%d", i+1, j+1))
			u.call(t, joined(room), "join", room)
			members = append(members, u)
		}
	}
	senders := []*user{members[0], members[2], members[4]}
	const per = 15

	// Three nodes.
	acked := sayMany(t, room, senders, 0, per)
	if len(acked) != per*len(senders) {
		t.Fatalf("%d says acked of %d", len(acked), per*len(senders))
	}
	checkOrder(t, members, room, len(acked), acked)

	// A fourth node joins while the senders say: the room moves to it.
	done := make(chan []sayResult)
	go func() { done <- sayMany(t, room, senders, 100, per) }()
	n4 := c.startNode("n4", freePorts(t), false, nodes[0].p.gossip, append([]string{"-node-id", "n4"}, probe...)...)
	c.converge(append(nodes, n4)...)
	acked = append(acked, <-done...)
	acked = append(acked, sayMany(t, room, senders, 200, 2)...) // after the move
	checkOrder(t, members, room, maxSeq(acked), acked)

	// SIGTERM of the owner (node 4) while the senders say: the room moves back, state and all.
	go func() { done <- sayMany(t, room, senders, 300, per) }()
	select {
	case <-n4.terminate(t):
	case <-time.After(clusterWait):
		t.Fatal("n4 did not exit after SIGTERM")
	}
	c.converge(nodes...)
	acked = append(acked, <-done...)
	acked = append(acked, sayMany(t, room, senders, 400, 2)...)
	checkOrder(t, members, room, maxSeq(acked), acked)

	// kill -9 of the owner: the replica node runs the room from the copy.
	var survivors []*procNode
	var alive []*user
	for i, n := range nodes {
		if n != owner {
			survivors = append(survivors, n)
			alive = append(alive, members[2*i], members[2*i+1])
		}
	}
	go func() { done <- sayMany(t, room, senders, 500, per) }()
	owner.kill(t)
	killed := time.Now()
	acked = append(acked, <-done...)
	c.converge(survivors...)
	var from *user
	for _, s := range senders {
		if slices.Contains(alive, s) {
			from = s
			break
		}
	}
	before := make([]int, len(alive))
	for i, u := range alive {
		u.mu.Lock()
		before[i] = len(u.evs)
		u.mu.Unlock()
	}
	last := sayMany(t, room, []*user{from}, 900, 1)
	if len(last) != 1 {
		t.Fatal("no say acked after the kill")
	}
	t.Logf("room answering again %v after the kill", time.Since(killed).Round(time.Millisecond))
	top := maxSeq(acked)
	if last[0].seq <= top {
		t.Fatalf("say after the kill got seq %d, an acked say had %d", last[0].seq, top)
	}
	for i, u := range alive {
		u.wait(t, "the say after the kill", func(evs []client.Event) bool {
			for _, ev := range evs[before[i]:] {
				var m chatSaid
				if ev.Name == "said" && ev.Decode(&m) == nil && m.Seq == last[0].seq && m.Payload == last[0].payload {
					return true
				}
			}
			return false
		})
	}
	// A newcomer's history holds every acknowledged message still in its window, in seq order.
	nu := survivors[0].user(t, "newcomer")
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	res, err := nu.EmitWithAck(ctx, "join", room)
	cancel()
	var ack struct {
		OK      bool       `json:"ok"`
		History []chatSaid `json:"history"`
	}
	if err != nil || len(res) != 1 || res[0].Decode(&ack) != nil || !ack.OK {
		t.Fatalf("newcomer's join: %s %v", argsJSON(res), err)
	}
	h := ack.History
	if len(h) == 0 || h[len(h)-1].Seq != last[0].seq {
		t.Fatalf("history ends %+v, want seq %d", h[len(h)-1:], last[0].seq)
	}
	bySeq := map[int]int{}
	for i, m := range h {
		if i > 0 && m.Seq != h[i-1].Seq+1 {
			t.Fatalf("history jumps from seq %d to %d", h[i-1].Seq, m.Seq)
		}
		bySeq[m.Seq] = m.Payload
	}
	for _, a := range acked {
		if a.seq >= h[0].Seq {
			if p, ok := bySeq[a.seq]; !ok || p != a.payload {
				t.Fatalf("acked say %d (seq %d) lost: history has %d (%v)", a.payload, a.seq, p, ok)
			}
		}
	}
}

// saidEvents waits up to clusterWait for n said events of u and returns those that came (all, when
// fewer).
func saidEvents(u *user, n int) []client.Event {
	deadline := time.After(clusterWait)
	for {
		u.mu.Lock()
		var out []client.Event
		for _, ev := range u.evs {
			if ev.Name == "said" {
				out = append(out, ev)
			}
		}
		u.mu.Unlock()
		if len(out) >= n {
			return out
		}
		select {
		case <-u.notify:
		case <-deadline:
			return out
		}
	}
}
