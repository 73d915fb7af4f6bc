package engineio

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// A poll that reaches the server while a WebSocket upgrades its session may have crossed packets the
// client sent earlier on that WebSocket: two connections keep no order between them. The upgrade
// packet is the one that matters: a poll sent after it must be refused, as after the upgrade, while a
// poll sent before it (the client's last poll, which it waits for before it sends the upgrade packet)
// must be answered. So such a poll is answered only once the WebSocket's reader has taken everything
// the client had sent on it: the server then sees the two connections in the order the client used
// them. This needs no timer: a client that follows the protocol sends nothing on the WebSocket while
// it waits for its poll, so the reader has taken everything at once.
//
// probeConn is the connection under such a WebSocket while it upgrades: its reads record when the
// reader has taken all the bytes that had arrived (idle), and caughtUp checks that no byte arrived
// since. Where the connection has no file descriptor to look at (TLS, or a platform without
// non-blocking reads), caughtUp always reports true: a poll is then answered as if it had not crossed
// anything, which only a client that polls after its upgrade packet can tell.

// watchUpgrade wraps the hijacked connection of an upgrading WebSocket in a probeConn and makes it the
// session's probeConn (transport.UpgradeWriter.Wrap).
func (s *Session) watchUpgrade(c net.Conn) net.Conn {
	pc := newProbeConn(c, s)
	s.mu.Lock()
	s.probeConn = pc
	s.stepUpgrade()
	s.mu.Unlock()
	return pc
}

// probeConn wraps the connection of an upgrading WebSocket; see above.
type probeConn struct {
	net.Conn
	s     *Session
	raw   *rawConn    // nil when the connection has no file descriptor to look at
	watch atomic.Bool // the upgrade is under way: reads record idleness
	idle  bool        // the reader waits for bytes, having taken all that had arrived; guarded by s.mu
}

func newProbeConn(c net.Conn, s *Session) *probeConn {
	pc := &probeConn{Conn: c, s: s, raw: newRawConn(c)}
	pc.watch.Store(pc.raw != nil)
	return pc
}

// Read reads as net.Conn's Read. While the upgrade is under way it reads without blocking and, when
// nothing is there, marks the session's WebSocket idle before it waits for bytes; it clears the mark
// before each attempt, under the session's lock, so that a poll holding that lock sees a mark that
// cannot go stale (see caughtUp).
func (c *probeConn) Read(p []byte) (int, error) {
	if !c.watch.Load() || len(p) == 0 {
		return c.Conn.Read(p)
	}
	if h := c.s.srv.beforeProbeRead.Load(); h != nil {
		(*h)()
	}
	return c.raw.read(p, c.setIdle)
}

// SyscallConn exposes the descriptor of the connection under c (syscall.Conn), when it has one: once
// upgraded, the session's WebSocket parks in the server's poller and is written inline like one opened
// directly (transport.BatchConn). Reads through the descriptor bypass c's bookkeeping, which only
// matters while the upgrade is under way, when nothing reads that way.
func (c *probeConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoDescriptor
}

var errNoDescriptor = errors.New("engineio: connection has no descriptor")

func (c *probeConn) setIdle(idle bool) {
	c.s.mu.Lock()
	c.idle = idle
	if idle && c.s.probeConn == c {
		c.s.stepUpgrade()
	}
	c.s.mu.Unlock()
}

// caughtUp reports whether the reader has taken every byte the client sent so far. The caller holds
// s.mu, which keeps the reader from taking more meanwhile.
func (c *probeConn) caughtUp() bool {
	if c == nil {
		return false // the handshake is being answered: the client cannot have sent anything yet
	}
	if !c.watch.Load() {
		return true
	}
	return c.idle && !c.raw.pending()
}

// stopWatching ends the bookkeeping once the upgrade is over: reads go straight to the connection.
func (c *probeConn) stopWatching() {
	if c != nil {
		c.watch.Store(false)
	}
}
