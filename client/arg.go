package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// Arg is one event or ack argument: JSON text, or raw bytes when Binary is set. Decode unmarshals it.
type Arg = packet.Arg

// AckFunc answers an event that asked for an acknowledgement. Its arguments are converted like Emit's.
// Only the first call sends; later calls return ErrAckSent. It is safe for concurrent use and may be
// called after the handler returned.
type AckFunc = func(args ...any) error

// Event is one event received by a Socket, as delivered on a Socket.Events channel.
type Event struct {
	Name string
	Args []Arg
	// Ack answers the event; nil when the sender did not ask for an acknowledgement.
	Ack AckFunc
}

// Decode unmarshals the event's arguments, in order, into vs (see Arg.Decode). It fails when there are
// fewer arguments than targets; a nil target skips its argument.
func (e Event) Decode(vs ...any) error {
	return decodeArgs(e.Args, vs)
}

// DecodeArgs unmarshals args, in order, into vs, as Event.Decode does. It suits ack results.
func DecodeArgs(args []Arg, vs ...any) error {
	return decodeArgs(args, vs)
}

func decodeArgs(args []Arg, vs []any) error {
	if len(vs) > len(args) {
		return fmt.Errorf("client: decode: %d targets for %d arguments", len(vs), len(args))
	}
	for i, v := range vs {
		if v == nil {
			continue
		}
		if err := args[i].Decode(v); err != nil {
			return fmt.Errorf("client: decode argument %d: %w", i, err)
		}
	}
	return nil
}

// toArgs converts Emit's values to wire arguments:
//   - []byte → a binary argument;
//   - json.RawMessage → that JSON text (it must be valid JSON; empty means null);
//   - Arg → as is, unvalidated apart from UTF-8, so tests can send invalid JSON to a server;
//   - anything else → encoding/json, compact, without HTML escaping.
func toArgs(vs []any) ([]Arg, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]Arg, len(vs))
	for i, v := range vs {
		a, err := toArg(v)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		out[i] = a
	}
	return out, nil
}

func toArg(v any) (Arg, error) {
	switch x := v.(type) {
	case Arg:
		// The protobuf and JSON encoders refuse (panic on) strings that are not UTF-8.
		if !x.Binary && !utf8.Valid(x.Data) {
			return Arg{}, fmt.Errorf("%w: JSON text is not valid UTF-8", ErrInvalidArg)
		}
		return x, nil
	case []byte:
		return Arg{Data: x, Binary: true}, nil
	}
	b, err := marshalJSON(v)
	if err != nil {
		return Arg{}, err
	}
	return Arg{Data: b}, nil
}

var jsonNull = []byte("null")

// marshalJSON returns v's JSON text: json.RawMessage as is (validated), anything else through
// encoding/json without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if len(raw) == 0 {
			return jsonNull, nil
		}
		if !json.Valid(raw) || !utf8.Valid(raw) {
			return nil, fmt.Errorf("%w: json.RawMessage is not valid JSON", ErrInvalidArg)
		}
		return raw, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArg, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
