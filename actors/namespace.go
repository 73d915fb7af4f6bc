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
	// Rooms, when set, bounds the rooms of this namespace together with every namespace sharing it: a
	// join that would create a room beyond it fails with ErrRoomLimit.
	Rooms *RoomLimit
	// RefuseSocketRooms makes a join of a room named after another socket of the namespace fail with
	// ErrSocketRoom (without it, as in Socket.IO, such a join is allowed and the joiner receives what is
	// sent to that socket's id). SocketRoom, when set, names more such rooms: ids of sockets this
	// namespace's registry does not hold (on other nodes). It must not block.
	RefuseSocketRooms bool
	SocketRoom        func(room string) bool
}

type roomEntry struct {
	pid     *actor.PID
	members int
}

// namespaceActor is the registry of one namespace: its sockets (children), its rooms (children) and their
// member counts; it routes every broadcast. A room actor exists only while the room has local members:
// it is spawned on the first join and poisoned when its last member leaves.
type namespaceActor struct {
	sockets map[string]*actor.PID
	rooms   map[string]*roomEntry
	hooks   Hooks
	live    *Live
}

// NamespaceProps returns the props of a namespace actor. The engine spawns one per namespace from its
// system's root; the namespace spawns the socket actors (AddSocket) and room actors as its children, so
// poisoning it stops them all first. live is shared by every actor of the engine.
func NamespaceProps(hooks Hooks, live *Live) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &namespaceActor{
			sockets: make(map[string]*actor.PID),
			rooms:   make(map[string]*roomEntry),
			hooks:   hooks,
			live:    live,
		}
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
				if n.hooks.Rooms != nil {
					n.hooks.Rooms.n.Add(1)
				}
				name := r
				pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRoomActor(n.live) }))
				e = &roomEntry{pid: pid}
				n.rooms[r] = e
				if n.hooks.Interest != nil {
					n.hooks.Interest(name, true, m.Collector)
				}
				n.hook(func() { n.hooks.Created(name) }, n.hooks.Created != nil)
			}
			e.members++
			if m.Collector != nil {
				m.Collector.AddLegs(1)
			}
			ctx.Send(e.pid, &roomAdd{SID: m.SID, PID: m.PID, Collector: m.Collector})
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
			n.leave(ctx, r, m.SID, nil)
		}
		if m.Collector != nil {
			m.Collector.LegDone()
		}
	case *nsRemoveSocket:
		delete(n.sockets, m.SID)
		notified := 0
		for _, r := range m.Rooms {
			if n.leave(ctx, r, m.SID, m.PID) {
				notified++
			}
		}
		ctx.Send(m.PID, &nsReleased{Rooms: notified})
	case *AddSocket:
		sa := newSocketActor(m, n.live)
		pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return sa }))
		n.sockets[m.SID] = pid
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

// leave removes sid from room r; an emptied room actor is stopped and forgotten (Socket.IO deletes
// empty rooms). Messages already in its mailbox, the removal included, are processed before it stops.
// notify, when set, gets roomReleased from the room; leave reports whether a room was there to ask.
func (n *namespaceActor) leave(ctx actor.Context, r, sid string, notify *actor.PID) bool {
	e := n.rooms[r]
	if e == nil {
		return false
	}
	ctx.Send(e.pid, &roomRemove{SID: sid, Notify: notify})
	e.members--
	room := r
	n.hook(func() { n.hooks.Left(room, sid) }, n.hooks.Left != nil)
	if e.members <= 0 {
		ctx.Poison(e.pid)
		delete(n.rooms, r)
		if n.hooks.Rooms != nil {
			n.hooks.Rooms.n.Add(-1)
		}
		if n.hooks.Interest != nil {
			n.hooks.Interest(room, false, nil)
		}
		n.hook(func() { n.hooks.Deleted(room) }, n.hooks.Deleted != nil)
	}
	return true
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
		for _, pid := range n.sockets {
			ctx.Send(pid, d)
		}
	} else if len(b.Rooms) == 0 {
		d := &delivery{b: b}
		if c != nil {
			c.AddLegs(len(n.sockets))
		}
		b.addLegs(len(n.sockets))
		for _, pid := range n.sockets {
			ctx.Send(pid, d)
		}
	} else {
		for _, r := range b.Rooms {
			// A socket's own-id room has no actor: the socket gets it directly. Other sockets may also
			// have joined a room of that name (Socket.IO allows it); they get it through its actor.
			d := &delivery{b: b, via: r}
			if e := n.rooms[r]; e != nil {
				n.send(ctx, e.pid, d)
			}
			if p := n.sockets[r]; p != nil {
				n.send(ctx, p, d)
			}
		}
	}
	if c != nil {
		c.LegDone()
	}
	b.legDone()
}
