package engineio_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/roomio/roomio/transport/engineio"
)

// FuzzDecodePayload checks that DecodePayload never panics, that what it decodes encodes back to a
// payload that decodes to the same packets, and that a payload split at a separator decodes as its two
// halves.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello", "4hello\x1ebAQIDBA==", "4test1\x1e4test2\x1e4test3", "2", "3", "3probe", "1", "5", "6",
		"4", "4€\x1e4", "b", "bAQ", "bAQ==", "bAQI=\x1e4x", "", "\x1e", "abc", "4a\x1e", "7", "b!!!",
	} {
		f.Add([]byte(s), uint8(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		frames, err := engineio.DecodePayload(data)
		if err != nil {
			if !errors.Is(err, engineio.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
		}
		for i, fr := range frames {
			if !fr.Binary && (len(fr.Data) == 0 || fr.Data[0] < '0' || fr.Data[0] > '6' || bytes.IndexByte(fr.Data, 0x1e) >= 0) {
				t.Fatalf("frame %d: invalid text packet %q", i, fr.Data)
			}
		}
		if err != nil {
			return
		}
		enc := engineio.AppendPayload(nil, frames)
		again, err := engineio.DecodePayload(enc)
		if err != nil {
			t.Fatalf("re-encoded payload %q: %v", enc, err)
		}
		if !slices.EqualFunc(frames, again, func(a, b engineio.Frame) bool {
			return a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
		}) {
			t.Fatalf("round trip: %v → %v", frames, again)
		}
		if len(frames) > 1 {
			// Splitting between two packets gives the same packets as decoding both halves.
			k := int(split) % (len(frames) - 1)
			a := engineio.AppendPayload(nil, frames[:k+1])
			b := engineio.AppendPayload(nil, frames[k+1:])
			fa, errA := engineio.DecodePayload(a)
			fb, errB := engineio.DecodePayload(b)
			if errA != nil || errB != nil || len(fa)+len(fb) != len(frames) {
				t.Fatalf("halves %q, %q: %v, %v", a, b, errA, errB)
			}
		}
	})
}
