package transport

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/coder/websocket"
)

// ReadMessage reads the next data message from c, as c.Read does, into a slice of the message's own
// length. c.Read reads with io.ReadAll, which starts every message with a 512-byte buffer: a client's
// typical message (an event of a hundred bytes) then cost 512 bytes, zeroed, per message. ReadMessage
// reads into a pooled buffer and returns a copy of what it read, which the caller owns.
func ReadMessage(ctx context.Context, c *websocket.Conn) (websocket.MessageType, []byte, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	bp := readBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			putReadBuf(bp, b)
			return typ, nil, err
		}
	}
	msg := bytes.Clone(b)
	putReadBuf(bp, b)
	return typ, msg, nil
}

// readBufs holds ReadMessage's buffers.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledRead is the largest read buffer kept in readBufs; one grown by a larger message is left to
// the collector.
const maxPooledRead = 64 << 10

func putReadBuf(bp *[]byte, b []byte) {
	if cap(b) > maxPooledRead {
		return
	}
	*bp = b[:0]
	readBufs.Put(bp)
}
