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
