package socketio_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/socketio"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    *packet.Packet
		want string // the Engine.IO frame
		atts [][]byte
	}{
		// test-suite.js expectations and README examples.
		{"suite/connected", &packet.Packet{Kind: packet.KindConnected, Namespace: "/", SID: "wZX3oN0bSVIhsaknAAAI"}, `40{"sid":"wZX3oN0bSVIhsaknAAAI"}`, nil},
		{"suite/connected-custom", &packet.Packet{Kind: packet.KindConnected, Namespace: "/custom", SID: "oSO0OpakMV_3jnilAAAA"}, `40/custom,{"sid":"oSO0OpakMV_3jnilAAAA"}`, nil},
		{"recovery/connected-pid", &packet.Packet{Kind: packet.KindConnected, Namespace: "/", SID: "a", PID: "p"}, `40{"sid":"a","pid":"p"}`, nil},
		{"recovery/offset", &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{js(`1`)}, Offset: "k3x"}, `42["m",1,"k3x"]`, nil},
		{"recovery/offset-binary", &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(1)}, Offset: "k3x"},
			`451-["m",` + ph(0) + `,"k3x"]`, [][]byte{{1}}},
		{"suite/auth-empty", &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "auth", Args: []packet.Arg{js(`{}`)}}, `42["auth",{}]`, nil},
		{"suite/auth-custom", &packet.Packet{Kind: packet.KindEvent, Namespace: "/custom", Name: "auth", Args: []packet.Arg{js(`{"token":"abc"}`)}}, `42/custom,["auth",{"token":"abc"}]`, nil},
		{"suite/message-back", &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message-back", Args: []packet.Arg{js(`"message to main namespace"`)}},
			`42["message-back","message to main namespace"]`, nil},
		{"suite/plain-ack", &packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 457, Args: []packet.Arg{js(`1`), js(`"2"`), js(`{"3":[false]}`)}},
			`43456[1,"2",{"3":[false]}]`, nil},
		{"suite/binary-back", &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message-back", Args: []packet.Arg{bin(1, 2, 3), bin(4, 5, 6)}},
			`452-["message-back",` + ph(0) + `,` + ph(1) + `]`, [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{"suite/binary-ack", &packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 790, Args: []packet.Arg{bin(1, 2, 3), bin(4, 5, 6)}},
			`462-789[` + ph(0) + `,` + ph(1) + `]`, [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{"suite/invalid-namespace", &packet.Packet{Kind: packet.KindConnectError, Namespace: "/random", Message: "Invalid namespace"},
			`44/random,{"message":"Invalid namespace"}`, nil},
		{"spec/not-authorized", &packet.Packet{Kind: packet.KindConnectError, Namespace: "/", Message: "Not authorized"}, `44{"message":"Not authorized"}`, nil},
		{"spec/event-ack", &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "foo", AckID: 13}, `4212["foo"]`, nil},
		{"spec/ack-ns", &packet.Packet{Kind: packet.KindAck, Namespace: "/admin", AckID: 14, Args: []packet.Arg{js(`"bar"`)}}, `43/admin,13["bar"]`, nil},
		{"spec/binary-ns", &packet.Packet{Kind: packet.KindEvent, Namespace: "/admin", Name: "baz", Args: []packet.Arg{bin(1, 2), bin(3, 4)}},
			`452-/admin,["baz",` + ph(0) + `,` + ph(1) + `]`, [][]byte{{1, 2}, {3, 4}}},
		{"spec/session-binary-ack", &packet.Packet{Kind: packet.KindAck, Namespace: "/admin", AckID: 2, Args: []packet.Arg{bin(9)}},
			`461-/admin,1[` + ph(0) + `]`, [][]byte{{9}}},
		{"spec/disconnect", &packet.Packet{Kind: packet.KindDisconnect, Namespace: "/"}, `41`, nil},
		{"spec/disconnect-ns", &packet.Packet{Kind: packet.KindDisconnect, Namespace: "/admin", Message: "server namespace disconnect"}, `41/admin,`, nil},
		// Client-side packets.
		{"connect", &packet.Packet{Kind: packet.KindConnect}, `40`, nil},
		{"connect-auth", &packet.Packet{Kind: packet.KindConnect, Namespace: "/admin", Data: []byte(`{"token":"123"}`)}, `40/admin,{"token":"123"}`, nil},
		{"connect-ns", &packet.Packet{Kind: packet.KindConnect, Namespace: "/admin"}, `40/admin,`, nil},
		// Details.
		{"connect-error-data", &packet.Packet{Kind: packet.KindConnectError, Namespace: "/", Message: "not authorized", Data: []byte(`{"hint":"send a token"}`)},
			`44{"message":"not authorized","data":{"hint":"send a token"}}`, nil},
		{"ack-id-0", &packet.Packet{Kind: packet.KindEvent, Name: "x", AckID: 1}, `420["x"]`, nil},
		{"ack-no-id", &packet.Packet{Kind: packet.KindAck, Namespace: "/"}, `43[]`, nil},
		{"ack-id-max", &packet.Packet{Kind: packet.KindAck, AckID: 1<<64 - 1}, `4318446744073709551614[]`, nil},
		{"empty-ns", &packet.Packet{Kind: packet.KindEvent, Name: "x"}, `42["x"]`, nil},
		{"empty-json-arg", &packet.Packet{Kind: packet.KindEvent, Name: "x", Args: []packet.Arg{{}, js(`1`)}}, `42["x",null,1]`, nil},
		{"escaping", &packet.Packet{Kind: packet.KindEvent, Name: "<>&\"\\/\n\t\x01\x7fé\u2028日本", SID: "ignored"},
			`42["<>&\"\\/\n\t\u0001` + "\x7fé\u2028日本" + `"]`, nil},
		{"invalid-utf8", &packet.Packet{Kind: packet.KindConnectError, Message: "a\xffb"}, `44{"message":"a` + "\uFFFD" + `b"}`, nil},
		{"raw-args", &packet.Packet{Kind: packet.KindEvent, Name: "e", Args: []packet.Arg{js(`{"b":1,"a":2}`), js(`1.0`), js(`1e3`), js(`"<>&"`), js(`"\u00e9"`)}},
			`42["e",{"b":1,"a":2},1.0,1e3,"<>&","\u00e9"]`, nil},
		{"empty-binary", &packet.Packet{Kind: packet.KindEvent, Name: "e", Args: []packet.Arg{{Binary: true}}}, `451-["e",` + ph(0) + `]`, [][]byte{nil}},
		// Attachments are numbered in document order, as socket.io-client does: a nested argument's
		// placeholders are shifted by the attachments before it.
		{"nested-then-top", &packet.Packet{Kind: packet.KindEvent, Name: "m", Args: []packet.Arg{bin(2), jsa(`{"x":`+ph(0)+`}`, []byte{1}), bin(3)}},
			`453-["m",` + ph(0) + `,{"x":` + ph(1) + `},` + ph(2) + `]`, [][]byte{{2}, {1}, {3}}},
		{"nested-only", &packet.Packet{Kind: packet.KindAck, AckID: 1, Args: []packet.Arg{jsa(`[`+ph(1)+`,`+ph(0)+`]`, []byte{1}, []byte{2})}},
			`462-0[[` + ph(1) + `,` + ph(0) + `]]`, [][]byte{{1}, {2}}},
		{"nested-twice", &packet.Packet{Kind: packet.KindEvent, Name: "m", Args: []packet.Arg{
			jsa(`{"a":[`+ph(1)+`,`+ph(0)+`]}`, []byte{1}, []byte{2}), jsa(`[7,{"_placeholder":true,"x":"num","num":0},`+ph(0)+`]`, []byte{3})}},
			`453-["m",{"a":[` + ph(1) + `,` + ph(0) + `]},[7,{"_placeholder":true,"x":"num","num":2},` + ph(2) + `]]`, [][]byte{{1}, {2}, {3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, atts := encode(t, tt.p)
			if got != tt.want {
				t.Errorf("encode:\n got %s\nwant %s", got, tt.want)
			}
			if !attsEqual(atts, tt.atts) || len(atts) != len(tt.atts) {
				t.Errorf("attachments: got %v, want %v", atts, tt.atts)
			}
		})
	}
}

func TestEncodeNoSocketIOForm(t *testing.T) {
	t.Parallel()
	if s := socketio.Encoder.Slot(); s != packet.SlotSocketIO {
		t.Errorf("Slot() = %d, want packet.SlotSocketIO (%d)", s, packet.SlotSocketIO)
	}
	for _, p := range []*packet.Packet{
		{Kind: packet.KindPing, Seq: 1},
		{Kind: packet.KindPong, Seq: 1},
		{Kind: packet.KindError, Code: 4, Message: "x"},
		{},
	} {
		if b := socketio.Encoder.Encode(p); b != nil {
			t.Errorf("Encode(kind %d) = %q, want nil", p.Kind, b)
		}
		if a := socketio.Attachments(p); a != nil {
			t.Errorf("Attachments(kind %d) = %v, want nil", p.Kind, a)
		}
	}
}

func TestAttachmentsNoCopy(t *testing.T) {
	t.Parallel()
	nested := [][]byte{{1}, {2}}
	b := []byte{3}
	p := &packet.Packet{Kind: packet.KindEvent, Name: "m", Args: []packet.Arg{bin(b...), jsa(`[`+ph(0)+`,`+ph(1)+`]`, nested...)}}
	got := socketio.Attachments(p)
	if len(got) != 3 || &got[0][0] != &b[0] || &got[1][0] != &nested[0][0] || &got[2][0] != &nested[1][0] {
		t.Errorf("Attachments = %v, want the packet's own slices", got)
	}
	if len(p.Args[1].Attachments) != 2 || string(p.Args[1].Data) != `[`+ph(0)+`,`+ph(1)+`]` {
		t.Error("Attachments modified the packet")
	}
	if socketio.Attachments(&packet.Packet{Kind: packet.KindEvent, Name: "m", Args: []packet.Arg{js(`1`)}}) != nil {
		t.Error("Attachments of a text-only packet is not nil")
	}
}

// TestStringEscaping checks that the strings the codec writes decode, with encoding/json, to what was
// encoded (invalid UTF-8 aside), for every ASCII character and a few others.
func TestStringEscaping(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for c := range 0x80 {
		b.WriteByte(byte(c))
	}
	for _, s := range []string{b.String(), "é\u2028\u2029\U0001F600\uFFFD", "", `\u0000`} {
		frame := socketio.Encoder.Encode(&packet.Packet{Kind: packet.KindConnected, SID: s})
		var v struct{ SID string }
		if err := json.Unmarshal(frame[2:], &v); err != nil {
			t.Fatalf("%q: %v", frame, err)
		}
		if v.SID != s {
			t.Errorf("sid %q came back as %q", s, v.SID)
		}
		if bytes.Contains(frame, []byte(`\u003c`)) || bytes.Contains(frame, []byte(`\u2028`)) {
			t.Errorf("HTML or line separator escaping in %q", frame)
		}
		if !utf8.Valid(frame) {
			t.Errorf("invalid UTF-8 in %q", frame)
		}
	}
}
