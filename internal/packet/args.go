package packet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalidArg is returned (wrapped) for a value that cannot be sent as an argument.
var ErrInvalidArg = errors.New("invalid argument")

// ArgsOf converts the arguments of an Emit or an Ack, the same way for the engine and the client:
//   - []byte → a binary argument;
//   - json.RawMessage → that JSON text (it must be valid JSON; empty means null);
//   - Arg → as is, after checking that JSON text is UTF-8 (encoders need it);
//   - anything else → encoding/json, compact, without HTML escaping.
func ArgsOf(values []any) ([]Arg, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make([]Arg, len(values))
	for i, v := range values {
		a, err := argOf(v)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		out[i] = a
	}
	return out, nil
}

func argOf(v any) (Arg, error) {
	switch x := v.(type) {
	case Arg:
		if !x.Binary && !utf8.Valid(x.Data) {
			return Arg{}, fmt.Errorf("%w: JSON text is not valid UTF-8", ErrInvalidArg)
		}
		return x, nil
	case []byte:
		return Arg{Data: x, Binary: true}, nil
	}
	b, err := MarshalJSON(v)
	if err != nil {
		return Arg{}, err
	}
	return Arg{Data: b}, nil
}

var jsonNull = []byte("null")

// MarshalJSON returns v's JSON text: json.RawMessage as is (validated), anything else through
// encoding/json, compact and without HTML escaping (Socket.IO relays JSON byte-exact).
func MarshalJSON(v any) ([]byte, error) {
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
