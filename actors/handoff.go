package actors

import (
	"bytes"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// Handoff and replication of placed behaviour rooms (the engine's side: engine/handoff.go).
//
// The owner's actor of a placed room goes through phases. It starts restoring: it asks the engine for
// what the cluster has of the room (Placement.Pull) and holds every join, leave and message in arrival
// order until the answer comes; then it restores the state (RoomHooks.Restore, the members, the limits)
// or starts empty, marks itself re-created when the room existed elsewhere without a snapshot, and runs
// what it held, in order, before anything newer. Live, it runs hooks. A replicated room (RoomSpec.Replicate)
// takes a snapshot after each hook; when it changed, the version grows, the state goes to the replica node
// (Placement.Replicate) and the hook's outputs (emits, join answers, replies given during the hook) wait
// in an outbox until that node acknowledged the version (ReplicaAck), in order.
//
// A handoff (a peer's pull, a membership change that moves the room, a shutdown) first drains: the room
// holds new work until its outbox is empty, then stops its timers, takes its state, waits until the emits
// it made reached every node (Placement.Fence), gives the state away and becomes a forwarder: what it held
// and what comes later is relayed to the new owner, behind the state.

// RoomState is a placed room's state as it moves between nodes.
type RoomState struct {
	Found    bool   // the room existed (the rest is meaningful only with it)
	Live     bool   // taken from the running room (not a copy)
	Snapshot bool   // Data is the behaviour's snapshot; without it the room is re-created
	Version  uint64 // changes since the room was first created
	Data     []byte
	Members  []string
	// MaxClients and Locked are the room's limits when the state was taken.
	MaxClients int
	Locked     bool
}

// Messages from the engine to a namespace actor about handoff and replication.
type (
	// StateRequest is a peer's pull of room (it owns the room now): Reply is called once with the room's
	// state when this node runs it (which hands it over to node From), or nil.
	StateRequest struct {
		Room  string
		From  string
		Reply func(*RoomState)
	}
	// ReplicaAck says that the replica node holds room's state up to Version.
	ReplicaAck struct {
		Room    string
		Version uint64
	}
	// HandOffAll (shutdown) hands every room this node runs to its owner without this node; each room's
	// push adds a leg to Collector, done when the new owner acknowledged it.
	HandOffAll struct{ Collector *Collector }
)

type roomPhase uint8

const (
	phaseLive      roomPhase = iota
	phaseRestoring           // waiting for Placement.Pull's answer; work is held
	phaseDraining            // a handoff waits for the outbox to empty; work is held
	phaseFencing             // a handoff waits for the fence; work is held
	phaseMoved               // handed over: work is relayed to movedTo
)

// Self-sent and namespace messages of a placed room's owner.
type (
	roomPulled  struct{ st *RoomState }
	roomHandoff struct {
		to    string
		reply func(*RoomState) // a pull's answer; nil for a push
		done  func()           // a push's: called once the new owner acknowledged it
	}
	roomFenced       struct{}
	roomMembersCheck struct{} // the membership changed: drop members of lost nodes, refresh the replica
	roomReplicaRetry struct{ version uint64 }
	roomCommit       struct{} // replicate what the hooks since the last commit changed (afterHook)
	// nsMoved (room → namespace): the room handed itself over and relays to To from now on.
	nsMoved struct {
		Room string
		PID  *actor.PID
		To   string
	}
)

// replicaRetry is how long a replica push may go unacknowledged before the room sends it again.
const replicaRetry = time.Second

// outItem is an output of a replicated room waiting for its version to be acknowledged.
type outItem struct {
	version uint64
	f       func()
}

// replyGate holds the reply of a replicated room's message while its hook runs: a reply given during the
// hook waits in the outbox; a later one (from a timer or another goroutine) is sent at once.
type replyGate struct {
	mu      sync.Mutex
	open    bool
	pending func()
}

func (r *Room) replicating() bool { return r.out != nil && r.spec.Replicate }

// output runs f now, or, in a replicated room, once the state the current hook produced is replicated.
func (r *Room) output(f func()) {
	if r.replicating() && r.phase == phaseLive {
		r.hookOut = append(r.hookOut, f)
		return
	}
	f()
}

// Recreated reports whether the room was re-created without its state: it existed on another node
// (the owner changed, or the owner was lost) and no snapshot came with it.
func (r *Room) Recreated() bool { return r.recreated }

// Version returns the room's change counter (replicated rooms count each hook that changed the
// snapshot; the count survives handoffs).
func (r *Room) Version() uint64 { return r.version }

// placedReceive handles the phases of a placed room's owner; it reports whether m was taken care of (held,
// relayed, or a handoff message).
func (b *behaviorRoom) placedReceive(ctx actor.Context, m any) bool {
	r := b.r
	switch m := m.(type) {
	case *roomPulled:
		r.restore(m.st)
		return true
	case *ReplicaAck:
		if m.Version > r.acked {
			r.acked = m.Version
		}
		r.flush()
		return true
	case *roomCommit:
		r.committing = false
		r.commit()
		return true
	case *roomReplicaRetry:
		if r.phase == phaseLive && m.version == r.version && r.acked < r.version {
			r.sendReplica()
		}
		return true
	case *roomFenced:
		r.fenced()
		return true
	}
	switch r.phase {
	case phaseRestoring, phaseDraining, phaseFencing:
		switch m.(type) {
		case *roomAdd, *roomRemove, *RoomMessage, *roomHandoff, *roomMembersCheck:
			r.held = append(r.held, m)
			return true
		case *roomTick, *roomTimer, *roomGrace:
			if r.phase != phaseRestoring {
				return true // the room is leaving: its timers are stopped
			}
		}
	case phaseMoved:
		r.relay(m)
		return true
	}
	switch m := m.(type) {
	case *roomHandoff:
		r.handoff(m)
		return true
	case *roomMembersCheck:
		for _, mb := range append([]member(nil), r.members.list...) {
			if !r.out.Alive(mb.sid) {
				r.members.remove(mb.sid)
				r.hooks().Left(r, mb.sid, LeaveNodeLost)
			}
		}
		if r.replicating() && r.created {
			r.sendReplica() // the replica node may have changed
		}
		r.maybeEmpty()
		r.afterHook()
		return true
	}
	return false
}

// start begins the owner's life of a placed room: ask the cluster for its state.
func (r *Room) startPlaced() {
	r.phase = phaseRestoring
	self, sys := r.self, r.system
	r.out.Pull(r.name, func(st *RoomState) { sys.Root.Send(self, &roomPulled{st: st}) })
}

// restore applies the pulled state and runs the held work.
func (r *Room) restore(st *RoomState) {
	if r.phase != phaseRestoring {
		return
	}
	r.phase = phaseLive
	if st != nil && st.Found {
		restored := false
		if st.Snapshot {
			if err := r.hooks().Restore(r, st.Data); err == nil {
				restored = true
			}
		}
		if restored {
			r.created = true
			r.version, r.acked, r.lastSnap = st.Version, st.Version, st.Data
			r.maxClients, r.locked = st.MaxClients, st.Locked
			for _, sid := range st.Members {
				r.members.add(member{sid: sid})
			}
			if r.replicating() {
				r.sendReplica()
			}
			for _, sid := range st.Members {
				if !r.out.Alive(sid) {
					r.members.remove(sid)
					r.hooks().Left(r, sid, LeaveNodeLost)
				}
			}
		} else {
			r.recreated = true
			r.version = st.Version
		}
	}
	r.runHeld()
	if r.phase == phaseLive {
		r.maybeEmpty()
		r.runAfter()
		r.afterHook()
	}
}

// runHeld runs the held work in order, until it is done or the room holds again (a handoff).
func (r *Room) runHeld() {
	for len(r.held) > 0 && r.phase != phaseRestoring && r.phase != phaseDraining && r.phase != phaseFencing {
		m := r.held[0]
		r.held = r.held[1:]
		r.b.handle(r.ctx, m)
	}
	if len(r.held) == 0 {
		r.held = nil
	}
}

// maxCommitBatch bounds the outputs a live replicated room gathers before it commits without waiting
// for its roomCommit.
const maxCommitBatch = 64

// afterHook replicates the state a hook may have changed and releases the outputs already replicated.
// A live room commits in groups: the hooks of the messages already in its mailbox run first, then one
// snapshot and one push to the replica node cover them all (roomCommit, queued behind them), so a busy
// room pays a snapshot per batch rather than per message, and its outputs wait at most for the batch.
func (r *Room) afterHook() {
	if !r.replicating() {
		return
	}
	if r.created && r.phase == phaseLive && len(r.hookOut) < maxCommitBatch {
		if !r.committing {
			r.committing = true
			r.system.Root.Send(r.self, &roomCommit{})
		}
		return
	}
	r.commit()
}

// commit takes the snapshot (when live), pushes it to the replica node when it changed, and queues the
// outputs gathered since the last commit behind that version.
func (r *Room) commit() {
	if r.created && r.phase == phaseLive {
		data, ok, err := r.hooks().Snapshot(r)
		if err == nil && ok && !bytes.Equal(data, r.lastSnap) {
			r.version++
			r.lastSnap = data
			r.sendReplica()
		}
	}
	for _, f := range r.hookOut {
		r.outbox = append(r.outbox, outItem{version: r.version, f: f})
	}
	r.hookOut = nil
	r.flush()
}

func (r *Room) state() *RoomState {
	return &RoomState{Found: true, Snapshot: true, Version: r.version, Data: r.lastSnap, Members: r.Members(),
		MaxClients: r.maxClients, Locked: r.locked}
}

// sendReplica pushes the current state to the replica node; with none, it counts as acknowledged.
func (r *Room) sendReplica() {
	if !r.out.Replicate(r.name, r.state()) {
		r.acked = r.version
		return
	}
	v, self, sys := r.version, r.self, r.system
	if r.retryTimer != nil {
		r.retryTimer.Stop()
	}
	r.retryTimer = time.AfterFunc(replicaRetry, func() { sys.Root.Send(self, &roomReplicaRetry{version: v}) })
}

// flush releases the outputs whose version is acknowledged, in order; a draining handoff goes on once
// the outbox is empty.
func (r *Room) flush() {
	i := 0
	for ; i < len(r.outbox) && r.outbox[i].version <= r.acked; i++ {
		r.outbox[i].f()
	}
	r.outbox = r.outbox[i:]
	if len(r.outbox) == 0 {
		r.outbox = nil
		if r.phase == phaseDraining {
			r.fence()
		}
	}
}

// handoff starts handing the room to m.to.
func (r *Room) handoff(m *roomHandoff) {
	if r.replicating() {
		r.commit() // what the hooks did since the last commit leaves before the room does
	}
	r.leaving = m
	r.phase = phaseDraining
	if len(r.outbox) == 0 {
		r.fence()
	}
}

// fence stops the room's timers and waits until its emits so far reached every node.
func (r *Room) fence() {
	r.phase = phaseFencing
	r.stopTimers()
	self, sys := r.self, r.system
	r.out.Fence(r.name, func() { sys.Root.Send(self, &roomFenced{}) })
}

// fenced gives the state away and relays the held work after it.
func (r *Room) fenced() {
	if r.phase != phaseFencing {
		return
	}
	m := r.leaving
	r.leaving = nil
	st := &RoomState{Found: true}
	if r.created {
		if data, ok, err := r.hooks().Snapshot(r); err == nil && ok {
			st = r.state()
			st.Data = data
		}
	} else {
		st.Found = false
	}
	st.Live = true
	if !st.Snapshot {
		// No state to carry: the room ends here (OnDispose), and starts over on its new owner.
		st.Members = nil
		if r.created {
			r.hooks().Dispose(r)
		}
	}
	r.created = false
	r.phase = phaseMoved
	r.movedTo = m.to
	if m.reply != nil {
		m.reply(st)
	} else {
		r.out.Push(m.to, r.name, st, m.done)
	}
	r.ctx.Send(r.ns, &nsMoved{Room: r.name, PID: r.self, To: m.to})
	held := r.held
	r.held = nil
	for _, h := range held {
		r.relay(h)
	}
}

// maxHops bounds relaying: work goes from a node that no longer runs the room to the one it handed it
// to, and at most once more (back, when that node had handed the room here before it knew).
const maxHops = 2

// relay passes work for a room that moved to its new owner.
func (r *Room) relay(m any) {
	switch m := m.(type) {
	case *roomAdd:
		if m.Hops >= maxHops {
			m.Answer(ErrRoomMoved)
			return
		}
		r.out.RelayJoin(r.movedTo, r.name, m.SID, m.Options, m.Rejoin, m.Hops+1, m.Answer)
	case *roomRemove:
		if m.Hops < maxHops {
			r.out.RelayLeave(r.movedTo, r.name, m.SID, m.Why, m.Hops+1)
		}
	case *RoomMessage:
		r.pending.Add(-1)
		if m.Hops >= maxHops {
			m.fail(ErrRoomMoved)
			return
		}
		r.out.RelayMessage(r.movedTo, m, m.Hops+1)
	case *roomHandoff:
		if m.reply != nil {
			m.reply(nil)
		} else if m.done != nil {
			m.done()
		}
	}
}

// gateReply makes a replicated room's message hold its reply in the outbox while its hook runs.
func (r *Room) gateReply(m *RoomMessage) *replyGate {
	if !r.replicating() || m.Reply == nil {
		return nil
	}
	g := &replyGate{open: true}
	orig := m.Reply
	m.Reply = func(args []packet.Arg, err error) {
		g.mu.Lock()
		if g.open {
			g.pending = func() { orig(args, err) }
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		orig(args, err)
	}
	return g
}

// close ends the hook of a gated message: a reply it gave goes to the outbox.
func (g *replyGate) close(r *Room) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.open = false
	f := g.pending
	g.pending = nil
	g.mu.Unlock()
	if f != nil {
		r.output(f)
	}
}
