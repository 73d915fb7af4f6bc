package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
)

// Namespace is a communication channel that splits the application's logic over one shared connection
// (Socket.IO's namespace). Get one with Engine.Of; a namespace returned by OfFunc or OfPattern is a
// parent of dynamic namespaces. All methods are safe for concurrent use.
type Namespace struct {
	e      *Engine
	name   string
	parent *Namespace
	match  func(string) bool // set on a dynamic parent
	pid    *actor.PID        // nil on a dynamic parent

	mu           sync.RWMutex
	middlewares  []func(*Socket) error
	onConnection []func(*Socket)
	children     []*Namespace
	// serverHandlers receive other nodes' ServerSideEmit events.
	serverHandlers []func(*ServerEvent)

	hooks    *nsHooks // shared by a dynamic parent and its children
	hookExec *executor
	// connected counts this node's connected sockets of the namespace (SocketCount).
	connected atomic.Int64
	stopped   chan struct{} // closed when the namespace actor has stopped (nil on a dynamic parent)

	listed   sync.Map // room name → *listedRoom: the created behaviour rooms this node runs (listing.go)
	matchers sync.Map // behaviour name → *matchmaker (matchmaking.go)
}

type nsHooks struct {
	mu               sync.RWMutex
	created, deleted []func(room, _ string) // one shape for all four lists; the id is unused here
	joined, left     []func(room, id string)
	// behaviors are the definitions registered with Define, replaced as a whole under mu and read
	// without a lock on every join.
	behaviors atomic.Pointer[[]*behaviorDef]
}

func (h *nsHooks) list(l *[]func(room, id string)) []func(room, id string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return *l
}

func (h *nsHooks) createdList() []func(string, string) { return h.list(&h.created) }
func (h *nsHooks) deletedList() []func(string, string) { return h.list(&h.deleted) }
func (h *nsHooks) joinedList() []func(string, string)  { return h.list(&h.joined) }
func (h *nsHooks) leftList() []func(string, string)    { return h.list(&h.left) }

// Name returns the namespace's name ("" for a dynamic parent).
func (n *Namespace) Name() string { return n.name }

// Use adds a connect middleware. Middlewares run in order, in the connecting socket's handler goroutine,
// before OnConnection; one that returns an error refuses the connection: the client gets a connect error
// carrying the error's message (and data, for a *ConnectError). A middleware may block (to check a token,
// say); other sockets are not held up.
func (n *Namespace) Use(fn func(*Socket) error) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, fn)
	n.mu.Unlock()
}

// OnConnection adds a handler run for every socket that connects, after the middlewares, in the socket's
// handler goroutine. Register the socket's event handlers here.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, fn)
	n.mu.Unlock()
}

// OnCreateRoom adds a hook run when a room gets its first member.
func (n *Namespace) OnCreateRoom(fn func(room string)) {
	n.hooks.mu.Lock()
	n.hooks.created = append(n.hooks.created, func(room, _ string) { fn(room) })
	n.hooks.mu.Unlock()
}

// OnDeleteRoom adds a hook run when a room loses its last member and is removed.
func (n *Namespace) OnDeleteRoom(fn func(room string)) {
	n.hooks.mu.Lock()
	n.hooks.deleted = append(n.hooks.deleted, func(room, _ string) { fn(room) })
	n.hooks.mu.Unlock()
}

// OnJoinRoom adds a hook run when a socket joins a room (not its own-id room).
func (n *Namespace) OnJoinRoom(fn func(room, id string)) {
	n.hooks.mu.Lock()
	n.hooks.joined = append(n.hooks.joined, fn)
	n.hooks.mu.Unlock()
}

// OnLeaveRoom adds a hook run when a socket leaves a room, by Leave or by disconnecting.
func (n *Namespace) OnLeaveRoom(fn func(room, id string)) {
	n.hooks.mu.Lock()
	n.hooks.left = append(n.hooks.left, fn)
	n.hooks.mu.Unlock()
}

// observe hands one room event to the namespace's serial hook executor, so the hooks pick returns run in
// order, off the actors, and may call the engine. It never blocks: past hookQueue waiting events the
// event is dropped and counted (Engine.DroppedHookEvents), so a slow hook cannot stall the namespace.
func (n *Namespace) observe(pick func() []func(room, id string), kind int, room, id string) {
	fns := pick()
	var obs []Observer
	if kind != 0 { // joins (1) and leaves (2) are also the Observers'
		obs = n.e.observing()
	}
	if len(fns) == 0 && len(obs) == 0 {
		return
	}
	n.e.offerHook(n, func() {
		for _, fn := range fns {
			n.safely("room hook", func() { fn(room, id) })
		}
		n.observeRoom(obs, kind == 1, room, id)
	})
}

// safely runs user code of the namespace; a panic is logged and contained.
func (n *Namespace) safely(what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			n.e.log.Error("panic in "+what, "namespace", n.name, "err", fmt.Sprint(r))
		}
	}()
	fn()
}

// actorHooks adapts the registered room hooks and behaviours for the namespace actor.
func (n *Namespace) actorHooks() actors.Hooks {
	h := n.hooks
	var interest func(string, bool, *actors.Collector)
	if l := n.e.link; l != nil {
		name := n.name
		interest = func(room string, added bool, c *actors.Collector) { l.localInterest(name, room, added, c) }
	}
	var socketRoom func(string) bool
	var place actors.Placement
	if n.e.link != nil {
		socketRoom = isQualifiedSID // the id of a socket of another node
		place = placer{n}
	}
	return actors.Hooks{
		Rooms:             &n.e.rooms,
		RefuseSocketRooms: true,
		SocketRoom:        socketRoom,
		Interest:          interest,
		Created:           func(room string) { n.observe(h.createdList, 0, room, "") },
		Deleted:           func(room string) { n.observe(h.deletedList, 0, room, "") },
		Joined:            func(room, id string) { n.observe(h.joinedList, 1, room, id) },
		Left:              func(room, id string) { n.observe(h.leftList, 2, room, id) },
		Stopped:           func() { close(n.stopped) },
		Behavior:          n.roomSpec,
		IsBehavior:        func(room string) bool { return h.behavior(room) != nil },
		Placement:         place,
	}
}

// connectChain returns the middlewares and connection handlers a socket of n runs: a dynamic parent's
// first, then n's own.
func (n *Namespace) connectChain() (mws []func(*Socket) error, hs []func(*Socket)) {
	if p := n.parent; p != nil {
		p.mu.RLock()
		mws = append(mws, p.middlewares...)
		hs = append(hs, p.onConnection...)
		p.mu.RUnlock()
	}
	n.mu.RLock()
	mws = append(mws, n.middlewares...)
	hs = append(hs, n.onConnection...)
	n.mu.RUnlock()
	return mws, hs
}

// targets returns the concrete namespaces an operation on n addresses: n itself, or a dynamic parent's
// children.
func (n *Namespace) targets() []*Namespace {
	if n.match == nil {
		return []*Namespace{n}
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append([]*Namespace(nil), n.children...)
}

func (n *Namespace) op() BroadcastOperator { return BroadcastOperator{ns: n} }

// To returns an operator that targets the sockets in rooms (chainable: the union of all named rooms).
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.op().To(rooms...) }

// In is an alias of To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.op().To(rooms...) }

// Except returns an operator that skips the sockets in rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator { return n.op().Except(rooms...) }

// Volatile returns an operator whose emits may be dropped for clients whose queue is full.
func (n *Namespace) Volatile() BroadcastOperator { return n.op().Volatile() }

// Timeout returns an operator whose EmitWithAck waits at most d.
func (n *Namespace) Timeout(d time.Duration) BroadcastOperator { return n.op().Timeout(d) }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.op().Emit(event, args...) }

// EmitWithAck sends an event to every socket and collects their acks (see BroadcastOperator).
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]AckReply, error) {
	return n.op().EmitWithAck(ctx, event, args...)
}

// FetchSockets returns every socket of the namespace.
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.op().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(ctx context.Context, rooms ...string) error {
	return n.op().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(ctx context.Context, rooms ...string) error {
	return n.op().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace (and their connections when close is set).
func (n *Namespace) DisconnectSockets(ctx context.Context, close bool) error {
	return n.op().DisconnectSockets(ctx, close)
}

// Local returns an operator restricted to this node's sockets.
func (n *Namespace) Local() BroadcastOperator { return n.op().Local() }
