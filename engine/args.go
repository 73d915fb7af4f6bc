package engine

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"github.com/roomio/roomio/internal/packet"
)

// Arg is one event or ack argument as it came off the wire: JSON text in Data, or raw bytes when Binary
// is set. Emit accepts an Arg and sends it as it is, so a handler can relay what it received unchanged.
//
// Attachments holds the binary data a Socket.IO client nested inside this JSON argument (a buffer
// inside an object or array): the JSON keeps a placeholder {"_placeholder":true,"num":N} where the
// buffer was, and N indexes Attachments. Emitting the Arg puts the buffers back in place for Socket.IO
// clients whatever the argument's position; native clients receive the JSON with its placeholders and
// the buffers beside it (docs/protocol.md). An Arg built by hand with Attachments must refer to each of
// them with such a placeholder.
type Arg struct {
	Data        []byte
	Binary      bool
	Attachments [][]byte
}

// Decode unmarshals a JSON argument into v (encoding/json). A binary argument decodes only into *[]byte
// (the bytes, not copied) or *Arg; anything else gets ErrBinaryArg.
func (a Arg) Decode(v any) error {
	switch p := v.(type) {
	case *Arg:
		*p = a
		return nil
	case *json.RawMessage:
		// What json.Unmarshal does for a RawMessage (validate, then copy the value), without its decoder.
		if d := a.Data; !a.Binary && len(d) > 0 && !isJSONSpace(d[0]) && !isJSONSpace(d[len(d)-1]) && json.Valid(d) {
			*p = append((*p)[:0], d...)
			return nil
		}
	case *string:
		// A string without escapes, as most event names, room names and ids are; a binary argument is
		// refused below, without its bytes being scanned first.
		if !a.Binary {
			if s, ok := plainJSONString(a.Data); ok {
				*p = s
				return nil
			}
		}
	}
	if a.Binary {
		p, ok := v.(*[]byte)
		if !ok {
			return ErrBinaryArg
		}
		*p = a.Data
		return nil
	}
	return json.Unmarshal(a.Data, v)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// plainJSONString returns the string a JSON string literal without escapes denotes: quotes around
// valid UTF-8 with no quote, backslash or control character inside. Anything else (escapes, other
// values, invalid text) reports false and is left to encoding/json.
func plainJSONString(d []byte) (string, bool) {
	if len(d) < 2 || d[0] != '"' || d[len(d)-1] != '"' {
		return "", false
	}
	in := d[1 : len(d)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// String returns the JSON text, or a short description of a binary argument.
func (a Arg) String() string {
	if a.Binary {
		return fmt.Sprintf("<%d bytes>", len(a.Data))
	}
	return string(a.Data)
}

// Arg and packet.Arg have the same fields (the conversion below does not compile otherwise), so a slice
// of one is a slice of the other: received arguments reach handlers without a copy.
var _ = packet.Arg(Arg{})

// argsOut returns wire arguments as handlers see them, sharing their memory.
func argsOut(in []packet.Arg) []Arg {
	if len(in) == 0 {
		return nil
	}
	return unsafe.Slice((*Arg)(unsafe.Pointer(&in[0])), len(in))
}

// argsIn is argsOut's inverse.
func argsIn(in []Arg) []packet.Arg {
	if len(in) == 0 {
		return nil
	}
	return unsafe.Slice((*packet.Arg)(unsafe.Pointer(&in[0])), len(in))
}

// toArgs converts Emit arguments: []byte is sent as binary, json.RawMessage and Arg as they are, anything
// else as compact JSON without HTML escaping.
func toArgs(in []any) ([]packet.Arg, error) {
	var conv []any // a copy of in, made only when it holds an Arg: the caller's slice is not written
	for i, v := range in {
		if a, ok := v.(Arg); ok {
			if conv == nil {
				conv = append([]any(nil), in...)
			}
			conv[i] = packet.Arg(a)
		}
	}
	if conv != nil {
		in = conv
	}
	return packet.ArgsOf(in)
}
