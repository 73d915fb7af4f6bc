package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// Arg is one event or ack argument as it came off the wire: JSON text, or raw bytes when Binary is set.
// Decode unmarshals it.
type Arg = packet.Arg

// toArgs converts Emit arguments: []byte is sent as binary, json.RawMessage and Arg as they are, anything
// else as compact JSON without HTML escaping.
func toArgs(in []any) ([]packet.Arg, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]packet.Arg, len(in))
	for i, v := range in {
		switch a := v.(type) {
		case []byte:
			out[i] = packet.Arg{Data: a, Binary: true}
		case Arg:
			out[i] = a
		case json.RawMessage:
			if !json.Valid(a) || !utf8.Valid(a) {
				return nil, fmt.Errorf("%w: argument %d is not valid JSON", ErrInvalidArg, i)
			}
			out[i] = packet.Arg{Data: a}
		default:
			b, err := marshalJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%w: argument %d: %v", ErrInvalidArg, i, err)
			}
			out[i] = packet.Arg{Data: b}
		}
	}
	return out, nil
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
