package clusterlink_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/clusterlink"
	"github.com/roomio/roomio/internal/packet"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
	wirev1 "github.com/roomio/roomio/proto/roomio/wire/v1"
)

// TestOpRoundTrip checks that every operation that crosses the cluster maps to a distinct protocol
// value and back, and that every protocol value but OP_UNSPECIFIED has an operation.
func TestOpRoundTrip(t *testing.T) {
	seen := make(map[clusterv1.Op]actors.Op)
	for op := actors.OpEmit; op <= actors.OpFlush; op++ {
		w, ok := clusterlink.OpToWire(op)
		if op == actors.OpFlush {
			if ok {
				t.Errorf("OpFlush, a local barrier, maps to %v", w)
			}
			continue
		}
		if !ok || w == clusterv1.Op_OP_UNSPECIFIED {
			t.Fatalf("op %d has no protocol value", op)
		}
		if prev, dup := seen[w]; dup {
			t.Fatalf("ops %d and %d both map to %v", prev, op, w)
		}
		seen[w] = op
		if back, ok := clusterlink.OpFromWire(w); !ok || back != op {
			t.Errorf("op %d → %v → %d, %v", op, w, back, ok)
		}
	}
	for v, name := range clusterv1.Op_name {
		w := clusterv1.Op(v)
		_, ok := clusterlink.OpFromWire(w)
		if want := w != clusterv1.Op_OP_UNSPECIFIED; ok != want {
			t.Errorf("OpFromWire(%s): %v, want %v", name, ok, want)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	args := []packet.Arg{{Data: []byte(`{"a":1}`)}, {Data: []byte{0, 1, 2}, Binary: true}, {Data: []byte(`"x"`)}}
	got, err := clusterlink.ArgsFromWire(clusterlink.ArgsToWire(args))
	if err != nil || len(got) != len(args) {
		t.Fatalf("round trip: %v, %d args", err, len(got))
	}
	for i := range args {
		if got[i].Binary != args[i].Binary || !bytes.Equal(got[i].Data, args[i].Data) {
			t.Errorf("arg %d: %+v, want %+v", i, got[i], args[i])
		}
	}
	if a := clusterlink.ArgsToWire(nil); a != nil {
		t.Errorf("no args: %v", a)
	}
	if got, err := clusterlink.ArgsFromWire([]*wirev1.Arg{{}}); err != nil || string(got[0].Data) != "null" {
		t.Errorf("empty Arg: %+v, %v", got, err)
	}
	if _, err := clusterlink.ArgsFromWire([]*wirev1.Arg{{Value: &wirev1.Arg_Json{Json: "{"}}}); !errors.Is(err, clusterlink.ErrInvalidArg) {
		t.Errorf("invalid JSON: %v", err)
	}
}

func TestBroadcastRoundTrip(t *testing.T) {
	b := &actors.Broadcast{Rooms: []string{"r"}, Except: []string{"x"}, Op: actors.OpEmit,
		Packet: &packet.Packet{Kind: packet.KindEvent, Namespace: "/ns", Name: "ev", Args: []packet.Arg{{Data: []byte("1")}}, Volatile: true}}
	got, err := clusterlink.BroadcastFromWire(clusterlink.BroadcastToWire("/ns", b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != b.Op || got.Rooms[0] != "r" || got.Except[0] != "x" || got.Packet.Name != "ev" ||
		got.Packet.Namespace != "/ns" || !got.Packet.Volatile || string(got.Packet.Args[0].Data) != "1" {
		t.Errorf("got %+v (packet %+v)", got, got.Packet)
	}
	if _, err := clusterlink.BroadcastFromWire(clusterlink.BroadcastToWire("/", &actors.Broadcast{Op: actors.OpFlush})); err == nil {
		t.Error("a flush crossed the cluster")
	}
	if _, err := clusterlink.BroadcastFromWire(&clusterv1.Broadcast{Op: clusterv1.Op_OP_EMIT}); err == nil {
		t.Error("an emit without an event was accepted")
	}
}

func TestNodeOfSID(t *testing.T) {
	sid := clusterlink.QualifySID("n1", "abc")
	if node, ok := clusterlink.NodeOfSID(sid); !ok || node != "n1" {
		t.Errorf("NodeOfSID(%q) = %q, %v", sid, node, ok)
	}
	for _, s := range []string{"abc", ".abc", ""} {
		if node, ok := clusterlink.NodeOfSID(s); ok {
			t.Errorf("NodeOfSID(%q) = %q", s, node)
		}
	}
}
