package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// Placed behaviour rooms: in a cluster, a behaviour room lives on one node, its owner, which the engine
// chooses ([Placement].Owner). There the namespace runs the room's behaviour actor (the authority: its
// hooks, its state and the cluster-wide member list) among its owned rooms. Every node that has sockets
// in the room, the owner included, keeps them in a plain room actor (the proxy), which only fans out; its
// namespace asks the owner to decide each join (locally, or through the engine to the owner's node) and
// adds the socket to the proxy only when the owner's answer (JoinAnswer) comes. Leaves and messages go to
// the owner the same way. The authority emits through the engine (Placement.Emit), which routes the
// emit like any other to the proxies of every node: the owner makes every emit of the room, and
// messages between two actors, like envelopes between two nodes, keep their order, so every member on
// every node sees the room's emits in the owner's order. A join answer travels the same path as the
// emits that follow it, so it reaches the proxy before them.

// Placement places the behaviour rooms of a namespace on one node of a cluster; the engine implements
// it. Its methods are called from the namespace actor or a room actor and must not block.
type Placement interface {
	// Owner returns the node that owns room now, and whether that is this node.
	Owner(room string) (node string, local bool)
	// Join asks node (not this one) to decide the join of socket sid of this node. The answer must come
	// back to this namespace actor as a JoinAnswer with the same token, unless the node is lost (then a
	// Rebalance comes instead).
	Join(node, room, sid string, token uint64, options packet.Arg, rejoin bool)
	// Leave tells node (not this one) that socket sid of this node left room.
	Leave(node, room, sid string, why LeaveReason)
	// Emit sends p to every member of room, on every node, except socket except ("" for none), in the
	// order of the calls.
	Emit(room string, p *packet.Packet, except string)
	// EmitTo sends p to socket sid, wherever it is.
	EmitTo(sid string, p *packet.Packet)
	// Kick removes socket sid from room on its node: the socket leaves the room as if it had left.
	Kick(room, sid string)

	// Handoff and replication (handoff.go). Pull asks the cluster what it has of room, which this node
	// starts running, and calls done once, from any goroutine, with the state to restore (nil: none).
	Pull(room string, done func(*RoomState))
	// Replicate sends st to room's replica node; it reports false when there is none (the state then
	// counts as acknowledged). The acknowledgement comes back as a ReplicaAck.
	Replicate(room string, st *RoomState) bool
	// Dropped tells room's replica node that the room was disposed.
	Dropped(room string)
	// Push hands st over to node unasked; done, when set, is called once, when node acknowledged it or
	// cannot.
	Push(node, room string, st *RoomState, done func())
	// Fence calls done once, from any goroutine, when every emit of room made so far has reached the
	// sockets of every node (or after a bound).
	Fence(room string, done func())
	// Alive reports whether the node of socket sid is this node or a live member; NodeAlive the same of
	// a node.
	Alive(sid string) bool
	NodeAlive(node string) bool
	// Successor returns the owner of room among the live nodes other than this one.
	Successor(room string) (node string, ok bool)
	// RelayJoin, RelayLeave and RelayMessage pass work for a room this node no longer runs to node.
	// hops is the count the relayed work carries (one more than it came with).
	RelayJoin(node, room, sid string, options packet.Arg, rejoin bool, hops uint8, answer func(error))
	RelayLeave(node, room, sid string, why LeaveReason, hops uint8)
	RelayMessage(node string, m *RoomMessage, hops uint8)
}

// Messages from the engine to a namespace actor about placed rooms.
type (
	// JoinAnswer is the owner's answer to a join that this namespace asked for (Placement.Join): Err is
	// nil when the owner accepted it.
	JoinAnswer struct {
		Room  string
		Token uint64
		Err   error
	}
	// OwnerJoin asks this node, the owner, to decide the join of a socket of another node. Answer is
	// called once, from the room's actor, with nil or the refusal.
	OwnerJoin struct {
		Room    string
		SID     string
		Options packet.Arg
		Answer  func(error)
		Rejoin  bool  // see Joiner.Rejoin
		Hops    uint8 // see RoomMessage.Hops
	}
	// OwnerLeave tells this node, the owner, that a socket of another node left the room.
	OwnerLeave struct {
		Room string
		SID  string
		Why  LeaveReason
		Hops uint8
	}
	// StatePushed tells the namespace that a peer handed Room over to this node: a forwarder of this
	// node for it is stopped (the room is run here from now on).
	StatePushed struct{ Room string }
	// Rebalance tells the namespace that the cluster's membership changed: each proxy whose owner
	// changed asks the new owner to add its members back (and sends its waiting joins there); each owned
	// room this node no longer owns is disposed.
	Rebalance struct{}
)

// placedRoom is the placement state of a proxy (a plain room entry of a placed behaviour room).
type placedRoom struct {
	owner   string                  // the node the proxy's joins and leaves went to last
	local   bool                    // owner is this node
	members map[string]placedMember // the proxy's accepted members
	joins   map[uint64]*placedJoin  // asked, not answered yet, by token
}

type placedMember struct {
	pid *actor.PID
	ref any
}

// Rejoins that fail because the owner could not be reached (the nodes' views of the membership differ
// for a moment after a change) are asked again, rejoinRetries times at most, rejoinRetry apart.
const (
	rejoinRetries = 50
	rejoinRetry   = 100 * time.Millisecond
)

// placedRetry (namespace → itself): ask the owner for a rejoin again.
type placedRetry struct {
	room  string
	token uint64
}

// placedJoin is one join asked of the owner.
type placedJoin struct {
	sid     string
	pid     *actor.PID
	sock    *sockRef
	ref     any
	c       *Collector
	options packet.Arg
	left    bool // the socket left the room (or closed) after asking
	rejoin  bool // the socket is a member already; the room's owner changed
	tries   int  // rejoins asked again after ErrRoomUnavailable
}

// placed reports whether room r of this namespace is a placed behaviour room.
func (n *namespaceActor) placed(r string) bool {
	return n.hooks.Placement != nil && n.hooks.IsBehavior != nil && n.hooks.IsBehavior(r)
}

// placedJoin asks the owner of r to add the socket of m; the proxy e exists.
func (n *namespaceActor) placedJoin(ctx actor.Context, r string, e *roomEntry, m *nsJoin) {
	n.tokens++
	pj := &placedJoin{sid: m.SID, pid: m.PID, sock: m.Sock, ref: m.Ref, c: m.Collector, options: m.Options}
	e.placed.joins[n.tokens] = pj
	e.placed.owner, e.placed.local = n.hooks.Placement.Owner(r)
	n.askOwner(ctx, r, e.placed, n.tokens, pj)
}

// askOwner sends one join to the owner of r (p.owner): the owned room when it is this node.
func (n *namespaceActor) askOwner(ctx actor.Context, r string, p *placedRoom, token uint64, pj *placedJoin) {
	if !p.local {
		n.hooks.Placement.Join(p.owner, r, pj.sid, token, pj.options, pj.rejoin)
		return
	}
	self, sys := ctx.Self(), ctx.ActorSystem()
	n.ownerAdd(ctx, r, &roomAdd{Room: r, SID: pj.sid, Ref: pj.ref, Options: pj.options, Gated: true, Rejoin: pj.rejoin,
		Answer: func(err error) { sys.Root.Send(self, &JoinAnswer{Room: r, Token: token, Err: err}) }})
}

// ownerAdd hands a join to the owned room r, starting it when it is not running.
func (n *namespaceActor) ownerAdd(ctx actor.Context, r string, add *roomAdd) {
	o := n.ownedRoom(ctx, r)
	if o == nil {
		add.Answer(ErrNoBehavior)
		return
	}
	o.adds++
	ctx.Send(o.pid, add)
}

// ownedRoom returns the owner's actor of placed room r, starting it (it restores the room's state
// first: handoff.go) when it is not running; nil when r has no behaviour.
func (n *namespaceActor) ownedRoom(ctx actor.Context, r string) *roomEntry {
	if o := n.owned[r]; o != nil {
		return o
	}
	spec := n.hooks.Behavior(r)
	if spec == nil {
		return nil
	}
	o := &roomEntry{spec: spec, pending: new(atomic.Int64), maxPending: spec.MaxPending}
	if o.maxPending <= 0 {
		o.maxPending = 1024
	}
	br := newBehaviorRoom(r, spec, o.pending, n.live)
	br.r.out = n.hooks.Placement
	o.pid = ctx.Spawn(props(n.live, func() actor.Actor { return br }))
	if n.owned == nil {
		n.owned = make(map[string]*roomEntry)
	}
	n.owned[r] = o
	return o
}

// ownerHere decides where work for placed room r that reached this node as its owner goes: to the room's
// actor here (it runs, or this node owns the room in its view, or the work was relayed: it is started),
// or, relayed, to the owner in this node's view (returned; "" for here).
// While the node shuts down (after HandOffAll), work for a room it does not run goes to the room's
// next owner; fail reports work that cannot go anywhere (relayed twice already, or no other node).
func (n *namespaceActor) ownerHere(r string, hops uint8) (to string, fail bool) {
	if o := n.owned[r]; o != nil {
		return "", false
	}
	if n.closing {
		to, ok := n.hooks.Placement.Successor(r)
		return to, !ok || hops >= maxHops
	}
	if hops > 0 {
		return "", false
	}
	if owner, local := n.hooks.Placement.Owner(r); !local {
		return owner, false
	}
	return "", false
}

// ownerJoin handles a join asked of this node as the owner of m.Room.
func (n *namespaceActor) ownerJoin(ctx actor.Context, m *OwnerJoin) {
	if to, fail := n.ownerHere(m.Room, m.Hops); fail {
		m.Answer(ErrRoomMoved)
		return
	} else if to != "" {
		n.hooks.Placement.RelayJoin(to, m.Room, m.SID, m.Options, m.Rejoin, m.Hops+1, m.Answer)
		return
	}
	n.ownerAdd(ctx, m.Room, &roomAdd{Room: m.Room, SID: m.SID, Options: m.Options, Gated: true, Answer: m.Answer,
		Rejoin: m.Rejoin, Hops: m.Hops})
}

// ownerLeave handles a leave told to this node as the owner of m.Room.
func (n *namespaceActor) ownerLeave(ctx actor.Context, m *OwnerLeave) {
	if to, fail := n.ownerHere(m.Room, m.Hops); fail {
		return
	} else if to != "" {
		n.hooks.Placement.RelayLeave(to, m.Room, m.SID, m.Why, m.Hops+1)
		return
	}
	if o := n.owned[m.Room]; o != nil {
		ctx.Send(o.pid, &roomRemove{SID: m.SID, Why: m.Why, Hops: m.Hops})
	}
}

// ownerMessage returns the owner's actor that takes m, a message for placed room m.Room, starting it
// when needed; nil when m was relayed on or has no room.
func (n *namespaceActor) ownerMessage(ctx actor.Context, m *RoomMessage) *roomEntry {
	if to, fail := n.ownerHere(m.Room, m.Hops); fail {
		m.fail(ErrRoomMoved)
		return nil
	} else if to != "" {
		n.hooks.Placement.RelayMessage(to, m, m.Hops+1)
		return nil
	}
	o := n.ownedRoom(ctx, m.Room)
	if o == nil {
		m.fail(ErrNoBehavior)
	}
	return o
}

// stateRequest answers a peer's pull: the room runs here, so it is handed over to the peer.
func (n *namespaceActor) stateRequest(ctx actor.Context, m *StateRequest) {
	o := n.owned[m.Room]
	if o == nil || o.moved != "" {
		m.Reply(nil)
		return
	}
	ctx.Send(o.pid, &roomHandoff{to: m.From, reply: m.Reply})
}

// handOffAll pushes every room this node runs to its next owner (shutdown).
func (n *namespaceActor) handOffAll(ctx actor.Context, m *HandOffAll) {
	n.closing = true
	for r, o := range n.owned {
		if o.moved != "" {
			continue
		}
		to, ok := n.hooks.Placement.Successor(r)
		if !ok {
			continue
		}
		m.Collector.AddLegs(1)
		ctx.Send(o.pid, &roomHandoff{to: to, done: m.Collector.LegDone})
	}
	m.Collector.LegDone()
}

// joinAnswer applies the owner's answer to a join this namespace asked for.
func (n *namespaceActor) joinAnswer(ctx actor.Context, m *JoinAnswer) {
	e := n.rooms[m.Room]
	if e == nil || e.placed == nil {
		return
	}
	pj := e.placed.joins[m.Token]
	if pj == nil {
		return // answered already (asked again of a new owner)
	}
	delete(e.placed.joins, m.Token)
	_, member := e.placed.members[pj.sid]
	switch {
	case pj.rejoin && errors.Is(m.Err, ErrRoomUnavailable) && member && !pj.left && pj.tries < rejoinRetries:
		// Not the room's answer: its owner could not be reached. Ask again shortly, of the owner then.
		pj.tries++
		e.placed.joins[m.Token] = pj
		self, sys, msg := ctx.Self(), ctx.ActorSystem(), &placedRetry{room: m.Room, token: m.Token}
		time.AfterFunc(rejoinRetry, func() { sys.Root.Send(self, msg) })
		return
	case pj.rejoin:
		if m.Err != nil && member && !pj.left {
			// The new owner refused a member back: it is out of the room.
			n.placedRemove(ctx, m.Room, e, pj.sid, nil, LeaveKicked)
			ctx.Send(pj.pid, &roomKicked{Room: m.Room})
		}
	case m.Err != nil:
		ctx.Send(pj.pid, &roomRefused{Room: m.Room, Err: m.Err, Collector: pj.c})
	case pj.left || member:
		ctx.Send(pj.pid, &roomJoined{Room: m.Room, Collector: pj.c})
	default:
		e.members++
		e.placed.members[pj.sid] = placedMember{pid: pj.pid, ref: pj.ref}
		ctx.Send(e.pid, &roomAdd{Room: m.Room, SID: pj.sid, PID: pj.pid, Sock: pj.sock, Collector: pj.c, Gated: true})
		room, sid := m.Room, pj.sid
		n.hook(func() { n.hooks.Joined(room, sid) }, n.hooks.Joined != nil)
	}
	n.maybeDropProxy(ctx, m.Room, e)
}

// retryRejoin asks the owner again for a rejoin that could not reach it.
func (n *namespaceActor) retryRejoin(ctx actor.Context, m *placedRetry) {
	e := n.rooms[m.room]
	if e == nil || e.placed == nil {
		return
	}
	pj := e.placed.joins[m.token]
	if pj == nil {
		return
	}
	if _, member := e.placed.members[pj.sid]; !member || pj.left {
		delete(e.placed.joins, m.token)
		n.maybeDropProxy(ctx, m.room, e)
		return
	}
	e.placed.owner, e.placed.local = n.hooks.Placement.Owner(m.room)
	n.askOwner(ctx, m.room, e.placed, m.token, pj)
}

// placedLeave removes sid from the proxy of r and tells the owner. notify, when set, gets roomReleased
// from the proxy.
func (n *namespaceActor) placedLeave(ctx actor.Context, r string, e *roomEntry, sid string, notify *actor.PID, why LeaveReason) {
	for _, pj := range e.placed.joins {
		if pj.sid == sid {
			pj.left = true
		}
	}
	n.placedRemove(ctx, r, e, sid, notify, why)
	if e.placed.local {
		if o := n.owned[r]; o != nil {
			ctx.Send(o.pid, &roomRemove{SID: sid, Why: why})
		}
	} else {
		n.hooks.Placement.Leave(e.placed.owner, r, sid, why)
	}
	n.maybeDropProxy(ctx, r, e)
}

// placedRemove drops sid from the proxy of r (only the local list; the owner is not told).
func (n *namespaceActor) placedRemove(ctx actor.Context, r string, e *roomEntry, sid string, notify *actor.PID, why LeaveReason) {
	ctx.Send(e.pid, &roomRemove{SID: sid, Notify: notify, Why: why})
	if _, ok := e.placed.members[sid]; !ok {
		return
	}
	delete(e.placed.members, sid)
	e.members--
	room := r
	n.hook(func() { n.hooks.Left(room, sid) }, n.hooks.Left != nil)
}

// maybeDropProxy stops the proxy of r once it has no member and no join waiting.
func (n *namespaceActor) maybeDropProxy(ctx actor.Context, r string, e *roomEntry) {
	if e.members <= 0 && len(e.placed.joins) == 0 {
		n.deleteRoom(ctx, r, e)
	}
}

// rebalance follows a membership change: proxies whose owner changed ask the new owner to add their
// members back and send it their waiting joins; an owned room placed elsewhere now is handed over to
// its new owner (handoff.go), a forwarder no longer needed is stopped, and the others drop members of
// lost nodes.
func (n *namespaceActor) rebalance(ctx actor.Context) {
	p := n.hooks.Placement
	// Owned rooms first: a forwarder must be gone before a proxy of this node asks this node again.
	for r, o := range n.owned {
		owner, local := p.Owner(r)
		switch {
		case o.moved != "" && (!local || !p.NodeAlive(o.moved)):
			// A forwarder is needed only while this node's view still names it the owner: otherwise what
			// reaches it is relayed to the owner of its view (ownerHere).
			ctx.Poison(o.pid)
			delete(n.owned, r)
		case o.moved != "":
		case !local:
			ctx.Send(o.pid, &roomHandoff{to: owner})
		default:
			ctx.Send(o.pid, &roomMembersCheck{})
		}
	}
	for r, e := range n.rooms {
		if e.placed == nil {
			continue
		}
		owner, local := p.Owner(r)
		if owner == e.placed.owner {
			continue
		}
		e.placed.owner, e.placed.local = owner, local
		for token, pj := range e.placed.joins {
			if !pj.left {
				n.askOwner(ctx, r, e.placed, token, pj)
			}
		}
		for sid, m := range e.placed.members {
			n.tokens++
			pj := &placedJoin{sid: sid, pid: m.pid, ref: m.ref, rejoin: true}
			e.placed.joins[n.tokens] = pj
			n.askOwner(ctx, r, e.placed, n.tokens, pj)
		}
	}
}
