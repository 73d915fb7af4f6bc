package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
)

// Sentinel errors.
var (
	// ErrClosed is returned once the Client has ended: after Close, or after the connection was lost and
	// no reconnection follows. The error then also wraps the cause (see CloseCode).
	ErrClosed = errors.New("client: closed")
	// ErrNotConnected is returned by a Socket that is not connected right now: it is waiting for a
	// reconnection, or it has ended (the error then also wraps why, see Socket.Err).
	ErrNotConnected = errors.New("client: not connected")
	// ErrDisconnected is a Socket's Err after Socket.Disconnect.
	ErrDisconnected = errors.New("client: socket disconnected")
	// ErrAlreadyConnected is returned by Connect for a namespace that has a live Socket on the Client.
	ErrAlreadyConnected = errors.New("client: namespace already connected")
	// ErrAckSent is returned by an ack function called a second time.
	ErrAckSent = errors.New("client: ack already sent")
	// ErrInvalidArg is returned for an argument, auth value or name the protocol cannot carry.
	ErrInvalidArg = packet.ErrInvalidArg
)

// Disconnect reasons passed to Socket.OnDisconnect. They are socket.io-client's.
const (
	// ReasonServerDisconnect: the server removed the socket from its namespace (a Disconnect packet). The
	// socket is not reconnected.
	ReasonServerDisconnect = "io server disconnect"
	// ReasonClientDisconnect: Socket.Disconnect or Client.Close.
	ReasonClientDisconnect = "io client disconnect"
	// ReasonTransportClose: the server closed the WebSocket. The reason passed to hooks names the close
	// code and the server's reason, e.g. "transport close: 4002 slow client".
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the connection broke without a close frame (or the client's read limit was hit).
	ReasonTransportError = "transport error"
	// ReasonParseError: the server sent a frame the client could not decode; the client closed the
	// connection with close code 1002, 1003 or 1007.
	ReasonParseError = "parse error"
)

// CloseError reports that the server closed the WebSocket with a close frame. Code is one of the close
// codes listed in docs/protocol.md (1000 normal, 1001 going away, 4001 ping timeout, 4002 slow client…).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("client: connection closed by server: %d", e.Code)
	}
	return fmt.Sprintf("client: connection closed by server: %d %s", e.Code, e.Reason)
}

// CloseCode returns the WebSocket close code carried by err (a *CloseError or a coder/websocket
// CloseError anywhere in its chain), or -1 when there is none.
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return int(websocket.CloseStatus(err))
}

// ConnectError is returned by Connect when the server refuses the namespace (a ConnectError packet), and
// is a Socket's Err when a reconnection was refused. Data is the server's optional JSON detail (nil when
// absent).
type ConnectError struct {
	Namespace string
	Message   string
	Data      json.RawMessage
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("client: connect %s refused: %s", e.Namespace, e.Message)
}

// DisconnectError is a Socket's Err after the server removed it from its namespace with a Disconnect
// packet; Code and Reason are the packet's.
type DisconnectError struct {
	Namespace string
	Code      uint32
	Reason    string
}

func (e *DisconnectError) Error() string {
	return fmt.Sprintf("client: server disconnected %s: %d %s", e.Namespace, e.Code, e.Reason)
}

// ServerError is the server's Error packet answering a RoomRequest: Code is one of the error codes in
// docs/protocol.md (7 not in the room, 8 no behaviour, 9 too big, 10 room busy, 11 the room's code
// failed), Message the server's text.
type ServerError struct {
	Namespace string
	Code      uint32
	Message   string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("client: server error on %s: %d %s", e.Namespace, e.Code, e.Message)
}
