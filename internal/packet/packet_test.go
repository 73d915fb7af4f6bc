package packet_test

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/roomio/roomio/internal/packet"
)

// countingEncoder is an Encoder for one slot that counts its calls and returns out (or, when out is nil
// and nilOut is false, a text naming the slot and the packet's sequence number).
type countingEncoder struct {
	slot   packet.Slot
	calls  atomic.Int32
	nilOut bool
}

func (e *countingEncoder) Slot() packet.Slot { return e.slot }

func (e *countingEncoder) Encode(p *packet.Packet) []byte {
	e.calls.Add(1)
	if e.nilOut {
		return nil
	}
	return fmt.Appendf(nil, "slot %d seq %d", e.slot, p.Seq)
}

func TestSlots(t *testing.T) {
	t.Parallel()
	slots := []packet.Slot{packet.SlotNativeProto, packet.SlotNativeJSON, packet.SlotSocketIO}
	if int(packet.NumSlots) != len(slots) {
		t.Fatalf("NumSlots = %d, want %d (one per named slot)", packet.NumSlots, len(slots))
	}
	seen := map[packet.Slot]bool{}
	for _, s := range slots {
		if s >= packet.NumSlots {
			t.Errorf("slot %d is not below NumSlots (%d)", s, packet.NumSlots)
		}
		if seen[s] {
			t.Errorf("slot %d named twice", s)
		}
		seen[s] = true
	}
}

// TestEncodeOnce asks for every format from many goroutines at once: each encoder runs exactly once per
// packet, and every caller gets the same bytes.
func TestEncodeOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		goroutines int
		nilOut     bool
	}{
		{"one caller", 1, false},
		{"many callers", 64, false},
		{"many callers, nil encoding", 64, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			encs := make([]*countingEncoder, packet.NumSlots)
			for s := range encs {
				encs[s] = &countingEncoder{slot: packet.Slot(s), nilOut: tt.nilOut}
			}
			p := &packet.Packet{Kind: packet.KindPing, Seq: 7}
			got := make([][][]byte, tt.goroutines) // got[goroutine][slot]
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range tt.goroutines {
				got[g] = make([][]byte, len(encs))
				wg.Go(func() {
					<-start
					// Goroutines walk the slots in different orders, so several slots are first
					// encoded concurrently.
					for i := range encs {
						s := (g + i) % len(encs)
						got[g][s] = p.Encode(encs[s])
					}
				})
			}
			close(start)
			wg.Wait()
			for s, e := range encs {
				if n := e.calls.Load(); n != 1 {
					t.Errorf("slot %d: encoder called %d times, want 1", s, n)
				}
				var want []byte
				if !tt.nilOut {
					want = fmt.Appendf(nil, "slot %d seq 7", s)
				}
				for g := range got {
					b := got[g][s]
					if !bytes.Equal(b, want) || (b == nil) != (want == nil) {
						t.Fatalf("slot %d, goroutine %d: got %q, want %q", s, g, b, want)
					}
					if len(b) > 0 && &b[0] != &got[0][s][0] {
						t.Fatalf("slot %d, goroutine %d: got a copy, want the shared bytes", s, g)
					}
				}
			}
		})
	}
}

// TestEncodeSlotIsTheCacheKey shows why two formats must not share a slot: the second encoder for a slot
// gets the first one's bytes and never runs.
func TestEncodeSlotIsTheCacheKey(t *testing.T) {
	t.Parallel()
	p := &packet.Packet{Kind: packet.KindPong, Seq: 1}
	first := &countingEncoder{slot: packet.SlotSocketIO}
	second := &countingEncoder{slot: packet.SlotSocketIO, nilOut: true}
	other := &countingEncoder{slot: packet.SlotNativeJSON}
	a, b, c := p.Encode(first), p.Encode(second), p.Encode(other)
	if !bytes.Equal(a, b) || second.calls.Load() != 0 {
		t.Errorf("same slot: got %q and %q, second encoder called %d times; want the cached bytes, 0 calls", a, b, second.calls.Load())
	}
	if bytes.Equal(a, c) || other.calls.Load() != 1 {
		t.Errorf("other slot: got %q (first %q), %d calls; want its own encoding, 1 call", c, a, other.calls.Load())
	}
	// A fresh packet has an empty cache.
	q := &packet.Packet{Kind: packet.KindPong, Seq: 2}
	if got, want := string(q.Encode(first)), fmt.Sprintf("slot %d seq 2", packet.SlotSocketIO); got != want || first.calls.Load() != 2 {
		t.Errorf("fresh packet: got %q after %d encoder calls, want %q after 2", got, first.calls.Load(), want)
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	// The kinds are numbered from 1, in the order of the native protocol's message kinds, so the zero
	// Packet has no kind.
	kinds := []struct {
		name string
		kind packet.Kind
	}{
		{"connect", packet.KindConnect},
		{"connected", packet.KindConnected},
		{"connect error", packet.KindConnectError},
		{"event", packet.KindEvent},
		{"ack", packet.KindAck},
		{"disconnect", packet.KindDisconnect},
		{"ping", packet.KindPing},
		{"pong", packet.KindPong},
		{"error", packet.KindError},
	}
	for i, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			if want := packet.Kind(i + 1); k.kind != want {
				t.Errorf("Kind = %d, want %d", k.kind, want)
			}
		})
	}
	if (packet.Packet{}).Kind != 0 {
		t.Error("the zero Packet has a kind")
	}
}
