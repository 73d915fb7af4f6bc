package transport

import (
	"bytes"
	"context"
	"io"

	"github.com/coder/websocket"
)

// ReadMessage reads the next data message from c, as c.Read does, into a slice of the message's own
// length. c.Read reads with io.ReadAll, which starts every message with a 512-byte buffer: a client's
// typical message (an event of a hundred bytes) then cost 512 bytes, zeroed, per message. ReadMessage
// reads into a buffer of the batch buffers' pool (BatchConn) and returns a copy of what it read, which
// the caller owns.
func ReadMessage(ctx context.Context, c *websocket.Conn) (websocket.MessageType, []byte, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	bp := batchPool.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		var n int
		n, err = r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	var msg []byte
	if err == io.EOF {
		msg, err = bytes.Clone(b), nil
	}
	*bp = b
	release(bp)
	return typ, msg, err
}
