// Package clustertest helps test code built on package cluster: a Recorder, a cluster.Handler that
// records what it is told and lets a test wait for it.
package clustertest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomio/roomio/cluster"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// EventKind says what a recorded Event is.
type EventKind int

// The kinds of Event.
const (
	Up EventKind = iota + 1
	Down
	Received
)

func (k EventKind) String() string {
	switch k {
	case Up:
		return "up"
	case Down:
		return "down"
	case Received:
		return "received"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one Handler call.
type Event struct {
	Kind   EventKind
	Member cluster.Member      // the member (Up, Down) or the sender (Received)
	Env    *clusterv1.Envelope // Received only
	At     time.Time
}

// Recorder is a cluster.Handler that records every call, safe for concurrent use. Its zero value is
// ready to use.
type Recorder struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every event
}

var _ cluster.Handler = (*Recorder)(nil)

func (r *Recorder) add(e Event) {
	e.At = time.Now()
	r.mu.Lock()
	r.events = append(r.events, e)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// Receive implements cluster.Handler.
func (r *Recorder) Receive(from cluster.Member, env *clusterv1.Envelope) {
	r.add(Event{Kind: Received, Member: from, Env: env})
}

// MemberUp implements cluster.Handler.
func (r *Recorder) MemberUp(m cluster.Member) { r.add(Event{Kind: Up, Member: m}) }

// MemberDown implements cluster.Handler.
func (r *Recorder) MemberDown(m cluster.Member) { r.add(Event{Kind: Down, Member: m}) }

// Events returns a copy of the events so far, in order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Received returns the envelopes received so far from node id (all nodes when id is empty), in order.
func (r *Recorder) Received(id string) []*clusterv1.Envelope {
	var out []*clusterv1.Envelope
	for _, e := range r.Events() {
		if e.Kind == Received && (id == "" || e.Member.ID == id) {
			out = append(out, e.Env)
		}
	}
	return out
}

// Live returns the ids reported up and not down since, from the events so far.
func (r *Recorder) Live() map[string]bool {
	live := make(map[string]bool)
	for _, e := range r.Events() {
		switch e.Kind {
		case Up:
			live[e.Member.ID] = true
		case Down:
			delete(live, e.Member.ID)
		}
	}
	return live
}

// Wait blocks until cond, called with the events so far after each new event, returns true, and fails
// the test when timeout passes first. It returns the events cond accepted. cond must not modify them.
func (r *Recorder) Wait(tb testing.TB, timeout time.Duration, what string, cond func([]Event) bool) []Event {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		// add only appends, so this prefix never changes: no copy needed.
		events := r.events[:len(r.events):len(r.events)]
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed := r.changed
		r.mu.Unlock()
		if cond(events) {
			return events
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("clustertest: waited %v for %s; have %d events", timeout, what, len(events))
			return nil
		}
	}
}

// WaitUp waits until node id has been reported up (and not down since) and returns that event.
func (r *Recorder) WaitUp(tb testing.TB, timeout time.Duration, id string) Event {
	tb.Helper()
	return r.waitLast(tb, timeout, id, Up)
}

// WaitDown waits until node id has been reported down (after its last up) and returns that event.
func (r *Recorder) WaitDown(tb testing.TB, timeout time.Duration, id string) Event {
	tb.Helper()
	return r.waitLast(tb, timeout, id, Down)
}

func (r *Recorder) waitLast(tb testing.TB, timeout time.Duration, id string, kind EventKind) Event {
	tb.Helper()
	var found Event
	r.Wait(tb, timeout, fmt.Sprintf("node %s %v", id, kind), func(events []Event) bool {
		for i := len(events) - 1; i >= 0; i-- {
			e := events[i]
			if e.Member.ID == id && (e.Kind == Up || e.Kind == Down) {
				found = e
				return e.Kind == kind
			}
		}
		return false
	})
	return found
}

// WaitReceived waits until at least count envelopes have arrived from node id (from anyone when id is
// empty) and returns them.
func (r *Recorder) WaitReceived(tb testing.TB, timeout time.Duration, id string, count int) []*clusterv1.Envelope {
	tb.Helper()
	r.Wait(tb, timeout, fmt.Sprintf("%d envelopes from %q", count, id), func(events []Event) bool {
		k := 0
		for _, e := range events {
			if e.Kind == Received && (id == "" || e.Member.ID == id) {
				k++
			}
		}
		return k >= count
	})
	return r.Received(id)
}
