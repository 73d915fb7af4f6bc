package packet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/roomio/roomio/internal/packet"
)

func TestArgsOf(t *testing.T) {
	t.Parallel()
	type point struct {
		X int `json:"x"`
		Y int `json:"y"`
	}
	for _, tt := range []struct {
		name    string
		values  []any
		want    []packet.Arg
		wantErr string // substring of the error; empty means success
	}{
		{name: "no values", values: nil, want: nil},
		{name: "empty slice", values: []any{}, want: nil},
		{name: "string", values: []any{"hi"}, want: []packet.Arg{{Data: []byte(`"hi"`)}}},
		{name: "no HTML escaping", values: []any{"<a>&"}, want: []packet.Arg{{Data: []byte(`"<a>&"`)}}},
		{name: "numbers and bools", values: []any{1, 2.5, true}, want: []packet.Arg{{Data: []byte(`1`)}, {Data: []byte(`2.5`)}, {Data: []byte(`true`)}}},
		{name: "nil is null", values: []any{nil}, want: []packet.Arg{{Data: []byte(`null`)}}},
		{name: "struct, compact", values: []any{point{1, 2}}, want: []packet.Arg{{Data: []byte(`{"x":1,"y":2}`)}}},
		{name: "map, sorted keys", values: []any{map[string]int{"b": 2, "a": 1}}, want: []packet.Arg{{Data: []byte(`{"a":1,"b":2}`)}}},
		{name: "[]byte is binary", values: []any{[]byte{0, 0xff}}, want: []packet.Arg{{Data: []byte{0, 0xff}, Binary: true}}},
		{name: "empty []byte is binary", values: []any{[]byte{}}, want: []packet.Arg{{Data: []byte{}, Binary: true}}},
		{name: "json.RawMessage as is", values: []any{json.RawMessage(`{"b":1, "a":[ ]}`)}, want: []packet.Arg{{Data: []byte(`{"b":1, "a":[ ]}`)}}},
		{name: "empty json.RawMessage is null", values: []any{json.RawMessage(nil)}, want: []packet.Arg{{Data: []byte(`null`)}}},
		{name: "Arg as is", values: []any{packet.Arg{Data: []byte(`[1]`)}}, want: []packet.Arg{{Data: []byte(`[1]`)}}},
		{name: "binary Arg with any bytes", values: []any{packet.Arg{Data: []byte{0xff}, Binary: true}}, want: []packet.Arg{{Data: []byte{0xff}, Binary: true}}},
		{name: "mixed", values: []any{"a", []byte("b"), json.RawMessage(`3`)}, want: []packet.Arg{{Data: []byte(`"a"`)}, {Data: []byte("b"), Binary: true}, {Data: []byte(`3`)}}},
		{name: "invalid json.RawMessage", values: []any{json.RawMessage(`{nope`)}, wantErr: "argument 0: invalid argument: json.RawMessage is not valid JSON"},
		{name: "json.RawMessage with invalid UTF-8", values: []any{json.RawMessage("\"\xff\"")}, wantErr: "json.RawMessage is not valid JSON"},
		{name: "Arg with invalid UTF-8", values: []any{"ok", packet.Arg{Data: []byte("\"\xff\"")}}, wantErr: "argument 1: invalid argument: JSON text is not valid UTF-8"},
		{name: "channel", values: []any{make(chan int)}, wantErr: "argument 0: invalid argument: json: unsupported type"},
		{name: "func", values: []any{1, 2, func() {}}, wantErr: "argument 2: invalid argument"},
		{name: "NaN", values: []any{math.NaN()}, wantErr: "unsupported value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := packet.ArgsOf(tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, packet.ErrInvalidArg) {
					t.Fatalf("ArgsOf: err %v, want one wrapping ErrInvalidArg and containing %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("ArgsOf returned %v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ArgsOf: %v", err)
			}
			if !argsEqual(got, tt.want) {
				t.Errorf("ArgsOf = %s, want %s", argsString(got), argsString(tt.want))
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		value   any
		want    string
		wantErr bool
	}{
		{name: "string without HTML escaping", value: "a<b>&c", want: `"a<b>&c"`},
		{name: "no trailing newline", value: []int{1, 2}, want: `[1,2]`},
		{name: "[]byte is base64 JSON here", value: []byte{1, 2}, want: `"AQI="`},
		{name: "nil", value: nil, want: `null`},
		{name: "json.RawMessage as is", value: json.RawMessage(` {"a" : 1} `), want: ` {"a" : 1} `},
		{name: "empty json.RawMessage", value: json.RawMessage{}, want: `null`},
		{name: "invalid json.RawMessage", value: json.RawMessage(`[1,`), wantErr: true},
		{name: "unsupported type", value: map[bool]chan int{}, wantErr: true},
		{name: "infinity", value: math.Inf(1), wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := packet.MarshalJSON(tt.value)
			if tt.wantErr {
				if !errors.Is(err, packet.ErrInvalidArg) {
					t.Fatalf("MarshalJSON = %q, %v; want an error wrapping ErrInvalidArg", got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("MarshalJSON = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// The json error stays reachable under ErrInvalidArg.
	_, err := packet.MarshalJSON(make(chan int))
	var ute *json.UnsupportedTypeError
	if !errors.As(err, &ute) {
		t.Errorf("MarshalJSON(chan): %v, want a *json.UnsupportedTypeError in the chain", err)
	}
}

func TestArgDecode(t *testing.T) {
	t.Parallel()
	t.Run("json into a struct", func(t *testing.T) {
		t.Parallel()
		var v struct{ A []int }
		if err := (packet.Arg{Data: []byte(`{"A":[1,2]}`)}).Decode(&v); err != nil || len(v.A) != 2 || v.A[1] != 2 {
			t.Errorf("Decode: %v, %+v", err, v)
		}
	})
	t.Run("json null into a pointer", func(t *testing.T) {
		t.Parallel()
		v := new(int)
		if err := (packet.Arg{Data: []byte(`null`)}).Decode(&v); err != nil || v != nil {
			t.Errorf("Decode: %v, %v", err, v)
		}
	})
	t.Run("invalid json", func(t *testing.T) {
		t.Parallel()
		var v any
		if err := (packet.Arg{Data: []byte(`{`)}).Decode(&v); err == nil {
			t.Error("Decode of invalid JSON succeeded")
		}
	})
	t.Run("binary into *[]byte", func(t *testing.T) {
		t.Parallel()
		data := []byte{1, 2, 3}
		var b []byte
		if err := (packet.Arg{Data: data, Binary: true}).Decode(&b); err != nil || !bytes.Equal(b, data) {
			t.Errorf("Decode: %v, %v", err, b)
		}
	})
	t.Run("binary into anything else", func(t *testing.T) {
		t.Parallel()
		var s string
		if err := (packet.Arg{Data: []byte(`"x"`), Binary: true}).Decode(&s); err == nil {
			t.Errorf("Decode of a binary arg into *string succeeded: %q", s)
		}
	})
}

func argsEqual(a, b []packet.Arg) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i].Binary != b[i].Binary || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func argsString(args []packet.Arg) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if a.Binary {
			parts[i] = fmt.Sprintf("bin:%x", a.Data)
		} else {
			parts[i] = string(a.Data)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
