package engine

import (
	"fmt"
	"testing"
)

// TestPlaceHashSpreads: rooms spread over the nodes (each of 3 nodes owns a fair share of 3 000 rooms),
// and removing a node moves only that node's rooms.
func TestPlaceHashSpreads(t *testing.T) {
	nodes := []string{"3qzrakpa", "p6u55dws", "kkqowbpa"}
	owner := func(nodes []string, room string) string {
		best, bh := "", uint64(0)
		for _, n := range nodes {
			if h := placeHash(n, "/", room); best == "" || h > bh || (h == bh && n > best) {
				best, bh = n, h
			}
		}
		return best
	}
	count := map[string]int{}
	moved := 0
	for i := range 3000 {
		room := fmt.Sprintf("room%d", i)
		o := owner(nodes, room)
		count[o]++
		if o2 := owner(nodes[:2], room); o != nodes[2] && o2 != o {
			moved++
		}
	}
	for _, n := range nodes {
		if count[n] < 800 || count[n] > 1200 {
			t.Errorf("node %s owns %d of 3000 rooms: %v", n, count[n], count)
		}
	}
	if moved != 0 {
		t.Errorf("%d rooms of the remaining nodes moved when a node left", moved)
	}
}
