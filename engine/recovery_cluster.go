package engine

import (
	"encoding/json"
	"hash/fnv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/clusterlink"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Connection state recovery across the cluster (docs/recovery.md, "Across the cluster").
//
// In a cluster a private session id names the node that issued it ("node.secret"); it is only ever
// looked up as a whole in the registries of detached sockets, so a forged pid, or one naming another
// node, never finds another session. A node a client presents a pid it does not hold to (the taker)
// asks the node the pid names, then, if that node does not hold it (the session moved on, or the node
// is gone), every other reachable node; the holder (the giver) hands the session over in two steps, so
// that no packet addressed to the socket is lost or sent twice while it moves. The session keeps its pid
// (clients compare the pid of the connect reply with theirs to tell a recovery).
//
//  1. RecoveryClaim: the giver takes the session out of its registry (no other claim can have it),
//     checks namespace, expiry and offset exactly as for a local claim, and answers with the socket's
//     id, rooms and data. Its socket actor stays in its rooms and keeps buffering.
//  2. The taker starts the socket's actor with the same id in those rooms, detached (buffering), and
//     announces the socket's own-id room to every peer (its id names the giver, which emits to it
//     would otherwise reach alone); it waits until every peer acknowledged the rooms, so every emit
//     begun from then on reaches the taker's socket.
//  3. RecoveryTake: the giver first waits for an answer from every peer to a request it sends then
//     (a barrier: a peer answers after everything it sent the giver before, so every emit a peer
//     routed before it knew of the taker's rooms has arrived); then its socket actor leaves its rooms
//     while still keeping what reaches it (actors.CloseSocket.Drain), and once it stopped — every room
//     confirmed, nothing more can reach it — the giver sends everything it kept.
//  4. An emit reached the giver (routed before step 2 completed), the taker (it reached the taker's
//     rooms), or both. Offsets are given by the emitting node and shared by every recipient, so the
//     taker keeps the giver's packets, then those of its own whose offset the giver's do not hold, in
//     order per emitter, and drops a copy of one of the giver's that arrives later (lifeline.given).
//
// A node that is not a member, or to which this node has no stream open (a crashed node's stream ends
// with its process, before gossip declares it dead), is not asked: without a holder the client gets a
// fresh socket at once. A member that does not answer is given recoveryCallTimeout per step.

// recoveryCallTimeout bounds each of the two steps of a handover, and handoverTimeout how long the giver
// keeps a claimed session for its taker's RecoveryTake before dropping it.
const (
	recoveryCallTimeout = 3 * time.Second
	handoverTimeout     = 10 * time.Second
)

// seedNode makes this node's offsets its own: the top 24 bits of every offset it hands out hash its node
// id, so offsets given by two nodes never meet in one socket's log (a handover dedupes by offset).
func (r *recovery) seedNode(node string) {
	if r == nil {
		return
	}
	h := fnv.New32a()
	h.Write([]byte(node))
	r.seq.Store(uint64(h.Sum32()&0xffffff)<<40 | r.seq.Load()&0xffffffff)
}

// newPID returns a fresh private session id; in a cluster it names this node.
func (r *recovery) newPID() string {
	if l := r.e.link; l != nil {
		return clusterlink.QualifySID(l.node.ID(), newSID())
	}
	return newSID()
}

// remote reports whether session pid must be looked for on other nodes: in a cluster, when this node
// does not hold it.
func (r *recovery) remote(pid string) bool {
	return r.e.link != nil && !r.holds(pid)
}

// holds reports whether session pid is detached on this node.
func (r *recovery) holds(pid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.detached[pid] != nil
}

// foreignSID reports whether socket id sid names another node than this one (a socket recovered here from
// another node): emits to its id reach this node only because it announced the id as a room.
func (e *Engine) foreignSID(sid string) bool {
	if e.link == nil {
		return false
	}
	node, ok := clusterlink.NodeOfSID(sid)
	return ok && node != e.link.node.ID()
}

// releaseSID withdraws the announcement of a foreign socket's own-id room once its actor goes.
func (e *Engine) releaseSID(ns, sid string) {
	if e.foreignSID(sid) {
		e.link.localInterest(ns, sid, false, nil)
	}
}

// recCall is a handover step waiting for the giver's answer.
type recCall struct {
	node string
	ch   chan any // *clusterv1.RecoveryState, *clusterv1.RecoveryBuffer, or nil when the node left
}

// handover is a session this node (the giver) handed out by a RecoveryState, until its RecoveryTake.
type handover struct {
	l     *lifeline
	from  int
	timer *time.Timer
}

type handoverKey struct {
	node string
	req  uint64
}

// recoveryCall sends a handover step to node and waits for its answer: nil at once when the node is not
// a member or this node has no stream open to it (a crashed node's stream ends with its process, well
// before gossip declares it dead), nil when it leaves meanwhile or does not answer within
// recoveryCallTimeout.
func (l *link) recoveryCall(node string, id uint64, env *clusterv1.Envelope) any {
	if !l.reachable(node) {
		return nil
	}
	c := &recCall{node: node, ch: make(chan any, 1)}
	l.mu.Lock()
	l.recCalls[id] = c
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.recCalls, id)
		l.mu.Unlock()
	}()
	if err := l.node.Send(node, env); err != nil {
		return nil
	}
	t := time.NewTimer(recoveryCallTimeout)
	defer t.Stop()
	select {
	case m := <-c.ch:
		return m
	case <-t.C:
		return nil
	}
}

// reachable reports whether node is a member with an open stream.
func (l *link) reachable(node string) bool {
	for _, p := range l.node.PeerStats() {
		if p.ID == node {
			return p.Connected
		}
	}
	return false
}

// recoveryAnswer hands a giver's answer to its waiting step, if any.
func (l *link) recoveryAnswer(from string, id uint64, m any) {
	l.mu.Lock()
	c := l.recCalls[id]
	l.mu.Unlock()
	if c == nil || c.node != from {
		return
	}
	select {
	case c.ch <- m:
	default:
	}
}

// recoveryCallsDown ends the steps waiting for a node that left, and drops the sessions it claimed and
// has not taken.
func (l *link) recoveryCallsDown(node string) {
	var drop []*lifeline
	l.mu.Lock()
	for _, c := range l.recCalls {
		if c.node == node {
			select {
			case c.ch <- nil:
			default:
			}
		}
	}
	for k, h := range l.handovers {
		if k.node == node {
			h.timer.Stop()
			drop = append(drop, h.l)
			delete(l.handovers, k)
		}
	}
	l.mu.Unlock()
	for _, lf := range drop {
		lf.mu.Lock()
		lf.dropLocked(func(st *RecoveryStats) { st.Expired++ })
		lf.mu.Unlock()
	}
}

// claimRemote is claimSession for a session held by another node (the taker's side of a handover): it
// returns a lifeline holding the socket's actor, detached, in its rooms, with every packet kept, and the
// index from which the client missed them; or nil (the client then gets a fresh socket).
func (r *recovery) claimRemote(ns *Namespace, ps presentedSession) (*lifeline, int) {
	e := r.e
	lk := e.link
	if !e.wg.add() {
		return nil, 0
	}
	defer e.wg.done()
	node, id, st := lk.findSession(ns.name, ps)
	if st == nil {
		r.refused()
		return nil, 0
	}
	// The session keeps its private id (clients compare it to tell a recovery from a fresh socket).
	l := &lifeline{r: r, ns: ns, id: st.Sid, pid: ps.pid, complete: true, detachedAt: time.Now()}
	if len(st.DataJson) > 0 {
		var v any
		if json.Unmarshal(st.DataJson, &v) == nil {
			l.data = v
		}
	}
	fail := func() (*lifeline, int) {
		l.mu.Lock()
		l.dropLocked(func(st *RecoveryStats) { st.Refused++ })
		l.mu.Unlock()
		return nil, 0
	}
	// The socket's actor, detached: what reaches it from now on is buffered.
	res, err := e.system.Root.RequestFuture(ns.pid, &actors.AddSocket{SID: l.id, Outbox: l, Handle: l, MaxRooms: e.cfg.MaxRoomsPerSocket}, connectWait).Result()
	if err != nil {
		e.log.Error("spawning a recovered socket's actor", "namespace", ns.name, "err", err)
		r.refused()
		return nil, 0
	}
	l.setActor(res.(*actor.PID))
	// Its rooms, and its own-id room announced to every peer: once both are acknowledged, every emit to
	// the socket begun anywhere reaches this node.
	wait := func(c *actors.Collector) bool {
		t := time.NewTimer(recoveryCallTimeout)
		defer t.Stop()
		select {
		case <-c.Done():
			return true
		case <-t.C:
			return false
		}
	}
	if e.foreignSID(l.id) {
		c := actors.NewCollector()
		lk.localInterest(ns.name, l.id, true, c)
		c.LegDone()
		if !wait(c) {
			return fail()
		}
	}
	// Plain rooms now; behaviour rooms once the giver's socket has left them (below): their owner keeps
	// one membership per socket id, which the giver's leave would otherwise end.
	var rooms, behaviour []string
	for _, rm := range st.Rooms {
		switch {
		case rm == l.id:
		case ns.IsDefined(rm):
			behaviour = append(behaviour, rm)
		default:
			rooms = append(rooms, rm)
		}
	}
	join := func(rooms []string) bool {
		if len(rooms) == 0 {
			return true
		}
		c := actors.NewCollector()
		e.system.Root.Send(l.actor, &actors.JoinRooms{Rooms: rooms, Collector: c})
		if !wait(c) {
			return false
		}
		if _, _, err := c.Snapshot(); err != nil {
			e.log.Warn("rejoining a recovered socket's rooms", "namespace", ns.name, "socket", l.id, "err", err)
		}
		return true
	}
	if !join(rooms) {
		return fail()
	}
	ans := lk.recoveryCall(node, id, &clusterv1.Envelope{Body: &clusterv1.Envelope_RecoveryTake{RecoveryTake: &clusterv1.RecoveryTake{RequestId: id, Pid: ps.pid}}})
	buf, _ := ans.(*clusterv1.RecoveryBuffer)
	if buf == nil || !buf.Ok || int(buf.From) > len(buf.Events) {
		return fail()
	}
	given, err := clusterlink.EventsFromWire(ns.name, buf.Events)
	if err != nil {
		return fail()
	}
	// The giver's packets, in its order, then this node's own that the giver's do not hold: an emit
	// reached one of them or both. A copy of one of the giver's may still be on its way here: it is
	// dropped on arrival (lifeline.given) for handoverTimeout.
	seen := make(map[string]struct{}, len(given))
	for _, p := range given {
		seen[p.Offset] = struct{}{}
	}
	if !join(behaviour) {
		return fail()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped {
		return nil, 0 // its buffer overflowed meanwhile (counted)
	}
	for _, p := range l.log {
		if _, dup := seen[p.Offset]; !dup {
			given = append(given, p)
		}
	}
	l.log = given
	l.complete = buf.Complete
	l.given = &handedOver{offsets: seen, until: time.Now().Add(handoverTimeout)}
	return l, int(buf.From)
}

// findSession sends the claim of session ps to the node its pid names, then, when that node does not
// hold it (the session moved on since, or the node is gone), to every other reachable peer at once. It
// returns the node that holds it, the claim's request id and its answer; a nil answer when none holds
// it (the first step then has taken it out of that node's registry).
func (l *link) findSession(ns string, ps presentedSession) (string, uint64, *clusterv1.RecoveryState) {
	claim := func(node string) (uint64, *clusterv1.RecoveryState) {
		id := l.reqIDs.Add(1)
		ans := l.recoveryCall(node, id, &clusterv1.Envelope{Body: &clusterv1.Envelope_RecoveryClaim{RecoveryClaim: &clusterv1.RecoveryClaim{
			RequestId: id, Namespace: ns, Pid: ps.pid, Offset: ps.offset, HasOffset: ps.hasOffset,
		}}})
		st, _ := ans.(*clusterv1.RecoveryState)
		if st == nil || !st.Ok || st.Sid == "" {
			return id, nil
		}
		return id, st
	}
	self := l.node.ID()
	home, _ := clusterlink.NodeOfSID(ps.pid)
	if home != self && l.reachable(home) {
		if id, st := claim(home); st != nil {
			return home, id, st
		}
	}
	var others []string
	for _, m := range l.node.Members() {
		if m.ID != home {
			others = append(others, m.ID)
		}
	}
	type found struct {
		node string
		id   uint64
		st   *clusterv1.RecoveryState
	}
	ch := make(chan found, len(others))
	for _, n := range others {
		go func() {
			id, st := claim(n)
			ch <- found{n, id, st}
		}()
	}
	var f found
	for range others {
		if x := <-ch; x.st != nil {
			f = x
		}
	}
	return f.node, f.id, f.st
}

// remoteRecoveryClaim is the giver's first step. It runs on the node router: the work is done aside.
func (l *link) remoteRecoveryClaim(from string, m *clusterv1.RecoveryClaim) {
	e := l.e
	no := func() {
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RecoveryState{RecoveryState: &clusterv1.RecoveryState{RequestId: m.RequestId}}})
	}
	n := e.Lookup(m.Namespace)
	r := e.rec
	if r == nil || n == nil || e.state.Load() != stateRunning || !e.wg.add() {
		no()
		return
	}
	go func() {
		defer e.wg.done()
		if !r.holds(m.Pid) {
			no() // asked by a taker looking everywhere: not a refusal of this node's
			return
		}
		lf, fromIdx := r.claimSession(n, presentedSession{pid: m.Pid, offset: m.Offset, hasOffset: m.HasOffset})
		if lf == nil {
			no()
			return
		}
		lf.mu.Lock()
		apid, data := lf.actor, lf.data
		lf.mu.Unlock()
		reply := make(chan []string, 1)
		e.system.Root.Send(apid, &actors.GetRooms{Reply: reply})
		var rooms []string
		t := time.NewTimer(recoveryCallTimeout)
		defer t.Stop()
		select {
		case rooms = <-reply:
		case <-t.C:
		}
		if rooms == nil {
			lf.mu.Lock()
			lf.dropLocked(nil)
			lf.mu.Unlock()
			no()
			return
		}
		st := &clusterv1.RecoveryState{RequestId: m.RequestId, Ok: true, Sid: lf.id, Rooms: rooms}
		if data != nil {
			st.DataJson, _ = json.Marshal(data)
		}
		k := handoverKey{from, m.RequestId}
		h := &handover{l: lf, from: fromIdx}
		h.timer = time.AfterFunc(handoverTimeout, func() {
			if l.takeHandover(k) != nil {
				lf.mu.Lock()
				lf.dropLocked(func(st *RecoveryStats) { st.Expired++ })
				lf.mu.Unlock()
			}
		})
		l.mu.Lock()
		l.handovers[k] = h
		l.mu.Unlock()
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RecoveryState{RecoveryState: st}})
	}()
}

func (l *link) takeHandover(k handoverKey) *handover {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.handovers[k]
	delete(l.handovers, k)
	return h
}

// remoteRecoveryTake is the giver's second step: the socket leaves its rooms, still keeping what reaches
// it, and once its actor stopped everything kept goes to the taker.
func (l *link) remoteRecoveryTake(from string, m *clusterv1.RecoveryTake) {
	no := func() {
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RecoveryBuffer{RecoveryBuffer: &clusterv1.RecoveryBuffer{RequestId: m.RequestId}}})
	}
	h := l.takeHandover(handoverKey{from, m.RequestId})
	if h == nil || h.l.pid != m.Pid {
		if h != nil {
			h.timer.Stop()
			h.l.mu.Lock()
			h.l.dropLocked(nil)
			h.l.mu.Unlock()
		}
		no()
		return
	}
	h.timer.Stop()
	e := l.e
	if !e.wg.add() {
		no()
		return
	}
	go func() {
		defer e.wg.done()
		l.barrier(h.l.ns.name, h.l.id)
		l.give(from, m, h, no)
	}()
}

// barrier returns once every peer has answered a request sent now (or left, or recoveryCallTimeout
// passed): a peer answers after everything it sent this node before, so every emit a peer sent here
// before it routed the socket's rooms to the taker too has arrived. The request is a fetch of the
// socket's id, which no peer reports (the taker's socket is detached).
func (l *link) barrier(ns, sid string) {
	peers := l.node.Members()
	if len(peers) == 0 {
		return
	}
	ids := make([]string, 0, len(peers))
	for _, m := range peers {
		ids = append(ids, m.ID)
	}
	c := actors.NewCollector()
	l.forward(ids, ns, &actors.Broadcast{Rooms: []string{sid}, Op: actors.OpFetch, Collector: c}, time.Now().Add(recoveryCallTimeout))
	c.LegDone()
	t := time.NewTimer(recoveryCallTimeout)
	defer t.Stop()
	select {
	case <-c.Done():
	case <-t.C:
		l.abandon(c)
	}
}

// give ends a handover on the giver: the socket leaves its rooms, keeping what still reaches it, and
// once its actor stopped everything kept goes to the taker.
func (l *link) give(from string, m *clusterv1.RecoveryTake, h *handover, no func()) {
	lf := h.l
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.dropped || lf.actor == nil {
		no()
		return
	}
	ns, sid := lf.ns.name, lf.id
	l.e.system.Root.Send(lf.actor, &actors.CloseSocket{Drain: true, Stopped: func() {
		l.e.releaseSID(ns, sid)
		lf.mu.Lock()
		if lf.dropped {
			lf.mu.Unlock()
			no() // its buffer overflowed while it left its rooms
			return
		}
		lf.dropped = true
		buf := &clusterv1.RecoveryBuffer{RequestId: m.RequestId, Ok: true, From: uint32(h.from), Complete: lf.complete,
			Events: clusterlink.EventsToWire(ns, lf.log)}
		lf.log = nil
		lf.mu.Unlock()
		lf.r.mu.Lock()
		lf.r.stats.HandedOver++
		lf.r.mu.Unlock()
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RecoveryBuffer{RecoveryBuffer: buf}})
	}})
}
