//go:build !unix

package transport

// canRawWrite: without write(2) on a descriptor, TryCork always declines and batches go through the
// writer.
const canRawWrite = false

func (c *BatchConn) tryWrite(b []byte) (int, error) { return 0, nil }

func (c *BatchConn) writeFD(fd uintptr) bool { return true }
