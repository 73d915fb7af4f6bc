package clusterlink_test

import (
	"slices"
	"testing"

	"github.com/roomio/roomio/internal/clusterlink"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

func TestInterestTargets(t *testing.T) {
	in := clusterlink.NewInterest()
	var snap *clusterv1.InterestSnapshot
	in.SetLocal("/", "mine", true, func(string) { t.Error("told a peer before any peer is known") })
	in.PeerUp("a", func(s *clusterv1.InterestSnapshot) { snap = s })
	if len(snap.GetRooms()) != 1 || snap.Rooms[0].Room != "mine" {
		t.Fatalf("snapshot %v", snap)
	}
	in.PeerUp("b", func(*clusterv1.InterestSnapshot) {})
	targets := func(rooms ...string) []string {
		out := in.Targets("/", rooms)
		slices.Sort(out)
		return out
	}
	// Unsynced peers get every room operation.
	if got := targets("r"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("unsynced: %v", got)
	}
	in.Snapshot("a", &clusterv1.InterestSnapshot{Rooms: []*clusterv1.Room{{Namespace: "/", Room: "r"}}})
	in.Snapshot("b", &clusterv1.InterestSnapshot{})
	if got := targets("r"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("room r: %v", got)
	}
	if got := targets("b.sid"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("socket id of b: %v", got)
	}
	if got := targets(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("namespace-wide: %v", got)
	}
	in.Update("a", &clusterv1.Interest{Room: &clusterv1.Room{Namespace: "/", Room: "r"}})
	in.Update("b", &clusterv1.Interest{Room: &clusterv1.Room{Namespace: "/", Room: "r"}, Add: true})
	if got := targets("r"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after updates: %v", got)
	}
	var told []string
	in.SetLocal("/", "mine", false, func(id string) { told = append(told, id) })
	slices.Sort(told)
	if !slices.Equal(told, []string{"a", "b"}) {
		t.Errorf("told %v", told)
	}
	in.PeerDown("a")
	if got := targets(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after a left: %v", got)
	}
}

// TestInterestUnsynced: a peer is unsynced until its snapshot arrives, and a member the table has not
// heard of is unsynced too.
func TestInterestUnsynced(t *testing.T) {
	tab := clusterlink.NewInterest()
	tab.PeerUp("b", func(*clusterv1.InterestSnapshot) {})
	if got := tab.Unsynced([]string{"b", "c"}); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("Unsynced = %v, want [b c]", got)
	}
	tab.Snapshot("b", &clusterv1.InterestSnapshot{})
	if got := tab.Unsynced([]string{"c", "b"}); !slices.Equal(got, []string{"c"}) {
		t.Errorf("Unsynced = %v, want [c]", got)
	}
	tab.Snapshot("c", &clusterv1.InterestSnapshot{})
	if got := tab.Unsynced([]string{"b", "c"}); got != nil {
		t.Errorf("Unsynced = %v, want none", got)
	}
}
