package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// member is one socket in a room.
type member struct {
	sid string
	pid *actor.PID
}

// roomLogic is the behaviour that runs inside a room actor. The default, fanout, sends every delivery to
// all members; a room with behaviour of its own (state, server-side logic per message) would plug in
// here.
type roomLogic interface {
	joined(r *roomActor, m member)
	left(r *roomActor, sid string)
	deliver(ctx actor.Context, r *roomActor, d *delivery)
}

// roomActor holds one room's local members.
type roomActor struct {
	members []member
	index   map[string]int // sid → position in members
	logic   roomLogic
	live    *Live
}

func newRoomActor(live *Live) *roomActor {
	return &roomActor{index: make(map[string]int), logic: fanout{}, live: live}
}

func (r *roomActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *delivery:
		r.logic.deliver(ctx, r, m)
	case *roomAdd:
		if _, ok := r.index[m.SID]; !ok {
			r.index[m.SID] = len(r.members)
			r.members = append(r.members, member{sid: m.SID, pid: m.PID})
			r.logic.joined(r, member{sid: m.SID, pid: m.PID})
		}
		if m.Collector != nil {
			m.Collector.LegDone()
		}
	case *roomRemove:
		if m.Notify != nil {
			defer ctx.Send(m.Notify, &roomReleased{})
		}
		i, ok := r.index[m.SID]
		if !ok {
			return
		}
		// Swap-remove keeps removal O(1); member order is not part of any guarantee.
		last := len(r.members) - 1
		r.members[i] = r.members[last]
		r.index[r.members[i].sid] = i
		r.members[last] = member{}
		r.members = r.members[:last]
		delete(r.index, m.SID)
		r.logic.left(r, m.SID)
	case *actor.Started:
		r.live.Rooms.Add(1)
	case *actor.Stopped:
		r.live.Rooms.Add(-1)
	}
}

// fanout is the default room logic: every delivery goes to every member, as one shared *delivery.
type fanout struct{}

func (fanout) joined(*roomActor, member) {}
func (fanout) left(*roomActor, string)   {}

func (fanout) deliver(ctx actor.Context, r *roomActor, d *delivery) {
	c := d.b.Collector
	if c != nil {
		c.AddLegs(len(r.members))
	}
	d.b.addLegs(len(r.members))
	for _, m := range r.members {
		ctx.Send(m.pid, d)
	}
	if c != nil {
		c.LegDone()
	}
	d.b.legDone()
}
