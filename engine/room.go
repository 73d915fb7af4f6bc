package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/wire"
)

// Room addresses a behaviour room of a namespace from server code: Send and Request reach its OnMessage
// with an empty From. Get one with Namespace.Room; it is a value, valid whether or not the room exists.
type Room struct {
	ns   *Namespace
	name string
}

// Room returns a handle on the behaviour room called name.
func (n *Namespace) Room(name string) Room { return Room{ns: n, name: name} }

// Room returns a handle on the behaviour room called name of namespace "/".
func (e *Engine) Room(name string) Room { return e.main().Room(name) }

// Name returns the room's name.
func (r Room) Name() string { return r.name }

// Send passes an event to the room's OnMessage without waiting. It returns the errors found before the
// room is reached (ErrNoBehavior, ErrRoomMessageTooBig, ErrInvalidArg, ErrNotStarted); what the room
// finds (ErrNoRoom, ErrRoomBusy) is only logged at debug level: use Request to learn it.
func (r Room) Send(event string, args ...any) error {
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	log := r.ns.e.log
	return r.ns.roomMessage(r.name, "", event, a, false, func(_ []packet.Arg, err error) {
		log.Debug("room message not delivered", "namespace", r.ns.name, "room", r.name, "event", event, "err", err)
	}, time.Time{})
}

// Request passes an event to the room's OnMessage and waits for its Reply, or for ctx: a reply that
// never comes ends with an error wrapping ErrTimeout when ctx ends. Besides Send's errors it returns
// ErrNoRoom, ErrRoomBusy and ErrRoomInternal.
func (r Room) Request(ctx context.Context, event string, args ...any) ([]Arg, error) {
	a, err := toArgs(args)
	if err != nil {
		return nil, err
	}
	return r.ns.request(ctx, r.name, "", event, a)
}

// JoinRoom adds the socket to one room, passing options (any JSON-marshalable value, or nil) to a
// behaviour room's OnCreate and OnJoin. A room the behaviour refuses returns a *RefusedError; on a
// plain room it is Join. With Config.Auth it is checked as Join is (ErrRoomNotAllowed).
func (s *Socket) JoinRoom(ctx context.Context, room string, options any) error {
	if room == "" {
		return ErrInvalidRoom
	}
	if err := s.authorizeJoin(ctx, []string{room}); err != nil {
		return err
	}
	var opt packet.Arg
	if options != nil {
		a, err := toArgs([]any{options})
		if err != nil {
			return err
		}
		opt = a[0]
	}
	c := actors.NewCollector()
	if err := s.tell(&actors.JoinRooms{Rooms: []string{room}, Collector: c, Options: opt}); err != nil {
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

// SendToRoom passes an event from this socket to a behaviour room it is a member of, without waiting
// (RequestRoom waits for the answer). It returns the errors found before the room is reached
// (ErrNoBehavior, ErrRoomMessageTooBig, ErrInvalidArg, ErrDisconnected); ErrNotInRoom and ErrRoomBusy,
// which the room finds, are only logged at debug level. Messages of one socket reach the room in the
// order sent.
func (s *Socket) SendToRoom(room, event string, args ...any) error {
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	log := s.ns.e.log
	return s.ns.roomMessage(room, s.id, event, a, false, func(_ []packet.Arg, err error) {
		log.Debug("room message not delivered", "namespace", s.ns.name, "room", room, "socket", s.id, "event", event, "err", err)
	}, time.Time{})
}

// RequestRoom passes an event from this socket to a behaviour room it is a member of and waits for the
// room's Reply, or for ctx (an error wrapping ErrTimeout). It returns SendToRoom's errors and
// ErrNotInRoom, ErrRoomBusy, ErrRoomInternal. RequestRoomFunc is the same without the wait.
func (s *Socket) RequestRoom(ctx context.Context, room, event string, args ...any) ([]Arg, error) {
	a, err := toArgs(args)
	if err != nil {
		return nil, err
	}
	if !s.Connected() {
		return nil, ErrDisconnected
	}
	return s.ns.request(ctx, room, s.id, event, a)
}

// RequestRoomFunc is RequestRoom without the wait: it passes the event to the room and returns, and
// reply is called once, on another goroutine, with the room's Reply or its error (RequestRoom's), or
// with an error wrapping ErrTimeout when ctx ends first (a room on another node that has not answered
// within 30 s counts as ctx's end when ctx has no deadline). When RequestRoomFunc returns an error,
// reply is not called.
//
// An event handler that passes its event on this way returns at once, and the socket's next event is
// handled meanwhile: a client's events reach the room in the order sent all the same (whichever of
// SendToRoom, RequestRoom and RequestRoomFunc passed them), and their answers come back in that order
// from a room that replies within its hook.
func (s *Socket) RequestRoomFunc(ctx context.Context, room, event string, reply func([]Arg, error), args ...any) error {
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	return s.ns.requestFunc(ctx, room, s.id, event, a, reply)
}

// request sends one room message and waits for its answer.
func (n *Namespace) request(ctx context.Context, room, sid, event string, a []packet.Arg) ([]Arg, error) {
	type answer struct {
		args []Arg
		err  error
	}
	ch := make(chan answer, 1)
	if err := n.requestFunc(ctx, room, sid, event, a, func(args []Arg, err error) { ch <- answer{args, err} }); err != nil {
		return nil, err
	}
	r := <-ch
	return r.args, r.err
}

// pendingRequest is one RequestRoomFunc call: answered once, by the room or by its ctx.
type pendingRequest struct {
	reply func([]Arg, error)
	done  atomic.Bool
	stop  func() bool // ends the ctx watch
}

func (p *pendingRequest) answer(args []packet.Arg, err error) {
	if p.done.CompareAndSwap(false, true) {
		p.stop()
		p.reply(argsOut(args), err)
	}
}

// requestFunc sends one room message that asks for an answer, and calls reply with it (RequestRoomFunc).
func (n *Namespace) requestFunc(ctx context.Context, room, sid, event string, a []packet.Arg, reply func([]Arg, error)) error {
	p := &pendingRequest{reply: reply}
	expired := func() {
		if p.done.CompareAndSwap(false, true) {
			p.reply(nil, fmt.Errorf("%w: no answer from room %s: %v", ErrTimeout, room, ctx.Err()))
		}
	}
	if sc, ok := ctx.(*socketContext); ok {
		// A handler's own context (Event.Context), the common case: registered with it directly, as
		// context.AfterFunc would, without the context it makes per call. expired runs on its own
		// goroutine, as context.AfterFunc runs it.
		p.stop = sc.AfterFunc(func() { go expired() })
	} else {
		p.stop = context.AfterFunc(ctx, expired)
	}
	deadline, _ := ctx.Deadline()
	if err := n.roomMessage(room, sid, event, a, true, p.answer, deadline); err != nil {
		if !p.done.CompareAndSwap(false, true) {
			return nil // ctx ended first: reply has had its ErrTimeout
		}
		p.stop()
		return err
	}
	return nil
}

// roomMessage checks a room message and hands it to the namespace actor, which forwards it to the room
// or answers it; in a cluster, a room owned by another node gets it over the cluster link. reply is
// called at most once when roomMessage returns nil: with the room's answer, or, for a message that went
// to another node, an error wrapping ErrTimeout once deadline (zero: a default of 30 s) passed first. A
// local room that never answers an ask leaves reply uncalled (requestFunc watches its ctx). In a
// cluster the message may wait behind this node's asks to the room's previous owner (roomorder.go).
func (n *Namespace) roomMessage(room, sid, event string, a []packet.Arg, ask bool, reply func([]packet.Arg, error), deadline time.Time) error {
	if event == "" {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	if n.e.state.Load() != stateRunning {
		return ErrNotStarted
	}
	d := n.hooks.behavior(room)
	if d == nil || n.pid == nil {
		return ErrNoBehavior
	}
	size := 0
	for _, x := range a {
		size += len(x.Data)
	}
	if size > d.maxBytes {
		return ErrRoomMessageTooBig
	}
	// Answer once: the room's Reply and a failure (a panic after a late Reply, say) must not both
	// reach the caller.
	send := func(owner string, local bool, done func()) {
		var answered atomic.Bool
		once := func(args []packet.Arg, err error) {
			if answered.CompareAndSwap(false, true) {
				reply(args, err)
				if done != nil {
					done()
				}
			}
		}
		if !local {
			n.e.link.sendRoomMessage(owner, n.name, room, sid, event, a, ask, once, deadline)
			return
		}
		n.e.system.Root.Send(n.pid, &actors.RoomMessage{Room: room, SID: sid, Event: event, Args: a, Ask: ask, Reply: once})
	}
	if l := n.e.link; l != nil {
		return l.order.send(func() (string, bool) { return l.owner(n.name, room) }, roomKey{n.name, room}, ask, send)
	}
	send("", true, nil)
	return nil
}

// roomFrame handles a native client's RoomMessage, in the socket's handler goroutine (so it keeps its
// order with the socket's events): the answer is an Ack of the frame's ack id, and a failure an Error
// (carrying that id when there is one).
func (s *Socket) roomFrame(p *packet.Packet) {
	fail := func(err error) {
		s.send(&packet.Packet{Kind: packet.KindError, Namespace: s.ns.name, Code: roomErrorCode(err), Message: err.Error(), AckID: p.AckID})
	}
	if s.state.Load() != sockConnected {
		s.send(&packet.Packet{Kind: packet.KindError, Namespace: s.ns.name, Code: wire.ErrCodeNotConnected, Message: "not connected", AckID: p.AckID})
		return
	}
	err := s.ns.roomMessage(p.Room, s.id, p.Name, p.Args, p.AckID != 0, func(args []packet.Arg, err error) {
		if err != nil {
			fail(err)
			return
		}
		s.send(&packet.Packet{Kind: packet.KindAck, Namespace: s.ns.name, AckID: p.AckID, Args: args})
	}, time.Time{})
	if err != nil {
		fail(err)
	}
}

// roomErrorCode maps a room message's error to the native protocol's error code.
func roomErrorCode(err error) uint32 {
	switch {
	case errors.Is(err, ErrNotInRoom):
		return wire.ErrCodeNotInRoom
	case errors.Is(err, ErrNoBehavior), errors.Is(err, ErrNoRoom):
		return wire.ErrCodeNoBehavior
	case errors.Is(err, ErrRoomMessageTooBig):
		return wire.ErrCodeRoomTooBig
	case errors.Is(err, ErrRoomBusy):
		return wire.ErrCodeRoomBusy
	case errors.Is(err, ErrReservedEvent):
		return wire.ErrCodeInvalid
	}
	return wire.ErrCodeRoomFailed
}
