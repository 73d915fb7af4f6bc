package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/wire"
)

const (
	sockConnecting int32 = iota
	sockConnected
	sockDisconnected
)

// connectWait bounds the wait for the namespace actor to spawn a connecting socket's actor. It answers
// in microseconds; the bound only matters if the actor system is stopping under the connect.
const connectWait = 10 * time.Second

// Socket is one client's connection to one namespace. Its event handlers run one at a time, in the order
// the events arrived, on a goroutine of the socket (so a handler may block, or wait for an ack, without
// holding up other sockets). All methods are safe for concurrent use.
type Socket struct {
	id   string
	ns   *Namespace
	sess *session
	// auth is the connect packet's auth payload; the rest of Handshake is the connection's (one copy per
	// connection, not per socket).
	auth []byte
	exec *executor
	// life is set when recovery is on: what of the socket outlives its connection. resumeFrom is where
	// the replay of a recovered socket's log starts (recovered is set before connect runs).
	life       *lifeline
	recovered  bool
	resumeFrom int
	// presented is the session a native client presents in its Connect (resume token and offset), nil
	// when it presents none; Socket.IO clients present theirs inside the auth payload.
	presented *presentedSession

	state atomic.Int32

	// ctx is the socket's context, ended when the socket disconnects.
	ctx socketContext

	mu           sync.Mutex
	pid          *actor.PID
	closeSent    bool           // CloseSocket was sent to pid: its rooms are gone
	observed     bool           // observers were told of the connect, and will be of the disconnect
	handlers     []eventHandler // in registration order; appended to only
	rare         *rareHandlers  // made by the first OnAny, Use or OnDisconnecting
	onDisconnect []func(reason string)
	acks         map[uint64]func([]Arg, error)
	data         any
	ident        identity // set by the Authenticator (auth.go)
}

// rareHandlers are the handlers few sockets have: a socket makes them on demand rather than keep three
// empty slices (72 bytes) each. Guarded by the socket's mu.
type rareHandlers struct {
	anyHandlers     []func(*Event)
	middlewares     []func(*Event) error
	onDisconnecting []func(reason string)
}

// rareLocked returns the socket's rare handlers, made if needed. The caller holds s.mu.
func (s *Socket) rareLocked() *rareHandlers {
	if s.rare == nil {
		s.rare = new(rareHandlers)
	}
	return s.rare
}

// eventHandler is a handler registered with On. A socket keeps them in a slice, searched per event: an
// application registers a handful per socket, and a map of them cost several times the memory.
type eventHandler struct {
	event string
	fn    func(*Event)
}

// Event is one event received from a client.
type Event struct {
	Name   string
	Args   []Arg
	Socket *Socket
	ackID  uint64
	acked  atomic.Bool
}

// HasAck reports whether the client asked for an ack.
func (ev *Event) HasAck() bool { return ev.ackID != 0 }

// Context returns the socket's context: it is cancelled when the socket disconnects, so work a handler
// starts for the client (a query, a wait for an ack, a Join) ends with it.
func (ev *Event) Context() context.Context { return ev.Socket.Context() }

// Ack answers the event's ack with args (converted as in Emit). Only the first call sends; later calls
// return ErrAlreadyAcked. When the client asked for no ack (HasAck is false) Ack does nothing and returns
// nil, so a handler can ack unconditionally.
func (ev *Event) Ack(args ...any) error {
	if ev.ackID == 0 {
		return nil
	}
	if !ev.acked.CompareAndSwap(false, true) {
		return ErrAlreadyAcked
	}
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	return ev.Socket.send(&packet.Packet{Kind: packet.KindAck, Namespace: ev.Socket.ns.name, AckID: ev.ackID, Args: a})
}

// Bind decodes argument i into v (JSON), or reports an error when it is missing or does not fit.
func (ev *Event) Bind(i int, v any) error {
	if i >= len(ev.Args) {
		return fmt.Errorf("engine: event %q has no argument %d", ev.Name, i)
	}
	return ev.Args[i].Decode(v)
}

// ID returns the socket's id, unique in the cluster. The socket is always in the room of that name.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.ns }

// Handshake returns what the client presented when it connected.
func (s *Socket) Handshake() Handshake {
	return Handshake{Handshake: s.sess.conn.Handshake(), Auth: s.auth}
}

// Data returns the value stored with SetData (Socket.IO's socket.data).
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData stores an application value with the socket; FetchSockets reports it.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Recovered reports whether the socket is one that lost its connection and was recovered by its client
// (Config.Recovery): same id, rooms and data, the missed packets delivered before the connect reply.
// Connection handlers run again for it; this tells them so.
func (s *Socket) Recovered() bool { return s.recovered }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.state.Load() == sockConnected }

// Context returns a context that is cancelled when the socket disconnects (already cancelled once it
// has).
func (s *Socket) Context() context.Context { return &s.ctx }

// Rooms returns the rooms the socket is in, its own-id room included, sorted. It asks the socket's actor,
// which owns the set, and waits for the answer or for ctx. Once the socket has disconnected it returns
// ErrDisconnected; in OnDisconnecting handlers it still returns the rooms.
func (s *Socket) Rooms(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	if s.pid == nil || s.closeSent {
		s.mu.Unlock()
		return nil, ErrDisconnected
	}
	reply := make(chan []string, 1)
	s.ns.e.system.Root.Send(s.pid, &actors.GetRooms{Reply: reply})
	s.mu.Unlock()
	select {
	case rooms := <-reply:
		if rooms == nil { // the socket closed before the question reached it
			return nil, ErrDisconnected
		}
		return rooms, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// tell sends msg to the socket's actor while the socket is connected. Sending under s.mu orders every
// such message before the CloseSocket that teardown sends, so none is dropped by a stopped actor.
func (s *Socket) tell(msg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Load() != sockConnected {
		return ErrDisconnected
	}
	s.ns.e.system.Root.Send(s.pid, msg)
	return nil
}

// Join adds the socket to rooms. When it returns, any emit to those rooms begun afterwards reaches the
// socket. It fails with ErrTooManyRooms past Config.MaxRoomsPerSocket (rooms before the limit are
// joined), and with a *RefusedError when a behaviour room (Namespace.Define) refuses the join (the other
// rooms of the call are joined). JoinRoom passes options to a behaviour room. With Config.Auth, a room the
// socket's Identity does not allow is refused with an error wrapping ErrRoomNotAllowed (and nothing is
// joined), unless the JoinAuthorizer allows it. Operations that act on other sockets (SocketsJoin,
// RemoteSocket.Join) are the server's own decisions and are not checked.
func (s *Socket) Join(ctx context.Context, rooms ...string) error {
	if err := validRooms(rooms); err != nil {
		return err
	}
	if err := s.authorizeJoin(ctx, rooms); err != nil {
		return err
	}
	return s.membership(ctx, rooms, true)
}

// Leave removes the socket from rooms. Leaving a room it is not in, or its own-id room, does nothing.
func (s *Socket) Leave(ctx context.Context, rooms ...string) error {
	return s.membership(ctx, rooms, false)
}

func (s *Socket) membership(ctx context.Context, rooms []string, join bool) error {
	c := actors.NewCollector()
	var msg any = &actors.JoinRooms{Rooms: rooms, Collector: c}
	if !join {
		msg = &actors.LeaveRooms{Rooms: rooms, Collector: c}
	}
	if err := s.tell(msg); err != nil {
		return err
	}
	select {
	case <-c.Done():
		_, _, err := c.Snapshot()
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// On adds a handler for event. Handlers of one socket run one at a time in arrival order.
func (s *Socket) On(event string, fn func(*Event)) {
	s.mu.Lock()
	s.handlers = append(s.handlers, eventHandler{event, fn})
	s.mu.Unlock()
}

// OnAny adds a catch-all handler, run for every event before the event's own handlers.
func (s *Socket) OnAny(fn func(*Event)) {
	s.mu.Lock()
	r := s.rareLocked()
	r.anyHandlers = append(r.anyHandlers, fn)
	s.mu.Unlock()
}

// Use adds a per-packet middleware, run before any handler. An error stops the event: its handlers do
// not run and the client gets an Error packet (code 6) carrying the error's text.
func (s *Socket) Use(fn func(*Event) error) {
	s.mu.Lock()
	r := s.rareLocked()
	r.middlewares = append(r.middlewares, fn)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler run once when the socket is disconnecting, after its pending events and
// before it leaves its rooms (Socket.IO's "disconnecting"): Rooms still answers, nothing more reaches the
// client. The socket leaves its rooms when the disconnecting handlers return, then OnDisconnect handlers
// run. reason is as for OnDisconnect.
func (s *Socket) OnDisconnecting(fn func(reason string)) {
	s.mu.Lock()
	r := s.rareLocked()
	r.onDisconnecting = append(r.onDisconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect adds a handler run once when the socket disconnects, after its pending events and after
// it left its rooms; reason is one of Socket.IO's: "server namespace disconnect", "client namespace
// disconnect", "transport close", "transport error", "ping timeout", "server shutting down", "forced
// server close", or roomio's "slow client", "message too big", "parse error".
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

func (s *Socket) send(p *packet.Packet) error {
	if s.state.Load() == sockDisconnected {
		return ErrDisconnected
	}
	if s.life != nil {
		return s.life.Send(p)
	}
	return s.sess.conn.Send(p)
}

// Emit sends an event to this socket's client. Arguments convert as in BroadcastOperator.Emit.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := eventPacket(s.ns.name, event, args, false)
	if err != nil {
		return err
	}
	s.ns.e.rec.stamp(p)
	s.ns.e.ctr.emits.Add(1)
	return s.send(p)
}

// EmitWithAck sends an event and waits for the client's ack, or for ctx to end (ErrTimeout wraps it).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]Arg, error) {
	p, err := eventPacket(s.ns.name, event, args, false)
	if err != nil {
		return nil, err
	}
	p.AckID = s.ns.e.ackIDs.Add(1)
	type reply struct {
		args []Arg
		err  error
	}
	ch := make(chan reply, 1)
	s.expectAck(p.AckID, func(a []Arg, err error) { ch <- reply{a, err} })
	s.ns.e.ctr.emits.Add(1)
	if err := s.send(p); err != nil {
		s.cancelAck(p.AckID)
		return nil, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.cancelAck(p.AckID)
		s.ns.e.ctr.ackTimeouts.Add(1)
		return nil, fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())
	}
}

// actorHandle is the socket as its actor sees it (actors.Handle). A distinct type keeps these methods out
// of Socket's API; converting a *Socket to it costs nothing.
type actorHandle Socket

func (h *actorHandle) socket() *Socket { return (*Socket)(h) }

func (h *actorHandle) ExpectAck(id uint64, fn func([]packet.Arg, error)) {
	h.socket().expectAck(id, func(a []Arg, err error) { fn(argsIn(a), err) })
}

func (h *actorHandle) CancelAck(id uint64) { h.socket().cancelAck(id) }

func (h *actorHandle) ForceDisconnect(close bool) { h.socket().Disconnect(close) }

// expectAck registers fn for the client's ack of id; fn runs once, with ErrDisconnected when the socket
// disconnects first.
func (s *Socket) expectAck(id uint64, fn func([]Arg, error)) {
	s.mu.Lock()
	if s.state.Load() == sockDisconnected {
		s.mu.Unlock()
		fn(nil, ErrDisconnected)
		return
	}
	if s.acks == nil {
		s.acks = make(map[uint64]func([]Arg, error))
	}
	s.acks[id] = fn
	s.mu.Unlock()
}

// cancelAck forgets the pending ack id without calling its function.
func (s *Socket) cancelAck(id uint64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

func (s *Socket) takeAck(id uint64) func([]Arg, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn := s.acks[id]
	delete(s.acks, id)
	return fn
}

// Disconnect removes the socket from its namespace: the client gets a Disconnect packet and the reason
// is "server namespace disconnect". With close, the whole connection is closed too (its other namespaces
// see "forced server close").
func (s *Socket) Disconnect(close bool) {
	if s.state.Load() == sockConnected {
		s.sess.conn.Send(&packet.Packet{Kind: packet.KindDisconnect, Namespace: s.ns.name, Message: transport.ReasonServerDisconnect})
	}
	s.teardown(transport.ReasonServerDisconnect)
	if close {
		s.sess.conn.Close(transport.CloseNormal, transport.ReasonForcedClose)
	}
}

// To returns an operator targeting rooms, without this socket (Socket.IO's socket.to).
func (s *Socket) To(rooms ...string) BroadcastOperator { return s.Broadcast().To(rooms...) }

// In is an alias of To.
func (s *Socket) In(rooms ...string) BroadcastOperator { return s.To(rooms...) }

// Except returns an operator targeting the namespace without this socket and without rooms.
func (s *Socket) Except(rooms ...string) BroadcastOperator { return s.Broadcast().Except(rooms...) }

// Broadcast returns an operator targeting every other socket of the namespace.
func (s *Socket) Broadcast() BroadcastOperator { return s.ns.op().Except(s.id) }

// teardown ends the socket once: its context is cancelled, its pending acks fail with ErrDisconnected,
// and behind its pending events the disconnecting handlers run, the actor stops (leaving its rooms) and
// the disconnect handlers run. Without disconnecting handlers the actor is stopped at once.
func (s *Socket) teardown(reason string) {
	s.mu.Lock()
	prev := s.state.Swap(sockDisconnected)
	if prev == sockDisconnected {
		s.mu.Unlock()
		return
	}
	acks := s.acks
	s.acks = nil
	s.stopExpiryLocked()
	// A socket kept for its client (recovery) stays in its rooms: its actor is not closed.
	detached := prev == sockConnected && s.life != nil && s.life.detach(s, reason)
	deferClose := !detached && prev == sockConnected && s.rare != nil && len(s.rare.onDisconnecting) > 0
	// The observers hear of the disconnect before the actor is told to leave its rooms: the leaves it
	// causes are offered to the same hook executor after it.
	if s.observed {
		s.observed = false
		s.observeDisconnected(reason)
	}
	if !deferClose && !detached {
		s.closeActorLocked()
	}
	s.mu.Unlock()
	s.ctx.end()

	s.sess.remove(s)
	for _, fn := range acks {
		fn(nil, ErrDisconnected)
	}
	if prev != sockConnected {
		return
	}
	s.exec.submit(func() {
		s.mu.Lock()
		var ing []func(string)
		if s.rare != nil {
			ing = s.rare.onDisconnecting
		}
		ed := s.onDisconnect
		s.mu.Unlock()
		for _, h := range ing {
			s.safely("disconnecting handler", func() { h(reason) })
		}
		if deferClose {
			s.mu.Lock()
			s.closeActorLocked()
			s.mu.Unlock()
		}
		for _, h := range ed {
			s.safely("disconnect handler", func() { h(reason) })
		}
	})
}

// closeActorLocked tells the socket's actor to leave its rooms and stop, once. s.mu is held, which orders
// the CloseSocket after every message tell sent.
func (s *Socket) closeActorLocked() {
	if s.pid != nil && !s.closeSent {
		s.closeSent = true
		s.ns.e.system.Root.Send(s.pid, &actors.CloseSocket{})
		s.ns.e.releaseSID(s.ns.name, s.id)
	}
}

// connect runs in the socket's executor: middlewares, then the socket actor, then CONNECTED and the
// connection handlers.
func (s *Socket) connect() {
	// Authentication comes first: a refused client runs none of the application's code.
	joinRooms, aerr := s.authenticate()
	if aerr != nil {
		s.refuse(refusedAuth, aerr.Message, aerr.connectData())
		return
	}
	mws, hs := s.ns.connectChain()
	e := s.ns.e
	from := 0
	if rec := e.rec; rec != nil {
		// The client may present a session to recover (recovery.go); the socket then takes its id.
		var l *lifeline
		var ps presentedSession
		ok := s.presented != nil
		if ok {
			ps = *s.presented
		} else {
			ps, ok = rec.parse(s.auth)
		}
		if ok {
			if rec.remote(ps.pid) {
				l, from = rec.claimRemote(s.ns, ps) // held by another node (recovery_cluster.go)
			} else {
				l, from = rec.claimSession(s.ns, ps)
			}
		}
		if l != nil {
			s.id, s.life, s.recovered = l.id, l, true
			if !rec.cfg.RunMiddlewares {
				mws = nil
			}
		} else {
			s.life = rec.newLifeline(s.ns, s.id, s)
		}
	}
	for _, mw := range mws {
		var err error
		s.safely("connect middleware", func() { err = mw(s) })
		if err != nil {
			if s.recovered {
				s.life.abandon(s)
			}
			msg, data := connectErrorOf(err)
			s.refuse(refusedMiddleware, msg, data)
			return
		}
	}
	if s.recovered {
		if s.resume(hs, from) {
			return
		}
		// The session was dropped after the claim (its buffer overflowed): a fresh socket after all.
		s.id, s.recovered = e.newSocketID(), false
		s.life = e.rec.newLifeline(s.ns, s.id, s)
	}
	add := &actors.AddSocket{SID: s.id, Outbox: s.sess.conn, Handle: (*actorHandle)(s), MaxRooms: e.cfg.MaxRoomsPerSocket}
	if s.life != nil {
		add.Outbox, add.Handle = s.life, s.life
	}
	res, err := e.system.Root.RequestFuture(s.ns.pid, add, connectWait).Result()
	if err != nil {
		e.log.Error("spawning socket actor", "namespace", s.ns.name, "err", err)
		s.refuse(refusedServerError, "server error", nil)
		return
	}
	pid := res.(*actor.PID)
	s.mu.Lock()
	if !s.state.CompareAndSwap(sockConnecting, sockConnected) {
		s.mu.Unlock()
		e.system.Root.Send(pid, &actors.CloseSocket{}) // the connection went away while connecting
		return
	}
	s.pid = pid
	s.mu.Unlock()
	// The identity's rooms are joined before the client learns it is connected.
	if len(joinRooms) > 0 {
		if err := s.membership(s.Context(), joinRooms, true); err != nil {
			e.log.Warn("joining the identity's rooms", "namespace", s.ns.name, "socket", s.id, "err", err)
			s.mu.Lock()
			s.closeActorLocked()
			s.state.Store(sockDisconnected)
			s.mu.Unlock()
			s.refuse(refusedAuth, "cannot join the token's rooms: "+err.Error(), (&AuthError{Code: AuthForbidden}).connectData())
			return
		}
	}
	s.armExpiry()
	s.sess.connected()
	if s.life != nil {
		s.life.setActor(pid)
	}
	s.sess.conn.Send(&packet.Packet{Kind: packet.KindConnected, Namespace: s.ns.name, SID: s.id, PID: s.lifePID()})
	s.connected(hs)
}

// connected runs once the client has its connect reply: observers, then the connection handlers.
func (s *Socket) connected(hs []func(*Socket)) {
	// After CONNECTED, so that what observers emit to the socket's own namespace (the admin namespace
	// announcing its own sockets) follows it; under s.mu, so that teardown reports the disconnect after
	// the connect, or neither.
	s.mu.Lock()
	if s.state.Load() == sockConnected {
		s.observed = true
		s.observeConnected()
	}
	s.mu.Unlock()
	for _, h := range hs {
		s.safely("connection handler", func() { h(s) })
	}
}

func (s *Socket) handleEvent(p *packet.Packet) {
	if s.state.Load() != sockConnected {
		s.sess.conn.Send(&packet.Packet{Kind: packet.KindError, Namespace: s.ns.name, Code: wire.ErrCodeNotConnected, Message: "not connected"})
		return
	}
	// The node's broadcast budget: while it is spent no client event runs, which stops this
	// connection's reader once its event queue is full (Config.MaxBroadcastsInFlight).
	if err := s.ns.e.flow.wait(s, s.ns.e.cfg.BackpressureTimeout); err != nil {
		if errors.Is(err, errBackpressure) {
			s.ns.e.bpClosed.Add(1)
			s.ns.e.log.Warn("client closed: backpressure timeout", "socket", s.id, "remote_addr", s.sess.conn.Handshake().RemoteAddr)
			s.sess.conn.Close(transport.CloseBackpressure, transport.ReasonBackpressure)
		}
		return
	}
	ev := &Event{Name: p.Name, Args: argsOut(p.Args), Socket: s, ackID: p.AckID}
	s.mu.Lock()
	var mws []func(*Event) error
	var anys []func(*Event)
	if s.rare != nil {
		mws, anys = s.rare.middlewares, s.rare.anyHandlers
	}
	hs := s.handlers
	s.mu.Unlock()
	for _, mw := range mws {
		var err error
		s.safely("event middleware", func() { err = mw(ev) })
		if err != nil {
			s.sess.conn.Send(&packet.Packet{Kind: packet.KindError, Namespace: s.ns.name, Code: wire.ErrCodeRejected, Message: err.Error()})
			return
		}
	}
	for _, h := range anys {
		s.safely("catch-all handler", func() { h(ev) })
	}
	for _, h := range hs {
		if h.event == p.Name {
			s.safely("event handler", func() { h.fn(ev) })
		}
	}
}

// safely runs user code; a panic is logged and contained so one bad handler cannot take the node down.
func (s *Socket) safely(what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			s.ns.e.log.Error("panic in "+what, "namespace", s.ns.name, "socket", s.id, "err", fmt.Sprint(r))
		}
	}()
	fn()
}
