package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/clusterlink"
	"github.com/roomio/roomio/internal/packet"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Handoff and replication of placed behaviour rooms: the engine's side of actors/handoff.go. A node that
// starts running a placed room pulls its state from every peer (RoomStateRequest) and from its own
// store of copies; a peer that runs the room hands it over. A replicated room's owner pushes its state
// to its replica node (the rendezvous second choice) after each change; a node whose room moves away,
// or that shuts down, pushes it to the new owner. The protocol is described in
// proto/roomio/cluster/v1/cluster.proto.

// pullTimeout bounds how long a node that starts running a placed room waits for its peers' answers
// (a peer that left answers at once by leaving); the room holds its work meanwhile.
const pullTimeout = 3 * time.Second

// fenceTimeout bounds a handoff's wait for the room's emits to reach every node.
const fenceTimeout = 2 * time.Second

// handoffBudget bounds Shutdown's handoff of the rooms this node runs.
const handoffBudget = 3 * time.Second

// pull is a RoomStateRequest waiting for the peers' answers.
type pull struct {
	key     string
	req     *clusterv1.Envelope
	asked   map[string]bool // every peer asked
	waiting map[string]bool // those that have not answered
	best    *actors.RoomState
	done    func(*actors.RoomState)
	timer   *time.Timer
}

// push is a pushed RoomState waiting for its acknowledgement.
type push struct {
	node    string
	version uint64
	done    func()
}

func stateKey(ns, room string) string { return ns + "\x00" + room }

// better reports whether a is a better state to restore than b: one that exists, then a live one (the
// room as its owner ran it), then the higher version.
func better(a, b *actors.RoomState) bool {
	switch {
	case a == nil || !a.Found:
		return false
	case b == nil || !b.Found:
		return true
	case a.Live != b.Live:
		return a.Live
	}
	return a.Version > b.Version
}

func stateToWire(ns, room string, st *actors.RoomState) *clusterv1.RoomState {
	w := &clusterv1.RoomState{Room: &clusterv1.Room{Namespace: ns, Room: room}}
	if st == nil || !st.Found {
		return w
	}
	w.Found, w.Live, w.Snapshot, w.Version, w.Data = true, st.Live, st.Snapshot, st.Version, st.Data
	w.Members, w.MaxClients, w.Locked = st.Members, uint32(st.MaxClients), st.Locked
	return w
}

func stateFromWire(w *clusterv1.RoomState) *actors.RoomState {
	if !w.GetFound() {
		return nil
	}
	return &actors.RoomState{Found: true, Live: w.Live, Snapshot: w.Snapshot, Version: w.Version, Data: w.Data,
		Members: w.Members, MaxClients: int(w.MaxClients), Locked: w.Locked}
}

// successor returns the owner of room of ns among the live nodes other than this one.
func (l *link) successor(ns, room string) (string, bool) {
	best, bh := "", uint64(0)
	for _, m := range l.node.Members() {
		if h := placeHash(m.ID, ns, room); best == "" || h > bh || (h == bh && m.ID > best) {
			best, bh = m.ID, h
		}
	}
	return best, best != ""
}

func (l *link) nodeAlive(node string) bool {
	if node == l.node.ID() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up[node]
}

// heardFrom notes a peer that sent room work before this node saw it come up: it may run a room this
// node is about to pull (a node that just joined hears from its peers before its view holds them all).
func (l *link) heardFrom(node string) {
	l.mu.Lock()
	if !l.up[node] && len(l.heard) < maxDeferred {
		l.heard[node] = true
	}
	l.mu.Unlock()
}

// pullState asks every peer for room of ns and calls done once with the best state found, its own copy
// included.
func (l *link) pullState(ns, room string, done func(*actors.RoomState)) {
	id := l.reqIDs.Add(1)
	req := &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomStateRequest{RoomStateRequest: &clusterv1.RoomStateRequest{
		RequestId: id, Room: &clusterv1.Room{Namespace: ns, Room: room}}}}
	p := &pull{key: stateKey(ns, room), req: req, asked: make(map[string]bool), waiting: make(map[string]bool), done: done}
	l.mu.Lock()
	peers := l.node.Members() // under mu: a peer that comes up later is asked by peerUpHandoff
	for _, m := range peers {
		p.waiting[m.ID], p.asked[m.ID] = true, true
	}
	for node := range l.heard {
		if !p.asked[node] {
			p.waiting[node] = true // asked once it is up (peerUpHandoff), or the pull times out
		}
	}
	l.pulls[id] = p
	p.timer = time.AfterFunc(pullTimeout, func() { l.pullAnswer(id, "", nil, true) })
	l.mu.Unlock()
	if len(p.waiting) == 0 {
		l.pullAnswer(id, "", nil, true)
		return
	}
	for _, m := range peers {
		if err := l.node.Send(m.ID, req); err != nil {
			l.pullAnswer(id, m.ID, nil, false)
		}
	}
}

// peerUpHandoff: a peer that came up is asked by the pulls under way (it may run one of their rooms:
// it sent work here before this node saw it), and gets the answers that waited for it.
func (l *link) peerUpHandoff(node string) {
	l.mu.Lock()
	type ask struct {
		id  uint64
		req *clusterv1.Envelope
	}
	var asks []ask
	for id, p := range l.pulls {
		if !p.asked[node] {
			p.asked[node], p.waiting[node] = true, true
			asks = append(asks, ask{id, p.req})
		}
	}
	deferred := l.deferred[node]
	delete(l.deferred, node)
	l.ndeferred -= len(deferred)
	l.mu.Unlock()
	for _, a := range asks {
		if err := l.node.Send(node, a.req); err != nil {
			l.pullAnswer(a.id, node, nil, false)
		}
	}
	for _, f := range deferred {
		f()
	}
}

// maxDeferred bounds the answers waiting for peers this node has not seen come up yet.
const maxDeferred = 4096

// whenUp runs f now when node is a live member, or once it comes up (within pullTimeout; after that
// f is dropped: the asker has stopped waiting).
func (l *link) whenUp(node string, f func()) {
	l.mu.Lock()
	if node == l.node.ID() || l.up[node] {
		l.mu.Unlock()
		f()
		return
	}
	if l.ndeferred >= maxDeferred {
		l.mu.Unlock()
		return
	}
	l.ndeferred++
	l.deferred[node] = append(l.deferred[node], f)
	l.mu.Unlock()
	time.AfterFunc(pullTimeout, func() {
		l.mu.Lock()
		if len(l.deferred[node]) > 0 {
			l.ndeferred -= len(l.deferred[node])
			delete(l.deferred, node)
		}
		l.mu.Unlock()
	})
}

// pullAnswer records node's answer to pull id (all: end it now) and completes the pull once every peer
// answered.
func (l *link) pullAnswer(id uint64, node string, st *actors.RoomState, all bool) {
	l.mu.Lock()
	p := l.pulls[id]
	if p == nil {
		l.mu.Unlock()
		return
	}
	if better(st, p.best) {
		p.best = st
	}
	delete(p.waiting, node)
	if !all && len(p.waiting) > 0 {
		l.mu.Unlock()
		return
	}
	delete(l.pulls, id)
	p.timer.Stop()
	// This node runs the room from now on: its own copy is used or outdated.
	if own := l.store[p.key]; better(own, p.best) {
		p.best = own
	}
	delete(l.store, p.key)
	l.mu.Unlock()
	p.done(p.best)
}

// remoteStateRequest answers a peer's pull: the room this node runs (handed over), or its copy.
func (l *link) remoteStateRequest(from string, m *clusterv1.RoomStateRequest) {
	ns, room := roomOf(m.Room)
	answer := func(st *actors.RoomState) {
		if st == nil {
			l.mu.Lock()
			st = l.store[stateKey(ns, room)]
			l.mu.Unlock()
		}
		w := stateToWire(ns, room, st)
		w.RequestId = m.RequestId
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomState{RoomState: w}})
	}
	// A peer may ask before this node saw it come up: the room is handed over (and then relayed to it)
	// only once it can be reached.
	l.whenUp(from, func() {
		n := l.placedNamespace(ns, room)
		if n == nil {
			answer(nil)
			return
		}
		l.e.system.Root.Send(n.pid, &actors.StateRequest{Room: room, From: from, Reply: answer})
	})
}

// remoteRoomState takes an answer to a pull, or a pushed copy (kept, and acknowledged).
func (l *link) remoteRoomState(from string, m *clusterv1.RoomState) {
	if m.RequestId != 0 {
		l.pullAnswer(m.RequestId, from, stateFromWire(m), false)
		return
	}
	ns, room := roomOf(m.Room)
	key := stateKey(ns, room)
	l.mu.Lock()
	switch old := l.store[key]; {
	case m.Dropped:
		delete(l.store, key)
	case old == nil || m.Version >= old.Version:
		if st := stateFromWire(m); st != nil {
			st.Live = false // a copy, not the running room
			l.store[key] = st
		}
	}
	l.mu.Unlock()
	if !m.Dropped {
		// The sender handed the room to this node: a forwarder of this node for it must not send work back
		// (sent before what the sender relays after the push, on the same path).
		if n := l.e.Lookup(ns); n != nil && n.pid != nil {
			l.e.system.Root.Send(n.pid, &actors.StatePushed{Room: room})
		}
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomStateAck{RoomStateAck: &clusterv1.RoomStateAck{
			Room: m.Room, Version: m.Version}}})
	}
}

// remoteStateAck: the replica (or the new owner of a push) holds the room up to Version.
func (l *link) remoteStateAck(from string, m *clusterv1.RoomStateAck) {
	ns, room := roomOf(m.Room)
	key := stateKey(ns, room)
	l.mu.Lock()
	done := l.takePushesLocked(key, nil, func(p push) bool { return p.node == from && p.version <= m.Version })
	l.mu.Unlock()
	for _, f := range done {
		f()
	}
	if n := l.e.Lookup(ns); n != nil && n.pid != nil {
		l.e.system.Root.Send(n.pid, &actors.ReplicaAck{Room: room, Version: m.Version})
	}
}

// takePushesLocked removes the pushes of key that match and appends their done functions to done.
// Called with l.mu held.
func (l *link) takePushesLocked(key string, done []func(), match func(push) bool) []func() {
	keep := l.pushes[key][:0]
	for _, p := range l.pushes[key] {
		if match(p) {
			done = append(done, p.done)
		} else {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		delete(l.pushes, key)
	} else {
		l.pushes[key] = keep
	}
	return done
}

// handoffDown ends what waited for node, which left: its pull answers and the pushes to it.
func (l *link) handoffDown(node string) {
	l.mu.Lock()
	var ids []uint64
	for id, p := range l.pulls {
		if p.waiting[node] {
			ids = append(ids, id)
		}
	}
	var done []func()
	for key := range l.pushes {
		done = l.takePushesLocked(key, done, func(p push) bool { return p.node == node })
	}
	l.mu.Unlock()
	for _, id := range ids {
		l.pullAnswer(id, node, nil, false)
	}
	for _, f := range done {
		f()
	}
}

// pushState sends st of room to node unasked; done (when set) runs once node acknowledged it or left.
func (l *link) pushState(node, ns, room string, st *actors.RoomState, done func()) bool {
	w := stateToWire(ns, room, st)
	if st == nil {
		w.Dropped = true
	}
	key := stateKey(ns, room)
	if done != nil {
		l.mu.Lock()
		l.pushes[key] = append(l.pushes[key], push{node: node, version: w.Version, done: done})
		l.mu.Unlock()
	}
	if err := l.node.Send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomState{RoomState: w}}); err != nil {
		l.e.log.Debug("room state not sent", "namespace", ns, "room", room, "node", node, "err", err)
		if done != nil {
			l.mu.Lock()
			ps := l.pushes[key]
			for i, p := range ps {
				if p.node == node && p.version == w.Version {
					l.pushes[key] = append(ps[:i], ps[i+1:]...)
					break
				}
			}
			l.mu.Unlock()
			done()
		}
		return false
	}
	return true
}

// fenceRoom names no room and no socket: a fetch of it is answered by each namespace actor it reaches,
// once the actor has routed everything it received before.
const fenceRoom = "\x00fence"

// fence calls done once every emit to room of n made so far has been routed by the namespace actor of
// every node with members of room (a fetch of fenceRoom travels behind the emits on each node's stream
// and is answered by the namespace actor after them: the new owner's emits, routed later, reach each
// socket after the old owner's), or after fenceTimeout.
func (l *link) fence(n *Namespace, room string, done func()) {
	e := l.e
	if !e.wg.add() {
		done()
		return
	}
	c := actors.NewCollector()
	b := &actors.Broadcast{Rooms: []string{fenceRoom}, Op: actors.OpFetch, Collector: c}
	deadline := time.Now().Add(fenceTimeout)
	l.route(n.name, []string{room}, b, deadline)
	e.system.Root.Send(n.pid, b)
	go func() {
		defer e.wg.done()
		t := time.NewTimer(fenceTimeout)
		defer t.Stop()
		select {
		case <-c.Done():
		case <-t.C:
			l.abandon(c)
		}
		done()
	}()
}

// relayJoin passes a join to node, which runs the room now; answer gets its answer.
func (l *link) relayJoin(node, ns, room, sid string, options packet.Arg, rejoin bool, hops uint8, answer func(error)) {
	var once atomic.Bool
	reply := func(_ []packet.Arg, err error) {
		if once.CompareAndSwap(false, true) {
			answer(err)
		}
	}
	id := l.reqIDs.Add(1)
	l.mu.Lock()
	l.roomCalls[id] = &roomCall{node: node, reply: reply, timer: time.AfterFunc(defaultRemoteTimeout, func() {
		if c := l.takeRoomCall(id); c != nil {
			c.reply(nil, ErrRoomUnavailable)
		}
	})}
	l.mu.Unlock()
	m := &clusterv1.RoomJoin{RequestId: id, Room: &clusterv1.Room{Namespace: ns, Room: room}, Sid: sid, Rejoin: rejoin}
	if options.Data != nil {
		m.Options = clusterlink.ArgsToWire([]packet.Arg{options})[0]
	}
	if err := l.node.Send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomRelay{RoomRelay: &clusterv1.RoomRelay{
		Body: &clusterv1.RoomRelay_Join{Join: m}, Hops: uint32(hops)}}}); err != nil {
		if c := l.takeRoomCall(id); c != nil {
			c.reply(nil, fmt.Errorf("%w: %v", ErrRoomUnavailable, err))
		}
	}
}

func (l *link) remoteRelayJoinReply(m *clusterv1.RoomRelayJoinReply) {
	if c := l.takeRoomCall(m.RequestId); c != nil {
		var err error
		if m.Error != "" {
			err = roomError(m.Error)
		}
		c.reply(nil, err)
	}
}

// remoteRelay takes work relayed by a node that no longer runs the room.
func (l *link) remoteRelay(from string, m *clusterv1.RoomRelay) {
	hops := uint8(min(max(m.Hops, 1), 2))
	switch b := m.Body.(type) {
	case *clusterv1.RoomRelay_Join:
		j := b.Join
		l.ownerJoin(j, hops, func(err error) {
			r := &clusterv1.RoomRelayJoinReply{RequestId: j.RequestId}
			if err != nil {
				r.Error = err.Error()
			}
			l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomRelayJoinReply{RoomRelayJoinReply: r}})
		})
	case *clusterv1.RoomRelay_Leave:
		l.ownerLeaveMsg(b.Leave, hops)
	case *clusterv1.RoomRelay_Message:
		l.ownerMessage(from, b.Message, hops)
	}
}

// handOff pushes every room this node runs to its next owner and waits until they are acknowledged or
// ctx ends (Shutdown, before leaving the cluster).
func (e *Engine) handOff(ctx context.Context) {
	e.mu.RLock()
	var nss []*Namespace
	for _, n := range e.nsps {
		if n.pid != nil {
			nss = append(nss, n)
		}
	}
	e.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, handoffBudget)
	defer cancel()
	for _, n := range nss {
		c := actors.NewCollector()
		e.system.Root.Send(n.pid, &actors.HandOffAll{Collector: c})
		select {
		case <-c.Done():
		case <-ctx.Done():
			e.log.Warn("handing rooms off before leaving", "namespace", n.name, "err", ctx.Err())
			return
		}
	}
}

// errRoomMoved is actors.ErrRoomMoved as its text arrives from a peer.
var errRoomMoved = errors.New(actors.ErrRoomMoved.Error())

// placer's handoff methods (actors.Placement).

func (p placer) Pull(room string, done func(*actors.RoomState)) {
	p.n.e.link.pullState(p.n.name, room, done)
}

func (p placer) Replicate(room string, st *actors.RoomState) bool {
	l := p.n.e.link
	to, ok := l.successor(p.n.name, room)
	if !ok {
		return false
	}
	l.pushState(to, p.n.name, room, st, nil)
	return true
}

func (p placer) Dropped(room string) {
	l := p.n.e.link
	if to, ok := l.successor(p.n.name, room); ok {
		l.pushState(to, p.n.name, room, nil, nil)
	}
}

func (p placer) Push(node, room string, st *actors.RoomState, done func()) {
	p.n.e.link.pushState(node, p.n.name, room, st, done)
}

func (p placer) Fence(room string, done func()) { p.n.e.link.fence(p.n, room, done) }

func (p placer) Alive(sid string) bool {
	node, ok := clusterlink.NodeOfSID(sid)
	return !ok || p.n.e.link.nodeAlive(node)
}

func (p placer) NodeAlive(node string) bool { return p.n.e.link.nodeAlive(node) }

func (p placer) Successor(room string) (string, bool) { return p.n.e.link.successor(p.n.name, room) }

func (p placer) RelayJoin(node, room, sid string, options packet.Arg, rejoin bool, hops uint8, answer func(error)) {
	p.n.e.link.relayJoin(node, p.n.name, room, sid, options, rejoin, hops, answer)
}

func (p placer) RelayLeave(node, room, sid string, why actors.LeaveReason, hops uint8) {
	n := p.n
	m := &clusterv1.RoomLeave{Room: &clusterv1.Room{Namespace: n.name, Room: room}, Sid: sid, Why: uint32(why)}
	n.e.link.node.Send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomRelay{RoomRelay: &clusterv1.RoomRelay{
		Body: &clusterv1.RoomRelay_Leave{Leave: m}, Hops: uint32(hops)}}})
}

func (p placer) RelayMessage(node string, m *actors.RoomMessage, hops uint8) {
	reply := m.Reply
	if reply == nil {
		reply = func([]packet.Arg, error) {}
	}
	p.n.e.link.sendRoomMessageVia(node, p.n.name, m.Room, m.SID, m.Event, m.Args, m.Ask, reply, time.Time{}, hops)
}
