package wire_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/roomio/roomio/internal/packet"
	wirev1 "github.com/roomio/roomio/proto/roomio/wire/v1"
	"github.com/roomio/roomio/transport/wire"
	"github.com/roomio/roomio/transport/wire/wiretest"
)

// samplePackets returns one packet of every kind, with every field the kind uses set, and a few variants
// (no args, binary args, empty strings, extreme numbers). Each call returns fresh packets, so their
// encoding caches are empty.
func samplePackets() map[string]*packet.Packet {
	return map[string]*packet.Packet{
		"connect":            {Kind: packet.KindConnect, Namespace: "/chat", Data: []byte(`{"token":"abc"}`)},
		"connect/no-auth":    {Kind: packet.KindConnect, Namespace: "/"},
		"connected":          {Kind: packet.KindConnected, Namespace: "/chat", SID: "s0cket-1d"},
		"connected/resume":   {Kind: packet.KindConnected, Namespace: "/chat", SID: "s0cket-1d", PID: "pr1vate"},
		"connect/resume":     {Kind: packet.KindConnect, Namespace: "/", PID: "pr1vate", Offset: "k3x"},
		"event/offset":       {Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{{Data: []byte(`1`)}}, Offset: "k3y"},
		"event/nested":       {Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{{Data: []byte(`{"f":{"_placeholder":true,"num":0}}`), Attachments: [][]byte{{7}}}}},
		"connect-error":      {Kind: packet.KindConnectError, Namespace: "/admin", Message: "Invalid namespace", Data: []byte(`{"retry":false}`)},
		"connect-error/bare": {Kind: packet.KindConnectError, Namespace: "/admin", Message: "no"},
		"event": {Kind: packet.KindEvent, Namespace: "/chat", Name: "message", AckID: 42, Args: []packet.Arg{
			{Data: []byte(`"hello, 世界"`)},
			{Data: []byte(`{"a":[1,2.5,null,true]}`)},
			{Data: []byte{0, 1, 2, 0xff}, Binary: true},
			{Data: []byte(`null`)},
		}},
		"event/no-args":     {Kind: packet.KindEvent, Namespace: "/", Name: "tick"},
		"event/empty-bin":   {Kind: packet.KindEvent, Name: "blob", Args: []packet.Arg{{Data: []byte{}, Binary: true}}},
		"event/max-ack":     {Kind: packet.KindEvent, Name: "e", AckID: math.MaxUint64, Args: []packet.Arg{{Data: []byte(`1e308`)}}},
		"ack":               {Kind: packet.KindAck, Namespace: "/chat", AckID: 7, Args: []packet.Arg{{Data: []byte(`{"ok":true}`)}, {Data: []byte("bin"), Binary: true}}},
		"ack/no-args":       {Kind: packet.KindAck, Namespace: "/", AckID: 1},
		"disconnect":        {Kind: packet.KindDisconnect, Namespace: "/chat", Code: 1000, Message: "server namespace disconnect"},
		"disconnect/client": {Kind: packet.KindDisconnect, Namespace: "/chat"},
		"ping":              {Kind: packet.KindPing, Seq: 1},
		"ping/max":          {Kind: packet.KindPing, Seq: math.MaxUint64},
		"pong":              {Kind: packet.KindPong, Seq: 99},
		"error":             {Kind: packet.KindError, Namespace: "/chat", Code: 4, Message: "native: argument is not valid JSON"},
		"error/ack":         {Kind: packet.KindError, Namespace: "/game", Code: 7, Message: "actors: socket is not in the room", AckID: 9},
		"room-message": {Kind: packet.KindRoomMessage, Namespace: "/game", Room: "match:1", Name: "move", AckID: 3, Args: []packet.Arg{
			{Data: []byte(`{"x":1,"y":2}`)}, {Data: []byte{0, 1}, Binary: true}}},
		"room-message/bare": {Kind: packet.KindRoomMessage, Namespace: "/", Room: "r", Name: "ping"},
	}
}

// decodePackets decodes one frame and converts every message, failing the test on any error.
func decodePackets(t *testing.T, f wire.Format, frame []byte) []*packet.Packet {
	t.Helper()
	msgs, err := wire.DecodeFrame(f, frame)
	if err != nil {
		t.Fatalf("DecodeFrame(%s, %q): %v", wiretest.FormatName(f), frame, err)
	}
	ps := make([]*packet.Packet, len(msgs))
	for i, m := range msgs {
		if ps[i], err = wire.FromMessage(m); err != nil {
			t.Fatalf("FromMessage(%v): %v", m, err)
		}
	}
	return ps
}

func TestFormat(t *testing.T) {
	t.Parallel()
	if got := wire.FormatProto.Subprotocol(); got != wire.SubprotocolProto {
		t.Errorf("FormatProto.Subprotocol() = %q", got)
	}
	if got := wire.FormatJSON.Subprotocol(); got != wire.SubprotocolJSON {
		t.Errorf("FormatJSON.Subprotocol() = %q", got)
	}
	// Packets cache one encoding per slot, so the two formats must not share one.
	ps, js := wire.FormatProto.Encoder().Slot(), wire.FormatJSON.Encoder().Slot()
	if ps != packet.SlotNativeProto || js != packet.SlotNativeJSON {
		t.Errorf("slots: proto %d, json %d; want %d, %d", ps, js, packet.SlotNativeProto, packet.SlotNativeJSON)
	}
	// A packet encoded in both formats keeps both encodings apart.
	p := &packet.Packet{Kind: packet.KindPing, Seq: 3}
	pb, jb := p.Encode(wire.FormatProto.Encoder()), p.Encode(wire.FormatJSON.Encoder())
	if bytes.Equal(pb, jb) || !utf8.Valid(jb) {
		t.Errorf("encodings: proto %q, json %q", pb, jb)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		for name, p := range samplePackets() {
			t.Run(name, func(t *testing.T) {
				frame := wire.EncodeFrame(f, p)
				if f == wire.FormatJSON && !utf8.Valid(frame) {
					t.Fatalf("JSON frame is not valid UTF-8: %q", frame)
				}
				msgs, err := wire.DecodeFrame(f, frame)
				if err != nil {
					t.Fatalf("DecodeFrame(%q): %v", frame, err)
				}
				if len(msgs) != 1 {
					t.Fatalf("decoded %d messages, want 1", len(msgs))
				}
				if want := wire.ToMessage(p); !proto.Equal(msgs[0], want) {
					t.Errorf("wire message = %v, want %v", msgs[0], want)
				}
				got, err := wire.FromMessage(msgs[0])
				if err != nil {
					t.Fatalf("FromMessage(%v): %v", msgs[0], err)
				}
				if d := wiretest.PacketDiff(got, p); d != "" {
					t.Errorf("round trip through %q: %s", frame, d)
				}
			})
		}
	})
}

func TestCodecBatch(t *testing.T) {
	t.Parallel()
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		samples := samplePackets()
		var want []*packet.Packet
		var encoded [][]byte
		for _, p := range samples {
			want = append(want, p)
			encoded = append(encoded, p.Encode(f.Encoder()))
		}
		check := func(t *testing.T, frame []byte) {
			t.Helper()
			got := decodePackets(t, f, frame)
			if len(got) != len(want) {
				t.Fatalf("decoded %d packets, want %d", len(got), len(want))
			}
			for i := range want {
				if d := wiretest.PacketDiff(got[i], want[i]); d != "" {
					t.Errorf("packet %d: %s", i, d)
				}
			}
		}

		t.Run("AppendBatch", func(t *testing.T) {
			// Appending keeps what dst already holds.
			prefix := []byte("prefix")
			frame := wire.AppendBatch(f, append([]byte(nil), prefix...), encoded)
			if !bytes.HasPrefix(frame, prefix) {
				t.Fatalf("AppendBatch dropped dst's contents: %q", frame)
			}
			check(t, frame[len(prefix):])
		})
		t.Run("EncodeFrame", func(t *testing.T) {
			check(t, wire.EncodeFrame(f, want...))
		})
		t.Run("one", func(t *testing.T) {
			// A batch of one is the same as the frame EncodeFrame makes for one packet.
			p := want[0]
			if a, b := wire.AppendBatch(f, nil, encoded[:1]), wire.EncodeFrame(f, p); !bytes.Equal(a, b) {
				t.Fatalf("AppendBatch of one = %q, EncodeFrame = %q", a, b)
			}
		})
		if f == wire.FormatProto {
			t.Run("concatenated-frames", func(t *testing.T) {
				// Binary frames written back to back are one frame holding all their messages.
				var frame []byte
				for _, p := range want {
					frame = append(frame, wire.EncodeFrame(f, p)...)
				}
				check(t, frame)
			})
		}
	})
}

func TestDecodeDocumentedJSON(t *testing.T) {
	t.Parallel()
	// The examples from docs/protocol.md, and the number form of a uint64 that the mapping also accepts.
	for _, tc := range []struct {
		frame string
		want  *packet.Packet
	}{
		{`{"messages":[{"event":{"namespace":"/","name":"join","args":[{"json":"\"lobby\""}],"ackId":"1"}}]}`,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "join", AckID: 1, Args: []packet.Arg{{Data: []byte(`"lobby"`)}}}},
		{`{"messages":[{"ack":{"namespace":"/","ackId":"1","args":[{"json":"{\"ok\":true,\"rooms\":[\"lobby\"]}"}]}}]}`,
			&packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 1, Args: []packet.Arg{{Data: []byte(`{"ok":true,"rooms":["lobby"]}`)}}}},
		{`{"messages":[{"pong":{"seq":12}}]}`, &packet.Packet{Kind: packet.KindPong, Seq: 12}},
		{`{"messages":[{"roomMessage":{"namespace":"/","room":"match:1","name":"move","args":[{"json":"{\"x\":1}"}],"ackId":"4"}}]}`,
			&packet.Packet{Kind: packet.KindRoomMessage, Namespace: "/", Room: "match:1", Name: "move", AckID: 4, Args: []packet.Arg{{Data: []byte(`{"x":1}`)}}}},
		{`{"messages":[{"error":{"namespace":"/","code":7,"message":"not in room","ackId":"4"}}]}`,
			&packet.Packet{Kind: packet.KindError, Namespace: "/", Code: 7, Message: "not in room", AckID: 4}},
		{`{"messages":[{"connectError":{"namespace":"/x","message":"m"}}]}`, &packet.Packet{Kind: packet.KindConnectError, Namespace: "/x", Message: "m"}},
		{`{"messages":[{"event":{"name":"b","args":[{"binary":"AAH/"}]}}]}`,
			&packet.Packet{Kind: packet.KindEvent, Name: "b", Args: []packet.Arg{{Data: []byte{0, 1, 0xff}, Binary: true}}}},
	} {
		got := decodePackets(t, wire.FormatJSON, []byte(tc.frame))
		if len(got) != 1 {
			t.Fatalf("%s: decoded %d packets, want 1", tc.frame, len(got))
		}
		if d := wiretest.PacketDiff(got[0], tc.want); d != "" {
			t.Errorf("%s: %s", tc.frame, d)
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		f     wire.Format
		frame []byte
		want  error
	}{
		{"proto/empty", wire.FormatProto, nil, wire.ErrMalformed},
		{"proto/garbage", wire.FormatProto, []byte{0xff, 0xff, 0xff, 0xff}, wire.ErrMalformed},
		{"proto/text", wire.FormatProto, []byte("hello, world"), wire.ErrMalformed},
		{"proto/truncated", wire.FormatProto, wire.EncodeFrame(wire.FormatProto, samplePackets()["event"])[:10], wire.ErrMalformed},
		{"proto/wrong-wire-type", wire.FormatProto, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1), wire.ErrMalformed},
		{"proto/invalid-utf8-string", wire.FormatProto, wiretest.ProtoFrame(protoMessage(4, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{0xff}))), wire.ErrMalformed},
		{"proto/unknown-field-only", wire.FormatProto, protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1), wire.ErrMalformed},
		{"json/empty", wire.FormatJSON, nil, wire.ErrMalformed},
		{"json/garbage", wire.FormatJSON, []byte("not json"), wire.ErrMalformed},
		{"json/array", wire.FormatJSON, []byte(`[{"ping":{}}]`), wire.ErrMalformed},
		{"json/no-messages", wire.FormatJSON, []byte(`{}`), wire.ErrMalformed},
		{"json/empty-messages", wire.FormatJSON, []byte(`{"messages":[]}`), wire.ErrMalformed},
		{"json/truncated", wire.FormatJSON, []byte(`{"messages":[{"ping":{}}`), wire.ErrMalformed},
		{"json/wrong-type", wire.FormatJSON, []byte(`{"messages":[{"ping":{"seq":"x"}}]}`), wire.ErrMalformed},
		{"json/two-kinds", wire.FormatJSON, []byte(`{"messages":[{"ping":{},"pong":{}}]}`), wire.ErrMalformed},
		{"json/bad-base64", wire.FormatJSON, []byte(`{"messages":[{"event":{"args":[{"binary":"%%"}]}}]}`), wire.ErrMalformed},
		{"json/invalid-utf8", wire.FormatJSON, []byte("{\"messages\":[{\"event\":{\"name\":\"\xff\"}}]}"), wire.ErrInvalidUTF8},
		{"json/invalid-utf8-garbage", wire.FormatJSON, []byte{0xc3, 0x28}, wire.ErrInvalidUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, err := wire.DecodeFrame(tc.f, tc.frame)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeFrame(%q) = (%v, %v), want %v", tc.frame, msgs, err, tc.want)
			}
			if msgs != nil {
				t.Fatalf("DecodeFrame returned messages with an error: %v", msgs)
			}
		})
	}
}

// protoMessage returns the binary encoding of a Message whose field num holds the (already encoded)
// message body.
func protoMessage(num protowire.Number, body []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), body)
}

func TestUnknownKind(t *testing.T) {
	t.Parallel()
	ping := wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindPing, Seq: 5})
	for _, tc := range []struct {
		name  string
		f     wire.Format
		frame []byte
	}{
		{"proto/unknown-field", wire.FormatProto, append(wiretest.ProtoFrame(wiretest.UnknownKind()), ping...)},
		{"proto/empty-message", wire.FormatProto, append(wiretest.ProtoFrame(nil), ping...)},
		{"json/unknown-field", wire.FormatJSON, []byte(`{"messages":[{"future":{"x":1}},{"ping":{"seq":"5"}}]}`)},
		{"json/empty-message", wire.FormatJSON, []byte(`{"messages":[{},{"ping":{"seq":"5"}}]}`)},
		{"json/null-kind", wire.FormatJSON, []byte(`{"messages":[{"event":null},{"ping":{"seq":"5"}}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The frame decodes: a message of unknown kind is answered and skipped, not fatal...
			msgs, err := wire.DecodeFrame(tc.f, tc.frame)
			if err != nil {
				t.Fatalf("DecodeFrame(%q): %v", tc.frame, err)
			}
			if len(msgs) != 2 {
				t.Fatalf("decoded %d messages, want 2", len(msgs))
			}
			p, err := wire.FromMessage(msgs[0])
			if !errors.Is(err, wire.ErrUnknownKind) {
				t.Fatalf("FromMessage(%v) = (%+v, %v), want ErrUnknownKind", msgs[0], p, err)
			}
			if p == nil {
				t.Fatal("FromMessage returned a nil packet with its error")
			}
			// ...and the messages after it are unaffected.
			p, err = wire.FromMessage(msgs[1])
			if err != nil || p.Kind != packet.KindPing || p.Seq != 5 {
				t.Fatalf("second message: (%+v, %v), want ping 5", p, err)
			}
		})
	}
}

func TestInvalidArg(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    *wirev1.Message
	}{
		{"event", &wirev1.Message{Kind: &wirev1.Message_Event{Event: &wirev1.Event{Namespace: "/ns", Name: "e",
			Args: []*wirev1.Arg{{Value: &wirev1.Arg_Json{Json: "1"}}, {Value: &wirev1.Arg_Json{Json: "{"}}}}}}},
		{"event/empty-json", &wirev1.Message{Kind: &wirev1.Message_Event{Event: &wirev1.Event{Namespace: "/ns", Name: "e",
			Args: []*wirev1.Arg{{Value: &wirev1.Arg_Json{Json: ""}}}}}}},
		{"event/two-values", &wirev1.Message{Kind: &wirev1.Message_Event{Event: &wirev1.Event{Namespace: "/ns", Name: "e",
			Args: []*wirev1.Arg{{Value: &wirev1.Arg_Json{Json: "1 2"}}}}}}},
		{"ack", &wirev1.Message{Kind: &wirev1.Message_Ack{Ack: &wirev1.Ack{Namespace: "/ns", AckId: 3,
			Args: []*wirev1.Arg{{Value: &wirev1.Arg_Json{Json: "nope"}}}}}}},
		{"connect-auth", &wirev1.Message{Kind: &wirev1.Message_Connect{Connect: &wirev1.Connect{Namespace: "/ns", Auth: "{'a':1}"}}}},
	} {
		for _, f := range wiretest.Formats {
			t.Run(tc.name+"/"+wiretest.FormatName(f), func(t *testing.T) {
				t.Parallel()
				frame := marshalFrame(t, f, tc.m)
				msgs, err := wire.DecodeFrame(f, frame)
				if err != nil {
					t.Fatalf("DecodeFrame(%q): %v", frame, err)
				}
				p, err := wire.FromMessage(msgs[0])
				if !errors.Is(err, wire.ErrInvalidArg) {
					t.Fatalf("FromMessage = (%+v, %v), want ErrInvalidArg", p, err)
				}
				// The namespace comes back with the error, to address the Error packet.
				if p == nil || p.Namespace != "/ns" {
					t.Fatalf("FromMessage returned packet %+v, want namespace /ns", p)
				}
			})
		}
	}
}

// marshalFrame encodes a Frame holding msgs in format f, as a client would.
func marshalFrame(t *testing.T, f wire.Format, msgs ...*wirev1.Message) []byte {
	t.Helper()
	fr := &wirev1.Frame{Messages: msgs}
	var b []byte
	var err error
	if f == wire.FormatJSON {
		b, err = protojson.Marshal(fr)
	} else {
		b, err = proto.Marshal(fr)
	}
	if err != nil {
		t.Fatalf("marshal %v: %v", fr, err)
	}
	return b
}

func TestArgWithoutValueIsNull(t *testing.T) {
	t.Parallel()
	m := &wirev1.Message{Kind: &wirev1.Message_Event{Event: &wirev1.Event{Name: "e", Args: []*wirev1.Arg{
		{}, {Value: &wirev1.Arg_Json{Json: `"x"`}}, {},
	}}}}
	for _, f := range wiretest.Formats {
		t.Run(wiretest.FormatName(f), func(t *testing.T) {
			t.Parallel()
			frame := marshalFrame(t, f, m)
			if f == wire.FormatJSON && !bytes.Contains(frame, []byte(`{}`)) {
				t.Fatalf("JSON frame %s does not hold an empty Arg", frame)
			}
			got := decodePackets(t, f, frame)
			want := &packet.Packet{Kind: packet.KindEvent, Name: "e", Args: []packet.Arg{
				{Data: []byte("null")}, {Data: []byte(`"x"`)}, {Data: []byte("null")},
			}}
			if d := wiretest.PacketDiff(got[0], want); d != "" {
				t.Fatal(d)
			}
			var v any = "not nil"
			if err := got[0].Args[0].Decode(&v); err != nil || v != nil {
				t.Fatalf("decoding the arg = (%v, %v), want nil", v, err)
			}
		})
	}
	// The JSON mapping's null for an arg's value is the same as no value.
	got := decodePackets(t, wire.FormatJSON, []byte(`{"messages":[{"event":{"name":"e","args":[{"json":null}]}}]}`))
	if len(got[0].Args) != 1 || string(got[0].Args[0].Data) != "null" || got[0].Args[0].Binary {
		t.Fatalf("args = %+v, want one JSON null", got[0].Args)
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	t.Parallel()
	// Protobuf strings must be UTF-8, but a packet's strings come from server code (event names, error
	// texts) and may not be. Encoding must not fail (or panic); bad bytes become U+FFFD.
	bad := "bad\xffname"
	wiretest.ForEachFormat(t, func(t *testing.T, f wire.Format) {
		p := &packet.Packet{Kind: packet.KindEvent, Namespace: "/\xc3", Name: bad, Args: []packet.Arg{{Data: []byte("\"\xfe\"")}}}
		got := decodePackets(t, f, wire.EncodeFrame(f, p))
		want := &packet.Packet{Kind: packet.KindEvent, Namespace: "/\uFFFD", Name: "bad\uFFFDname", Args: []packet.Arg{{Data: []byte("\"\uFFFD\"")}}}
		if d := wiretest.PacketDiff(got[0], want); d != "" {
			t.Fatal(d)
		}
		e := &packet.Packet{Kind: packet.KindError, Code: 4, Message: bad}
		if got := decodePackets(t, f, wire.EncodeFrame(f, e)); got[0].Message != "bad\uFFFDname" {
			t.Fatalf("error message = %q", got[0].Message)
		}
	})
}

func TestServerKindsDecode(t *testing.T) {
	t.Parallel()
	// FromMessage converts server-to-client kinds too (the Go client uses it); refusing them from a
	// client is the server's job, not the codec's.
	for _, name := range []string{"connected", "connect-error", "ping", "error"} {
		p := samplePackets()[name]
		got := decodePackets(t, wire.FormatProto, wire.EncodeFrame(wire.FormatProto, p))
		if d := wiretest.PacketDiff(got[0], p); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
}

// Binary nested in a Socket.IO client's JSON argument travels with that argument, both ways.
func TestNestedAttachmentsStayWithTheirArgument(t *testing.T) {
	p := &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "upload",
		Args: []packet.Arg{{Data: []byte{9}, Binary: true}, {Data: []byte(`{"file":{"_placeholder":true,"num":0}}`), Attachments: [][]byte{{1, 2, 3}}}}}
	for _, f := range []wire.Format{wire.FormatProto, wire.FormatJSON} {
		msgs, err := wire.DecodeFrame(f, wire.EncodeFrame(f, p))
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.FromMessage(msgs[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Args) != 2 || !got.Args[0].Binary || string(got.Args[1].Data) != `{"file":{"_placeholder":true,"num":0}}` ||
			len(got.Args[1].Attachments) != 1 || !bytes.Equal(got.Args[1].Attachments[0], []byte{1, 2, 3}) {
			t.Fatalf("format %d: args %+v", f, got.Args)
		}
	}
}

// A native client's nested attachments must match the placeholders of their JSON argument: a
// Socket.IO receiver would otherwise find another argument's buffer, or none, in their place.
func TestNestedAttachmentsChecked(t *testing.T) {
	att := [][]byte{{1}}
	for name, a := range map[string]*wirev1.Arg{
		"num-too-big":     {Value: &wirev1.Arg_Json{Json: `[{"_placeholder":true,"num":1}]`}, Attachments: att},
		"num-negative":    {Value: &wirev1.Arg_Json{Json: `{"_placeholder":true,"num":-1}`}, Attachments: att},
		"num-not-integer": {Value: &wirev1.Arg_Json{Json: `{"a":{"_placeholder":true,"num":0.5}}`}, Attachments: att},
		"num-missing":     {Value: &wirev1.Arg_Json{Json: `{"a":{"_placeholder":true}}`}, Attachments: att},
		"on-binary":       {Value: &wirev1.Arg_Binary{Binary: []byte{1}}, Attachments: att},
		"on-null":         {Attachments: att},
	} {
		if _, err := wire.ArgsFromWire([]*wirev1.Arg{a}); !errors.Is(err, wire.ErrInvalidArg) {
			t.Errorf("%s: err %v, want ErrInvalidArg", name, err)
		}
	}
	ok := &wirev1.Arg{Value: &wirev1.Arg_Json{Json: `{"a":[{"_placeholder":true,"num":0},{"_placeholder":false,"num":7}]}`}, Attachments: att}
	if args, err := wire.ArgsFromWire([]*wirev1.Arg{ok}); err != nil || len(args[0].Attachments) != 1 {
		t.Errorf("valid nested attachments: %v, %+v", err, args)
	}
}
