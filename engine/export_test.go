package engine

import (
	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/transport"
)

// Open starts a session for c as a transport front-end would, for tests and benchmarks that drive the
// engine without a network connection.
func (e *Engine) Open(c transport.Conn) transport.Session { return (*acceptor)(e).Open(c) }

// HoldBudget counts one broadcast of the budget as in flight until release is called, as a broadcast the
// actors have not processed yet would.
func (e *Engine) HoldBudget() (release func()) {
	b := &actors.Broadcast{}
	e.flow.admit(b)
	return func() { e.flow.release(b) }
}

// IsQualifiedSID exposes isQualifiedSID.
var IsQualifiedSID = isQualifiedSID

// SetAfterTargets sets a function that runs in every cluster operation between its look-up of the peers
// it must reach and the queueing of its envelopes (nil: none).
func (e *Engine) SetAfterTargets(f func()) { e.link.afterTargets.Store(&f) }

// SetBeforeRoutesWait sets a function that runs when a peer's interest update is about to wait for the
// operations in flight, before it is acknowledged.
func (e *Engine) SetBeforeRoutesWait(f func()) { e.link.beforeRoutesWait.Store(&f) }
