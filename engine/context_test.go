package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSocketContext checks the socket's context against the context package: children derived from it
// end with it, a child cancelled first leaves no registration behind, and AfterFunc runs once, before
// or after the end.
func TestSocketContext(t *testing.T) {
	var c socketContext
	if c.Err() != nil {
		t.Fatalf("Err before end = %v", c.Err())
	}
	if _, ok := c.Deadline(); ok {
		t.Fatal("a socket's context has a deadline")
	}

	// A handler's timeout around a Join: cancelled before the socket ends, it must leave nothing.
	for range 3 {
		child, cancel := context.WithTimeout(&c, time.Hour)
		cancel()
		if !errors.Is(child.Err(), context.Canceled) {
			t.Fatalf("cancelled child's Err = %v", child.Err())
		}
	}
	if c.afters != nil {
		t.Fatalf("%d registrations left by cancelled children", len(c.afters))
	}

	child, cancelChild := context.WithCancel(&c)
	defer cancelChild()
	grandchild, cancelGrandchild := context.WithTimeout(child, time.Hour)
	defer cancelGrandchild()
	ran := make(chan struct{}, 2)
	context.AfterFunc(&c, func() { ran <- struct{}{} })
	stopped := context.AfterFunc(&c, func() { ran <- struct{}{} })
	if !stopped() {
		t.Fatal("stop of a pending AfterFunc reported false")
	}
	if len(c.afters) != 2 { // the child and the AfterFunc not stopped
		t.Fatalf("%d registrations, want 2", len(c.afters))
	}
	done := c.Done()

	c.end()
	c.end() // idempotent
	<-done
	<-child.Done()
	<-grandchild.Done()
	if !errors.Is(child.Err(), context.Canceled) || !errors.Is(grandchild.Err(), context.Canceled) {
		t.Fatalf("children's Err = %v, %v; want Canceled", child.Err(), grandchild.Err())
	}
	if !errors.Is(c.Err(), context.Canceled) || !errors.Is(context.Cause(&c), context.Canceled) {
		t.Fatalf("Err = %v, Cause = %v; want Canceled", c.Err(), context.Cause(&c))
	}
	<-ran

	// After the end: a new child is done at once, AfterFunc runs, Done is closed.
	late, cancelLate := context.WithCancel(&c)
	defer cancelLate()
	<-late.Done()
	context.AfterFunc(&c, func() { ran <- struct{}{} })
	<-ran
	<-c.Done()
}
