package actors

import (
	"fmt"
	"slices"
	"testing"
)

// TestRoomSet: a socket's room set answers the same as a map while it is a slice and after it has
// become one (past smallRoomSet rooms).
func TestRoomSet(t *testing.T) {
	s := newRoomSet("own")
	want := map[string]bool{"own": true}
	check := func(step string) {
		t.Helper()
		if s.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, s.len(), len(want))
		}
		for r := range want {
			if !s.has(r) {
				t.Fatalf("%s: %q missing", step, r)
			}
		}
		if s.has("never") {
			t.Fatalf("%s: has a room never added", step)
		}
		got := s.list()
		slices.Sort(got)
		var w []string
		for r := range want {
			w = append(w, r)
		}
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("%s: list %v, want %v", step, got, w)
		}
	}
	check("new")
	for i := range 2 * smallRoomSet {
		r := fmt.Sprint("r", i)
		s.add(r)
		s.add(r) // twice: still once
		want[r] = true
		check("add " + r)
		if i%3 == 0 {
			s.del(r)
			delete(want, r)
			check("del " + r)
		}
	}
	if s.big == nil {
		t.Fatalf("%d rooms and still a slice", s.len())
	}
	for r := range want {
		s.del(r)
		delete(want, r)
		check("del " + r)
	}
}
