package actors

import (
	"fmt"
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// socketActor owns one socket's room set and applies the operations other than emits (joins, leaves,
// fetches, disconnects) to the socket.
type socketActor struct {
	sid      string
	ref      *sockRef // shared with the fan-outs: the outbox, the handle and the room set, written only here
	maxRooms int
	live     *Live
	// gated reports the rooms that have a behaviour (nil when the engine has none); a join of one is
	// held in joining until the room accepts or refuses it, so that no delivery selects the socket by a
	// room it may not be in.
	gated   func(string) bool
	joining map[string]*pendingJoin

	// Closing (see close): no delivery is acted on any more; the actor stops itself once the namespace
	// and every room it was in have confirmed they dropped it.
	closed   bool
	draining bool     // closed, but emits still reach the outbox (CloseSocket.Drain)
	stopped  []func() // CloseSocket.Stopped callbacks
	released bool     // nsReleased arrived
	pending  int      // roomReleased still expected
}

// pendingJoin is a behaviour room the socket asked to join and whose answer has not come yet. A leave
// and a new join meanwhile are sent on; the room answers every join in order, so the last answer holds
// when the socket still wants the room, and none does when it left.
type pendingJoin struct {
	answers int  // joins sent, not answered yet
	want    bool // false once the socket left the room meanwhile
}

func newSocketActor(m *AddSocket, gated func(string) bool, live *Live) *socketActor {
	ref := &sockRef{sid: m.SID, outbox: m.Outbox, handle: m.Handle, rooms: newRoomSet(m.SID)}
	return &socketActor{sid: m.SID, ref: ref, maxRooms: m.MaxRooms,
		live: live, gated: gated}
}

func (s *socketActor) Receive(ctx actor.Context) {
	// A panic is contained here: the message is dropped and the actor goes on with its state, as it did
	// when protoactor restarted it (its producer returned the same actor), less the second Started. A
	// restart now would call the namespace's shared producer (socketProps) off the namespace's goroutine.
	defer func() {
		if r := recover(); r != nil {
			ctx.Logger().Error("socket actor: panic, message dropped", "socket", s.sid, "message", fmt.Sprintf("%T", ctx.Message()), "err", fmt.Sprint(r))
		}
	}()
	switch m := ctx.Message().(type) {
	case *delivery:
		if s.closed && !(s.draining && m.b.Op == OpEmit) {
			if m.b.Collector != nil {
				m.b.Collector.LegDone()
			}
			m.b.legDone()
			return
		}
		s.deliver(ctx, m)
		m.b.legDone()
	case *nsRefused:
		for _, r := range m.Rooms {
			s.ref.delRoom(r)
		}
		settle(m.Collector)
	case *JoinRooms:
		if s.closed {
			settle(m.Collector)
			return
		}
		s.join(ctx, m.Rooms, m.Collector, m.Options)
	case *LeaveRooms:
		if s.closed {
			settle(m.Collector)
			return
		}
		s.leave(ctx, m.Rooms, m.Collector)
	case *roomJoined:
		if !s.closed {
			s.answered(m.Room, true)
		}
		settle(m.Collector)
	case *roomRefused:
		if !s.closed {
			s.answered(m.Room, false)
			if m.Collector != nil {
				m.Collector.Fail(&RefusedError{Room: m.Room, Err: m.Err})
			}
		}
		settle(m.Collector)
	case *roomKicked:
		// A pending join of the room is a newer membership the kick does not concern.
		if _, ok := s.joining[m.Room]; !ok {
			s.ref.delRoom(m.Room)
		}
	case *GetRooms:
		if s.closed {
			m.Reply <- nil
			return
		}
		m.Reply <- s.roomList()
	case *CloseSocket:
		if m.Stopped != nil {
			s.stopped = append(s.stopped, m.Stopped)
		}
		if !s.closed {
			s.draining = m.Drain
		}
		s.close(ctx)
	case *nsReleased:
		s.released = true
		s.pending += m.Rooms
		s.maybeStop(ctx)
	case *roomReleased:
		s.pending--
		s.maybeStop(ctx)
	case *actor.Started:
		s.live.Sockets.Add(1)
	case *actor.Stopped:
		s.live.Sockets.Add(-1)
		for _, fn := range s.stopped {
			fn()
		}
	}
}

func settle(c *Collector) {
	if c != nil {
		c.LegDone()
	}
}

// close starts the socket's end. Protoactor silently drops the messages left in a stopped actor's
// mailbox, and a dropped delivery would leave its collector (an ack, a fetch) waiting for its timeout.
// So the socket does not stop at once: it asks the namespace to forget it and its rooms to drop it, keeps
// settling deliveries without acting on them, and stops itself only when the namespace and every room
// have confirmed. Per-pair FIFO means nothing from them can follow their confirmation.
func (s *socketActor) close(ctx actor.Context) {
	if s.closed {
		return
	}
	s.closed = true
	if !s.draining {
		// A draining socket's emits go on to its Outbox until its rooms confirm the leave: the rooms
		// apply them through the sockRef, so it must not refuse them (CloseSocket.Drain).
		s.ref.closed.Store(true)
	}
	rooms := slices.DeleteFunc(s.roomList(), func(r string) bool { return r == s.sid })
	for r := range s.joining {
		rooms = append(rooms, r) // the room holds it if it accepted meanwhile
	}
	ctx.Send(ctx.Parent(), &nsRemoveSocket{SID: s.sid, PID: ctx.Self(), Rooms: rooms})
}

func (s *socketActor) maybeStop(ctx actor.Context) {
	if s.released && s.pending == 0 {
		ctx.Stop(ctx.Self())
	}
}

func (s *socketActor) roomList() []string {
	out := s.ref.rooms.list() // read without the lock: this actor is the set's only writer
	slices.Sort(out)
	return out
}

// deliver applies every operation but an emit: emits never reach a socket actor, the actors fanning
// them out apply them through the socket's sockRef (room.go, namespace.go, behavior.go).
func (s *socketActor) deliver(ctx actor.Context, d *delivery) {
	b := d.b
	c := b.Collector
	if !s.ref.accepts(d) {
		if c != nil {
			c.LegDone()
		}
		return
	}
	switch b.Op {
	case OpFetch:
		c.Expect(nil)
		c.Add(Result{SID: s.sid, Info: &SocketInfo{SID: s.sid, Rooms: s.roomList(), Ref: s.ref.handle}})
	case OpJoin:
		if c != nil {
			c.AddLegs(1)
		}
		s.join(ctx, b.OpRooms, c, packet.Arg{})
	case OpLeave:
		if c != nil {
			c.AddLegs(1)
		}
		s.leave(ctx, b.OpRooms, c)
	case OpDisconnect:
		s.ref.handle.ForceDisconnect(b.Close)
	}
	if c != nil {
		c.LegDone()
	}
}

// join adds rooms to the set and asks the namespace to add the socket to their room actors. The
// collector's leg held by this call is settled by the namespace, or here when nothing is to be done.
func (s *socketActor) join(ctx actor.Context, rooms []string, c *Collector, opts packet.Arg) {
	var added []string
	for _, r := range rooms {
		if s.ref.rooms.has(r) {
			continue
		}
		if p := s.joining[r]; p != nil {
			if !p.want {
				p.want = true
				p.answers++
				added = append(added, r)
			}
			continue
		}
		if s.maxRooms > 0 && s.ref.rooms.len()+len(s.joining) >= s.maxRooms+1 { // +1: the own-id room does not count
			if c != nil {
				c.Fail(ErrTooManyRooms)
			}
			break
		}
		if s.gated != nil && s.gated(r) {
			if s.joining == nil {
				s.joining = make(map[string]*pendingJoin)
			}
			s.joining[r] = &pendingJoin{answers: 1, want: true}
		} else {
			s.ref.addRoom(r)
		}
		added = append(added, r)
	}
	if len(added) == 0 {
		if c != nil {
			c.LegDone()
		}
		return
	}
	ctx.Send(ctx.Parent(), &nsJoin{SID: s.sid, PID: ctx.Self(), Sock: s.ref, Ref: s.ref.handle, Rooms: added, Collector: c, Options: opts})
}

// answered applies a behaviour room's answer to a join of room.
func (s *socketActor) answered(room string, ok bool) {
	p := s.joining[room]
	if p == nil {
		if !ok {
			s.ref.delRoom(room) // joined as a plain room before its behaviour was registered
		}
		return
	}
	if p.answers--; p.answers > 0 {
		return // a later join's answer decides
	}
	delete(s.joining, room)
	if len(s.joining) == 0 {
		s.joining = nil // a map keeps its table when emptied (~0.2 KB for the socket's life)
	}
	if ok && p.want {
		s.ref.addRoom(room)
	}
}

func (s *socketActor) leave(ctx actor.Context, rooms []string, c *Collector) {
	var removed []string
	for _, r := range rooms {
		if p := s.joining[r]; p != nil {
			// Leaving a room still deciding the join: the room gets the removal after the join.
			if p.want {
				p.want = false
				removed = append(removed, r)
			}
			continue
		}
		if !s.ref.rooms.has(r) || r == s.sid {
			continue // a socket never leaves its own-id room
		}
		s.ref.delRoom(r)
		removed = append(removed, r)
	}
	if len(removed) == 0 {
		if c != nil {
			c.LegDone()
		}
		return
	}
	ctx.Send(ctx.Parent(), &nsLeave{SID: s.sid, Rooms: removed, Collector: c, Why: LeaveLeft})
}
