package engine

import (
	"slices"
	"sort"
)

// Observer receives the engine's lifecycle events across every namespace, dynamic ones included, for
// monitoring tools (engine/admin serves the Socket.IO Admin UI with it). Every field may be nil. Register
// it with Engine.Observe; it sees what happens after that call, not what happened before.
//
// Callbacks must not block: SocketConnected, SocketDisconnected, RoomJoined and RoomLeft run on the
// namespace's serial hook goroutine (the one OnJoinRoom hooks run on), in the order the events happened
// in that namespace, so a socket's SocketConnected comes before its RoomJoined calls, a join before the
// matching leave, and SocketDisconnected before the RoomLeft calls its disconnect causes; ConnOpened and
// ConnClosed run on the connection's own goroutine.
type Observer struct {
	// SocketConnected runs when a socket has connected a namespace, before the namespace's connection
	// handlers have run: the socket is in its own-id room only.
	SocketConnected func(s *Socket)
	// SocketDisconnected runs once when a connected socket disconnects, with the reason its OnDisconnect
	// handlers get.
	SocketDisconnected func(s *Socket, reason string)
	// RoomJoined runs when a socket of namespace ns joins a room (not its own-id room).
	RoomJoined func(ns, room, id string)
	// RoomLeft runs when a socket of namespace ns leaves a room, by Leave or by disconnecting.
	RoomLeft func(ns, room, id string)
	// ConnOpened runs when a client connection opens, before any namespace is connected; transport is
	// as Socket.Transport reports it.
	ConnOpened func(transport string)
	// ConnClosed runs when a client connection has closed, with the transport it was on and the reason
	// (one of OnDisconnect's).
	ConnClosed func(transport, reason string)
}

// Observe adds an Observer. Observers cannot be removed; they cost nothing on the broadcast path.
func (e *Engine) Observe(o Observer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	next := append(slices.Clip(e.observersLocked()), o)
	e.observers.Store(&next)
}

func (e *Engine) observersLocked() []Observer {
	if p := e.observers.Load(); p != nil {
		return *p
	}
	return nil
}

// observing returns the registered observers (nil when there are none) without locking.
func (e *Engine) observing() []Observer {
	if p := e.observers.Load(); p != nil {
		return *p
	}
	return nil
}

// Namespaces returns the namespaces that exist on this node (dynamic ones included, their parents not),
// sorted by name.
func (e *Engine) Namespaces() []*Namespace {
	e.mu.RLock()
	out := make([]*Namespace, 0, len(e.nsps))
	for _, n := range e.nsps {
		out = append(out, n)
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// SocketCount returns how many sockets of this node are connected to the namespace (other nodes'
// sockets are not counted; for a dynamic parent, the sum over its children).
func (n *Namespace) SocketCount() int {
	var c int64
	for _, t := range n.targets() {
		c += t.connected.Load()
	}
	return int(c)
}

// Transport names, as Socket.Transport reports them.
const (
	// TransportPolling is Socket.IO over Engine.IO long-polling.
	TransportPolling = "polling"
	// TransportWebSocket is Socket.IO over an Engine.IO WebSocket.
	TransportWebSocket = "websocket"
	// TransportNative is roomio's native protocol (its own WebSocket endpoint, Engine.Handler).
	TransportNative = "native"
)

// Transport returns the transport the socket's connection is on now: TransportPolling,
// TransportWebSocket (it changes from polling to websocket when a Socket.IO client upgrades) or
// TransportNative.
func (s *Socket) Transport() string { return connTransport(s.sess) }

// ConnectionID returns the id of the connection the socket is on; the sockets a client opened on several
// namespaces over one connection share it. For Socket.IO it is the Engine.IO session id, which lets
// whoever knows it send requests for that session: show it only to trusted parties.
func (s *Socket) ConnectionID() string { return s.sess.conn.ID() }

// connTransport asks the connection for its transport; a Socket.IO connection knows it, the native one
// has a single transport.
func connTransport(s *session) string {
	if t, ok := s.conn.(interface{ Transport() string }); ok {
		return t.Transport()
	}
	return TransportNative
}

// observeConnected hands a socket that just connected to the observers, on its namespace's hook
// goroutine (where its room events will follow); like every hook event it is dropped and counted when
// that queue is full (Engine.DroppedHookEvents), never waited for: it is called under the socket's lock.
func (s *Socket) observeConnected() {
	n := s.ns
	n.connected.Add(1)
	obs := n.e.observing()
	if len(obs) == 0 {
		return
	}
	n.e.offerHook(n, func() {
		for _, o := range obs {
			if o.SocketConnected != nil {
				o.SocketConnected(s)
			}
		}
	})
}

// observeDisconnected is observeConnected's counterpart, called once by teardown for a socket that was
// connected.
func (s *Socket) observeDisconnected(reason string) {
	n := s.ns
	n.connected.Add(-1)
	obs := n.e.observing()
	if len(obs) == 0 {
		return
	}
	n.e.offerHook(n, func() {
		for _, o := range obs {
			if o.SocketDisconnected != nil {
				o.SocketDisconnected(s, reason)
			}
		}
	})
}

// observeRoom runs the observers' RoomJoined or RoomLeft; it is called on the namespace's hook goroutine.
func (n *Namespace) observeRoom(obs []Observer, joined bool, room, id string) {
	for _, o := range obs {
		fn := o.RoomLeft
		if joined {
			fn = o.RoomJoined
		}
		if fn != nil {
			fn(n.name, room, id)
		}
	}
}
