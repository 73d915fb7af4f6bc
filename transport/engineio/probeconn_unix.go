//go:build unix

package engineio

import (
	"io"
	"net"
	"syscall"
)

// rawConn reads a connection's file descriptor directly, without blocking, and peeks at it.
type rawConn struct{ rc syscall.RawConn }

// newRawConn returns the rawConn of c, or nil when c has no file descriptor (a TLS connection).
func newRawConn(c net.Conn) *rawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &rawConn{rc}
}

// read reads into p, waiting until bytes arrive. Before each attempt it calls idle(false); when an
// attempt finds nothing, idle(true), before it waits.
func (c *rawConn) read(p []byte, idle func(bool)) (int, error) {
	var n int
	var err error
	rerr := c.rc.Read(func(fd uintptr) bool {
		idle(false)
		for {
			n, err = syscall.Read(int(fd), p)
			if err != syscall.EINTR {
				break
			}
		}
		if err == syscall.EAGAIN {
			idle(true)
			return false // wait until the descriptor is readable, then try again
		}
		return true
	})
	switch {
	case rerr != nil:
		return 0, rerr
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// pending reports whether bytes wait on the connection, unread.
func (c *rawConn) pending() bool {
	var n int
	var b [1]byte
	c.rc.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n > 0
}
