//go:build unix

package transport

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// canRawWrite: TryUncork writes to the descriptor with write(2).
const canRawWrite = true

// tryWrite makes one non-blocking write of b to the socket and returns how much it took (0 when the
// socket buffer is full). The caller holds c.mu.
func (c *BatchConn) tryWrite(b []byte) (int, error) {
	c.rawBuf, c.rawN, c.rawErr = b, 0, nil
	err := c.rc.Write(c.rawWrite)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// A deadline set for an earlier blocking write has passed, which fails even a write that cannot
		// block: clear it (the next blocking write arms a new one) and try once more.
		c.Conn.SetWriteDeadline(time.Time{})
		c.deadline = time.Time{}
		err = c.rc.Write(c.rawWrite)
	}
	n, werr := c.rawN, c.rawErr
	c.rawBuf, c.rawErr = nil, nil
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EWOULDBLOCK {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return max(n, 0), nil
}

// writeFD is the write RawConn.Write runs on the descriptor: one attempt, never waiting for the socket
// to become writable (it returns true whatever happened).
func (c *BatchConn) writeFD(fd uintptr) bool {
	for {
		c.rawN, c.rawErr = syscall.Write(int(fd), c.rawBuf)
		if c.rawErr != syscall.EINTR {
			return true
		}
	}
}
