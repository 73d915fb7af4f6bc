package actors_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/roomio/roomio/actors"
)

func TestCollectorInitiatorLeg(t *testing.T) {
	c := actors.NewCollector()
	if isDone(c) || !c.Pending() {
		t.Fatal("a new collector holds the initiator's leg")
	}
	c.LegDone()
	if !isDone(c) || c.Pending() {
		t.Fatal("not done once its only leg is settled")
	}
	res, expected, err := c.Snapshot()
	if len(res) != 0 || expected != 0 || err != nil {
		t.Fatalf("Snapshot = %v, %d, %v; want nothing", res, expected, err)
	}
}

func TestCollectorLegs(t *testing.T) {
	c := actors.NewCollector()
	c.AddLegs(2)
	c.LegDone()
	c.LegDone()
	if isDone(c) || !c.Pending() {
		t.Fatal("done with one leg left")
	}
	c.LegDone()
	if !isDone(c) {
		t.Fatal("not done after the last leg")
	}
}

func TestCollectorWaitsForExpectedAnswers(t *testing.T) {
	c := actors.NewCollector()
	a, b := newFakeSocket(), newFakeSocket()
	c.Expect(a)
	c.Expect(b)
	c.Expect(nil) // a fetch: an answer without an ack to cancel
	c.LegDone()
	if isDone(c) {
		t.Fatal("done with three answers outstanding")
	}
	if c.Pending() {
		t.Fatal("Pending with no leg left")
	}
	if got := c.Expecting(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("Expecting = %v, want the two handles", got)
	}
	c.Add(actors.Result{SID: "a"})
	c.Add(actors.Result{SID: "b", Err: errors.New("timeout")})
	res, expected, _ := c.Snapshot()
	if len(res) != 2 || expected != 3 || isDone(c) {
		t.Fatalf("after two answers: %d results, %d expected, done %v", len(res), expected, isDone(c))
	}
	c.Add(actors.Result{SID: "c"})
	if !isDone(c) {
		t.Fatal("not done after every answer")
	}
	c.Add(actors.Result{SID: "late"})
	if res, _, _ := c.Snapshot(); len(res) != 3 {
		t.Fatalf("an answer after Done was kept: %v", res)
	}
}

func TestCollectorFail(t *testing.T) {
	c := actors.NewCollector()
	first := errors.New("first")
	c.Fail(first)
	c.Fail(errors.New("second"))
	c.LegDone()
	if !isDone(c) {
		t.Fatal("a failed collector still completes")
	}
	if _, _, err := c.Snapshot(); err != first {
		t.Fatalf("err = %v, want the first", err)
	}
}

// TestCollectorConcurrent has many goroutines play the legs of one fan-out at once, as socket actors
// do; run it with -race.
func TestCollectorConcurrent(t *testing.T) {
	const n = 64
	c := actors.NewCollector()
	c.AddLegs(n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each leg forwards one more leg, as a room does to its members, before settling its own.
			c.AddLegs(1)
			wg.Go(func() {
				c.Expect(nil)
				c.Add(actors.Result{SID: fmt.Sprint(i)})
				if i%8 == 0 {
					c.Fail(actors.ErrTooManyRooms)
				}
				_ = c.Pending()
				_, _, _ = c.Snapshot()
				c.LegDone()
			})
			c.LegDone()
		})
	}
	c.LegDone()
	wg.Wait()
	if !isDone(c) {
		t.Fatal("not done after every leg")
	}
	res, expected, err := c.Snapshot()
	if len(res) != n || expected != n || !errors.Is(err, actors.ErrTooManyRooms) {
		t.Fatalf("Snapshot = %d results, %d expected, %v", len(res), expected, err)
	}
}
