package engine

import (
	"errors"
	"fmt"

	"github.com/roomio/roomio/internal/packet"

	"github.com/roomio/roomio/actors"
)

// Sentinel errors.
var (
	// ErrClosed is returned by blocking calls after Shutdown or Close.
	ErrClosed = errors.New("engine: closed")
	// ErrNotStarted is returned by calls that need a started engine.
	ErrNotStarted = errors.New("engine: not started")
	// ErrTimeout is returned (wrapped) when an ack or a cluster-wide call did not complete in time; the
	// results that did arrive are returned beside it.
	ErrTimeout = errors.New("engine: timed out")
	// ErrDisconnected is the error of an ack whose socket disconnected before answering.
	ErrDisconnected = errors.New("engine: socket disconnected")
	// ErrTooManyRooms is returned by Join when the socket would exceed Config.MaxRoomsPerSocket.
	ErrTooManyRooms = actors.ErrTooManyRooms
	// ErrRoomLimit is returned by Join (and SocketsJoin) when a room would be created beyond
	// Config.MaxRooms; the socket is not in that room (rooms that exist are joined).
	ErrRoomLimit = actors.ErrRoomLimit
	// ErrSocketRoom is returned by Join (and SocketsJoin) for a room named after another socket: a room of
	// that name is where the server's emits to that socket go (To(id)). A socket's own id is always
	// allowed (it is always in that room). In a cluster any name of a socket id's form ("<node>.<20
	// URL-safe base64 characters>") is refused, as the socket may be on another node.
	ErrSocketRoom = actors.ErrSocketRoom
	// ErrInvalidRoom is returned for an empty room name.
	ErrInvalidRoom = errors.New("engine: invalid room name")
	// ErrInvalidArg is returned by Emit for an argument that cannot be sent (unmarshalable value, invalid
	// raw JSON).
	ErrInvalidArg = packet.ErrInvalidArg
	// ErrReservedEvent is returned by Emit for an event name the protocol reserves.
	ErrReservedEvent = errors.New("engine: reserved event name")
	// ErrAlreadyAcked is returned by a second Event.Ack.
	ErrAlreadyAcked = errors.New("engine: event already acked")
	// ErrNotInRoom is the error of a message to a behaviour room that its sender is not a member of.
	ErrNotInRoom = actors.ErrNotInRoom
	// ErrNoRoom is the error of Room.Send and Room.Request to a behaviour room that does not exist (it
	// has no members: joins create behaviour rooms).
	ErrNoRoom = actors.ErrNoRoom
	// ErrNoBehavior is the error of a room message to a room no Define matches.
	ErrNoBehavior = actors.ErrNoBehavior
	// ErrRoomBusy is the error of a room message when the room already has WithMaxPending messages
	// waiting.
	ErrRoomBusy = actors.ErrRoomBusy
	// ErrRoomMessageTooBig is the error of a room message larger than WithMaxMessageBytes.
	ErrRoomMessageTooBig = errors.New("engine: room message too big")
	// ErrRoomFull refuses a join beyond the room's MaxClients (wrapped in a *RefusedError).
	ErrRoomFull = actors.ErrRoomFull
	// ErrRoomLocked refuses a join of a locked room (wrapped in a *RefusedError).
	ErrRoomLocked = actors.ErrRoomLocked
	// ErrRoomClosed refuses a join of a room being disposed (wrapped in a *RefusedError).
	ErrRoomClosed = actors.ErrRoomClosed
	// ErrRoomInternal is the error of a join or a request whose behaviour hook panicked.
	ErrRoomInternal = errors.New("engine: room behaviour failed")
	// ErrBinaryArg is returned by Arg.Decode when a binary argument is decoded into anything but *[]byte
	// or *Arg.
	ErrBinaryArg = errors.New("engine: binary argument decodes only into *[]byte or *engine.Arg")
)

// RefusedError is the error of Socket.Join and Socket.JoinRoom when a behaviour room refused the join:
// Err is what its OnCreate or OnJoin returned, or ErrRoomFull, ErrRoomLocked, ErrRoomClosed or
// ErrRoomInternal. errors.Is sees through it to Err. An application forwards Err's text to the client
// that asked to join (in its ack, say).
type RefusedError = actors.RefusedError

// ConnectError refuses a namespace connection. Return it from a namespace middleware to send the client
// a connect error with Message and Data (any JSON-marshalable value); any other error is sent with its
// Error() text as the message and no data.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return "engine: connect refused: " + e.Message }

func connectErrorOf(err error) (msg string, data []byte) {
	var ce *ConnectError
	if errors.As(err, &ce) {
		if ce.Data != nil {
			data, _ = packet.MarshalJSON(ce.Data)
		}
		return ce.Message, data
	}
	return err.Error(), nil
}

// reserved lists the event names Socket.IO reserves; clients may not send them and Emit refuses them.
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

// TimeoutError is the error of a call that timed out (it wraps ErrTimeout); the answers that did arrive
// are returned beside it. In a cluster, Nodes names the nodes that had not answered.
type TimeoutError struct {
	Answered, Expected int  // answers received and expected so far
	Complete           bool // every recipient had been reached (Expected is final)
	Nodes              []string
	Cause              error // the context's error
}

func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("engine: timed out: %d of %d answered", e.Answered, e.Expected)
	if !e.Complete {
		s += " (fan-out not complete)"
	}
	if len(e.Nodes) > 0 {
		s += fmt.Sprintf("; no answer from nodes %v", e.Nodes)
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap makes errors.Is(err, ErrTimeout) hold.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }
