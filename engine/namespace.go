package engine

import (
	"context"
	"sync"
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
	stopped  chan struct{} // closed when the namespace actor has stopped (nil on a dynamic parent)
}

type nsHooks struct {
	mu               sync.RWMutex
	created, deleted []func(room, _ string) // one shape for all four lists; the id is unused here
	joined, left     []func(room, id string)
}

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

// actorHooks adapts the registered room hooks for the namespace actor: each event is handed to the
// namespace's serial hook executor, so hooks run in order, off the actor, and may call the engine.
func (n *Namespace) actorHooks() actors.Hooks {
	h := n.hooks
	// hook returns the actor's callback for the hooks list picks: it snapshots the registered hooks and,
	// if there are any, queues one call of each on the hook executor.
	hook := func(pick func() []func(room, id string)) func(room, id string) {
		return func(room, id string) {
			h.mu.RLock()
			fns := pick()
			h.mu.RUnlock()
			if len(fns) > 0 {
				n.hookExec.submit(func() {
					for _, fn := range fns {
						fn(room, id)
					}
				})
			}
		}
	}
	created := hook(func() []func(string, string) { return h.created })
	deleted := hook(func() []func(string, string) { return h.deleted })
	var interest func(string, bool, *actors.Collector)
	if l := n.e.link; l != nil {
		name := n.name
		interest = func(room string, added bool, c *actors.Collector) { l.localInterest(name, room, added, c) }
	}
	var socketRoom func(string) bool
	if n.e.link != nil {
		socketRoom = isQualifiedSID // the id of a socket of another node
	}
	return actors.Hooks{
		Rooms:             &n.e.rooms,
		RefuseSocketRooms: true,
		SocketRoom:        socketRoom,
		Interest:          interest,
		Created:           func(room string) { created(room, "") },
		Deleted:           func(room string) { deleted(room, "") },
		Joined:            hook(func() []func(string, string) { return h.joined }),
		Left:              hook(func() []func(string, string) { return h.left }),
		Stopped:           func() { close(n.stopped) },
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
