package transporttest

import (
	"context"
	"runtime"
	"time"

	"github.com/coder/websocket"
)

// WriteUntilClosed writes data to ws as messages of type typ, back to back, until a write fails (the
// server closed the connection; each write has timeout), yielding after every 8 so that the server
// reads them in bursts: its reader parks and wakes between them.
func WriteUntilClosed(ws *websocket.Conn, typ websocket.MessageType, data []byte, timeout time.Duration) {
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := ws.Write(ctx, typ, data)
		cancel()
		if err != nil {
			return
		}
		if i%8 == 7 {
			runtime.Gosched()
		}
	}
}
