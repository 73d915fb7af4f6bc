package engine

import "github.com/roomio/roomio/transport"

// Open starts a session for c as a transport front-end would, for tests and benchmarks that drive the
// engine without a network connection.
func (e *Engine) Open(c transport.Conn) transport.Session { return (*acceptor)(e).Open(c) }
