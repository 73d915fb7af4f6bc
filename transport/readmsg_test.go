package transport_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
)

// TestReadMessage: over a real WebSocket, ReadMessage returns each message whole, in order, with its
// type, in a slice of its length (up to the allocator's size class; also after a message larger than
// the pooled buffers), and a message over the connection's read limit fails with
// websocket.ErrMessageTooBig.
func TestReadMessage(t *testing.T) {
	ctx, _, server, client, _ := wsPair(t)
	server.SetReadLimit(200 << 10)

	msgs := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("42[\"say\",\"room\",\"hello\"]")},
		{websocket.MessageBinary, []byte{}},
		{websocket.MessageBinary, bytes.Repeat([]byte{7}, 5000)},
		{websocket.MessageText, bytes.Repeat([]byte("x"), 150<<10)}, // beyond the largest pooled buffer
		{websocket.MessageText, []byte("2")},
	}
	go func() {
		for _, m := range msgs {
			if err := client.Write(ctx, m.typ, m.data); err != nil {
				t.Error(err)
				return
			}
		}
		client.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("y"), 201<<10))
	}()
	for i, m := range msgs {
		typ, data, err := transport.ReadMessage(ctx, server)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(data, m.data) || data == nil {
			t.Fatalf("message %d: type %v, %d bytes (nil %v), want type %v, %d bytes", i, typ, len(data), data == nil, m.typ, len(m.data))
		}
		if cap(data)-len(data) > max(8, len(data)/8) { // the allocation's size class, at most
			t.Errorf("message %d: %d bytes in a slice of capacity %d", i, len(data), cap(data))
		}
	}
	if _, _, err := transport.ReadMessage(ctx, server); !errors.Is(err, websocket.ErrMessageTooBig) {
		t.Fatalf("a message over the read limit: %v, want ErrMessageTooBig", err)
	}
}
