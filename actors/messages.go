package actors

import (
	"errors"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// Op is what a Broadcast asks each selected socket to do. The engine picks one for every room-wide
// operation it offers (emit, fetchSockets, socketsJoin, socketsLeave, disconnectSockets) and for the
// flush barrier of its shutdown; the cluster link carries it to other nodes.
type Op uint8

// Broadcast operations.
const (
	OpEmit       Op = iota // queue Packet (register an ack first when Collector is set)
	OpFetch                // report the socket's SocketInfo to Collector (Collector required)
	OpJoin                 // join OpRooms
	OpLeave                // leave OpRooms
	OpDisconnect           // disconnect the socket (Close: also its connection)
	OpFlush                // nothing: a barrier that passes every room and every socket (Collector required)
)

// Broadcast (engine → namespace actor) selects sockets of one namespace and applies Op to each exactly
// once. The engine builds one for every emit and room-wide operation, and for those arriving from other
// nodes. It must not be modified once sent: every room and socket actor reads the same value.
type Broadcast struct {
	Rooms     []string       // target rooms (a union); empty means every socket of the namespace
	Except    []string       // sockets in any of these rooms are skipped
	Op        Op             // what each selected socket does
	Close     bool           // OpDisconnect: also close the underlying connection (beside Op: one word for both)
	Packet    *packet.Packet // OpEmit: the packet, shared by every recipient and encoded once per format
	OpRooms   []string       // OpJoin, OpLeave: the rooms to join or leave
	Collector *Collector     // counts legs and gathers answers; nil for a plain emit
	// Settled, when set, is called once, on an actor's goroutine, when every actor the broadcast travels
	// through (the namespace, its target rooms, their members) has processed it: from then on nothing of
	// it is left in any mailbox. The engine counts the broadcasts in flight with it, to bound them. It
	// must not block.
	Settled func(*Broadcast)
	// Size is the sender's measure of the broadcast (the engine puts its packet's bytes there), read back
	// in Settled.
	Size int
	// Born is the sender's clock reading when it sent the broadcast (the engine's: monotonic nanoseconds),
	// read back in Settled.
	Born int64

	legs atomic.Int32 // deliveries in flight beyond the namespace's own (see legDone); with Settled only
}

// addLegs records n more deliveries of b in flight, when b is tracked (Settled is set).
func (b *Broadcast) addLegs(n int) {
	if b.Settled != nil && n != 0 {
		b.legs.Add(int32(n))
	}
}

// legDone settles one delivery of b. The namespace holds the first leg implicitly (legs starts at zero
// and its routing settles it last), so the count goes below zero exactly once: when the last actor is
// done with b.
func (b *Broadcast) legDone() {
	if b.Settled != nil && b.legs.Add(-1) == -1 {
		b.Settled(b)
	}
}

// delivery carries a Broadcast to a room actor or a socket actor. via names the target room through which
// it travels ("" for a namespace-wide broadcast). One delivery is shared by every member of a room.
type delivery struct {
	b   *Broadcast
	via string
}

// SocketInfo is what a socket reports for OpFetch; the engine turns it into a remote-controllable socket
// for fetchSockets.
type SocketInfo struct {
	SID   string
	Rooms []string // sorted; includes the socket's own id
	// Ref is the engine's reference to the socket, opaque to actors: a local socket reports the Handle
	// it was added with; the engine puts its own reference there for a socket found on another node.
	Ref any
}

// Handle is the engine's side of a socket, given to its actor with AddSocket. The room and namespace
// actors fanning an emit out call ExpectAck (concurrently: it must be safe for that), the socket actor
// ForceDisconnect; the engine calls CancelAck on the handles a Collector reports through
// Expecting when it stops waiting for their acks.
type Handle interface {
	// ExpectAck registers fn for the client's ack of id; fn is called once, with an error when the socket
	// disconnects first.
	ExpectAck(id uint64, fn func(args []packet.Arg, err error))
	// CancelAck forgets the pending ack id, if still pending, without calling its function.
	CancelAck(id uint64)
	// ForceDisconnect disconnects the socket from the server side.
	ForceDisconnect(close bool)
}

// Outbox is the connection a socket's packets are queued on, given with AddSocket (the engine passes its
// transport connection). Room and namespace actors call Send concurrently when they fan emits out, so it
// must be safe for concurrent use and must not block: a full queue closes the connection, and the engine
// then sends CloseSocket.
type Outbox interface {
	Send(p *packet.Packet) error
}

// nowOutbox is an Outbox with a variant of Send for the emits of a small fan-out, at most SmallFanout
// sockets: the packet is written at once on the fanning-out goroutine when the connection is idle,
// whatever the process's share of such inline writes (a share that keeps a large fan-out from paying
// every member's system call on one goroutine, when writers started for the members would spread them
// over the cores and gather them into batches). The engine's outboxes (its connections and recovery
// lifelines) implement it.
type nowOutbox interface {
	SendNow(p *packet.Packet) error
}

// SmallFanout is the largest fan-out (members of a room, sockets of a namespace) whose emits go out
// through SendNow (nowOutbox).
const SmallFanout = 16

// ErrTooManyRooms is recorded on a join's Collector (see Collector.Fail) when the join would take a
// socket over AddSocket.MaxRooms; the rooms before the limit are joined. The engine re-exports it.
var ErrTooManyRooms = errors.New("actors: too many rooms for this socket")

// ErrRoomLimit is recorded on a join's Collector when the join would create a room beyond the
// namespaces' RoomLimit; the socket is not in that room. The engine re-exports it.
var ErrRoomLimit = errors.New("actors: room limit reached")

// ErrSocketRoom is recorded on a join's Collector for a room named after another socket (its own-id
// room, which deliveries to that socket travel through); the socket is not in that room. The engine
// re-exports it.
var ErrSocketRoom = errors.New("actors: a room may not be named after another socket")

// RoomLimit bounds how many rooms the namespaces sharing it hold together: the engine gives one to all
// its namespaces, which makes it a bound for the node. Only namespace actors change the count. Safe for
// concurrent use.
type RoomLimit struct {
	// Max is the most rooms; 0 or less means no limit.
	Max int64
	n   atomic.Int64
}

// Count returns how many rooms exist.
func (l *RoomLimit) Count() int64 { return l.n.Load() }

// Messages from the engine to the actors. The engine sends them with its actor system's root context.
type (
	// AddSocket (engine → namespace) spawns the socket actor as the namespace's child; the reply is its
	// *actor.PID.
	AddSocket struct {
		SID      string
		Outbox   Outbox
		Handle   Handle
		MaxRooms int // most rooms the socket may be in besides its own-id room; 0 means no limit
	}
	// JoinRooms (engine → socket) adds the socket to rooms; Collector completes once every room actor
	// holds the member, so an emit begun after it reaches the socket.
	JoinRooms struct {
		Rooms     []string
		Collector *Collector
		// Options is given to the create and join hooks of the behaviour rooms among Rooms (the zero Arg
		// when the join carries none).
		Options packet.Arg
	}
	// LeaveRooms (engine → socket) removes the socket from rooms; Collector completes once the namespace
	// has routed the removals.
	LeaveRooms struct {
		Rooms     []string
		Collector *Collector
	}
	// GetRooms (engine → socket) sends the socket's rooms, sorted, on Reply (buffered, capacity ≥ 1);
	// nil once the socket is closed.
	GetRooms struct {
		Reply chan<- []string
	}
	// CloseSocket (engine → socket) ends the socket: it leaves every room and stops once no actor can
	// send it anything more (see socketActor.close). The engine sends it when the connection ends.
	//
	// Drain keeps the deliveries that arrive while the socket leaves flowing to its Outbox (by default
	// they are settled without being acted on), and Stopped, when set, is called once the actor stopped:
	// from then on nothing more reaches the Outbox. Connection state recovery uses both to hand a
	// detached socket over to another node without losing a packet.
	CloseSocket struct {
		Drain   bool
		Stopped func()
	}
)

// Messages between the actors. Every one that carries a Collector holds one leg of it, settled by its
// receiver (or by the dead-letter subscriber of NewSystem when the receiver has stopped).
type (
	// nsJoin (socket → namespace): add the socket to Rooms' room actors, creating the missing ones.
	nsJoin struct {
		SID       string
		PID       *actor.PID
		Sock      *sockRef
		Ref       any // the socket's Handle, for behaviour rooms
		Rooms     []string
		Collector *Collector
		Options   packet.Arg
	}
	// nsLeave (socket → namespace): remove the socket from Rooms' room actors.
	nsLeave struct {
		SID       string
		Rooms     []string
		Collector *Collector
		Why       LeaveReason
	}
	// nsRemoveSocket (socket → namespace): the socket is closing; forget it and drop it from Rooms.
	// The namespace answers nsReleased.
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
	// roomReleased (room → socket): the room dropped the socket (answer to roomRemove.Notify).
	roomReleased struct{}
	// nsRefused (namespace → socket): the namespace refused the socket's join of Rooms (room limit, a
	// room named after another socket); the socket drops them from its set. It holds a leg of Collector.
	nsRefused struct {
		Rooms     []string
		Collector *Collector
	}
	// roomAdd (namespace → room): add a member. Gated: the socket holds the room as pending and waits
	// for roomJoined or roomRefused, which carry the collector's leg.
	roomAdd struct {
		Room      string
		SID       string
		PID       *actor.PID
		Sock      *sockRef // nil for a socket of another node (a placed room's owner)
		Ref       any
		Collector *Collector
		Gated     bool
		Options   packet.Arg
		// Answer, when set, takes the behaviour room's decision instead of the socket (roomJoined,
		// roomRefused): the join of a placed room, decided by its owner (placement.go).
		Answer func(error)
		// Rejoin and Hops: see Joiner.Rejoin and RoomMessage.Hops.
		Rejoin bool
		Hops   uint8
	}
	// roomRemove (namespace → room): remove a member.
	roomRemove struct {
		SID    string
		Notify *actor.PID // answered with roomReleased once removed; nil for none
		Why    LeaveReason
		Hops   uint8 // see RoomMessage.Hops
	}
	// roomJoined (behaviour room → socket): the room accepted the socket's join of Room.
	roomJoined struct {
		Room      string
		Collector *Collector
	}
	// roomRefused (behaviour room → socket): the room refused the join of Room with Err.
	roomRefused struct {
		Room      string
		Err       error
		Collector *Collector
	}
	// roomKicked (behaviour room → socket): the room removed the socket (Room.Kick, Room.Dispose).
	roomKicked struct {
		Room string
	}
	// nsDispose (behaviour room → namespace): the room is empty and asks to be stopped. Adds is how many
	// roomAdds it has received: the namespace stops it only if it sent no more since, so a join on its way
	// is never lost.
	nsDispose struct {
		Room string
		PID  *actor.PID
		Adds uint64
	}
)
