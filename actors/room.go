package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// member is one socket in a room.
type member struct {
	sid  string
	pid  *actor.PID
	sock *sockRef // nil for a socket of another node (the members of a placed room's owner)
	ref  any      // the engine's reference to the socket (AddSocket.Handle); read by behaviour rooms
}

// memberSet is a room's local members: a slice to fan out over and an index to find one.
type memberSet struct {
	list  []member
	index map[string]int // sid → position in list
}

func newMemberSet() memberSet { return memberSet{index: make(map[string]int)} }

func (s *memberSet) has(sid string) bool {
	_, ok := s.index[sid]
	return ok
}

// add adds m unless it is a member already; it reports whether it did.
func (s *memberSet) add(m member) bool {
	if _, ok := s.index[m.sid]; ok {
		return false
	}
	s.index[m.sid] = len(s.list)
	s.list = append(s.list, m)
	return true
}

// remove removes sid and reports whether it was a member. Swap-remove keeps it O(1); member order is
// not part of any guarantee.
func (s *memberSet) remove(sid string) bool {
	i, ok := s.index[sid]
	if !ok {
		return false
	}
	last := len(s.list) - 1
	s.list[i] = s.list[last]
	s.index[s.list[i].sid] = i
	s.list[last] = member{}
	s.list = s.list[:last]
	delete(s.index, sid)
	return true
}

// fanout applies d to every member. An emit is applied here, on the room's goroutine, through each
// member's sockRef (one queue push per member, no socket actor woken); any other operation goes to the
// socket actors, as one shared *delivery holding one collector leg per member.
func (s *memberSet) fanout(ctx actor.Context, d *delivery) {
	c := d.b.Collector
	if d.b.Op == OpEmit {
		now := len(s.list) <= SmallFanout
		for _, m := range s.list {
			if m.sock != nil {
				m.sock.emit(d, now)
			}
		}
	} else {
		if c != nil {
			c.AddLegs(len(s.list))
		}
		d.b.addLegs(len(s.list))
		for _, m := range s.list {
			ctx.Send(m.pid, d)
		}
	}
	if c != nil {
		c.LegDone()
	}
	d.b.legDone()
}

// roomActor holds one plain room's local members: every delivery goes to all of them. It is the fast
// path, and rooms with a behaviour of their own run behaviorRoom instead (behavior.go).
type roomActor struct {
	members memberSet
	live    *Live
}

func newRoomActor(live *Live) *roomActor {
	return &roomActor{members: newMemberSet(), live: live}
}

func (r *roomActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *delivery:
		r.members.fanout(ctx, m)
	case *roomAdd:
		r.members.add(member{sid: m.SID, pid: m.PID, sock: m.Sock})
		if m.Gated {
			// The socket took this room for a behaviour room (a behaviour registered while the engine
			// ran): it waits for the room's answer, which carries the leg.
			ctx.Send(m.PID, &roomJoined{Room: m.Room, Collector: m.Collector})
			return
		}
		if m.Collector != nil {
			m.Collector.LegDone()
		}
	case *roomRemove:
		if m.Notify != nil {
			defer ctx.Send(m.Notify, &roomReleased{})
		}
		r.members.remove(m.SID)
	case *actor.Started:
		r.live.Rooms.Add(1)
	case *actor.Stopped:
		r.live.Rooms.Add(-1)
	}
}
