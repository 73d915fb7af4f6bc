package engine

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

// Behavior is the code of a behaviour room: a room that holds state and decides who joins, in the spirit
// of Colyseus' Room and Phoenix's Channel. Register one with Namespace.Define; each room whose name it
// matches gets its own value from the factory.
//
// Every hook runs inside the room's actor, one at a time, never concurrently with another hook of the
// same room, so a behaviour needs no locks for its own state. Hooks must not block for long: while one
// runs, the room's joins, leaves and messages wait (no other room does). A hook that panics is logged
// and contained (see each hook). Embed BaseBehavior to implement only the hooks you need.
type Behavior interface {
	// OnCreate runs once, before the room's first join is decided, with that join's options (the zero Arg
	// when none). An error (or a panic) refuses that join; the room is not created and the next join
	// tries again.
	OnCreate(r *RoomContext, options Arg) error
	// OnJoin decides a join. The joiner is not a member yet: r.EmitTo(j.ID, …) reaches it, r.Emit does
	// not. An error refuses the join: Socket.Join returns a *RefusedError wrapping it. A panic refuses
	// it with ErrRoomInternal. Joins beyond MaxClients or into a locked room are refused before OnJoin.
	OnJoin(r *RoomContext, j *Joiner) error
	// OnLeave runs after a member left: by Leave (LeaveLeft), by disconnecting (LeaveDisconnected), or
	// removed by the room (LeaveKicked).
	OnLeave(r *RoomContext, id string, why LeaveReason)
	// OnMessage handles a message sent to the room (Socket.SendToRoom, Socket.RequestRoom, Room.Send,
	// Room.Request, or a native client's room frame). Reply may be called later, from any goroutine. A
	// panic is logged; a request it left unanswered fails with ErrRoomInternal.
	OnMessage(r *RoomContext, m *RoomMessage)
	// OnTick runs at the rate set by RoomContext.SetTick; dt is the time since the previous tick.
	OnTick(r *RoomContext, dt time.Duration)
	// OnTimer runs when a timer set by RoomContext.SetTimer fires.
	OnTimer(r *RoomContext, key any)
	// OnDispose runs once when a created room ends: empty (after the dispose delay), disposed by
	// RoomContext.Dispose, or at Shutdown. Members may no longer be reachable.
	OnDispose(r *RoomContext)
}

// BaseBehavior implements every Behavior hook as a no-op that accepts creation and joins. Embed it.
type BaseBehavior struct{}

func (BaseBehavior) OnCreate(*RoomContext, Arg) error          { return nil }
func (BaseBehavior) OnJoin(*RoomContext, *Joiner) error        { return nil }
func (BaseBehavior) OnLeave(*RoomContext, string, LeaveReason) {}
func (BaseBehavior) OnMessage(*RoomContext, *RoomMessage)      {}
func (BaseBehavior) OnTick(*RoomContext, time.Duration)        {}
func (BaseBehavior) OnTimer(*RoomContext, any)                 {}
func (BaseBehavior) OnDispose(*RoomContext)                    {}

var _ Behavior = BaseBehavior{}

// LeaveReason says why a member left a behaviour room.
type LeaveReason string

// Leave reasons given to OnLeave.
const (
	LeaveLeft         LeaveReason = "left"         // Leave or SocketsLeave
	LeaveDisconnected LeaveReason = "disconnected" // the socket disconnected
	LeaveKicked       LeaveReason = "kicked"       // RoomContext.Kick or Dispose
	// LeaveNodeLost: the member's node left the cluster (crashed, or left before its sockets' leaves
	// reached the room). Only in a cluster.
	LeaveNodeLost LeaveReason = "node lost"
)

// Snapshotter is implemented by a Behavior whose state can move between the nodes of a cluster. When
// the room's owner changes (a node joins or leaves the cluster, or shuts down), the old owner calls
// Snapshot after the room's last hook there, and the new owner calls Restore instead of OnCreate, before
// any other hook; the members stay in the room (no OnJoin for them). A behaviour without it is
// re-created on the new owner: OnCreate runs again, RoomContext.Recreated reports true, and its members
// join again (OnJoin) and receive EventRoomReset.
//
// Both run inside the room's actor like the hooks. Snapshot must capture everything the behaviour needs
// (the engine carries the member list, MaxClients and Locked itself; metadata, tick and timers are the
// behaviour's to restore: Restore may call SetMetadata, SetTick, SetTimer). A Snapshot error keeps the
// room where it is for replication (the change is not replicated) and re-creates it at a handoff; a
// Restore error (or panic) re-creates the room.
type Snapshotter interface {
	Snapshot(r *RoomContext) ([]byte, error)
	Restore(r *RoomContext, state []byte) error
}

// EventRoomReset is the event the engine sends to each member of a behaviour room that was re-created
// without its state (RoomContext.Recreated): its argument is {"room": name}. A member gets it when it is
// joined again to the re-created room, after the room's owner changed (the room had no Snapshotter, or
// its owner was lost and it was not replicated).
const EventRoomReset = "roomio:reset"

var leaveReasons = [...]LeaveReason{actors.LeaveLeft: LeaveLeft, actors.LeaveDisconnected: LeaveDisconnected,
	actors.LeaveKicked: LeaveKicked, actors.LeaveNodeLost: LeaveNodeLost}

// Joiner is a socket asking to join a behaviour room.
type Joiner struct {
	// ID is the socket's id.
	ID string
	// Options is what the join carried (Socket.JoinRoom); the zero Arg (nil Data) when none.
	Options Arg
	// Socket is the joining socket; nil for a socket on another node of a cluster (the room lives on one
	// node and takes joins from all of them).
	Socket *Socket
}

// RoomMessage is a message sent to a behaviour room.
type RoomMessage struct {
	// From is the sending socket's id, a member of the room; "" when server code sent it (Room.Send,
	// Room.Request).
	From  string
	Event string
	Args  []Arg

	ask     bool
	reply   func([]packet.Arg, error)
	replied atomic.Bool
}

// HasReply reports whether the sender waits for an answer.
func (m *RoomMessage) HasReply() bool { return m.ask }

// Reply answers the message with args (converted as in Emit). It may be called after OnMessage returned,
// from any goroutine; only the first call sends, later ones return ErrAlreadyAcked. When the sender asked
// for no answer it does nothing and returns nil. A sender that stopped waiting (its context ended) never
// sees the answer.
func (m *RoomMessage) Reply(args ...any) error {
	if !m.ask {
		return nil
	}
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	if !m.replied.CompareAndSwap(false, true) {
		return ErrAlreadyAcked
	}
	m.reply(a, nil)
	return nil
}

// Bind decodes argument i into v (JSON), or reports an error when it is missing or does not fit.
func (m *RoomMessage) Bind(i int, v any) error {
	if i >= len(m.Args) {
		return fmt.Errorf("engine: room message %q has no argument %d", m.Event, i)
	}
	return m.Args[i].Decode(v)
}

// fail answers the message with err unless it was answered.
func (m *RoomMessage) fail(err error) {
	if m.replied.CompareAndSwap(false, true) {
		m.reply(nil, err)
	}
}

// TimerID names a timer set by RoomContext.SetTimer.
type TimerID uint64

// RoomContext is a behaviour room as its hooks see it: its members, its emits, its limits, its timers.
// Its methods may be called only from inside the room's hooks (they run in the room's actor); it is not
// safe for concurrent use, and must not be kept for use from another goroutine — send the room a message
// instead (Room.Send).
type RoomContext struct {
	ns   *Namespace
	r    *actors.Room
	meta any
	log  *slog.Logger
	ad   *roomAdapter // the adapter this context belongs to
}

// Name returns the room's name.
func (c *RoomContext) Name() string { return c.r.Name() }

// Namespace returns the room's namespace.
func (c *RoomContext) Namespace() *Namespace { return c.ns }

// Logger returns the engine's logger with the namespace and room.
func (c *RoomContext) Logger() *slog.Logger { return c.log }

// Members returns the members' socket ids, in no particular order.
func (c *RoomContext) Members() []string { return c.r.Members() }

// Len returns how many members the room has.
func (c *RoomContext) Len() int { return c.r.Len() }

// Has reports whether socket id is a member.
func (c *RoomContext) Has(id string) bool { return c.r.Has(id) }

// Socket returns member id's socket, or nil when it is not a member or (in a cluster) is on another
// node.
func (c *RoomContext) Socket(id string) *Socket {
	return localSocket(c.r.Ref(id))
}

// Emit sends an event to every member. Emits of one room reach each member in the order the room made
// them. Arguments convert as in BroadcastOperator.Emit.
func (c *RoomContext) Emit(event string, args ...any) error {
	return c.EmitExcept("", event, args...)
}

// EmitExcept sends an event to every member but socket id (the sender of a message, say).
func (c *RoomContext) EmitExcept(id, event string, args ...any) error {
	p, err := eventPacket(c.ns.name, event, args, false)
	if err != nil {
		return err
	}
	c.ns.e.rec.stamp(p) // recoverable, as any emit (recovery.go)
	c.r.Emit(p, id)
	return nil
}

// EmitTo sends an event to member id (or, inside OnJoin, to the joiner). It returns ErrNotInRoom when id
// is neither.
func (c *RoomContext) EmitTo(id, event string, args ...any) error {
	p, err := eventPacket(c.ns.name, event, args, false)
	if err != nil {
		return err
	}
	c.ns.e.rec.stamp(p)
	if !c.r.EmitTo(id, p) {
		return ErrNotInRoom
	}
	return nil
}

// Metadata returns the value stored with SetMetadata.
func (c *RoomContext) Metadata() any { return c.meta }

// SetMetadata stores an application value with the room (a title, a mode, a map name). Listings
// (Namespace.Rooms, GET /api/v1/rooms) show it as JSON, encoded at this call: a value changed afterwards
// is listed as it was here until SetMetadata is called again. Filters match the keys of a JSON object.
func (c *RoomContext) SetMetadata(v any) {
	c.meta = v
	if c.ad != nil {
		c.ad.setMeta(v)
	}
}

// MaxClients returns the member limit; zero means none.
func (c *RoomContext) MaxClients() int { return c.r.MaxClients() }

// SetMaxClients limits the members: further joins fail with ErrRoomFull. Zero means no limit.
func (c *RoomContext) SetMaxClients(n int) { c.r.SetMaxClients(n) }

// Lock makes joins fail with ErrRoomLocked until Unlock (a match that started, say).
func (c *RoomContext) Lock() { c.r.Lock() }

// Unlock undoes Lock.
func (c *RoomContext) Unlock() { c.r.Unlock() }

// Locked reports whether the room is locked.
func (c *RoomContext) Locked() bool { return c.r.Locked() }

// Recreated reports whether this room existed on another node of the cluster and was created again here
// without its state: its owner changed and the behaviour has no Snapshotter, or its owner was lost and it
// was not replicated (WithReplication). OnCreate can read it; the members that rejoin get
// EventRoomReset.
func (c *RoomContext) Recreated() bool { return c.r.Recreated() }

// SetTick makes OnTick run every interval (a game loop at 20–60 Hz: 50 ms to 16 ms), on a fixed schedule
// from now; zero stops it. Ticks are mailbox messages, handled between the room's other messages: a tick
// comes late by the timer's latency plus the time the room spends on messages queued before it
// (docs/behaviors.md and docs/benchmarks.md give the measured jitter). A late tick does not shift the schedule; ticks missed
// by more than an interval are skipped, not bunched, and dt says how long it really was.
func (c *RoomContext) SetTick(interval time.Duration) { c.r.SetTick(interval) }

// SetTimer makes OnTimer run once with key after d, as a mailbox message (late by the same jitter as a
// tick). The id cancels it.
func (c *RoomContext) SetTimer(d time.Duration, key any) TimerID {
	return TimerID(c.r.SetTimer(d, key))
}

// CancelTimer cancels a timer; it reports whether the timer had not fired yet.
func (c *RoomContext) CancelTimer(id TimerID) bool { return c.r.CancelTimer(uint64(id)) }

// Kick removes member id from the room (its socket stays connected); OnLeave runs with LeaveKicked once
// the current hook returns. It reports whether id was a member.
func (c *RoomContext) Kick(id string) bool { return c.r.Kick(id) }

// Dispose ends the room once the current hook returns: every member is kicked, joins meanwhile fail
// with ErrRoomClosed, then OnDispose runs. A later join creates a new room.
func (c *RoomContext) Dispose() { c.r.Dispose() }

// BehaviorOption configures a behaviour registered with Define.
type BehaviorOption func(*behaviorDef)

// WithDisposeDelay keeps an empty room alive for d before it is disposed, so a member that reconnects
// finds its state (Colyseus' autoDispose with a delay). A join meanwhile cancels the disposal. Zero, the
// default, disposes a room as soon as its last member leaves.
func WithDisposeDelay(d time.Duration) BehaviorOption {
	return func(b *behaviorDef) { b.disposeDelay = d }
}

// WithReplication makes each room of the behaviour survive the loss of its node (kill -9) in a cluster:
// after the hooks that changed the room's snapshot (Snapshotter, required: a room without it is not
// replicated, and says so in the log) the state goes to the node that would own the room without this
// one, and the emits, join answers and replies the hooks made (through the RoomContext and
// RoomMessage.Reply) wait until that node has it. When the owner dies, that node runs the room from the
// copy: nothing a member or sender was told is lost. Changes cost a snapshot and a round trip to the
// replica before their outputs leave, one per batch of the messages waiting in the room's mailbox (at
// most 64 outputs a batch); a reply given after OnMessage returned is not held. On a single node it
// changes nothing.
func WithReplication() BehaviorOption { return func(b *behaviorDef) { b.replicate = true } }

// WithMaxClients sets each room's initial member limit (RoomContext.SetMaxClients). Zero means none.
func WithMaxClients(n int) BehaviorOption { return func(b *behaviorDef) { b.maxClients = n } }

// WithMaxPending bounds the messages waiting for one room: past it, Request and SendToRoom fail with
// ErrRoomBusy and a native client's room frame gets an Error (code 10). Zero means 1024.
func WithMaxPending(n int) BehaviorOption { return func(b *behaviorDef) { b.maxPending = int64(n) } }

// WithMaxMessageBytes bounds one room message's arguments (their total JSON or binary size): a larger one
// fails with ErrRoomMessageTooBig. Zero means 64 KiB.
func WithMaxMessageBytes(n int) BehaviorOption { return func(b *behaviorDef) { b.maxBytes = n } }

const defaultRoomMessageBytes = 64 << 10

// behaviorDef is one registered behaviour.
type behaviorDef struct {
	name    string              // for listings and join-or-create (listing.go)
	namer   func(string) string // names of rooms join-or-create makes (WithRoomNames)
	prefix  string
	match   func(string) bool
	factory func(room string) Behavior

	disposeDelay time.Duration
	maxClients   int
	maxPending   int64
	maxBytes     int
	replicate    bool
}

func (d *behaviorDef) matches(room string) bool {
	if d.match != nil {
		return d.match(room)
	}
	return strings.HasPrefix(room, d.prefix)
}

// Define registers a behaviour for the rooms whose name starts with prefix: the first join of such a
// room creates it with factory(name). Definitions are tried in registration order; rooms no definition
// matches stay plain rooms and pay nothing for behaviours. Register before Start: a room created before
// its definition stays plain. On a dynamic parent (OfFunc), the definition applies to every child.
func (n *Namespace) Define(prefix string, factory func(room string) Behavior, opts ...BehaviorOption) {
	n.define(&behaviorDef{name: prefix, prefix: prefix, factory: factory}, opts)
}

// DefineFunc is Define for the rooms whose name match accepts. match must be fast and must not block.
func (n *Namespace) DefineFunc(match func(room string) bool, factory func(room string) Behavior, opts ...BehaviorOption) {
	n.define(&behaviorDef{match: match, factory: factory}, opts)
}

func (n *Namespace) define(d *behaviorDef, opts []BehaviorOption) {
	for _, o := range opts {
		o(d)
	}
	if d.maxBytes <= 0 {
		d.maxBytes = defaultRoomMessageBytes
	}
	h := n.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	var defs []*behaviorDef
	if p := h.behaviors.Load(); p != nil {
		defs = append(defs, *p...)
	}
	defs = append(defs, d)
	h.behaviors.Store(&defs)
}

// IsDefined reports whether a Define of n matches room: whether it is a behaviour room.
func (n *Namespace) IsDefined(room string) bool { return n.hooks.behavior(room) != nil }

// behavior returns the definition for room, or nil. It reads an immutable slice: no lock.
func (h *nsHooks) behavior(room string) *behaviorDef {
	p := h.behaviors.Load()
	if p == nil {
		return nil
	}
	for _, d := range *p {
		if d.matches(room) {
			return d
		}
	}
	return nil
}

// roomSpec builds the actors' spec of a new behaviour room, or nil for a plain room.
func (n *Namespace) roomSpec(room string) *actors.RoomSpec {
	d := n.hooks.behavior(room)
	if d == nil {
		return nil
	}
	a := &roomAdapter{ns: n, b: d.factory(room), placed: n.e.link != nil, def: d, status: new(actors.RoomStatus)}
	a.c.ns = n
	a.c.ad = a
	a.c.log = n.e.log.With("namespace", n.name, "room", room)
	replicate := d.replicate
	if _, ok := a.b.(Snapshotter); replicate && !ok {
		a.c.log.Error("WithReplication needs a Behavior that implements Snapshotter: the room is not replicated")
		replicate = false
	}
	return &actors.RoomSpec{Hooks: a, DisposeDelay: d.disposeDelay, MaxPending: d.maxPending, MaxClients: d.maxClients,
		Status: a.status, Replicate: replicate && a.placed}
}

// roomAdapter runs a Behavior as the actors' RoomHooks: it converts the arguments, recovers panics, and
// reports joins and leaves to the namespace's observer hooks (OnJoinRoom, OnLeaveRoom).
type roomAdapter struct {
	ns *Namespace
	b  Behavior
	c  RoomContext
	// placed: the room is placed in a cluster (placement.go); the members' nodes report their joins and
	// leaves to the observer hooks, not the owner.
	placed bool

	// For listings (listing.go): the definition, the room's published state and its metadata as JSON.
	def    *behaviorDef
	status *actors.RoomStatus
	meta   metaBox
}

// ctx returns the room's context (the same value for every hook of the room).
func (a *roomAdapter) ctx(r *actors.Room) *RoomContext {
	a.c.r = r
	return &a.c
}

// safely runs a hook; a panic is logged and returned as ErrRoomInternal.
func (a *roomAdapter) safely(hook string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			a.c.log.Error("panic in room hook", "hook", hook, "err", fmt.Sprint(v))
			err = ErrRoomInternal
		}
	}()
	return fn()
}

func (a *roomAdapter) Create(r *actors.Room, j *actors.Joiner) error {
	c := a.ctx(r)
	if err := a.safely("OnCreate", func() error { return a.b.OnCreate(c, Arg(j.Options)) }); err != nil {
		return err
	}
	a.listed(r.Name())
	return nil
}

func (a *roomAdapter) Join(r *actors.Room, j *actors.Joiner) error {
	c := a.ctx(r)
	jn := &Joiner{ID: j.SID, Options: Arg(j.Options)}
	jn.Socket = localSocket(j.Ref)
	if err := a.safely("OnJoin", func() error { return a.b.OnJoin(c, jn) }); err != nil {
		return err
	}
	if j.Rejoin && r.Recreated() {
		c.EmitTo(j.SID, EventRoomReset, map[string]string{"room": r.Name()})
	}
	if !a.placed {
		a.ns.observe(a.ns.hooks.joinedList, 1, r.Name(), j.SID)
	}
	return nil
}

func (a *roomAdapter) Left(r *actors.Room, sid string, why actors.LeaveReason) {
	c := a.ctx(r)
	a.safely("OnLeave", func() error { a.b.OnLeave(c, sid, leaveReasons[why]); return nil })
	if !a.placed {
		a.ns.observe(a.ns.hooks.leftList, 2, r.Name(), sid)
	}
}

func (a *roomAdapter) Message(r *actors.Room, m *actors.RoomMessage) {
	if m.Ask {
		if h := holdSender(r, m.SID); h != nil {
			defer h.Release()
		}
	}
	c := a.ctx(r)
	msg := &RoomMessage{From: m.SID, Event: m.Event, Args: argsOut(m.Args), ask: m.Ask, reply: m.Reply}
	if err := a.safely("OnMessage", func() error { a.b.OnMessage(c, msg); return nil }); err != nil && msg.ask {
		msg.fail(err)
	}
}

// holdSender holds the writes to the connection of sid, a member asking the room, until the returned
// Holder's Release (nil: not a member of this node's room, or detached). A hook that emits to the room,
// the asker included, and answers it (a chat's say) then sends the asker both in one write, not one
// each: a write is most of what a delivery costs.
func holdSender(r *actors.Room, sid string) transport.Holder {
	var conn transport.Conn
	switch o := r.Outbox(sid).(type) {
	case *lifeline:
		conn = o.attachedConn()
	case transport.Conn:
		conn = o
	}
	h, ok := conn.(transport.Holder)
	if !ok {
		return nil
	}
	h.Hold()
	return h
}

func (a *roomAdapter) Tick(r *actors.Room, dt time.Duration) {
	c := a.ctx(r)
	a.safely("OnTick", func() error { a.b.OnTick(c, dt); return nil })
}

func (a *roomAdapter) Timer(r *actors.Room, key any) {
	c := a.ctx(r)
	a.safely("OnTimer", func() error { a.b.OnTimer(c, key); return nil })
}

func (a *roomAdapter) Dispose(r *actors.Room) {
	c := a.ctx(r)
	a.safely("OnDispose", func() error { a.b.OnDispose(c); return nil })
	a.unlisted(r.Name())
}

func (a *roomAdapter) Snapshot(r *actors.Room) ([]byte, bool, error) {
	sn, ok := a.b.(Snapshotter)
	if !ok {
		return nil, false, nil
	}
	c := a.ctx(r)
	var data []byte
	err := a.safely("Snapshot", func() (err error) { data, err = sn.Snapshot(c); return err })
	if err != nil {
		a.c.log.Error("room snapshot failed", "err", err)
	}
	return data, err == nil, err
}

func (a *roomAdapter) Restore(r *actors.Room, state []byte) error {
	sn, ok := a.b.(Snapshotter)
	if !ok {
		return ErrNoBehavior
	}
	c := a.ctx(r)
	err := a.safely("Restore", func() error { return sn.Restore(c, state) })
	if err != nil {
		a.c.log.Error("room restore failed: re-created", "err", err)
	}
	return err
}
