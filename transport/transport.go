package transport

import (
	"errors"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// Close codes sent in the WebSocket close frame. 1000–1015 are RFC 6455 §7.4.1 codes used with their
// standard meaning; 4000–4099 are roomio's own. docs/protocol.md lists them for client authors.
const (
	CloseNormal          = 1000 // the server ended the connection on purpose (Disconnect(true))
	CloseGoingAway       = 1001 // the server is shutting down
	CloseProtocolError   = 1002 // a frame that does not decode (malformed protobuf or JSON)
	CloseUnsupportedData = 1003 // a binary frame on the JSON subprotocol or a text frame on the protobuf one
	CloseInvalidPayload  = 1007 // a text frame that is not valid UTF-8
	CloseTooBig          = 1009 // a frame over the configured maximum message size
	ClosePingTimeout     = 4001 // no pong within the heartbeat timeout
	CloseSlowClient      = 4002 // the client did not read fast enough: its outbound queue overflowed
	CloseConnectTimeout  = 4003 // no namespace was connected within the connect timeout
	CloseRateLimited     = 4004 // the client kept sending over its rate limit
	CloseBackpressure    = 4005 // the client's work stayed stalled behind the node's full queues too long
)

// Disconnect reasons reported to disconnect hooks. They are Socket.IO's where Socket.IO has one.
const (
	ReasonServerDisconnect = "server namespace disconnect"
	ReasonClientDisconnect = "client namespace disconnect"
	ReasonTransportClose   = "transport close"
	ReasonTransportError   = "transport error"
	ReasonPingTimeout      = "ping timeout"
	ReasonShuttingDown     = "server shutting down"
	ReasonParseError       = "parse error"
	ReasonForcedClose      = "forced server close"
	ReasonSlowClient       = "slow client"
	ReasonTooBig           = "message too big"
	ReasonConnectTimeout   = "connect timeout"
	ReasonRateLimited      = "rate limited"
	ReasonBackpressure     = "backpressure timeout"
)

// ErrSlowClient is returned by Conn.Send when the outbound queue overflowed; the connection is then being
// closed with CloseSlowClient.
var ErrSlowClient = errors.New("transport: slow client: outbound queue full")

// ErrClosed is returned by Conn.Send after the connection started closing.
var ErrClosed = errors.New("transport: connection closed")

// Handshake is what the client presented when it opened the connection.
type Handshake struct {
	URL        string
	Query      url.Values
	Headers    http.Header
	RemoteAddr string
	Time       time.Time
	Secure     bool
}

// Conn is one client connection as the engine sees it. All methods are safe for concurrent use.
type Conn interface {
	// ID is unique among the connections of this process.
	ID() string
	// Send queues p for the client. A volatile packet is dropped silently when the queue is full; any
	// other packet that does not fit closes the connection with CloseSlowClient and returns ErrSlowClient.
	Send(p *packet.Packet) error
	// Close sends what is queued, then closes with code and reason. It does not block.
	Close(code int, reason string)
	// Handshake returns the opening request's details.
	Handshake() Handshake
}

// NowSender is implemented by the connections of both front-ends: SendNow is Send for a packet of a
// small fan-out (a room of a few members), which is written at once on the caller's goroutine when the
// connection is idle, whatever the process's inline share (Queue.PushNow).
type NowSender interface {
	SendNow(p *packet.Packet) error
}

// Holder is implemented by the connections of both front-ends: between Hold and Release, packets sent
// are queued but not written, and Release writes them together (Queue.Hold). Each Hold must be
// released, on any goroutine.
type Holder interface {
	Hold()
	Release()
}

// Acceptor is implemented by the engine: a front-end calls Open once per new connection and feeds the
// returned Session.
type Acceptor interface {
	Open(c Conn) Session
}

// Session receives one connection's decoded packets, in order, from its reader goroutine.
type Session interface {
	// Packet handles one client packet: KindConnect, KindEvent, KindAck or KindDisconnect.
	Packet(p *packet.Packet)
	// Closed is called once, last, when the connection is gone; reason is one of the Reason constants.
	Closed(reason string)
}

// CloseReason keeps a close reason within the 123 bytes RFC 6455 §5.5 allows a control frame's reason,
// cutting at a character boundary: the reason must be UTF-8 (§5.5.1).
func CloseReason(s string) string {
	if len(s) <= 120 {
		return s
	}
	n := 120
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
