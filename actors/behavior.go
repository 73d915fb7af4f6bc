package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// Behaviour rooms: a room whose name the engine's Hooks.Behavior claims runs the application's code
// (RoomHooks) inside its own actor, one call at a time. Unlike a plain room it decides who joins: the
// socket holds such a room as pending until the room answers roomJoined or roomRefused, so no delivery
// selects a socket by a room it may not be in. Its membership is the room's alone: the namespace only
// forwards joins, leaves and messages, and the room asks to be stopped (nsDispose) when it is empty.

// LeaveReason says why a member left a behaviour room.
type LeaveReason uint8

// Leave reasons.
const (
	LeaveLeft         LeaveReason = iota // the socket left the room (Leave, SocketsLeave)
	LeaveDisconnected                    // the socket disconnected
	LeaveKicked                          // the room removed it (Room.Kick, Room.Dispose)
	LeaveNodeLost                        // the socket's node left the cluster (not produced on one node)
)

// Errors of behaviour rooms, recorded on a join's Collector or passed to a RoomMessage's Reply. The
// engine re-exports them.
var (
	ErrNotInRoom  = errors.New("actors: socket is not in the room")
	ErrNoRoom     = errors.New("actors: room does not exist")
	ErrNoBehavior = errors.New("actors: room has no behaviour")
	ErrRoomBusy   = errors.New("actors: room has too many messages waiting")
	ErrRoomFull   = errors.New("actors: room is full")
	ErrRoomLocked = errors.New("actors: room is locked")
	ErrRoomClosed = errors.New("actors: room is being disposed")
	// ErrRoomMoved fails work relayed to a node that has handed the room on itself (a relay is never
	// relayed twice); the engine reports it as its ErrRoomUnavailable.
	ErrRoomMoved = errors.New("actors: room moved")
	// ErrRoomUnavailable: the room's node could not be reached (the engine re-exports it). A member's
	// rejoin that fails with it is asked again (placement.go), not taken as a refusal.
	ErrRoomUnavailable = errors.New("engine: the room's node cannot be reached")
)

// RefusedError is a join that a behaviour room refused: by its Create or Join hook (Err is the hook's
// error), or by its limits (ErrRoomFull, ErrRoomLocked, ErrRoomClosed). It is recorded on the join's
// Collector; the engine re-exports it.
type RefusedError struct {
	Room string
	Err  error
}

func (e *RefusedError) Error() string {
	return "room " + e.Room + " refused the join: " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Err }

// RoomSpec is what Hooks.Behavior returns for a behaviour room: its code and its limits.
type RoomSpec struct {
	Hooks RoomHooks
	// DisposeDelay keeps an empty room alive this long, for a member that comes back; zero disposes it
	// as soon as its last member leaves.
	DisposeDelay time.Duration
	// MaxPending bounds the RoomMessages waiting in the room's mailbox; past it they fail with
	// ErrRoomBusy. Zero means 1024.
	MaxPending int64
	// MaxClients is the room's initial member limit (Room.SetMaxClients); zero means none.
	MaxClients int
	// Status, when set, gets the room's state after each message the room handles (listing.go).
	Status *RoomStatus
	// Replicate (placed rooms): after the hooks that changed the room's snapshot (committed in groups:
	// afterHook), the state goes to the replica node, and the hooks' outputs wait until that node has it
	// (handoff.go).
	Replicate bool
}

// RoomHooks is a behaviour room's code, implemented by the engine around the application's. Every
// method runs inside the room's actor, one at a time, and may use r's methods; none may block for long
// (the room's messages wait meanwhile, no other room does).
type RoomHooks interface {
	// Create runs once, before the first join is considered, with that join; an error refuses that
	// join, and the next join tries again.
	Create(r *Room, j *Joiner) error
	// Join decides a join (the joiner is not a member yet); an error refuses it with that error.
	Join(r *Room, j *Joiner) error
	// Left runs after a member was removed.
	Left(r *Room, sid string, why LeaveReason)
	// Message handles a RoomMessage; its Reply may be called later, from any goroutine.
	Message(r *Room, m *RoomMessage)
	// Tick runs at the rate set by Room.SetTick; dt is the time since the previous tick.
	Tick(r *Room, dt time.Duration)
	// Timer runs when a timer set by Room.SetTimer fires.
	Timer(r *Room, key any)
	// Dispose runs once when a created room stops: empty (after DisposeDelay), disposed by Room.Dispose,
	// or at shutdown; not when it was handed over with its state to another node.
	Dispose(r *Room)
	// Snapshot returns the room's state as bytes (placed rooms: at handoff, and at each commit of a
	// replicated room); ok is false when the behaviour keeps none (the room is then re-created on its
	// new owner).
	Snapshot(r *Room) (data []byte, ok bool, err error)
	// Restore replaces Create on the node a room moved to, with the Snapshot taken on the old one; an
	// error re-creates the room instead.
	Restore(r *Room, data []byte) error
}

// Joiner is a socket asking to join a behaviour room.
type Joiner struct {
	SID     string
	Ref     any        // the socket's Handle given with AddSocket
	Options packet.Arg // the join's options; Data is nil when it carries none
	// Rejoin: the socket was a member on the room's previous owner (placed rooms).
	Rejoin bool
}

// RoomMessage (engine → namespace) is a message for a behaviour room's code: from a member socket (SID
// set, which the room checks), or from server code (SID "", no check). Reply is called exactly once: with
// an error when the message cannot be handled (no such room, not a member, busy, a failing hook), or
// with the room's answer when Ask is set. It must be safe to call from any goroutine.
type RoomMessage struct {
	Room  string
	SID   string
	Event string
	Args  []packet.Arg
	Ask   bool
	Reply func(args []packet.Arg, err error)
	// Hops counts the nodes that passed it on because they no longer ran the room (placed rooms): at
	// most two (a node hands it back once to the node it came from, which took the room meanwhile).
	Hops uint8
}

// fail answers m with err.
func (m *RoomMessage) fail(err error) {
	if m.Reply != nil {
		m.Reply(nil, err)
	}
}

// Self-sent messages of a behaviour room.
type (
	roomTick  struct{ gen uint64 }
	roomTimer struct {
		id  uint64
		key any
	}
	roomGrace struct{ gen uint64 }
)

// Room is a behaviour room as its hooks see it. Its methods must be called only from inside a hook (the
// room's actor); it is not safe for concurrent use.
type Room struct {
	name    string
	spec    *RoomSpec
	members memberSet
	live    *Live
	pending *atomic.Int64 // RoomMessages forwarded by the namespace, not yet handled
	ns      *actor.PID

	// out, when set, makes this room the owner's actor of a placed room: its members are sockets of any
	// node, its emits and kicks go through out, and its join answers through roomAdd.Answer.
	out Placement
	b   *behaviorRoom
	cur any // the message being handled

	// Placed rooms (handoff.go).
	phase      roomPhase
	held       []any // work held while restoring or handing over, in arrival order
	movedTo    string
	leaving    *roomHandoff
	recreated  bool
	version    uint64 // changes (replicated rooms)
	acked      uint64 // the version the replica node acknowledged
	lastSnap   []byte
	hookOut    []func() // outputs of the hooks since the last commit (replicated rooms)
	committing bool     // a roomCommit is in the mailbox
	outbox     []outItem
	retryTimer *time.Timer

	ctx    actor.Context // the context of the message being handled
	self   *actor.PID
	system *actor.ActorSystem

	created, closing bool
	stopped          bool   // the actor stopped (Status shows it closed)
	asked            bool   // nsDispose sent since the last roomAdd
	adds             uint64 // roomAdds received (see nsDispose)
	maxClients       int
	locked           bool
	after            []func() // work a hook asked for, run once it returns (Kick, Dispose)

	tickEvery time.Duration
	tickGen   uint64
	tickNext  time.Time
	tickLast  time.Time
	tickTimer *time.Timer

	timers   map[uint64]*time.Timer
	timerSeq uint64

	graceGen   uint64
	graceTimer *time.Timer
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Len returns how many members the room has.
func (r *Room) Len() int { return len(r.members.list) }

// Members returns the members' socket ids, in no particular order.
func (r *Room) Members() []string {
	out := make([]string, len(r.members.list))
	for i, m := range r.members.list {
		out[i] = m.sid
	}
	return out
}

// Has reports whether sid is a member.
func (r *Room) Has(sid string) bool { return r.members.has(sid) }

// Ref returns the engine's reference to member sid (its AddSocket.Handle), or nil.
func (r *Room) Ref(sid string) any {
	if i, ok := r.members.index[sid]; ok {
		return r.members.list[i].ref
	}
	return nil
}

// Emit queues p on every member except the one named except ("" for none). The members' sockets get
// the packets in the order the room emits them.
func (r *Room) Emit(p *packet.Packet, except string) {
	if r.out != nil {
		r.output(func() { r.out.Emit(r.name, p, except) })
		return
	}
	d := &delivery{b: &Broadcast{Rooms: []string{r.name}, Op: OpEmit, Packet: p}, via: r.name}
	now := len(r.members.list) <= SmallFanout
	for _, m := range r.members.list {
		if m.sid != except && m.sock != nil {
			m.sock.emit(d, now) // straight to the member's queue, as a plain room's fan-out does
		}
	}
}

// EmitTo queues p on member sid and reports whether sid is a member. During Join it also reaches the
// joiner, who is not a member yet.
func (r *Room) EmitTo(sid string, p *packet.Packet) bool {
	if r.out != nil {
		a, joining := r.cur.(*roomAdd)
		if !r.members.has(sid) && (!joining || a.SID != sid) {
			return false
		}
		r.output(func() { r.out.EmitTo(sid, p) })
		return true
	}
	k := r.sockOf(sid)
	if k == nil {
		return false
	}
	k.emit(&delivery{b: &Broadcast{Rooms: []string{sid}, Op: OpEmit, Packet: p}, via: sid}, true)
	return true
}

// Outbox returns the outbox of member sid (the joiner's during Join); nil for anyone else, and for a
// room whose outputs leave through a replica (its emits do not write from this goroutine).
func (r *Room) Outbox(sid string) Outbox {
	if r.out != nil {
		return nil
	}
	if k := r.sockOf(sid); k != nil {
		return k.outbox
	}
	return nil
}

// sockOf returns the sockRef of member sid, or of the joiner during Join; nil for anyone else.
func (r *Room) sockOf(sid string) *sockRef {
	if i, ok := r.members.index[sid]; ok {
		return r.members.list[i].sock
	}
	if a, ok := r.cur.(*roomAdd); ok && a.SID == sid {
		return a.Sock
	}
	return nil
}

// SetMaxClients limits the members; joins beyond it fail with ErrRoomFull. Zero means no limit.
func (r *Room) SetMaxClients(n int) { r.maxClients = n }

// MaxClients returns the member limit (zero: none).
func (r *Room) MaxClients() int { return r.maxClients }

// Lock makes joins fail with ErrRoomLocked until Unlock.
func (r *Room) Lock() { r.locked = true }

// Unlock undoes Lock.
func (r *Room) Unlock() { r.locked = false }

// Locked reports whether the room is locked.
func (r *Room) Locked() bool { return r.locked }

// Kick removes member sid (its Left hook runs with LeaveKicked once the current hook returns) and
// reports whether it was a member.
func (r *Room) Kick(sid string) bool {
	i, ok := r.members.index[sid]
	if !ok {
		return false
	}
	pid := r.members.list[i].pid
	r.members.remove(sid)
	if r.out != nil {
		r.out.Kick(r.name, sid)
	} else {
		r.ctx.Send(pid, &roomKicked{Room: r.name})
	}
	r.after = append(r.after, func() {
		r.hooks().Left(r, sid, LeaveKicked)
		r.maybeEmpty()
	})
	return true
}

// Dispose kicks every member and stops the room once the current hook returns; joins meanwhile fail
// with ErrRoomClosed.
func (r *Room) Dispose() {
	if r.closing {
		return
	}
	r.closing = true
	for _, m := range append([]member(nil), r.members.list...) {
		r.Kick(m.sid)
	}
	r.after = append(r.after, r.maybeEmpty)
}

// SetTick makes the room's Tick hook run every interval, on a fixed schedule from now: a tick that
// comes late does not move the next ones, and ticks missed by more than an interval are skipped, not
// bunched. Zero or less stops ticking.
func (r *Room) SetTick(interval time.Duration) {
	r.tickGen++
	r.tickEvery = interval
	if r.tickTimer != nil {
		r.tickTimer.Stop()
		r.tickTimer = nil
	}
	if interval <= 0 {
		return
	}
	now := time.Now()
	r.tickLast, r.tickNext = now, now.Add(interval)
	r.scheduleTick()
}

func (r *Room) scheduleTick() {
	msg := &roomTick{gen: r.tickGen}
	r.tickTimer = time.AfterFunc(time.Until(r.tickNext), func() { r.system.Root.Send(r.self, msg) })
}

// SetTimer makes the room's Timer hook run once with key after d; the id cancels it.
func (r *Room) SetTimer(d time.Duration, key any) uint64 {
	r.timerSeq++
	id := r.timerSeq
	if r.timers == nil {
		r.timers = make(map[uint64]*time.Timer)
	}
	msg := &roomTimer{id: id, key: key}
	r.timers[id] = time.AfterFunc(d, func() { r.system.Root.Send(r.self, msg) })
	return id
}

// CancelTimer cancels a timer and reports whether it had not fired yet.
func (r *Room) CancelTimer(id uint64) bool {
	t, ok := r.timers[id]
	if !ok {
		return false
	}
	t.Stop()
	delete(r.timers, id)
	return true
}

func (r *Room) hooks() RoomHooks { return r.spec.Hooks }

// behaviorRoom is the actor of a behaviour room.
type behaviorRoom struct{ r *Room }

func newBehaviorRoom(name string, spec *RoomSpec, pending *atomic.Int64, live *Live) *behaviorRoom {
	b := &behaviorRoom{r: &Room{name: name, spec: spec, members: newMemberSet(), live: live,
		pending: pending, maxClients: spec.MaxClients}}
	b.r.b = b
	return b
}

func (b *behaviorRoom) Receive(ctx actor.Context) {
	b.r.ctx = ctx
	b.handle(ctx, ctx.Message())
}

// handle handles one message (from the mailbox, or held and run later: handoff.go).
func (b *behaviorRoom) handle(ctx actor.Context, msg any) {
	r := b.r
	r.cur = msg
	defer func() { r.cur = nil }()
	if r.out != nil {
		switch msg.(type) {
		case *actor.Started, *actor.Stopped, *actor.Stopping, *actor.Restarting:
		default:
			if b.placedReceive(ctx, msg) {
				r.runAfter()
				return
			}
		}
	}
	hook := false
	switch m := msg.(type) {
	case *delivery:
		r.members.fanout(ctx, m)
	case *roomAdd:
		hook = true
		r.adds++
		r.asked = false
		r.graceGen++ // a pending grace period ends: the room is wanted again
		r.join(ctx, m)
	case *roomRemove:
		hook = true
		if m.Notify != nil {
			defer ctx.Send(m.Notify, &roomReleased{})
		}
		if r.members.remove(m.SID) {
			r.hooks().Left(r, m.SID, m.Why)
			r.maybeEmpty()
		}
	case *RoomMessage:
		hook = true
		r.pending.Add(-1)
		if m.SID != "" && !r.members.has(m.SID) {
			m.fail(ErrNotInRoom)
			break
		}
		g := r.gateReply(m)
		r.hooks().Message(r, m)
		g.close(r)
	case *roomTick:
		hook = true
		if m.gen != r.tickGen {
			break // stopped or reset since
		}
		now := time.Now()
		dt := now.Sub(r.tickLast)
		r.tickLast = now
		r.hooks().Tick(r, dt)
		if m.gen != r.tickGen {
			break // the hook reset or stopped the tick
		}
		now = time.Now()
		for r.tickNext = r.tickNext.Add(r.tickEvery); !r.tickNext.After(now); {
			r.tickNext = r.tickNext.Add(r.tickEvery)
		}
		r.scheduleTick()
	case *roomTimer:
		hook = true
		if _, ok := r.timers[m.id]; ok {
			delete(r.timers, m.id)
			r.hooks().Timer(r, m.key)
		}
	case *roomGrace:
		if m.gen == r.graceGen && len(r.members.list) == 0 {
			r.askDispose()
		}
	case *actor.Started:
		r.self, r.system, r.ns = ctx.Self(), ctx.ActorSystem(), ctx.Parent()
		r.live.Rooms.Add(1)
		if r.out != nil {
			r.startPlaced()
		}
	case *actor.Stopped:
		for _, o := range r.outbox {
			o.f() // the replica node may not have them: nothing better is left
		}
		for _, f := range r.hookOut {
			f()
		}
		r.outbox, r.hookOut = nil, nil
		for _, h := range r.held {
			switch h := h.(type) {
			case *roomAdd:
				if h.Answer != nil {
					h.Answer(ErrRoomClosed)
				}
			case *RoomMessage:
				r.pending.Add(-1)
				h.fail(ErrRoomClosed)
			}
		}
		r.held = nil
		if r.created && r.out != nil && r.spec.Replicate {
			r.out.Dropped(r.name)
		}
		r.stopTimers()
		if r.created {
			r.hooks().Dispose(r)
			r.created = false
		}
		r.live.Rooms.Add(-1)
		r.stopped = true
	}
	r.runAfter()
	if hook && r.out != nil {
		r.afterHook()
	}
}

// runAfter runs the work hooks asked for (Kick, Dispose).
func (r *Room) runAfter() {
	for len(r.after) > 0 {
		f := r.after[0]
		r.after = r.after[1:]
		f()
	}
	r.after = nil
	r.publishStatus()
}

// publishStatus publishes the room's status for listings, when it has one.
func (r *Room) publishStatus() {
	if s := r.spec.Status; s != nil {
		s.publish(r)
	}
}

// join decides a join: create first if needed, then the limits, then the Join hook. The answer goes to
// the socket and carries the collector's leg.
func (r *Room) join(ctx actor.Context, m *roomAdd) {
	// The room's status (listings: open, clients) is published before the answer leaves, so that a
	// listing made once the joiner has its answer counts it; runAfter publishes it again after the
	// hooks' later work.
	refuse := func(err error) {
		if m.Answer != nil {
			r.output(func() { m.Answer(err) })
		} else {
			r.publishStatus()
			ctx.Send(m.PID, &roomRefused{Room: r.name, Err: err, Collector: m.Collector})
		}
		r.maybeEmpty()
	}
	accept := func() {
		if m.Answer != nil {
			r.output(func() { m.Answer(nil) })
		} else {
			r.publishStatus()
			ctx.Send(m.PID, &roomJoined{Room: r.name, Collector: m.Collector})
		}
	}
	if i, ok := r.members.index[m.SID]; ok {
		if m.Ref != nil {
			r.members.list[i].ref = m.Ref // a restored member rejoining from this node
		}
		accept()
		return
	}
	if r.closing {
		refuse(ErrRoomClosed)
		return
	}
	j := &Joiner{SID: m.SID, Ref: m.Ref, Options: m.Options, Rejoin: m.Rejoin}
	if !r.created {
		if m.Rejoin && r.out != nil {
			r.recreated = true // its members were in it on the previous owner: it existed, its state did not come
		}
		if err := r.hooks().Create(r, j); err != nil {
			refuse(err)
			return
		}
		r.created = true
	}
	if r.locked {
		refuse(ErrRoomLocked)
		return
	}
	if r.maxClients > 0 && len(r.members.list) >= r.maxClients {
		refuse(ErrRoomFull)
		return
	}
	if err := r.hooks().Join(r, j); err != nil {
		refuse(err)
		return
	}
	r.members.add(member{sid: m.SID, pid: m.PID, sock: m.Sock, ref: m.Ref})
	accept()
}

// maybeEmpty starts the end of an empty room: at once when it was never created or is being disposed,
// otherwise after its DisposeDelay.
func (r *Room) maybeEmpty() {
	if len(r.members.list) > 0 {
		return
	}
	d := r.spec.DisposeDelay
	if !r.created || r.closing || d <= 0 {
		r.askDispose()
		return
	}
	r.graceGen++
	if r.graceTimer != nil {
		r.graceTimer.Stop()
	}
	msg := &roomGrace{gen: r.graceGen}
	r.graceTimer = time.AfterFunc(d, func() { r.system.Root.Send(r.self, msg) })
}

func (r *Room) askDispose() {
	if r.asked {
		return
	}
	r.asked = true
	r.ctx.Send(r.ns, &nsDispose{Room: r.name, PID: r.self, Adds: r.adds})
}

func (r *Room) stopTimers() {
	r.tickGen++
	if r.tickTimer != nil {
		r.tickTimer.Stop()
	}
	for id, t := range r.timers {
		t.Stop()
		delete(r.timers, id)
	}
	if r.graceTimer != nil {
		r.graceTimer.Stop()
	}
	if r.retryTimer != nil {
		r.retryTimer.Stop()
	}
}
