package actors

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// Op is what a Broadcast asks each selected socket to do.
type Op uint8

// Broadcast operations.
const (
	OpEmit       Op = iota // queue Packet (register an ack first when Collector is set)
	OpFetch                // report the socket's SocketInfo to Collector
	OpJoin                 // join OpRooms
	OpLeave                // leave OpRooms
	OpDisconnect           // disconnect the socket (Close: also its connection)
	OpFlush                // nothing: a barrier that passes every room and every socket of the namespace
)

// Broadcast selects sockets of one namespace and applies Op to each exactly once. It is immutable once
// sent.
type Broadcast struct {
	Rooms     []string // target rooms; empty means every socket of the namespace
	Except    []string // sockets in any of these rooms are skipped
	Op        Op
	Packet    *packet.Packet
	OpRooms   []string
	Close     bool
	Collector *Collector // counts legs; nil for a plain emit
}

// delivery carries a Broadcast to a room actor or a socket actor. via names the target room through which
// it travels ("" for a namespace-wide broadcast). One delivery is shared by every member of a room.
type delivery struct {
	b   *Broadcast
	via string
}

// SocketInfo is what a socket reports for OpFetch.
type SocketInfo struct {
	SID    string
	Rooms  []string
	Handle Handle
}

// Handle is the engine's side of a socket, called by its actor.
type Handle interface {
	// ExpectAck registers fn for the client's ack of id; fn is called once, with an error when the socket
	// disconnects first.
	ExpectAck(id uint64, fn func(args []packet.Arg, err error))
	// CancelAck forgets the pending ack id, if still pending, without calling its function.
	CancelAck(id uint64)
	// ForceDisconnect disconnects the socket from the server side.
	ForceDisconnect(close bool)
}

// Outbox is the connection a socket actor queues packets on (transport.Conn satisfies it).
type Outbox interface {
	Send(p *packet.Packet) error
}

// ErrTooManyRooms is reported when a join would take a socket over its room limit.
var ErrTooManyRooms = errors.New("actors: too many rooms for this socket")

// Messages between the engine and the actors.
type (
	// AddSocket (engine → namespace) spawns the socket actor as the namespace's child; the reply is its
	// *actor.PID.
	AddSocket struct {
		SID      string
		Outbox   Outbox
		Handle   Handle
		MaxRooms int
	}
	// JoinRooms (engine → socket) adds the socket to rooms; Collector completes once every room actor
	// holds the member, so an emit begun after it reaches the socket.
	JoinRooms struct {
		Rooms     []string
		Collector *Collector
	}
	// LeaveRooms (engine → socket) removes the socket from rooms; Collector completes once the namespace
	// has routed the removals.
	LeaveRooms struct {
		Rooms     []string
		Collector *Collector
	}
	// GetRooms (engine → socket) replies with the socket's rooms as []string (nil once closed).
	GetRooms struct{}
	// CloseSocket (engine → socket) ends the socket: it leaves every room and stops once no actor can
	// send it anything more (see socketActor.close).
	CloseSocket struct{}

	nsJoin struct {
		SID       string
		PID       *actor.PID
		Rooms     []string
		Collector *Collector
	}
	nsLeave struct {
		SID       string
		Rooms     []string
		Collector *Collector
	}
	nsRemoveSocket struct {
		SID   string
		PID   *actor.PID
		Rooms []string
	}
	// nsReleased (namespace → socket): the namespace forgot the socket and asked Rooms room actors to
	// drop it; each answers roomReleased.
	nsReleased struct {
		Rooms int
	}
	roomReleased struct{}
	roomAdd      struct {
		SID       string
		PID       *actor.PID
		Collector *Collector
	}
	roomRemove struct {
		SID    string
		Notify *actor.PID // answered with roomReleased once removed; nil for none
	}
)
