package engine

import (
	"sync"
	"time"
)

// Order of a node's room messages across a move of the room. A placed room's messages go to its owner
// of the moment; when the room moves, a message sent to the old owner is relayed to the new one, and a
// later message sent straight to the new owner could overtake it. roomOrder prevents that for the
// messages that ask for an answer: while asks this node sent to a room's previous owner are unanswered,
// every later message to the room (ask or not) waits, then goes, in the order sent, to the owner of
// that time. A wait ends after orderHold even without the answers (a hook that never replies), and at
// most orderMaxHeld messages wait per room (ErrRoomBusy beyond). Messages that ask for nothing are not
// counted, so an overtaking among them stays possible (docs/behaviors.md).
const (
	orderHold    = 2 * time.Second
	orderMaxHeld = 1024
)

type roomKey struct{ ns, room string }

// roomSend sends one room message to owner (local: this node); done, for an ask, is to be called once
// when it is answered.
type roomSend func(owner string, local bool, done func())

type heldSend struct {
	ask  bool
	send roomSend
}

// roomRoute is where a room's messages from this node went: only rooms with asks in flight have one.
type roomRoute struct {
	dest     string // the owner the last ask went to
	inflight int    // asks not yet answered
	held     []heldSend
	draining bool        // a goroutine is sending the held messages
	timer    *time.Timer // ends the wait after orderHold
}

type roomOrder struct {
	mu     sync.Mutex
	routes map[roomKey]*roomRoute
	hold   time.Duration // zero: orderHold
	// afterRelease, when set (by tests only), runs at the end of every release that sent what waited:
	// a test awaits an expired hold's release, which runs on the timer's goroutine.
	afterRelease func()
}

// ownerFunc tells a room's owner of the moment (link.owner).
type ownerFunc func() (owner string, local bool)

// send sends a message to the room's owner now, or holds it behind the asks sent to an earlier owner.
func (o *roomOrder) send(of ownerFunc, k roomKey, ask bool, send roomSend) error {
	owner, local := of()
	o.mu.Lock()
	r := o.routes[k]
	if r != nil && (r.draining || len(r.held) > 0 || (r.inflight > 0 && r.dest != owner)) {
		if len(r.held) >= orderMaxHeld {
			o.mu.Unlock()
			return ErrRoomBusy
		}
		r.held = append(r.held, heldSend{ask, send})
		if r.timer == nil {
			hold := o.hold
			if hold == 0 {
				hold = orderHold
			}
			r.timer = time.AfterFunc(hold, func() { o.release(of, k, true) })
		}
		o.mu.Unlock()
		return nil
	}
	if !ask {
		o.mu.Unlock()
		send(owner, local, nil)
		return nil
	}
	if r == nil {
		if o.routes == nil {
			o.routes = make(map[roomKey]*roomRoute)
		}
		r = &roomRoute{}
		o.routes[k] = r
	}
	r.dest = owner
	r.inflight++
	o.mu.Unlock()
	send(owner, local, func() { o.answered(of, k) })
	return nil
}

// answered counts an ask's answer; the last one sends what waited.
func (o *roomOrder) answered(of ownerFunc, k roomKey) {
	o.mu.Lock()
	r := o.routes[k]
	r.inflight--
	if r.inflight > 0 || r.draining {
		o.mu.Unlock()
		return
	}
	if len(r.held) == 0 {
		delete(o.routes, k)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	o.release(of, k, false)
}

// release sends the held messages, in order, to the room's owner of now: once no ask is in flight, or
// when the wait expired.
func (o *roomOrder) release(of ownerFunc, k roomKey, expired bool) {
	owner, local := of()
	o.mu.Lock()
	r := o.routes[k]
	if r == nil || r.draining || len(r.held) == 0 || (!expired && r.inflight > 0) {
		o.mu.Unlock()
		return
	}
	r.draining = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	for len(r.held) > 0 {
		batch := r.held
		r.held = nil
		r.dest = owner
		for _, h := range batch {
			if h.ask {
				r.inflight++
			}
		}
		o.mu.Unlock()
		for _, h := range batch {
			var done func()
			if h.ask {
				done = func() { o.answered(of, k) }
			}
			h.send(owner, local, done)
		}
		owner, local = of()
		o.mu.Lock()
	}
	r.draining = false
	if r.inflight == 0 {
		delete(o.routes, k)
	}
	o.mu.Unlock()
	if o.afterRelease != nil {
		o.afterRelease()
	}
}
