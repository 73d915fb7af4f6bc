package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzArgDecode: Decode's own paths for *string and *json.RawMessage give what encoding/json gives for
// any argument text: the same value, and an error exactly when json.Unmarshal has one; the same bytes as
// a binary argument are refused into either with ErrBinaryArg, even when they read as JSON.
func FuzzArgDecode(f *testing.F) {
	for _, s := range []string{`"room-1"`, `"caf\u00e9"`, `"a\"b"`, `"tab	in"`, "\"\xff\"", "\"a\xc3\"", `""`, `"`, `null`, `12`,
		`{"a":[1,2]}`, ` "pad" `, `"pad" `, ` {}`, `[1,`, `"é"`, `"\u0000"`, "\"\x7f\"", `true`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := Arg{Data: data}

		gotS, wantS := "before", "before"
		errGot, errWant := a.Decode(&gotS), json.Unmarshal(data, &wantS)
		if (errGot == nil) != (errWant == nil) || gotS != wantS {
			t.Fatalf("string from %q: Decode %q, %v; json.Unmarshal %q, %v", data, gotS, errGot, wantS, errWant)
		}

		gotR, wantR := json.RawMessage("x"), json.RawMessage("x")
		errGot, errWant = a.Decode(&gotR), json.Unmarshal(data, &wantR)
		if (errGot == nil) != (errWant == nil) || !bytes.Equal(gotR, wantR) {
			t.Fatalf("RawMessage from %q: Decode %q, %v; json.Unmarshal %q, %v", data, gotR, errGot, wantR, errWant)
		}
		if errGot == nil && len(gotR) > 0 && len(data) > 0 && &gotR[0] == &data[0] {
			t.Fatalf("RawMessage from %q shares the argument's bytes", data)
		}

		bin := Arg{Data: data, Binary: true}
		if err := bin.Decode(&gotS); !errors.Is(err, ErrBinaryArg) {
			t.Fatalf("binary %q into a string: %v, want ErrBinaryArg", data, err)
		}
		if err := bin.Decode(&gotR); !errors.Is(err, ErrBinaryArg) {
			t.Fatalf("binary %q into a RawMessage: %v, want ErrBinaryArg", data, err)
		}
	})
}

// BenchmarkArgDecode: a room name into a string and a payload into a json.RawMessage, as a relaying
// handler binds them, through Decode and through json.Unmarshal.
func BenchmarkArgDecode(b *testing.B) {
	room, payload := Arg{Data: []byte(`"room-42"`)}, Arg{Data: []byte(`{"text":"hello, room","n":7}`)}
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s string
			var r json.RawMessage
			if room.Decode(&s) != nil || payload.Decode(&r) != nil {
				b.Fatal("decode failed")
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s string
			var r json.RawMessage
			if json.Unmarshal(room.Data, &s) != nil || json.Unmarshal(payload.Data, &r) != nil {
				b.Fatal("decode failed")
			}
		}
	})
}
