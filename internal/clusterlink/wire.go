package clusterlink

import (
	"errors"
	"fmt"
	"strings"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
	wirev1 "github.com/roomio/roomio/proto/roomio/wire/v1"
	"github.com/roomio/roomio/transport/wire"
)

// ErrInvalidArg is what ArgsFromWire returns for a JSON argument that is not valid JSON.
var ErrInvalidArg = wire.ErrInvalidArg

// ops pairs every operation that crosses the cluster with its protocol value. actors.OpFlush is a
// local barrier and has no protocol value.
var ops = []struct {
	op   actors.Op
	wire clusterv1.Op
}{
	{actors.OpEmit, clusterv1.Op_OP_EMIT},
	{actors.OpFetch, clusterv1.Op_OP_FETCH},
	{actors.OpJoin, clusterv1.Op_OP_JOIN},
	{actors.OpLeave, clusterv1.Op_OP_LEAVE},
	{actors.OpDisconnect, clusterv1.Op_OP_DISCONNECT},
}

// OpToWire returns the protocol value of op, and false for an op that does not cross the cluster.
func OpToWire(op actors.Op) (clusterv1.Op, bool) {
	for _, x := range ops {
		if x.op == op {
			return x.wire, true
		}
	}
	return clusterv1.Op_OP_UNSPECIFIED, false
}

// OpFromWire returns the operation of a protocol value, and false for one this version does not know.
func OpFromWire(op clusterv1.Op) (actors.Op, bool) {
	for _, x := range ops {
		if x.wire == op {
			return x.op, true
		}
	}
	return 0, false
}

// BroadcastToWire converts a broadcast of namespace ns for a peer. The collector stays behind: the
// caller sets RequestId and TimeoutMs when it wants a reply.
func BroadcastToWire(ns string, b *actors.Broadcast) *clusterv1.Broadcast {
	op, _ := OpToWire(b.Op) // an op that does not cross the cluster goes out unspecified: peers refuse it
	m := &clusterv1.Broadcast{
		Namespace: ns, Rooms: b.Rooms, Except: b.Except, OpRooms: b.OpRooms, Close: b.Close, Op: op,
	}
	if p := b.Packet; p != nil {
		m.Event = &wirev1.Event{Namespace: ns, Name: p.Name, Args: ArgsToWire(p.Args), AckId: p.AckID, Offset: p.Offset}
		m.Volatile = p.Volatile
	}
	return m
}

// BroadcastFromWire converts a peer's broadcast; it has no collector. It fails for an unknown op, an
// emit without an event, and an argument that is not valid JSON.
func BroadcastFromWire(m *clusterv1.Broadcast) (*actors.Broadcast, error) {
	op, ok := OpFromWire(m.Op)
	if !ok {
		return nil, fmt.Errorf("unknown op %v", m.Op)
	}
	b := &actors.Broadcast{Rooms: m.Rooms, Except: m.Except, Op: op, OpRooms: m.OpRooms, Close: m.Close}
	if m.Event != nil {
		args, err := ArgsFromWire(m.Event.Args)
		if err != nil {
			return nil, err
		}
		b.Packet = &packet.Packet{Kind: packet.KindEvent, Namespace: m.Namespace, Name: m.Event.Name, Args: args,
			Volatile: m.Volatile, Offset: m.Event.Offset}
	} else if b.Op == actors.OpEmit {
		return nil, errors.New("emit without an event")
	}
	return b, nil
}

// ArgsToWire and ArgsFromWire convert arguments as the native protocol does: the cluster protocol
// reuses its Arg message.
var (
	ArgsToWire   = wire.ArgsToWire
	ArgsFromWire = wire.ArgsFromWire
)

// Node-qualified socket ids: in a cluster a socket id starts with its node's id and a '.', so an
// operation on a socket id goes straight to the owning node, and a request of an Engine.IO session
// can be relayed to it.

// QualifySID returns the cluster-wide id of socket sid on node.
func QualifySID(node, sid string) string { return node + "." + sid }

// NodeOfSID returns the node named by a node-qualified socket id, and false when sid names none.
func NodeOfSID(sid string) (string, bool) {
	node, _, ok := strings.Cut(sid, ".")
	return node, ok && node != ""
}

// ArgFromWire converts one argument (a join's options); nil is the zero Arg.
func ArgFromWire(a *wirev1.Arg) (packet.Arg, error) {
	if a == nil {
		return packet.Arg{}, nil
	}
	args, err := ArgsFromWire([]*wirev1.Arg{a})
	if err != nil {
		return packet.Arg{}, err
	}
	return args[0], nil
}

// EventsToWire converts the recoverable packets a socket keeps (recovery handover): name, arguments and
// offset of each.
func EventsToWire(ns string, ps []*packet.Packet) []*wirev1.Event {
	out := make([]*wirev1.Event, 0, len(ps))
	for _, p := range ps {
		out = append(out, &wirev1.Event{Namespace: ns, Name: p.Name, Args: ArgsToWire(p.Args), Offset: p.Offset})
	}
	return out
}

// EventsFromWire converts packets a peer handed over; it fails for an argument that is not valid JSON
// and for an event without an offset.
func EventsFromWire(ns string, evs []*wirev1.Event) ([]*packet.Packet, error) {
	out := make([]*packet.Packet, 0, len(evs))
	for _, ev := range evs {
		args, err := ArgsFromWire(ev.Args)
		if err != nil {
			return nil, err
		}
		if ev.Offset == "" {
			return nil, errors.New("handed-over event without an offset")
		}
		out = append(out, &packet.Packet{Kind: packet.KindEvent, Namespace: ns, Name: ev.Name, Args: args, Offset: ev.Offset})
	}
	return out, nil
}
