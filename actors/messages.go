package actors

import (
	"errors"
	"sync"

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

// Deliver carries a Broadcast to a room actor or a socket actor. Via names the target room through which
// it travels ("" for a namespace-wide broadcast). One Deliver is shared by every member of a room.
type Deliver struct {
	B   *Broadcast
	Via string
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

// Result is one answer gathered by a Collector: an ack's arguments, or a fetched socket.
type Result struct {
	SID  string
	Args []packet.Arg
	Err  error
	Info *SocketInfo
}

// ErrTooManyRooms is reported when a join would take a socket over its room limit.
var ErrTooManyRooms = errors.New("actors: too many rooms for this socket")

// Collector tracks one fan-out: how many delivery legs are still travelling and how many answers are
// expected. It is done when no leg is left and every expected answer arrived. Safe for concurrent use.
type Collector struct {
	mu       sync.Mutex
	legs     int
	expected int
	from     []Handle // sockets whose ack is expected
	results  []Result
	err      error
	done     chan struct{}
	finished bool
}

// NewCollector returns a collector holding one leg, the initiator's; the initiator hands it over with
// the first message and the receiver settles it with LegDone.
func NewCollector() *Collector {
	return &Collector{legs: 1, done: make(chan struct{})}
}

// AddLegs records n more messages in flight that will each end with LegDone.
func (c *Collector) AddLegs(n int) {
	c.mu.Lock()
	c.legs += n
	c.mu.Unlock()
}

// LegDone settles one leg.
func (c *Collector) LegDone() {
	c.mu.Lock()
	c.legs--
	c.check()
	c.mu.Unlock()
}

// Expect records that one more answer will come (call before the leg's LegDone); h, when not nil, is
// the socket whose ack is awaited, reported by Expecting.
func (c *Collector) Expect(h Handle) {
	c.mu.Lock()
	c.expected++
	if h != nil {
		c.from = append(c.from, h)
	}
	c.mu.Unlock()
}

// Expecting returns the sockets an ack was expected from.
func (c *Collector) Expecting() []Handle {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Handle(nil), c.from...)
}

// Add records an answer.
func (c *Collector) Add(r Result) {
	c.mu.Lock()
	if !c.finished {
		c.results = append(c.results, r)
		c.check()
	}
	c.mu.Unlock()
}

// Fail records err (the first one wins); the collector still completes normally.
func (c *Collector) Fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Collector) check() {
	if !c.finished && c.legs <= 0 && len(c.results) >= c.expected {
		c.finished = true
		close(c.done)
	}
}

// Done is closed when the fan-out is complete.
func (c *Collector) Done() <-chan struct{} { return c.done }

// Snapshot returns the answers so far, how many were expected, and the recorded error. After Snapshot
// further answers are still accepted until Done.
func (c *Collector) Snapshot() (results []Result, expected int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Result(nil), c.results...), c.expected, c.err
}

// Pending reports whether legs are still travelling (the expected count is not final yet).
func (c *Collector) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.legs > 0
}

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
	// GetRooms (engine → socket) sends the socket's rooms, sorted, on Reply (buffered, capacity ≥ 1);
	// nil once the socket is closed.
	GetRooms struct {
		Reply chan<- []string
	}
	// CloseSocket (engine → socket) ends the socket: it leaves every room and stops once no actor can
	// send it anything more (see socketActor.close).
	CloseSocket struct{}
	// Stats (engine → namespace) replies with StatsReply.
	Stats      struct{}
	StatsReply struct {
		Sockets, Rooms int
	}

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
