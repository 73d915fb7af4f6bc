package engine

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestRoomOrder: while asks to a room's previous owner are unanswered, later messages to the room wait,
// then go in the order sent to the owner of that time; a wait ends after the hold without the answers;
// at most orderMaxHeld wait.
func TestRoomOrder(t *testing.T) {
	type sent struct {
		to   string
		n    int
		done func()
	}
	var mu sync.Mutex
	owner := "b"
	of := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return owner, false
	}
	moveTo := func(o string) {
		mu.Lock()
		owner = o
		mu.Unlock()
	}
	out := make(chan sent, orderMaxHeld+10)
	send := func(n int) roomSend {
		return func(to string, local bool, done func()) { out <- sent{to, n, done} }
	}
	next := func(to string, n int) sent {
		t.Helper()
		select {
		case s := <-out:
			if s.to != to || s.n != n {
				t.Fatalf("sent %d to %s, want %d to %s", s.n, s.to, n, to)
			}
			return s
		case <-time.After(5 * time.Second):
			t.Fatalf("%d not sent to %s", n, to)
			return sent{}
		}
	}
	nothing := func() {
		t.Helper()
		select {
		case s := <-out:
			t.Fatalf("sent %d to %s while it should wait", s.n, s.to)
		default:
		}
	}
	var o roomOrder
	k := roomKey{"/", "r"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(o.send(of, k, true, send(1)))
	must(o.send(of, k, true, send(2)))
	a1, a2 := next("b", 1), next("b", 2)
	moveTo("c")
	must(o.send(of, k, true, send(3)))
	must(o.send(of, k, false, send(4)))
	nothing()
	a1.done()
	nothing()
	a2.done() // the last ask to b answered: what waited goes to c, in order
	a3 := next("c", 3)
	next("c", 4)
	must(o.send(of, k, false, send(5))) // same owner: no wait
	next("c", 5)
	a3.done()
	if len(o.routes) != 0 {
		t.Fatalf("routes left with nothing in flight: %v", o.routes)
	}

	// An ask never answered: the wait ends after the hold. That release runs on the hold timer's
	// goroutine, and the answers below may come while it is still sending: it is awaited before the
	// routes are looked at.
	released := make(chan struct{}, 1)
	o.afterRelease = func() {
		select {
		case released <- struct{}{}:
		default:
		}
	}
	o.hold = 20 * time.Millisecond
	must(o.send(of, k, true, send(6)))
	a6 := next("c", 6)
	moveTo("d")
	must(o.send(of, k, true, send(7)))
	a7 := next("d", 7)
	a6.done()
	a7.done()
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("the expired hold's release did not end")
	}
	o.mu.Lock()
	left := len(o.routes)
	o.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d routes left after the late answers", left)
	}

	// At most orderMaxHeld wait.
	o.hold = time.Hour
	must(o.send(of, k, true, send(8)))
	a8 := next("d", 8)
	moveTo("e")
	for i := range orderMaxHeld {
		must(o.send(of, k, false, send(100+i)))
	}
	if err := o.send(of, k, false, send(-1)); !errors.Is(err, ErrRoomBusy) {
		t.Fatalf("one more than orderMaxHeld waiting: %v, want ErrRoomBusy", err)
	}
	a8.done()
	for i := range orderMaxHeld {
		next("e", 100+i)
	}
	if len(o.routes) != 0 {
		t.Fatalf("routes left: %v", o.routes)
	}
}
