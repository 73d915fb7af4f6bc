package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

// BroadcastOperator selects sockets of a namespace and acts on them: Socket.IO's io.to(room),
// socket.broadcast and friends. It is an immutable value: every method returns a new operator, so one
// can be kept and reused. Get one from Engine, Namespace or Socket.
type BroadcastOperator struct {
	ns       *Namespace
	rooms    []string
	except   []string
	volatile bool
	local    bool
	timeout  time.Duration
}

// To adds rooms to the target set; the operator targets the union of all rooms named (each socket is
// reached once). A socket id is a room holding that socket (and any socket that joined a room of that
// name, as in Socket.IO). With no rooms at all, every socket of the namespace is targeted.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.rooms = addRooms(b.rooms, rooms)
	return b
}

// addRooms returns set with the rooms it does not hold yet appended, in order: rooms are a set, as in
// Socket.IO, so naming one twice must not deliver twice. set is never written in place (operators are
// values that share it).
func addRooms(set, rooms []string) []string {
	set = slices.Clip(set)
	for _, r := range rooms {
		if !slices.Contains(set, r) {
			set = append(set, r)
		}
	}
	return set
}

// In is an alias of To.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms (also from a union).
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.except = addRooms(b.except, rooms)
	return b
}

// Volatile marks emits as droppable: a client whose outbound queue is full misses the message instead of
// being disconnected.
func (b BroadcastOperator) Volatile() BroadcastOperator {
	b.volatile = true
	return b
}

// Local restricts the operation to this node's sockets (in a cluster; a single node is always local).
func (b BroadcastOperator) Local() BroadcastOperator {
	b.local = true
	return b
}

// Timeout bounds EmitWithAck (besides its ctx).
func (b BroadcastOperator) Timeout(d time.Duration) BroadcastOperator {
	b.timeout = d
	return b
}

// send hands one broadcast to the namespace actor and, in a cluster, to the other nodes. With a
// collector, every node is a leg of it; deadline bounds how long a node waits for its local answers.
func (b BroadcastOperator) send(n *Namespace, op actors.Op, p *packet.Packet, c *actors.Collector, opRooms []string, close bool, deadline time.Time) error {
	if n.e.state.Load() != stateRunning {
		return ErrNotStarted
	}
	b.sendAnyway(n, op, p, c, opRooms, close, deadline)
	return nil
}

// sendAnyway is send without the check that the engine runs: a placed room's emits while the node
// shuts down and hands it off (placement.go) still reach its members.
func (b BroadcastOperator) sendAnyway(n *Namespace, op actors.Op, p *packet.Packet, c *actors.Collector, opRooms []string, close bool, deadline time.Time) {
	e := n.e
	msg := &actors.Broadcast{Rooms: b.rooms, Except: b.except, Op: op, Packet: p, Collector: c, OpRooms: opRooms, Close: close}
	if op == actors.OpEmit {
		e.ctr.emits.Add(1)
	}
	e.flow.admit(msg)
	if e.link != nil && !b.local {
		// Before the local send: the peers' legs must be on the collector before the local leg can end.
		e.link.route(n.name, b.rooms, msg, deadline)
	}
	e.system.Root.Send(n.pid, msg)
}

func eventPacket(ns, event string, args []any, volatile bool) (*packet.Packet, error) {
	if event == "" || reserved[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	a, err := toArgs(args)
	if err != nil {
		return nil, err
	}
	return &packet.Packet{Kind: packet.KindEvent, Namespace: ns, Name: event, Args: a, Volatile: volatile}, nil
}

// Emit sends an event to the selected sockets. It returns once the emit is queued; delivery is
// at-most-once (docs/guarantees.md). Arguments: []byte is sent as binary, json.RawMessage as it is,
// anything else as JSON.
func (b BroadcastOperator) Emit(event string, args ...any) error {
	for _, n := range b.ns.targets() {
		p, err := eventPacket(n.name, event, args, b.volatile)
		if err != nil {
			return err
		}
		n.e.rec.stamp(p)
		if err := b.send(n, actors.OpEmit, p, nil, nil, false, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// AckReply is one socket's answer to EmitWithAck. Err is ErrDisconnected when the socket left before
// answering.
type AckReply struct {
	SocketID string
	Args     []Arg
	Err      error
}

// run sends one collected operation to every target namespace and waits for it to complete, for ctx,
// or for the operator's timeout. On timeout it returns the results so far and an error wrapping
// ErrTimeout.
func (b BroadcastOperator) run(ctx context.Context, op actors.Op, mk func(n *Namespace) *packet.Packet, opRooms []string, close bool) ([]actors.Result, *actors.Collector, error) {
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultRemoteTimeout)
	}
	targets := b.ns.targets()
	c := actors.NewCollector()
	if len(targets) == 0 {
		c.LegDone()
	}
	c.AddLegs(len(targets) - 1)
	for _, n := range targets {
		var p *packet.Packet
		if mk != nil {
			p = mk(n)
		}
		if err := b.send(n, op, p, c, opRooms, close, deadline); err != nil {
			return nil, c, err
		}
	}
	var err error
	select {
	case <-c.Done():
	case <-ctx.Done():
		res, expected, _ := c.Snapshot()
		te := &TimeoutError{Answered: len(res), Expected: expected, Complete: !c.Pending(), Cause: ctx.Err()}
		if op == actors.OpEmit {
			b.ns.e.ctr.ackTimeouts.Add(1)
		}
		if l := b.ns.e.link; l != nil {
			te.Nodes = l.abandon(c)
		}
		err = te
	}
	res, _, cerr := c.Snapshot()
	if cerr != nil {
		err = errors.Join(cerr, err)
	}
	return res, c, err
}

// EmitWithAck sends an event to the selected sockets, asking each for an ack, and waits until every
// recipient answered, or ctx ends, or the operator's Timeout passes. It returns the replies that arrived;
// when some did not, the error wraps ErrTimeout and says how many were expected.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]AckReply, error) {
	pk, err := eventPacket("", event, args, b.volatile)
	if err != nil {
		return nil, err
	}
	id := b.ns.e.ackIDs.Add(1)
	res, c, err := b.run(ctx, actors.OpEmit, func(n *Namespace) *packet.Packet {
		return &packet.Packet{Kind: packet.KindEvent, Namespace: n.name, Name: event, Args: pk.Args, AckID: id, Volatile: pk.Volatile}
	}, nil, false)
	for _, h := range c.Expecting() {
		h.CancelAck(id) // forget the acks that did not come, so a silent client holds no memory
	}
	out := make([]AckReply, 0, len(res))
	for _, r := range res {
		out = append(out, AckReply{SocketID: r.SID, Args: argsOut(r.Args), Err: r.Err})
	}
	return out, err
}

// RemoteSocket is a socket found by FetchSockets, on this node or another: a snapshot of its id, rooms,
// handshake and data, and a handle to act on it.
type RemoteSocket struct {
	ID        string
	Namespace string
	Rooms     []string
	Handshake Handshake
	Data      any // on another node: the data as decoded JSON (nil when it does not marshal)
	// UserID is the socket's authenticated user (Socket.UserID); "" when none.
	UserID string
	// Node is the id of the node that holds the socket ("" on a single node).
	Node string
	s    *Socket    // local
	r    *remoteRef // on another node
}

// Emit sends an event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error {
	if r.s != nil {
		return r.s.Emit(event, args...)
	}
	p, err := eventPacket(r.Namespace, event, args, false)
	if err != nil {
		return err
	}
	r.r.l.forward([]string{r.r.node}, r.Namespace, &actors.Broadcast{Rooms: []string{r.ID}, Op: actors.OpEmit, Packet: p}, time.Time{})
	return nil
}

// Join adds the socket to rooms.
func (r *RemoteSocket) Join(ctx context.Context, rooms ...string) error {
	if r.s != nil {
		if err := validRooms(rooms); err != nil {
			return err
		}
		return r.s.membership(ctx, rooms, true)
	}
	if err := validRooms(rooms); err != nil {
		return err
	}
	return r.r.call(ctx, actors.OpJoin, nil, rooms, false)
}

// Leave removes the socket from rooms.
func (r *RemoteSocket) Leave(ctx context.Context, rooms ...string) error {
	if r.s != nil {
		return r.s.Leave(ctx, rooms...)
	}
	return r.r.call(ctx, actors.OpLeave, nil, rooms, false)
}

// Disconnect disconnects the socket (and its connection when close is set).
func (r *RemoteSocket) Disconnect(close bool) {
	if r.s != nil {
		r.s.Disconnect(close)
		return
	}
	r.r.l.forward([]string{r.r.node}, r.Namespace, &actors.Broadcast{Rooms: []string{r.ID}, Op: actors.OpDisconnect, Close: close}, time.Time{})
}

// FetchSockets returns the selected sockets.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	res, _, err := b.run(ctx, actors.OpFetch, nil, nil, false)
	out := make([]*RemoteSocket, 0, len(res))
	for _, r := range res {
		if r.Info == nil {
			continue
		}
		switch h := r.Info.Ref.(type) {
		case *actorHandle, *lifeline:
			s := localSocket(h)
			if s == nil {
				continue // detached, waiting for its client
			}
			out = append(out, &RemoteSocket{
				ID: s.id, Namespace: s.ns.name, Rooms: r.Info.Rooms, Handshake: s.Handshake(), Data: s.Data(),
				UserID: s.UserID(), Node: b.ns.e.NodeID(), s: s,
			})
		case *remoteRef:
			var data any
			if len(h.info.DataJson) > 0 {
				json.Unmarshal(h.info.DataJson, &data)
			}
			out = append(out, &RemoteSocket{
				ID: h.info.Sid, Namespace: h.info.Namespace, Rooms: h.info.Rooms,
				Handshake: handshakeFromWire(h.info.Handshake), Data: data, UserID: h.info.UserId, Node: h.node, r: h,
			})
		}
	}
	slices.SortFunc(out, func(a, b *RemoteSocket) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, err
}

// SocketsJoin makes the selected sockets join rooms; it returns once emits to those rooms reach them.
func (b BroadcastOperator) SocketsJoin(ctx context.Context, rooms ...string) error {
	if err := validRooms(rooms); err != nil {
		return err
	}
	_, _, err := b.run(ctx, actors.OpJoin, nil, rooms, false)
	return err
}

// SocketsLeave makes the selected sockets leave rooms.
func (b BroadcastOperator) SocketsLeave(ctx context.Context, rooms ...string) error {
	_, _, err := b.run(ctx, actors.OpLeave, nil, rooms, false)
	return err
}

// DisconnectSockets disconnects the selected sockets; with close, their connections too.
func (b BroadcastOperator) DisconnectSockets(ctx context.Context, close bool) error {
	_, _, err := b.run(ctx, actors.OpDisconnect, nil, nil, close)
	return err
}

// isQualifiedSID reports whether room has the form of a socket id in a cluster: "<node>.<sid>", sid
// being 20 characters of the URL-safe base64 alphabet (newSID).
func isQualifiedSID(room string) bool {
	node, sid, ok := strings.Cut(room, ".")
	if !ok || node == "" || len(sid) != 20 {
		return false
	}
	for i := 0; i < len(sid); i++ {
		c := sid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validRooms(rooms []string) error {
	for _, r := range rooms {
		if r == "" {
			return ErrInvalidRoom
		}
	}
	return nil
}

// Handshake is what a client presented when it connected a namespace: the opening request of its
// connection (URL, query, headers, remote address, time, TLS) and the namespace's connect payload.
type Handshake struct {
	transport.Handshake
	// Auth is the connect packet's auth payload, JSON; nil when none was sent.
	Auth []byte
}
