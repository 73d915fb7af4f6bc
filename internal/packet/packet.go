package packet

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
)

// Kind is the type of a Packet.
type Kind uint8

// The packet kinds. They mirror the native protocol's message kinds (proto/roomio/wire/v1).
const (
	KindConnect Kind = iota + 1
	KindConnected
	KindConnectError
	KindEvent
	KindAck
	KindDisconnect
	KindPing
	KindPong
	KindError
	KindRoomMessage
)

// Arg is one event or ack argument: JSON text, or raw bytes when Binary is set.
//
// Attachments holds binary data nested inside a JSON argument: Socket.IO writes each such buffer as a
// placeholder object {"_placeholder":true,"num":N} in the JSON, and N indexes this argument's
// Attachments (0 to len-1, whatever number the buffer has in the packet on the wire). It is nil for a
// binary argument and for JSON without nested binary data. Keeping nested buffers with the argument
// that refers to them lets an argument be re-sent alone or among others with its buffers in place.
type Arg struct {
	Data        []byte
	Binary      bool
	Attachments [][]byte
}

// Decode unmarshals a JSON argument into v. A binary argument decodes only into *[]byte.
func (a Arg) Decode(v any) error {
	if a.Binary {
		p, ok := v.(*[]byte)
		if !ok {
			return errors.New("packet: binary argument decodes only into *[]byte")
		}
		*p = a.Data
		return nil
	}
	return json.Unmarshal(a.Data, v)
}

// Slot names the cache slot in which a Packet keeps its encoding in one wire format. Each wire format has
// a slot of its own, declared here, so that the encoders of different packages cannot collide.
type Slot uint8

// The encoding cache slots, one per wire format.
const (
	SlotNativeProto Slot = iota // the native protocol's binary protobuf format (transport/wire)
	SlotNativeJSON              // the native protocol's JSON mapping (transport/wire)
	SlotSocketIO                // Socket.IO v5 text packets in Engine.IO frames (transport/socketio)

	// NumSlots is the number of slots: a Packet caches at most this many encodings.
	NumSlots
)

// Encoder turns a Packet into the bytes of one wire format. Slot returns the format's cache slot, one of
// the Slot constants; two encoders with different output must not share a slot.
type Encoder interface {
	Slot() Slot
	Encode(p *Packet) []byte
}

// Packet is one protocol message. Which fields are used depends on Kind.
type Packet struct {
	Kind      Kind
	Namespace string
	Name      string // KindEvent, KindRoomMessage: the event name
	Room      string // KindRoomMessage: the behaviour room addressed
	Args      []Arg  // KindEvent, KindAck, KindRoomMessage
	AckID     uint64 // KindEvent, KindRoomMessage: non-zero asks for an ack; KindAck, KindError: the id answered
	SID       string // KindConnected
	// PID is KindConnected's private session id, sent only when connection state recovery is on: the
	// client presents it when it reconnects (Socket.IO's "pid", the native protocol's resume token). On
	// a native KindConnect it is the session the client presents, with the last Offset it received
	// (Socket.IO clients present theirs inside the auth JSON, Data).
	PID string
	// Offset, on a KindEvent without AckID that is not Volatile, names the packet in the recipients'
	// recovery logs when connection state recovery is on; Socket.IO appends it as the last argument, and
	// a reconnecting client presents the last one it saw. One offset per packet, shared by every
	// recipient, so the encoding cache stays shared. Empty when recovery is off.
	Offset  string
	Code    uint32 // KindDisconnect, KindError
	Message string // KindConnectError, KindError, KindDisconnect (reason)
	Data    []byte // KindConnect: auth JSON; KindConnectError: data JSON
	Seq     uint64 // KindPing, KindPong

	// Volatile marks a packet that may be dropped when the recipient's queue is full.
	Volatile bool

	// The encodings made so far, one per slot, each set once under encMu. A pointer and one lock for all
	// slots rather than a sync.Once each: a packet is 88 bytes smaller (every event a client sends and
	// every emit makes one, and recovery logs keep them), for a 24-byte allocation per encoding made.
	encMu sync.Mutex
	enc   [NumSlots]atomic.Pointer[[]byte]
}

// Encode returns p in e's format, encoding it on first use. The returned bytes are shared and must not
// be modified.
func (p *Packet) Encode(e Encoder) []byte {
	s := &p.enc[e.Slot()]
	if b := s.Load(); b != nil {
		return *b
	}
	p.encMu.Lock()
	defer p.encMu.Unlock()
	if b := s.Load(); b != nil {
		return *b
	}
	b := e.Encode(p)
	s.Store(&b)
	return b
}
