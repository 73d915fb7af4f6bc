package wire_test

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/roomio/roomio/internal/packet"
	wirev1 "github.com/roomio/roomio/proto/roomio/wire/v1"
	"github.com/roomio/roomio/transport/wire"
	"github.com/roomio/roomio/transport/wire/wiretest"
)

// FuzzDecodeFrame feeds arbitrary bytes to DecodeFrame in both formats (json selects the format) and
// checks that decoding never panics, fails only with the documented errors, and that everything that
// decodes survives a decode → ToMessage → encode → decode round trip in both formats. split cuts the input
// in two, as a reader that got a partial message would see it.
//
// Run it with: go test -run='^$' -fuzz=FuzzDecodeFrame -fuzztime=20s ./transport/wire/
func FuzzDecodeFrame(f *testing.F) {
	samples := samplePackets()
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range samples {
			if !yield(name) {
				return
			}
		}
	})
	all := make([]*packet.Packet, 0, len(names))
	for _, name := range names {
		all = append(all, samples[name])
	}
	for _, fm := range wiretest.Formats {
		json := fm == wire.FormatJSON
		for i, p := range all {
			frame := wire.EncodeFrame(fm, p)
			f.Add(json, frame, uint16(i))
			f.Add(json, frame, uint16(len(frame)/2))
		}
		f.Add(json, wire.EncodeFrame(fm, all...), uint16(7))
		f.Add(json, wire.EncodeFrame(fm, all[:3]...), uint16(100))
	}
	// Wire messages the encoder never makes: unknown kinds, args without a value, invalid JSON args.
	odd := []*wirev1.Message{
		{},
		{Kind: &wirev1.Message_Event{Event: &wirev1.Event{Name: "e", Args: []*wirev1.Arg{{}, {Value: &wirev1.Arg_Json{Json: "{"}}}}}},
		{Kind: &wirev1.Message_Connect{Connect: &wirev1.Connect{Auth: "nope"}}},
		{Kind: &wirev1.Message_RoomMessage{RoomMessage: &wirev1.RoomMessage{Room: "r", Args: []*wirev1.Arg{{Value: &wirev1.Arg_Json{Json: "]"}}}}}},
	}
	for _, fm := range wiretest.Formats {
		fr := &wirev1.Frame{Messages: odd}
		var b []byte
		if fm == wire.FormatJSON {
			b = []byte(`{"messages":[{},{"event":{"name":"e","args":[{},{"json":"{"}]}},{"connect":{"auth":"nope"}},{"future":{}}]}`)
		} else {
			b, _ = proto.Marshal(fr)
			b = append(b, wiretest.ProtoFrame(wiretest.UnknownKind())...)
		}
		f.Add(fm == wire.FormatJSON, b, uint16(3))
	}
	// Garbage.
	for _, b := range [][]byte{nil, {0}, {0xff, 0xff, 0xff}, []byte("{"), []byte(`{"messages":`), []byte("\xc3\x28"), []byte(`{"messages":[{"ping":{"seq":"-1"}}]}`)} {
		f.Add(false, b, uint16(1))
		f.Add(true, b, uint16(1))
	}

	f.Fuzz(func(t *testing.T, json bool, data []byte, split uint16) {
		fm := wire.FormatProto
		if json {
			fm = wire.FormatJSON
		}
		msgs := checkDecode(t, fm, data)

		// The limited decode agrees with the unlimited one: the same messages within the limit, and
		// ErrTooManyMessages (nothing else) beyond it, the proto count being taken before decoding.
		limit := int(split%8) + 1
		lm, lerr := wire.DecodeFrameLimit(fm, data, limit)
		switch {
		case msgs == nil:
			if lerr == nil {
				t.Fatalf("DecodeFrameLimit decoded %d messages of a frame DecodeFrame refuses", len(lm))
			}
		case len(msgs) > limit:
			if !errors.Is(lerr, wire.ErrTooManyMessages) || lm != nil {
				t.Fatalf("DecodeFrameLimit(%d) of %d messages = %d, %v", limit, len(msgs), len(lm), lerr)
			}
		default:
			if lerr != nil || len(lm) != len(msgs) {
				t.Fatalf("DecodeFrameLimit(%d) of %d messages = %d, %v", limit, len(msgs), len(lm), lerr)
			}
		}

		// Partial reads: either half alone must fail cleanly or decode. In the binary format a frame is a
		// concatenation, so when both halves decode, the whole holds their messages in order.
		k := int(split) % (len(data) + 1)
		head := checkDecode(t, fm, data[:k])
		tail := checkDecode(t, fm, data[k:])
		if fm == wire.FormatProto && head != nil && tail != nil {
			if len(msgs) != len(head)+len(tail) {
				t.Fatalf("whole frame has %d messages, its halves %d + %d", len(msgs), len(head), len(tail))
			}
			for i, m := range append(head, tail...) {
				if !proto.Equal(m, msgs[i]) {
					t.Fatalf("message %d: whole %v, halves %v", i, msgs[i], m)
				}
			}
		}
	})
}

// checkDecode decodes data and checks what it can about the result; it returns the messages, or nil when
// the frame did not decode.
func checkDecode(t *testing.T, fm wire.Format, data []byte) []*wirev1.Message {
	t.Helper()
	msgs, err := wire.DecodeFrame(fm, data)
	if err != nil {
		if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrInvalidUTF8) {
			t.Fatalf("DecodeFrame: undocumented error %v", err)
		}
		if msgs != nil {
			t.Fatalf("DecodeFrame returned messages with error %v", err)
		}
		return nil
	}
	if len(msgs) == 0 {
		t.Fatal("DecodeFrame returned no messages and no error")
	}
	var ps []*packet.Packet
	for _, m := range msgs {
		p, err := wire.FromMessage(m)
		if p == nil {
			t.Fatalf("FromMessage(%v) returned a nil packet (err %v)", m, err)
		}
		if err != nil {
			if !errors.Is(err, wire.ErrUnknownKind) && !errors.Is(err, wire.ErrInvalidArg) {
				t.Fatalf("FromMessage(%v): undocumented error %v", m, err)
			}
			continue
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return msgs
	}
	// Re-encode what converted, in both formats, and decode it again: the packets must be unchanged.
	for _, out := range wiretest.Formats {
		frame := wire.EncodeFrame(out, ps...)
		got, err := wire.DecodeFrame(out, frame)
		if err != nil {
			t.Fatalf("re-encoded %s frame %q does not decode: %v", wiretest.FormatName(out), frame, err)
		}
		if len(got) != len(ps) {
			t.Fatalf("re-encoded %s frame holds %d messages, want %d", wiretest.FormatName(out), len(got), len(ps))
		}
		for i, m := range got {
			p2, err := wire.FromMessage(m)
			if err != nil {
				t.Fatalf("re-encoded %s message %v: %v", wiretest.FormatName(out), m, err)
			}
			if d := wiretest.PacketDiff(p2, ps[i]); d != "" {
				t.Fatalf("%s round trip of %v: %s", wiretest.FormatName(out), m, d)
			}
			if want := wire.ToMessage(ps[i]); !proto.Equal(m, want) {
				t.Fatalf("%s round trip: wire message %v, want %v", wiretest.FormatName(out), m, want)
			}
		}
	}
	return msgs
}
