package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Live counts the actors of one engine that are running, by kind; each actor adds itself when it starts
// and removes itself when it stops. The engine reports it as Engine.Stats, and tests assert it drops to
// zero after a shutdown.
type Live struct {
	Namespaces, Rooms, Sockets atomic.Int64
	// Workers runs the mailboxes of the engine's actors. Required by NamespaceProps.
	Workers *Workers
}

// props returns the props of an actor the engine spawns: run by live's Workers.
func props(live *Live, produce actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(produce, append(opts, actor.WithDispatcher(live.Workers))...)
}

// Hooks are the room lifecycle callbacks of a namespace, given to NamespaceProps. They are called from
// the namespace actor, in the order the namespace handles joins and leaves (for one room: Created before
// its first Joined, Deleted after its last Left), and must not block: the engine passes functions that
// hand the event to a serial executor. A nil field is skipped.
type Hooks struct {
	Created func(room string)
	Deleted func(room string)
	Joined  func(room, sid string)
	Left    func(room, sid string)
	// Interest, when set, is called synchronously, in the actor, when the namespace gains its first
	// local member of a room (added, with the collector of the join that created it) or loses its last
	// one. The cluster uses it to tell peers before the join completes; it must not block, and it may add
	// legs to c that it settles later.
	Interest func(room string, added bool, c *Collector)
	// Stopped, when set, is called once when the namespace actor has stopped, after all its rooms and
	// sockets: the engine's Shutdown waits for it under its own context.
	Stopped func()
	// Behavior, when set, is called when a room is created and returns its behaviour, or nil for a plain
	// room. IsBehavior answers the same question without building one: sockets use it to hold a join of
	// such a room as pending until the room answers. Both must agree and must not block.
	Behavior   func(room string) *RoomSpec
	IsBehavior func(room string) bool
	// Rooms, when set, bounds the rooms of this namespace together with every namespace sharing it: a
	// join that would create a room beyond it fails with ErrRoomLimit.
	Rooms *RoomLimit
	// RefuseSocketRooms makes a join of a room named after another socket of the namespace fail with
	// ErrSocketRoom (without it, as in Socket.IO, such a join is allowed and the joiner receives what is
	// sent to that socket's id). SocketRoom, when set, names more such rooms: ids of sockets this
	// namespace's registry does not hold (on other nodes). It must not block.
	RefuseSocketRooms bool
	SocketRoom        func(room string) bool
	// Placement, when set, places the behaviour rooms on one node of a cluster (placement.go); without
	// it every behaviour room runs on the node of its members.
	Placement Placement
}

type roomEntry struct {
	pid     *actor.PID
	members int // plain rooms: local members; a behaviour room counts its own

	// Behaviour rooms only.
	spec       *RoomSpec
	adds       uint64        // roomAdds sent (see nsDispose)
	pending    *atomic.Int64 // RoomMessages forwarded, not yet handled by the room
	maxPending int64

	// The proxy of a placed behaviour room (a plain room actor) only.
	placed *placedRoom
	// An owned placed room that handed itself over: the node it relays to.
	moved string
}

// namespaceActor is the registry of one namespace: its sockets (children), its rooms (children) and their
// member counts; it routes every broadcast. A room actor exists only while the room has local members:
// it is spawned on the first join and poisoned when its last member leaves.
type namespaceActor struct {
	sockets map[string]*sockRef
	rooms   map[string]*roomEntry
	hooks   Hooks
	live    *Live

	owned  map[string]*roomEntry // placed behaviour rooms this node owns (Hooks.Placement)
	tokens uint64                // the last token of a join asked of an owner
	// closing: HandOffAll came (the node shuts down); no owned room is started any more
	closing bool

	// socketProps spawns every socket actor of the namespace: its producer returns spawning, set just
	// before the (synchronous) Spawn. One Props per namespace instead of one per socket, which each socket
	// actor's context keeps for its life. A socket actor is never restarted (its Receive contains its own
	// panics), so the producer runs only within AddSocket.
	socketProps *actor.Props
	spawning    *socketActor
}

// NamespaceProps returns the props of a namespace actor. The engine spawns one per namespace from its
// system's root; the namespace spawns the socket actors (AddSocket) and room actors as its children, so
// poisoning it stops them all first. live is shared by every actor of the engine.
func NamespaceProps(hooks Hooks, live *Live) *actor.Props {
	return props(live, func() actor.Actor {
		n := &namespaceActor{
			sockets: make(map[string]*sockRef),
			rooms:   make(map[string]*roomEntry),
			hooks:   hooks,
			live:    live,
		}
		// A socket actor gets few messages (joins, leaves, its close: deliveries go straight to the
		// connection's queue) and lives as long as its connection: its mailbox is protoactor's
		// lock-free one, an empty linked list (~50 B), rather than the default's ring of 10 slots made
		// up front (~240 B per socket).
		n.socketProps = props(live, n.produceSocket, actor.WithMailbox(actor.UnboundedLockfree()))
		return n
	})
}

func (n *namespaceActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Broadcast:
		n.route(ctx, m)
	case *nsJoin:
		var refused []string
		for _, r := range m.Rooms {
			e := n.rooms[r]
			if err := n.refuse(r, m.SID, e == nil); err != nil {
				refused = append(refused, r)
				if m.Collector != nil {
					m.Collector.Fail(err)
				}
				continue
			}
			if e == nil {
				e = n.spawnRoom(ctx, r, m.Collector)
			}
			if m.Collector != nil {
				m.Collector.AddLegs(1)
			}
			if e.placed != nil {
				n.placedJoin(ctx, r, e, m)
				continue
			}
			add := &roomAdd{Room: r, SID: m.SID, PID: m.PID, Sock: m.Sock, Collector: m.Collector}
			if e.spec != nil {
				// The room decides, and reports joins to the engine's hooks itself.
				e.adds++
				add.Ref, add.Gated, add.Options = m.Ref, true, m.Options
				ctx.Send(e.pid, add)
				continue
			}
			e.members++
			add.Gated = n.hooks.IsBehavior != nil && n.hooks.IsBehavior(r)
			ctx.Send(e.pid, add)
			room, sid := r, m.SID
			n.hook(func() { n.hooks.Joined(room, sid) }, n.hooks.Joined != nil)
		}
		if len(refused) > 0 {
			if m.Collector != nil {
				m.Collector.AddLegs(1)
			}
			ctx.Send(m.PID, &nsRefused{Rooms: refused, Collector: m.Collector})
		}
		if m.Collector != nil {
			m.Collector.LegDone()
		}
	case *nsLeave:
		for _, r := range m.Rooms {
			n.leave(ctx, r, m.SID, nil, m.Why)
		}
		if m.Collector != nil {
			m.Collector.LegDone()
		}
	case *nsRemoveSocket:
		delete(n.sockets, m.SID)
		notified := 0
		for _, r := range m.Rooms {
			if n.leave(ctx, r, m.SID, m.PID, LeaveDisconnected) {
				notified++
			}
		}
		ctx.Send(m.PID, &nsReleased{Rooms: notified})
	case *RoomMessage:
		n.roomMessage(ctx, m)
	case *nsDispose:
		if o := n.owned[m.Room]; o != nil && o.pid.Equal(m.PID) {
			if o.adds == m.Adds {
				ctx.Poison(o.pid)
				delete(n.owned, m.Room)
			}
		} else if e := n.rooms[m.Room]; e != nil && e.pid.Equal(m.PID) && e.adds == m.Adds {
			n.deleteRoom(ctx, m.Room, e)
		}
	case *placedRetry:
		n.retryRejoin(ctx, m)
	case *JoinAnswer:
		n.joinAnswer(ctx, m)
	case *OwnerJoin:
		n.ownerJoin(ctx, m)
	case *OwnerLeave:
		n.ownerLeave(ctx, m)
	case *StateRequest:
		n.stateRequest(ctx, m)
	case *ReplicaAck:
		if o := n.owned[m.Room]; o != nil {
			ctx.Send(o.pid, m)
		}
	case *HandOffAll:
		n.handOffAll(ctx, m)
	case *StatePushed:
		if o := n.owned[m.Room]; o != nil && o.moved != "" {
			ctx.Poison(o.pid)
			delete(n.owned, m.Room)
		}
	case *nsMoved:
		if o := n.owned[m.Room]; o != nil && o.pid.Equal(m.PID) {
			o.moved = m.To
		}
	case *Rebalance:
		if n.hooks.Placement != nil {
			n.rebalance(ctx)
		}
	case *AddSocket:
		sa := newSocketActor(m, n.hooks.IsBehavior, n.live)
		n.spawning = sa
		pid := ctx.Spawn(n.socketProps)
		n.spawning = nil
		sa.ref.pid = pid
		n.sockets[m.SID] = sa.ref
		ctx.Respond(pid)
	case *actor.Started:
		n.live.Namespaces.Add(1)
	case *actor.Stopped:
		n.live.Namespaces.Add(-1)
		if n.hooks.Stopped != nil {
			n.hooks.Stopped()
		}
	}
}

// produceSocket is socketProps' producer: the socket actor AddSocket is spawning, on the namespace's
// goroutine.
func (n *namespaceActor) produceSocket() actor.Actor {
	sa := n.spawning
	if sa == nil {
		panic("actors: a socket actor was produced outside AddSocket")
	}
	n.spawning = nil
	return sa
}

// refuse returns why socket sid may not join room r (create: r has no room yet), or nil.
func (n *namespaceActor) refuse(r, sid string, create bool) error {
	if n.hooks.RefuseSocketRooms && r != sid && (n.sockets[r] != nil || (n.hooks.SocketRoom != nil && n.hooks.SocketRoom(r))) {
		return ErrSocketRoom
	}
	if l := n.hooks.Rooms; create && l != nil && l.Max > 0 && l.n.Load() >= l.Max {
		return ErrRoomLimit
	}
	return nil
}

func (n *namespaceActor) hook(f func(), set bool) {
	if set {
		f()
	}
}

// spawnRoom starts the actor of room r, a behaviour room when the engine has one for it.
func (n *namespaceActor) spawnRoom(ctx actor.Context, r string, c *Collector) *roomEntry {
	if n.hooks.Rooms != nil {
		n.hooks.Rooms.n.Add(1)
	}
	e := &roomEntry{}
	if n.placed(r) {
		e.placed = &placedRoom{members: make(map[string]placedMember), joins: make(map[uint64]*placedJoin)}
	} else if n.hooks.Behavior != nil {
		e.spec = n.hooks.Behavior(r)
	}
	if e.spec != nil {
		e.pending = new(atomic.Int64)
		e.maxPending = e.spec.MaxPending
		if e.maxPending <= 0 {
			e.maxPending = 1024
		}
		br := newBehaviorRoom(r, e.spec, e.pending, n.live)
		e.pid = ctx.Spawn(props(n.live, func() actor.Actor { return br }))
	} else {
		e.pid = ctx.Spawn(props(n.live, func() actor.Actor { return newRoomActor(n.live) }))
	}
	n.rooms[r] = e
	if n.hooks.Interest != nil {
		n.hooks.Interest(r, true, c)
	}
	n.hook(func() { n.hooks.Created(r) }, n.hooks.Created != nil)
	return e
}

// deleteRoom stops room r's actor and forgets it. Messages already in its mailbox are processed before
// it stops.
func (n *namespaceActor) deleteRoom(ctx actor.Context, r string, e *roomEntry) {
	ctx.Poison(e.pid)
	delete(n.rooms, r)
	if n.hooks.Rooms != nil {
		n.hooks.Rooms.n.Add(-1)
	}
	if n.hooks.Interest != nil {
		n.hooks.Interest(r, false, nil)
	}
	n.hook(func() { n.hooks.Deleted(r) }, n.hooks.Deleted != nil)
}

// leave removes sid from room r; an emptied plain room is stopped and forgotten (Socket.IO deletes
// empty rooms), while a behaviour room decides its own end (nsDispose). notify, when set, gets
// roomReleased from the room; leave reports whether a room was there to ask.
func (n *namespaceActor) leave(ctx actor.Context, r, sid string, notify *actor.PID, why LeaveReason) bool {
	e := n.rooms[r]
	if e == nil {
		return false
	}
	if e.placed != nil {
		n.placedLeave(ctx, r, e, sid, notify, why)
		return true
	}
	ctx.Send(e.pid, &roomRemove{SID: sid, Notify: notify, Why: why})
	if e.spec != nil {
		return true
	}
	e.members--
	room := r
	n.hook(func() { n.hooks.Left(room, sid) }, n.hooks.Left != nil)
	if e.members <= 0 {
		n.deleteRoom(ctx, r, e)
	}
	return true
}

// roomMessage forwards m to its behaviour room, or answers it with why it cannot.
func (n *namespaceActor) roomMessage(ctx actor.Context, m *RoomMessage) {
	e := n.rooms[m.Room]
	if n.placed(m.Room) {
		// The engine sends it here when this node owns the room in its view, or a peer relayed it.
		if e = n.ownerMessage(ctx, m); e == nil {
			return
		}
	}
	switch {
	case e == nil && m.SID != "":
		m.fail(ErrNotInRoom) // a room without an actor has no members
	case e == nil:
		m.fail(ErrNoRoom)
	case e.spec == nil:
		m.fail(ErrNoBehavior)
	case e.pending.Add(1) > e.maxPending:
		e.pending.Add(-1)
		m.fail(ErrRoomBusy)
	default:
		ctx.Send(e.pid, m)
	}
}

// send hands d to pid as one more leg of d's collector and of its broadcast.
func (n *namespaceActor) send(ctx actor.Context, pid *actor.PID, d *delivery) {
	if c := d.b.Collector; c != nil {
		c.AddLegs(1)
	}
	d.b.addLegs(1)
	ctx.Send(pid, d)
}

// route sends b to its target rooms, or to every socket when it names none. A socket's own-id room has
// no actor: deliveries to it go straight to the socket.
func (n *namespaceActor) route(ctx actor.Context, b *Broadcast) {
	c := b.Collector
	if b.Op == OpFlush {
		// Through every room and to every socket: once all legs are settled, everything the namespace
		// routed before has been processed by the socket actors (FIFO per sender-receiver pair).
		d := &delivery{b: b}
		c.AddLegs(len(n.rooms) + len(n.sockets))
		b.addLegs(len(n.rooms) + len(n.sockets))
		for _, e := range n.rooms {
			ctx.Send(e.pid, d)
		}
		for _, k := range n.sockets {
			ctx.Send(k.pid, d)
		}
	} else if len(b.Rooms) == 0 {
		d := &delivery{b: b}
		if b.Op == OpEmit {
			now := len(n.sockets) <= SmallFanout
			for _, k := range n.sockets {
				k.emit(d, now)
			}
		} else {
			if c != nil {
				c.AddLegs(len(n.sockets))
			}
			b.addLegs(len(n.sockets))
			for _, k := range n.sockets {
				ctx.Send(k.pid, d)
			}
		}
	} else {
		for _, r := range b.Rooms {
			// A socket's own-id room has no actor: the socket gets it directly. Other sockets may also
			// have joined a room of that name (Socket.IO allows it); they get it through its actor.
			d := &delivery{b: b, via: r}
			if e := n.rooms[r]; e != nil {
				n.send(ctx, e.pid, d)
			}
			if k := n.sockets[r]; k != nil {
				if b.Op == OpEmit {
					k.emit(d, true) // one socket
				} else {
					n.send(ctx, k.pid, d)
				}
			}
		}
	}
	if c != nil {
		c.LegDone()
	}
	b.legDone()
}
