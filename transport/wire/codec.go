package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/roomio/roomio/internal/packet"
	wirev1 "github.com/roomio/roomio/proto/roomio/wire/v1"
)

// The WebSocket subprotocols that select the native wire format.
const (
	SubprotocolProto = "roomio.v1.proto" // binary protobuf Frames in binary messages
	SubprotocolJSON  = "roomio.v1.json"  // protobuf JSON mapping of Frames in text messages
)

// Format is one of the native protocol's two encodings.
type Format uint8

// The native formats.
const (
	FormatProto Format = iota
	FormatJSON
)

// Subprotocol returns the WebSocket subprotocol that selects f.
func (f Format) Subprotocol() string {
	if f == FormatJSON {
		return SubprotocolJSON
	}
	return SubprotocolProto
}

// Decoding errors. A frame that fails with ErrMalformed or ErrInvalidUTF8 ends the connection; a message
// that fails with ErrUnknownKind or ErrInvalidArg is answered with an Error packet and skipped.
//
// Their texts keep the "native:" prefix, the protocol's name: a server sends them to clients (as the
// close reason or the Error packet's message), so they are part of what clients see.
var (
	ErrMalformed   = errors.New("native: malformed frame")
	ErrInvalidUTF8 = errors.New("native: text frame is not valid UTF-8")
	ErrUnknownKind = errors.New("native: unknown message kind")
	ErrInvalidArg  = errors.New("native: argument is not valid JSON")
	// ErrTooManyMessages is returned by DecodeFrame for a frame holding more messages than its limit.
	ErrTooManyMessages = errors.New("native: too many messages in one frame")
)

// DefaultMaxFrameMessages is the message limit of DecodeFrame when it is given none.
const DefaultMaxFrameMessages = 1024

// Encoder returns the packet.Encoder for f.
func (f Format) Encoder() packet.Encoder { return encoders[f] }

var encoders = [2]packet.Encoder{protoEncoder{}, jsonEncoder{}}

type protoEncoder struct{}

func (protoEncoder) Slot() packet.Slot { return packet.SlotNativeProto }

// Encode returns a one-message Frame. Concatenated, such frames form one Frame holding all messages
// (repeated fields concatenate in the protobuf encoding), which is how the writer batches.
func (protoEncoder) Encode(p *packet.Packet) []byte {
	b, err := proto.Marshal(&wirev1.Frame{Messages: []*wirev1.Message{ToMessage(p)}})
	if err != nil {
		panic(fmt.Sprintf("wire: marshal: %v", err)) // cannot happen: ToMessage makes every string valid UTF-8
	}
	return b
}

type jsonEncoder struct{}

func (jsonEncoder) Slot() packet.Slot { return packet.SlotNativeJSON }

// Encode returns one Message in the JSON mapping; the writer wraps a batch in {"messages":[...]}.
func (jsonEncoder) Encode(p *packet.Packet) []byte {
	b, err := protojson.Marshal(ToMessage(p))
	if err != nil {
		panic(fmt.Sprintf("wire: marshal json: %v", err))
	}
	return b
}

// AppendBatch appends one wire frame holding the already encoded messages (from f.Encoder()) to dst.
func AppendBatch(f Format, dst []byte, msgs [][]byte) []byte {
	if f == FormatProto {
		for _, m := range msgs {
			dst = append(dst, m...)
		}
		return dst
	}
	dst = append(dst, `{"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, m...)
	}
	return append(dst, "]}"...)
}

// EncodeFrame encodes packets as one frame of format f.
func EncodeFrame(f Format, ps ...*packet.Packet) []byte {
	msgs := make([][]byte, len(ps))
	for i, p := range ps {
		msgs[i] = p.Encode(f.Encoder())
	}
	return AppendBatch(f, nil, msgs)
}

// DecodeFrame decodes one wire frame of format f into its messages, however many it holds (a client
// reads the server's batches with it). The error is ErrMalformed or ErrInvalidUTF8 (wrapped with detail)
// when the frame as a whole is unusable.
func DecodeFrame(f Format, data []byte) ([]*wirev1.Message, error) {
	return DecodeFrameLimit(f, data, -1)
}

// DecodeFrameLimit is DecodeFrame for a frame from an untrusted peer: it fails with ErrTooManyMessages
// when the frame holds more than max messages (0 means DefaultMaxFrameMessages, a negative max means no
// limit). A binary frame's messages are counted before any is decoded, so an oversized batch costs one
// scan of its bytes and no allocation per message; a JSON frame is counted once decoded.
func DecodeFrameLimit(f Format, data []byte, max int) ([]*wirev1.Message, error) {
	if max == 0 {
		max = DefaultMaxFrameMessages
	}
	var fr wirev1.Frame
	if f == FormatJSON {
		if !utf8.Valid(data) {
			return nil, ErrInvalidUTF8
		}
		// Unknown fields are skipped, as the binary format skips them: a message of a kind added in a later
		// v1 then decodes with no kind and is answered with an Error (docs/protocol.md, Versioning) rather
		// than ending the connection.
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &fr); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	} else {
		if max > 0 {
			n, err := countMessages(data)
			if err != nil {
				return nil, err
			}
			if n > max {
				return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyMessages, n, max)
			}
		}
		if err := proto.Unmarshal(data, &fr); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	if max > 0 && len(fr.Messages) > max {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyMessages, len(fr.Messages), max)
	}
	if len(fr.Messages) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrMalformed)
	}
	return fr.Messages, nil
}

// countMessages counts the Frame.messages fields (field 1) of a binary frame without decoding them.
func countMessages(data []byte) (int, error) {
	n := 0
	for len(data) > 0 {
		num, typ, l := protowire.ConsumeTag(data)
		if l < 0 {
			return 0, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(l))
		}
		data = data[l:]
		l = protowire.ConsumeFieldValue(num, typ, data)
		if l < 0 {
			return 0, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(l))
		}
		data = data[l:]
		if num == 1 && typ == protowire.BytesType { // as proto.Unmarshal, which keeps another type as an unknown field
			n++
		}
	}
	return n, nil
}

// ToMessage converts a packet to its wire message. Protobuf strings must be UTF-8, but a packet's strings
// come from server code (event names, error texts) and may not be: invalid bytes become U+FFFD, so that
// encoding never fails.
func ToMessage(p *packet.Packet) *wirev1.Message {
	m := &wirev1.Message{}
	ns := str(p.Namespace)
	switch p.Kind {
	case packet.KindConnect:
		m.Kind = &wirev1.Message_Connect{Connect: &wirev1.Connect{Namespace: ns, Auth: str(string(p.Data)), ResumeToken: str(p.PID), Offset: str(p.Offset)}}
	case packet.KindConnected:
		m.Kind = &wirev1.Message_Connected{Connected: &wirev1.Connected{Namespace: ns, Sid: str(p.SID), ResumeToken: str(p.PID)}}
	case packet.KindConnectError:
		m.Kind = &wirev1.Message_ConnectError{ConnectError: &wirev1.ConnectError{Namespace: ns, Message: str(p.Message), Data: str(string(p.Data))}}
	case packet.KindEvent:
		m.Kind = &wirev1.Message_Event{Event: &wirev1.Event{Namespace: ns, Name: str(p.Name), Args: toArgs(p), AckId: p.AckID, Offset: str(p.Offset)}}
	case packet.KindAck:
		m.Kind = &wirev1.Message_Ack{Ack: &wirev1.Ack{Namespace: ns, AckId: p.AckID, Args: toArgs(p)}}
	case packet.KindDisconnect:
		m.Kind = &wirev1.Message_Disconnect{Disconnect: &wirev1.Disconnect{Namespace: ns, Code: p.Code, Reason: str(p.Message)}}
	case packet.KindPing:
		m.Kind = &wirev1.Message_Ping{Ping: &wirev1.Ping{Seq: p.Seq}}
	case packet.KindPong:
		m.Kind = &wirev1.Message_Pong{Pong: &wirev1.Pong{Seq: p.Seq}}
	case packet.KindError:
		m.Kind = &wirev1.Message_Error{Error: &wirev1.Error{Namespace: ns, Code: p.Code, Message: str(p.Message), AckId: p.AckID}}
	case packet.KindRoomMessage:
		m.Kind = &wirev1.Message_RoomMessage{RoomMessage: &wirev1.RoomMessage{Namespace: ns, Room: str(p.Room), Name: str(p.Name), Args: toArgs(p), AckId: p.AckID}}
	}
	return m
}

// str returns s with invalid UTF-8 replaced; a valid string, the usual case, is returned without a copy.
func str(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// toArgs converts p's arguments.
func toArgs(p *packet.Packet) []*wirev1.Arg { return ArgsToWire(p.Args) }

// ArgsToWire converts event or ack arguments to the protocol's Arg messages (nil for none). Invalid
// UTF-8 in a JSON argument is replaced: protobuf strings must be UTF-8. Binary data a Socket.IO client
// nested inside a JSON argument travels in the Arg's attachments, the JSON keeping its
// {"_placeholder":true,"num":N} objects (docs/protocol.md). The cluster protocol carries arguments the
// same way.
func ArgsToWire(args []packet.Arg) []*wirev1.Arg {
	if len(args) == 0 {
		return nil
	}
	out := make([]*wirev1.Arg, len(args))
	for i, a := range args {
		if a.Binary {
			out[i] = &wirev1.Arg{Value: &wirev1.Arg_Binary{Binary: a.Data}}
		} else {
			out[i] = &wirev1.Arg{Value: &wirev1.Arg_Json{Json: str(string(a.Data))}, Attachments: a.Attachments}
		}
	}
	return out
}

var jsonNull = []byte("null")

// FromMessage converts a wire message to a packet. It fails with ErrUnknownKind for a message with no
// kind this version knows, and ErrInvalidArg when a JSON argument, auth or data is not valid JSON. The
// namespace of the message is returned even on error, so the caller can address its Error packet.
func FromMessage(m *wirev1.Message) (*packet.Packet, error) {
	var p *packet.Packet
	switch k := m.Kind.(type) {
	case *wirev1.Message_Connect:
		p = &packet.Packet{Kind: packet.KindConnect, Namespace: k.Connect.Namespace, Data: optJSON(k.Connect.Auth),
			PID: k.Connect.ResumeToken, Offset: k.Connect.Offset}
		if p.Data != nil && !json.Valid(p.Data) {
			return p, ErrInvalidArg
		}
	case *wirev1.Message_Connected:
		p = &packet.Packet{Kind: packet.KindConnected, Namespace: k.Connected.Namespace, SID: k.Connected.Sid, PID: k.Connected.ResumeToken}
	case *wirev1.Message_ConnectError:
		p = &packet.Packet{Kind: packet.KindConnectError, Namespace: k.ConnectError.Namespace, Message: k.ConnectError.Message, Data: optJSON(k.ConnectError.Data)}
	case *wirev1.Message_Event:
		p = &packet.Packet{Kind: packet.KindEvent, Namespace: k.Event.Namespace, Name: k.Event.Name, AckID: k.Event.AckId, Offset: k.Event.Offset}
		var err error
		p.Args, err = ArgsFromWire(k.Event.Args)
		if err != nil {
			return p, err
		}
	case *wirev1.Message_Ack:
		p = &packet.Packet{Kind: packet.KindAck, Namespace: k.Ack.Namespace, AckID: k.Ack.AckId}
		var err error
		p.Args, err = ArgsFromWire(k.Ack.Args)
		if err != nil {
			return p, err
		}
	case *wirev1.Message_Disconnect:
		p = &packet.Packet{Kind: packet.KindDisconnect, Namespace: k.Disconnect.Namespace, Code: k.Disconnect.Code, Message: k.Disconnect.Reason}
	case *wirev1.Message_Ping:
		p = &packet.Packet{Kind: packet.KindPing, Seq: k.Ping.Seq}
	case *wirev1.Message_Pong:
		p = &packet.Packet{Kind: packet.KindPong, Seq: k.Pong.Seq}
	case *wirev1.Message_Error:
		p = &packet.Packet{Kind: packet.KindError, Namespace: k.Error.Namespace, Code: k.Error.Code, Message: k.Error.Message, AckID: k.Error.AckId}
	case *wirev1.Message_RoomMessage:
		r := k.RoomMessage
		p = &packet.Packet{Kind: packet.KindRoomMessage, Namespace: r.Namespace, Room: r.Room, Name: r.Name, AckID: r.AckId}
		var err error
		p.Args, err = ArgsFromWire(r.Args)
		if err != nil {
			return p, err
		}
	default:
		return &packet.Packet{}, ErrUnknownKind
	}
	return p, nil
}

func optJSON(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// ArgsFromWire converts the protocol's Arg messages; an Arg with no value is JSON null. It fails with
// ErrInvalidArg when a JSON argument is not valid JSON.
func ArgsFromWire(in []*wirev1.Arg) ([]packet.Arg, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]packet.Arg, len(in))
	for i, a := range in {
		switch v := a.Value.(type) {
		case *wirev1.Arg_Binary:
			out[i] = packet.Arg{Data: v.Binary, Binary: true}
		case *wirev1.Arg_Json:
			if !json.Valid([]byte(v.Json)) {
				return nil, ErrInvalidArg
			}
			out[i] = packet.Arg{Data: []byte(v.Json)}
			if len(a.Attachments) > 0 {
				if !placeholdersIn([]byte(v.Json), len(a.Attachments)) {
					return nil, ErrInvalidArg
				}
				out[i].Attachments = a.Attachments
			}
		default: // an Arg with no value is JSON null
			out[i] = packet.Arg{Data: jsonNull}
		}
		if len(a.Attachments) > 0 && out[i].Attachments == nil {
			return nil, ErrInvalidArg // attachments belong to a JSON argument
		}
	}
	return out, nil
}

// placeholdersIn reports whether every Socket.IO placeholder in the JSON text js ({"_placeholder":true,
// "num":N}, recognised as socket.io-client does) names one of n attachments. A receiver would otherwise
// find no buffer, or another argument's, where the placeholder is.
func placeholdersIn(js []byte, n int) bool {
	var v any
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return false
	}
	var ok func(v any) bool
	ok = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			if x["_placeholder"] == true {
				num, isNum := x["num"].(json.Number)
				k, err := strconv.Atoi(string(num))
				return isNum && err == nil && k >= 0 && k < n
			}
			for _, e := range x {
				if !ok(e) {
					return false
				}
			}
		case []any:
			for _, e := range x {
				if !ok(e) {
					return false
				}
			}
		}
		return true
	}
	return ok(v)
}
