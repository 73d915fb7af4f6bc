package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
)

type socketState uint8

const (
	stateNew          socketState = iota // built by Connect, not registered yet
	stateConnecting                      // Connect sent, waiting for the first Connected
	stateConnected                       // connected on the Client's live connection
	stateReconnecting                    // the connection was lost; Connect is (or will be) sent again
	stateClosed                          // ended for good
)

// Socket is one namespace connected over a Client. Get it from Client.Connect.
//
// All methods are safe for concurrent use. Hooks and handlers of one Socket run one at a time, in the
// order their packets arrived, on a goroutine of the Client (not on its read loop), so they may call
// Emit and EmitWithAck. They should not block for long: while one runs, the Socket's later events wait.
// Close waits for running hooks to return.
type Socket struct {
	c    *Client
	ns   string
	auth []byte
	d    *dispatcher
	done chan struct{} // closed once the Socket has ended and its hooks have run

	mu           sync.Mutex
	state        socketState
	id           string
	ws           *websocket.Conn // the connection the Socket is connected on, while connected
	result       chan error      // the pending Connect's answer, while stateConnecting
	acks         map[uint64]chan ackResult
	err          error // why the Socket ended
	handlers     map[string][]func([]Arg, AckFunc)
	anyHandlers  []func(string, []Arg, AckFunc)
	subs         []subscription
	subsClosed   bool
	onDisconnect []func(reason string)
	onError      []func(code uint32, msg string)
	onReconnect  []func()

	// Connection state recovery: the resume token of the latest Connected, the offset of the last
	// recoverable event received, whether the latest reconnection was recovered, and the events the
	// server replays before its Connected, delivered after it.
	resumeToken string
	offset      string
	recovered   bool
	replayed    []Event
}

type subscription struct {
	event string // "" for every event
	ch    chan Event
}

type ackResult struct {
	args []Arg
	err  error
}

func newSocket(c *Client, ns string, auth []byte) *Socket {
	return &Socket{
		c:        c,
		ns:       ns,
		auth:     auth,
		d:        newDispatcher(),
		done:     make(chan struct{}),
		acks:     make(map[uint64]chan ackResult),
		handlers: make(map[string][]func([]Arg, AckFunc)),
	}
}

// ID returns the socket id the server assigned in its latest Connected; it changes on reconnection.
func (s *Socket) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Recovered reports whether the latest reconnection recovered the server-side socket (connection state
// recovery, docs/recovery.md): same ID, rooms and data, and every event sent while the connection was
// down delivered, in order, before the OnReconnect hooks' later events. False before any reconnection
// and when the server started a fresh socket (its rooms are then gone).
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// Namespace returns the Socket's namespace.
func (s *Socket) Namespace() string { return s.ns }

// Connected reports whether the Socket is connected right now (not ended, not awaiting reconnection).
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateConnected
}

// Done returns a channel closed once the Socket has ended for good (server Disconnect, Disconnect,
// Client.Close, a lost connection without reconnection, or a refused reconnection) and its hooks have
// all run. Err then tells why.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Err returns nil while the Socket lives, and after it ended: a *DisconnectError (server Disconnect),
// ErrDisconnected (Disconnect), ErrClosed (Client.Close), a *CloseError or another transport error (the
// connection was lost), or a *ConnectError (reconnection refused).
func (s *Socket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// On registers fn for event. ack answers the event and is nil when the sender asked for none. Several
// handlers for one event all run, in registration order.
func (s *Socket) On(event string, fn func(args []Arg, ack AckFunc)) {
	s.mu.Lock()
	s.handlers[event] = append(s.handlers[event], fn)
	s.mu.Unlock()
}

// OnAny registers fn for every event, run before the event's own handlers (as socket.io-client does).
func (s *Socket) OnAny(fn func(event string, args []Arg, ack AckFunc)) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, fn)
	s.mu.Unlock()
}

// OnDisconnect registers fn to be called when the Socket stops being connected, with one of the Reason
// constants (ReasonTransportClose followed by the code and the server's reason, e.g.
// "transport close: 4002 slow client"). With Options.Reconnect the Socket may connect again afterwards
// (see OnReconnect).
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// OnError registers fn for the server's Error packets addressed to this namespace: a problem with one
// message the client sent; the Socket stays connected. code is one of the ErrCode constants of package
// transport/wire (wire.ErrCodeInvalid and its siblings).
func (s *Socket) OnError(fn func(code uint32, msg string)) {
	s.mu.Lock()
	s.onError = append(s.onError, fn)
	s.mu.Unlock()
}

// OnReconnect registers fn to be called each time the Socket is connected again after a reconnection;
// ID then returns the new socket id.
func (s *Socket) OnReconnect(fn func()) {
	s.mu.Lock()
	s.onReconnect = append(s.onReconnect, fn)
	s.mu.Unlock()
}

// Events returns a channel receiving the Socket's events named event ("" for every event), with buf
// slots of buffer. A full channel holds up the Socket's later events and hooks (never the read loop)
// until it is read or the Client is closed. The channel is closed once the Socket has ended.
func (s *Socket) Events(event string, buf int) <-chan Event {
	ch := make(chan Event, buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subsClosed {
		close(ch)
		return ch
	}
	s.subs = append(s.subs, subscription{event: event, ch: ch})
	return ch
}

// Emit sends event with args. Each argument is converted as follows: []byte is sent as a binary
// argument, json.RawMessage as its JSON text, an Arg as is (unvalidated, which lets tests send invalid
// JSON), and anything else as its encoding/json encoding (compact, without HTML escaping). It blocks
// until the frame is written or ctx ends; if ctx ends in the middle of the write, coder/websocket closes
// the connection. It fails with ErrNotConnected when the Socket is not connected.
func (s *Socket) Emit(ctx context.Context, event string, args ...any) error {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return fmt.Errorf("client: emit %s: %w", event, err)
	}
	ws, err := s.conn()
	if err != nil {
		return fmt.Errorf("client: emit %s: %w", event, err)
	}
	if err := s.c.send(ctx, ws, p); err != nil {
		return fmt.Errorf("client: emit %s: %w", event, err)
	}
	return nil
}

// EmitWithAck sends event with args (converted as by Emit), asking for an acknowledgement, and waits
// for it: it returns the ack's arguments, ctx.Err() when ctx ends first (its deadline is the ack
// timeout), or an error wrapping ErrNotConnected when the Socket is disconnected meanwhile.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]Arg, error) {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return nil, fmt.Errorf("client: emit %s: %w", event, err)
	}
	args2, err := s.call(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("client: emit %s: %w", event, err)
	}
	return args2, nil
}

// call sends p with a fresh ack id and waits for the server's Ack (or an Error carrying the id).
func (s *Socket) call(ctx context.Context, p *packet.Packet) ([]Arg, error) {
	p.AckID = s.c.ackSeq.Add(1)
	ch := make(chan ackResult, 1)
	s.mu.Lock()
	ws, err := s.connLocked()
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.acks[p.AckID] = ch
	s.mu.Unlock()

	if err := s.c.send(ctx, ws, p); err != nil {
		s.dropAck(p.AckID)
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.args, nil
	case <-ctx.Done():
		s.dropAck(p.AckID)
		return nil, ctx.Err()
	}
}

// Disconnect leaves the namespace: it ends the Socket (OnDisconnect gets ReasonClientDisconnect) and
// sends a Disconnect packet, blocking until it is written or ctx ends. Disconnecting an ended Socket
// does nothing.
func (s *Socket) Disconnect(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	s.mu.Lock()
	state, ws := s.state, s.ws
	s.mu.Unlock()
	if state == stateClosed {
		c.mu.Unlock()
		return nil
	}
	c.endSocket(s, ReasonClientDisconnect, ErrDisconnected)
	c.mu.Unlock()
	if state != stateConnected {
		// Not connected on the server (yet): a Connected arriving later is answered with a Disconnect.
		return nil
	}
	if err := c.send(ctx, ws, &packet.Packet{Kind: packet.KindDisconnect, Namespace: s.ns}); err != nil {
		return fmt.Errorf("client: disconnect %s: %w", s.ns, err)
	}
	return nil
}

func (s *Socket) eventPacket(event string, args []any) (*packet.Packet, error) {
	if !utf8.ValidString(event) {
		return nil, fmt.Errorf("%w: event name is not valid UTF-8", ErrInvalidArg)
	}
	pargs, err := packet.ArgsOf(args)
	if err != nil {
		return nil, err
	}
	return &packet.Packet{Kind: packet.KindEvent, Namespace: s.ns, Name: event, Args: pargs}, nil
}

func (s *Socket) conn() (*websocket.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connLocked()
}

func (s *Socket) connLocked() (*websocket.Conn, error) {
	switch s.state {
	case stateConnected:
		return s.ws, nil
	case stateClosed:
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, s.err)
	default:
		return nil, ErrNotConnected
	}
}

func (s *Socket) dropAck(id uint64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// run is the Socket's dispatcher goroutine; it closes the Events channels and done at the end.
func (s *Socket) run() {
	s.d.run()
	s.mu.Lock()
	subs := s.subs
	s.subs, s.subsClosed = nil, true
	s.mu.Unlock()
	for _, sub := range subs {
		close(sub.ch)
	}
	close(s.done)
}

// The methods below are called by the Client with Client.mu held (lock order: Client.mu, Socket.mu) or
// from its read loop.

// connected records the server's Connected. It reports false when the Socket did not expect one.
func (s *Socket) connected(ws *websocket.Conn, sid, resumeToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateConnecting:
		s.state, s.id, s.ws, s.resumeToken = stateConnected, sid, ws, resumeToken
		s.result <- nil
		s.result = nil
	case stateReconnecting:
		// The server answers a recovered session with the token the client presented.
		s.recovered = s.resumeToken != "" && resumeToken == s.resumeToken && sid == s.id
		if !s.recovered {
			s.offset = ""
			s.replayed = nil
		}
		s.state, s.id, s.ws, s.resumeToken = stateConnected, sid, ws, resumeToken
		if hooks := s.onReconnect; len(hooks) > 0 {
			s.d.push(func() {
				for _, fn := range hooks {
					fn()
				}
			})
		}
		for _, ev := range s.replayed {
			s.d.push(func() { s.deliver(ev) })
		}
		s.replayed = nil
	case stateConnected:
		// A duplicate: keep the connection the server already confirmed.
	default:
		return false
	}
	return true
}

func (s *Socket) awaitingConnect() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateConnecting || s.state == stateReconnecting
}

// suspend marks a connected Socket as awaiting reconnection after the connection was lost. It reports
// false for a Socket that cannot be reconnected (its first Connect was still pending), which the
// Client then ends.
func (s *Socket) suspend(reason string, cause error) bool {
	s.mu.Lock()
	prev := s.state
	if prev != stateConnected && prev != stateReconnecting {
		s.mu.Unlock()
		return false
	}
	s.state, s.ws = stateReconnecting, nil
	acks := s.acks
	s.acks = make(map[uint64]chan ackResult)
	hooks := s.onDisconnect
	s.mu.Unlock()
	failAcks(acks, fmt.Errorf("%w: %w", ErrNotConnected, cause))
	if prev == stateConnected {
		s.pushDisconnect(hooks, reason)
	}
	return true
}

// resume returns the Connect to send again when the Socket awaits reconnection (nil otherwise): it
// presents the session to recover, if the server offered one.
func (s *Socket) resume() *packet.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateReconnecting {
		return nil
	}
	s.replayed = nil
	return &packet.Packet{Kind: packet.KindConnect, Namespace: s.ns, Data: s.auth, PID: s.resumeToken, Offset: s.offset}
}

// end ends the Socket for good. reason, when not empty, goes to OnDisconnect if the Socket was
// connected. Use Client.endSocket, which also unregisters it.
func (s *Socket) end(reason string, err error) {
	s.mu.Lock()
	prev := s.state
	if prev == stateClosed {
		s.mu.Unlock()
		return
	}
	s.state, s.err, s.ws = stateClosed, err, nil
	acks, result := s.acks, s.result
	s.acks, s.result = nil, nil
	hooks := s.onDisconnect
	s.mu.Unlock()
	failAcks(acks, fmt.Errorf("%w: %w", ErrNotConnected, err))
	if result != nil {
		result <- err
	}
	if prev == stateConnected && reason != "" {
		s.pushDisconnect(hooks, reason)
	}
	s.d.close()
}

func (s *Socket) pushDisconnect(hooks []func(string), reason string) {
	if len(hooks) == 0 {
		return
	}
	s.d.push(func() {
		for _, fn := range hooks {
			fn(reason)
		}
	})
}

// endSocket ends s and unregisters it. c.mu must be held.
func (c *Client) endSocket(s *Socket, reason string, err error) {
	if c.sockets[s.ns] == s {
		delete(c.sockets, s.ns)
	}
	s.end(reason, err)
}

func failAcks(acks map[uint64]chan ackResult, err error) {
	for _, ch := range acks {
		ch <- ackResult{err: err}
	}
}

// event queues a server event for the Socket's handlers.
// While reconnecting, only a recovered session's replay can arrive (before the Connected): it is kept
// and delivered after the OnReconnect hooks.
func (s *Socket) event(ws *websocket.Conn, p *packet.Packet) {
	ev := Event{Name: p.Name, Args: p.Args}
	if p.AckID != 0 {
		ev.Ack = s.ackFunc(ws, p.AckID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == stateConnected:
		s.d.push(func() { s.deliver(ev) })
	case s.state == stateReconnecting && s.resumeToken != "" && len(s.replayed) < maxReplayed:
		s.replayed = append(s.replayed, ev)
	default:
		return
	}
	if p.Offset != "" {
		s.offset = p.Offset
	}
}

// maxReplayed bounds the events a Socket keeps while the server replays a recovered session (the
// server sends at most twice its MaxBuffered, 512 by default); beyond it they are dropped.
const maxReplayed = 1 << 14

// deliver runs on the Socket's dispatcher.
func (s *Socket) deliver(ev Event) {
	s.mu.Lock()
	hs := slices.Clone(s.handlers[ev.Name])
	anys := slices.Clone(s.anyHandlers)
	var chans []chan Event
	for _, sub := range s.subs {
		if sub.event == "" || sub.event == ev.Name {
			chans = append(chans, sub.ch)
		}
	}
	s.mu.Unlock()
	// Catch-all handlers first, as in socket.io-client and on the server (engine.Socket.OnAny).
	for _, fn := range anys {
		fn(ev.Name, ev.Args, ev.Ack)
	}
	for _, fn := range hs {
		fn(ev.Args, ev.Ack)
	}
	for _, ch := range chans {
		select {
		case ch <- ev:
		case <-s.c.ctx.Done():
			return
		}
	}
}

// ackFunc answers the server's event id on the connection it arrived on (ack ids belong to it).
func (s *Socket) ackFunc(ws *websocket.Conn, id uint64) AckFunc {
	var sent atomic.Bool
	return func(args ...any) error {
		pargs, err := packet.ArgsOf(args)
		if err != nil {
			return fmt.Errorf("client: ack: %w", err)
		}
		if !sent.CompareAndSwap(false, true) {
			return ErrAckSent
		}
		if err := s.c.sendTimeout(ws, &packet.Packet{Kind: packet.KindAck, Namespace: s.ns, AckID: id, Args: pargs}); err != nil {
			return fmt.Errorf("client: ack: %w", err)
		}
		return nil
	}
}

// ack delivers the server's Ack to the EmitWithAck waiting for it.
func (s *Socket) ack(p *packet.Packet) {
	s.mu.Lock()
	ch := s.acks[p.AckID]
	delete(s.acks, p.AckID)
	s.mu.Unlock()
	if ch == nil {
		s.c.log.Debug("ack for no pending emit", "namespace", s.ns, "ack_id", p.AckID)
		return
	}
	ch <- ackResult{args: p.Args}
}

// serverError queues the server's Error packet for the Socket's OnError hooks; one that answers a
// pending RoomRequest (ackID set) fails it instead.
func (s *Socket) serverError(code uint32, msg string, ackID uint64) {
	if ackID != 0 {
		s.mu.Lock()
		ch := s.acks[ackID]
		delete(s.acks, ackID)
		s.mu.Unlock()
		if ch != nil {
			ch <- ackResult{err: &ServerError{Namespace: s.ns, Code: code, Message: msg}}
			return
		}
	}
	s.mu.Lock()
	hooks := s.onError
	s.mu.Unlock()
	if len(hooks) == 0 {
		return
	}
	s.d.push(func() {
		for _, fn := range hooks {
			fn(code, msg)
		}
	})
}
