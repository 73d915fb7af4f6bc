package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/clusterlink"
	"github.com/roomio/roomio/internal/packet"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Cluster placement of behaviour rooms (the actors' side: actors/placement.go). A behaviour room lives
// on one node, its owner: of the live nodes, the one whose placeHash is highest (rendezvous hashing), so
// every node finds the same owner from the same membership, and a membership change moves only the
// rooms of the node that came or went. Joins, leaves and messages of sockets on any node go to the
// owner; the owner's emits are broadcasts, which reach every node's members through interest routing.

// ErrRoomUnavailable is the error of a join or a message of a behaviour room whose owner (the node the
// room lives on, in a cluster) could not be reached: it left or its queue is full.
var ErrRoomUnavailable = actors.ErrRoomUnavailable

// placeHash is the rendezvous weight of node for room of namespace ns: FNV-1a 64 of node id, a zero
// byte, namespace, a zero byte and room, then MurmurHash3's 64-bit finalizer (fmix64). FNV alone mixes
// too little: with the room at the end, the order of the nodes' hashes hardly depends on the room, and
// one node would own nearly every room.
func placeHash(node, ns, room string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(ns))
	h.Write([]byte{0})
	h.Write([]byte(room))
	return fmix64(h.Sum64())
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// owner returns the node owning room of namespace ns in this node's view of the membership, and whether
// it is this node.
func (l *link) owner(ns, room string) (string, bool) {
	self := l.node.ID()
	best, bh := self, placeHash(self, ns, room)
	for _, m := range l.node.Members() {
		if h := placeHash(m.ID, ns, room); h > bh || (h == bh && m.ID > best) {
			best, bh = m.ID, h
		}
	}
	return best, best == self
}

// membersChanged tells every namespace to rebalance its placed rooms. It runs on the node router, after
// the node's member set changed.
func (l *link) membersChanged() {
	l.e.mu.RLock()
	for _, n := range l.e.nsps {
		if n.pid != nil {
			l.e.system.Root.Send(n.pid, &actors.Rebalance{})
		}
	}
	l.e.mu.RUnlock()
}

// NodeOf returns the id of the node that owns behaviour room of n in a cluster (the node whose actor
// runs its hooks): the owner chosen from the live membership as this node sees it. It is "" on a single
// node.
func (n *Namespace) NodeOf(room string) string {
	l := n.e.link
	if l == nil {
		return ""
	}
	o, _ := l.owner(n.name, room)
	return o
}

// placer is a namespace's actors.Placement in a cluster.
type placer struct{ n *Namespace }

func (p placer) Owner(room string) (string, bool) { return p.n.e.link.owner(p.n.name, room) }

func (p placer) Join(node, room, sid string, token uint64, options packet.Arg, rejoin bool) {
	n := p.n
	m := &clusterv1.RoomJoin{RequestId: token, Room: &clusterv1.Room{Namespace: n.name, Room: room}, Sid: sid, Rejoin: rejoin}
	if options.Data != nil {
		m.Options = clusterlink.ArgsToWire([]packet.Arg{options})[0]
	}
	if err := n.e.link.node.Send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomJoin{RoomJoin: m}}); err != nil {
		n.e.log.Debug("room join not sent", "namespace", n.name, "room", room, "node", node, "err", err)
		n.e.system.Root.Send(n.pid, &actors.JoinAnswer{Room: room, Token: token, Err: ErrRoomUnavailable})
	}
}

func (p placer) Leave(node, room, sid string, why actors.LeaveReason) {
	n := p.n
	m := &clusterv1.RoomLeave{Room: &clusterv1.Room{Namespace: n.name, Room: room}, Sid: sid, Why: uint32(why)}
	if err := n.e.link.node.Send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomLeave{RoomLeave: m}}); err != nil {
		n.e.log.Debug("room leave not sent", "namespace", n.name, "room", room, "node", node, "err", err)
	}
}

func (p placer) Emit(room string, pk *packet.Packet, except string) {
	b := p.n.To(room)
	if except != "" {
		b = b.Except(except)
	}
	p.n.e.rec.stamp(pk)
	b.sendAnyway(p.n, actors.OpEmit, pk, nil, nil, false, time.Time{})
}

func (p placer) EmitTo(sid string, pk *packet.Packet) {
	p.n.e.rec.stamp(pk)
	p.n.To(sid).sendAnyway(p.n, actors.OpEmit, pk, nil, nil, false, time.Time{})
}

func (p placer) Kick(room, sid string) {
	p.n.To(sid).send(p.n, actors.OpLeave, nil, nil, []string{room}, false, time.Time{})
}

// roomCall is a room message sent to its owner that waits for the owner's answer.
type roomCall struct {
	node  string
	reply func([]packet.Arg, error)
	timer *time.Timer
}

// sendRoomMessage sends a room message to the room's owner, node. With ask, reply gets the owner's
// answer, or ErrRoomUnavailable when the owner cannot be reached or leaves first, or an error wrapping
// ErrTimeout past deadline (an answer after that is dropped).
func (l *link) sendRoomMessage(node, ns, room, sid, event string, args []packet.Arg, ask bool, reply func([]packet.Arg, error), deadline time.Time) {
	l.sendRoomMessageVia(node, ns, room, sid, event, args, ask, reply, deadline, 0)
}

// sendRoomMessageVia is sendRoomMessage; hops > 0 sends it as a RoomRelay (handoff.go).
func (l *link) sendRoomMessageVia(node, ns, room, sid, event string, args []packet.Arg, ask bool, reply func([]packet.Arg, error), deadline time.Time, hops uint8) {
	m := &clusterv1.RoomMessage{Room: &clusterv1.Room{Namespace: ns, Room: room}, Sid: sid, Event: event,
		Args: clusterlink.ArgsToWire(args), Ask: ask}
	// The owner reports errors on an ask only; for a plain send it logs them.
	if ask {
		m.RequestId = l.reqIDs.Add(1)
		if deadline.IsZero() {
			deadline = time.Now().Add(defaultRemoteTimeout)
		}
		id := m.RequestId
		l.mu.Lock()
		l.roomCalls[id] = &roomCall{node: node, reply: reply, timer: time.AfterFunc(time.Until(deadline), func() {
			if c := l.takeRoomCall(id); c != nil {
				c.reply(nil, fmt.Errorf("%w: no answer from room %s on node %s", ErrTimeout, room, node))
			}
		})}
		l.mu.Unlock()
	}
	env := &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomMessage{RoomMessage: m}}
	if hops > 0 {
		env = &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomRelay{RoomRelay: &clusterv1.RoomRelay{Body: &clusterv1.RoomRelay_Message{Message: m}, Hops: uint32(hops)}}}
	}
	if err := l.node.Send(node, env); err != nil {
		if ask {
			if c := l.takeRoomCall(m.RequestId); c != nil {
				c.reply(nil, fmt.Errorf("%w: %v", ErrRoomUnavailable, err))
			}
			return
		}
		reply(nil, fmt.Errorf("%w: %v", ErrRoomUnavailable, err))
	}
}

func (l *link) takeRoomCall(id uint64) *roomCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.roomCalls[id]
	delete(l.roomCalls, id)
	if c != nil {
		c.timer.Stop()
	}
	return c
}

// roomCallsDown fails the room calls waiting for node, which left.
func (l *link) roomCallsDown(node string) {
	l.mu.Lock()
	var gone []*roomCall
	for id, c := range l.roomCalls {
		if c.node == node {
			gone = append(gone, c)
			c.timer.Stop()
			delete(l.roomCalls, id)
		}
	}
	l.mu.Unlock()
	for _, c := range gone {
		c.reply(nil, ErrRoomUnavailable)
	}
}

// Receiving: the owner's side (join, leave, message) and the answers (join reply, message reply).

func roomOf(r *clusterv1.Room) (ns, room string) { return r.GetNamespace(), r.GetRoom() }

// placedNamespace returns the running namespace ns of this node that defines a behaviour for room, or
// nil.
func (l *link) placedNamespace(ns, room string) *Namespace {
	// A starting node is a member of the cluster before Start returns: it takes the rooms it owns at
	// once (its behaviours are defined before Start). A node that shuts down hands its rooms off: its
	// namespace relays what comes for them until it stops.
	n := l.e.lookup(ns)
	if n == nil || n.pid == nil || !n.IsDefined(room) {
		return nil
	}
	select {
	case <-n.stopped:
		return nil
	default:
	}
	return n
}

func (l *link) remoteRoomJoin(from string, m *clusterv1.RoomJoin) {
	l.ownerJoin(m, 0, func(err error) {
		r := &clusterv1.RoomJoinReply{RequestId: m.RequestId, Room: m.Room}
		if err != nil {
			r.Error = err.Error()
		}
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomJoinReply{RoomJoinReply: r}})
	})
}

// ownerJoin hands a join asked of this node as the room's owner (relayed: by the node that ran it) to
// the namespace.
func (l *link) ownerJoin(m *clusterv1.RoomJoin, hops uint8, answer func(error)) {
	ns, room := roomOf(m.Room)
	n := l.placedNamespace(ns, room)
	if n == nil {
		answer(ErrNoBehavior)
		return
	}
	opt, err := clusterlink.ArgFromWire(m.Options)
	if err != nil {
		answer(err)
		return
	}
	l.e.system.Root.Send(n.pid, &actors.OwnerJoin{Room: room, SID: m.Sid, Options: opt, Answer: answer, Rejoin: m.Rejoin, Hops: hops})
}

func (l *link) remoteRoomJoinReply(m *clusterv1.RoomJoinReply) {
	ns, room := roomOf(m.Room)
	n := l.e.Lookup(ns)
	if n == nil || n.pid == nil {
		return
	}
	var err error
	if m.Error != "" {
		err = roomError(m.Error)
	}
	l.e.system.Root.Send(n.pid, &actors.JoinAnswer{Room: room, Token: m.RequestId, Err: err})
}

func (l *link) remoteRoomLeave(m *clusterv1.RoomLeave) { l.ownerLeaveMsg(m, 0) }

func (l *link) ownerLeaveMsg(m *clusterv1.RoomLeave, hops uint8) {
	ns, room := roomOf(m.Room)
	if n := l.placedNamespace(ns, room); n != nil {
		l.e.system.Root.Send(n.pid, &actors.OwnerLeave{Room: room, SID: m.Sid, Why: actors.LeaveReason(m.Why), Hops: hops})
	}
}

func (l *link) remoteRoomMessage(from string, m *clusterv1.RoomMessage) { l.ownerMessage(from, m, 0) }

func (l *link) ownerMessage(from string, m *clusterv1.RoomMessage, hops uint8) {
	ns, room := roomOf(m.Room)
	var answered atomic.Bool
	reply := func(args []packet.Arg, err error) {
		if !answered.CompareAndSwap(false, true) {
			return
		}
		if m.RequestId == 0 {
			if err != nil {
				l.e.log.Debug("room message not delivered", "namespace", ns, "room", room, "socket", m.Sid, "event", m.Event, "err", err)
			}
			return
		}
		r := &clusterv1.RoomMessageReply{RequestId: m.RequestId, Args: clusterlink.ArgsToWire(args)}
		if err != nil {
			r.Error = err.Error()
		}
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_RoomMessageReply{RoomMessageReply: r}})
	}
	n := l.placedNamespace(ns, room)
	if n == nil {
		reply(nil, ErrNoBehavior)
		return
	}
	args, err := clusterlink.ArgsFromWire(m.Args)
	if err != nil {
		reply(nil, err)
		return
	}
	l.e.system.Root.Send(n.pid, &actors.RoomMessage{Room: room, SID: m.Sid, Event: m.Event, Args: args, Ask: m.Ask, Reply: reply, Hops: hops})
}

func (l *link) remoteRoomMessageReply(m *clusterv1.RoomMessageReply) {
	c := l.takeRoomCall(m.RequestId)
	if c == nil {
		return // its caller stopped waiting
	}
	args, err := clusterlink.ArgsFromWire(m.Args)
	if m.Error != "" {
		err = roomError(m.Error)
	}
	c.reply(args, err)
}

// roomErrors are the errors a room's owner reports by their text.
var roomErrors = []error{ErrNotInRoom, ErrNoRoom, ErrNoBehavior, ErrRoomBusy, ErrRoomFull, ErrRoomLocked,
	ErrRoomClosed, ErrRoomInternal, ErrRoomMessageTooBig, ErrRoomUnavailable, ErrInvalidArg}

// roomError turns an owner's error text back into the engine's error of that text, or a new error
// carrying it (a behaviour's own refusal).
func roomError(msg string) error {
	if msg == errRoomMoved.Error() || strings.HasPrefix(msg, ErrRoomUnavailable.Error()) {
		return ErrRoomUnavailable
	}
	for _, e := range roomErrors {
		if e.Error() == msg {
			return e
		}
	}
	return errors.New(msg)
}
