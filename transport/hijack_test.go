package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// acceptServer serves one WebSocket through UpgradeWriter and hands the server side to got.
func acceptServer(t *testing.T, got chan<- *transport.UpgradeWriter, conns chan<- *websocket.Conn, counter **countingConn) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uw := &transport.UpgradeWriter{ResponseWriter: w, WriteTimeout: 5 * time.Second, Wrap: func(c net.Conn) net.Conn {
			cc := &countingConn{Conn: c}
			*counter = cc
			return cc
		}}
		ws, err := websocket.Accept(uw, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- uw
		conns <- ws
		<-done
		ws.CloseNow()
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

// wsPair upgrades one connection through acceptServer and returns its UpgradeWriter, the server's and
// the client's WebSocket, the counting connection under the server's, and a context that bounds the
// test's waits; the test's cleanup closes the client.
func wsPair(t *testing.T) (context.Context, *transport.UpgradeWriter, *websocket.Conn, *websocket.Conn, *countingConn) {
	t.Helper()
	got := make(chan *transport.UpgradeWriter, 1)
	conns := make(chan *websocket.Conn, 1)
	var counter *countingConn
	srv := acceptServer(t, got, conns, &counter)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CloseNow() })
	uw, ws := <-got, <-conns
	return ctx, uw, ws, client, counter
}

// TestBatchConnOneWritePerBatch: messages written while corked reach the client in order with one
// write to the socket; a control frame written outside a batch goes straight out.
func TestBatchConnOneWritePerBatch(t *testing.T) {
	ctx, uw, ws, client, counter := wsPair(t)
	counter.mu.Lock()
	before := counter.writes
	counter.mu.Unlock()

	uw.Conn.Cork()
	for i := range 16 {
		if err := ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	counter.mu.Lock()
	if counter.writes != before {
		t.Fatalf("%d writes reached the socket while corked", counter.writes-before)
	}
	counter.mu.Unlock()
	if err := uw.Conn.Uncork(); err != nil {
		t.Fatal(err)
	}
	counter.mu.Lock()
	if n := counter.writes - before; n != 1 {
		t.Fatalf("a batch of 16 messages took %d writes, want 1", n)
	}
	counter.mu.Unlock()
	for i := range 16 {
		_, b, err := client.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("m%d", i); string(b) != want {
			t.Fatalf("message %d = %q, want %q", i, b, want)
		}
	}
	// Uncorked, the write deadline of the batch is gone: a later message still goes out.
	if err := ws.Write(ctx, websocket.MessageText, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := client.Read(ctx); err != nil || string(b) != "after" {
		t.Fatalf("after the batch: %q, %v", b, err)
	}
}

// TestUpgradeWriterKeepsPipelinedBytes: a client frame sent in the same packet as the upgrade request
// (already in net/http's reader at the hijack) reaches the WebSocket through the small buffers.
func TestUpgradeWriterKeepsPipelinedBytes(t *testing.T) {
	got := make(chan *transport.UpgradeWriter, 1)
	conns := make(chan *websocket.Conn, 1)
	var counter *countingConn
	srv := acceptServer(t, got, conns, &counter)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A message larger than the small read buffer, after one smaller than it.
	small, big := "hello", strings.Repeat("x", 2000)
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req+string(maskedFrame(small))+string(maskedFrame(big))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	<-got
	ws := <-conns
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, want := range []string{small, big} {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want {
			t.Fatalf("read %d bytes %.10q…, want %d bytes %.10q…", len(b), b, len(want), want)
		}
	}
}

// maskedFrame encodes p as one masked client text frame (RFC 6455 §5.2).
func maskedFrame(p string) []byte {
	key := [4]byte{9, 8, 7, 6}
	f := []byte{0x81}
	if len(p) < 126 {
		f = append(f, 0x80|byte(len(p)))
	} else {
		f = append(f, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	f = append(f, key[:]...)
	for i := range len(p) {
		f = append(f, p[i]^key[i%4])
	}
	return f
}

// TestBatchConnWriteMessage: messages framed by WriteMessage, at every length encoding (7-bit, 16-bit,
// 64-bit), text and binary, read back by coder/websocket's client in order; outside a batch it refuses.
func TestBatchConnWriteMessage(t *testing.T) {
	ctx, uw, _, client, _ := wsPair(t)
	client.SetReadLimit(-1)
	if err := uw.Conn.WriteMessage(false, []byte("x")); err == nil {
		t.Fatal("WriteMessage outside a batch succeeded")
	}
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	uw.Conn.Cork()
	for i, n := range sizes {
		if err := uw.Conn.WriteMessage(i%2 == 1, bytes.Repeat([]byte{byte('a' + i)}, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := uw.Conn.Uncork(); err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		typ, b, err := client.Read(ctx)
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, n, err)
		}
		wantTyp := websocket.MessageText
		if i%2 == 1 {
			wantTyp = websocket.MessageBinary
		}
		if typ != wantTyp || !bytes.Equal(b, bytes.Repeat([]byte{byte('a' + i)}, n)) {
			t.Fatalf("message %d: %v of %d bytes, want %v of %d", i, typ, len(b), wantTyp, n)
		}
	}
}

// TestBatchConnOnClose: the function OnClose sets runs once, at the first Close, before the connection
// closes; it cannot be set twice, nor once the connection is closed.
func TestBatchConnOnClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	bc := transport.NewBatchConn(a, 0)
	runs := 0
	if !bc.OnClose(func() {
		runs++
		// Still open: a write reaches the peer.
		go io.Copy(io.Discard, b)
		if _, err := a.Write([]byte("x")); err != nil {
			t.Errorf("write in the close hook: %v", err)
		}
	}) {
		t.Fatal("OnClose refused on an open connection")
	}
	if bc.OnClose(func() { t.Error("second hook ran") }) {
		t.Fatal("OnClose accepted a second function")
	}
	bc.Close()
	bc.Close()
	if runs != 1 {
		t.Fatalf("hook ran %d times, want 1", runs)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("connection still open after Close")
	}
	if bc.OnClose(func() { t.Error("hook set after Close ran") }) {
		t.Fatal("OnClose accepted a function after Close")
	}
}

// TestReleaseWhileParked: a reader parked and unparked reads on from its source, with a buffer of its
// own again (a parked one's or a new one), however many readers park and unpark in turn.
func TestReleaseWhileParked(t *testing.T) {
	pr, pw := io.Pipe()
	br := bufio.NewReaderSize(pr, 512)
	park := transport.ReleaseWhileParked(br, pr)
	other := bufio.NewReaderSize(strings.NewReader("other"), 512)
	parkOther := transport.ReleaseWhileParked(other, strings.NewReader("other"))
	go func() {
		for _, s := range []string{"one", "two", "three"} {
			pw.Write([]byte(s))
		}
		pw.Close()
	}()
	for _, want := range []string{"one", "two", "three"} {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
		park(true)
		if br.Buffered() != 0 || br.Size() != 0 {
			t.Fatalf("parked reader: %d buffered, size %d", br.Buffered(), br.Size())
		}
		parkOther(true) // another connection's buffer joins the pool
		parkOther(false)
		park(false)
		if br.Size() < 512 {
			t.Fatalf("unparked reader's buffer: %d bytes", br.Size())
		}
	}
	if b, err := io.ReadAll(other); err != nil || string(b) != "other" {
		t.Fatalf("the other reader read %q, %v", b, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the source's end: %v, want EOF", err)
	}
}
