// Package netpoll lets an idle connection hold no goroutine. A connection's reader that has consumed
// everything the client sent parks the connection here ([Conn.Park]) and returns; when the socket
// becomes readable again (bytes, end of stream, reset), the poller starts the reader again, on a
// worker goroutine, with the connection's resume function. Go's own network poller keeps its
// registration of the socket: the reader reads through net.Conn as usual, and this package only tells
// it when to start.
//
// # Entry points
//
// [New] returns a [Poller] (one per server). [Poller.Register] prepares one connection, given its
// descriptor (syscall.RawConn) and its resume function, and returns a [Conn], or nil where parking is
// not available (no descriptor, or an OS other than Linux): the connection's reader then blocks in its
// reads as before. [Conn.Park] parks the connection; [Conn.Close] ends its registration, and must be
// called before the socket is closed: closing a descriptor removes it from the poller silently, so
// Close itself starts the reader of a parked connection (whose read then fails on the closed socket).
//
// A poller may have a quiet period (New): Park then parks a connection only once no byte came for that
// long. It waits the way a blocking read would, in Go's network poller under a read deadline (Register's
// ReadDeadliner), and when bytes come it reports false and the reader reads on, on its own goroutine: a
// connection that talks more often than the quiet period pays neither an epoll re-arm nor a hand-over
// to a worker per message. The deadline is cleared after the wait, and by Close (so that a close
// handshake's reads never run under it); nothing else may set a read deadline on a registered
// connection.
//
// # How
//
// On Linux the poller is an epoll instance: each parked connection is armed with EPOLLIN, EPOLLRDHUP
// and EPOLLONESHOT (level-triggered, one event per arming: bytes that arrive between the reader's last
// look at its buffer and the arming report at once), re-armed with EPOLL_CTL_MOD at each park. The
// event carries a token (a slot in the poller's table and the slot's generation), never a descriptor
// number, since numbers are reused once closed. Every epoll_ctl on a connection runs inside
// RawConn.Control, which keeps the descriptor open meanwhile. The epoll descriptor is itself waited on
// through Go's network poller (it is readable when an event is ready), so the poller's goroutine is
// parked like any reader rather than held in a blocking system call.
//
// A resume runs on a worker: a goroutine that, once its connection has parked again (or ended), waits
// for the next resume instead of ending, as long as no more than 2×GOMAXPROCS workers wait. A new
// goroutine per resume would start with a small stack and grow it again through the read path each
// time; a worker keeps the stack it grew.
//
// The poller's goroutine and its workers exist while at least one connection is registered: the first
// Register creates the epoll instance and starts the goroutine (through the start function given to
// New, which starts the workers too, so the server counts them in its WaitGroup), and the last Close
// closes the instance and the workers' channel, which ends them all.
//
// # Concurrency
//
// A Conn is in one of three states: running (a reader goroutine owns it), parked (no goroutine; armed
// in epoll) or closed. Park, the poller's event and Close change the state under the Conn's lock, so
// that exactly one of them starts a reader: a parked connection is resumed once, by its event or by
// Close, and never while a reader runs. Park looks at the reader's buffers (Register's idle) under that
// lock too, so a close handshake that reads the connection on another goroutine (coder/websocket's
// Close) must call Close first: from then on the reader never parks, and never looks at the buffers
// again. Park and resume are called by the connection's reader only; Close may be called from any
// goroutine, any number of times.
//
// # Imports
//
// netpoll imports no roomio package; the front-ends (transport/engineio, transport/native) import it.
package netpoll
