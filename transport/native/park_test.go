package native_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/native"
	"github.com/roomio/roomio/transport/transporttest"
	"github.com/roomio/roomio/transport/wire"
)

// The tests of this file pin the moments a connection is parked (no reader goroutine; see package
// transport/netpoll) by counting goroutines, so they do not run in parallel with the others.

const pkg = "roomio/transport/native."

// awaitParked waits until every connection of the package's servers is parked (transporttest.AwaitAllParked).
func awaitParked(t *testing.T, pollers int) {
	t.Helper()
	transporttest.AwaitAllParked(t, pkg, pollers, testTimeout)
}

// TestParkedConnsAnswer: a message that reaches a parked connection is read and answered, for many
// connections at once over many rounds, each round starting with every connection parked.
func TestParkedConnsAnswer(t *testing.T) {
	ts := newTestServer(t, nil)
	const conns, rounds = 30, 10
	cs := make([]*testClient, conns)
	for i := range cs {
		o := jsonDial
		if i%2 == 0 {
			o = protoDial
		}
		cs[i] = ts.dial(t, o)
	}
	for range rounds {
		awaitParked(t, 1)
		for _, c := range cs {
			c.checkAlive()
		}
	}
	awaitParked(t, 1)
}

// maskedFrame encodes payload as one masked client frame with FIN set (RFC 6455 §5.2).
func maskedFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// TestParkedSplitFrame: a frame that reaches a parked connection in pieces (cut in its header, in its
// payload) is read whole: the first piece starts the reader, which waits in its read for the rest.
func TestParkedSplitFrame(t *testing.T) {
	ts := newTestServer(t, nil)
	var raw net.Conn
	o := jsonDial
	o.raw = &raw
	c := ts.dial(t, o)
	arg := strconv.Quote(strings.Repeat("a", 300)) // a payload length of 16 bits: an 8-byte header with the mask
	frame := maskedFrame(0x1, wire.EncodeFrame(wire.FormatJSON, event("split", arg)))
	for _, cuts := range [][]int{{1}, {3}, {6}, {8, 100}, {1, 2, 3, 4, 5, 6, 7, 8}} {
		awaitParked(t, 1)
		rest := frame
		done := 0
		for _, cut := range cuts {
			if _, err := raw.Write(rest[:cut-done]); err != nil {
				t.Fatal(err)
			}
			rest, done = rest[cut-done:], cut
			// The reader woke, and waits in its read for the rest of the frame.
			transporttest.AwaitParked(t, pkg, 1, 1, testTimeout)
		}
		if _, err := raw.Write(rest); err != nil {
			t.Fatal(err)
		}
		if p := c.next(); p.Name != "split" || len(p.Args) != 1 || string(p.Args[0].Data) != arg {
			t.Fatalf("cuts %v: got %+v, want the echo of the split frame", cuts, p)
		}
	}
	awaitParked(t, 1)
	c.checkAlive()
}

// TestParkedClientEnds: a parked connection whose client closes it (a close frame, its TCP connection
// closed, or reset) ends with the matching reason, and the poller's goroutine ends with the last one.
func TestParkedClientEnds(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tc := range []struct {
		name   string
		end    func(c *testClient, raw net.Conn)
		reason string
	}{
		{"close frame", func(c *testClient, _ net.Conn) { c.ws.Close(websocket.StatusNormalClosure, "bye") }, transport.ReasonTransportClose},
		{"FIN", func(_ *testClient, raw net.Conn) { raw.Close() }, transport.ReasonTransportError},
		{"RST", func(_ *testClient, raw net.Conn) { raw.(*net.TCPConn).SetLinger(0); raw.Close() }, transport.ReasonTransportError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw net.Conn
			o := protoDial
			o.raw = &raw
			c := ts.dial(t, o)
			c.checkAlive()
			awaitParked(t, 1)
			tc.end(c, raw)
			if got := c.sess.waitClosed(t); got != tc.reason {
				t.Errorf("Session.Closed(%q), want %q", got, tc.reason)
			}
			awaitParked(t, 0)
		})
	}
}

// TestParkedServerCloses: the server side closes parked connections (the session's Close, a ping
// timeout, Shutdown): each one ends with its close code and reason, and nothing is left running.
func TestParkedServerCloses(t *testing.T) {
	t.Run("Close", func(t *testing.T) {
		ts := newTestServer(t, nil)
		c := ts.dial(t, protoDial)
		awaitParked(t, 1)
		c.sess.conn.Close(transport.CloseNormal, transport.ReasonForcedClose)
		if reason := c.expectClose(transport.CloseNormal); reason != transport.ReasonForcedClose {
			t.Errorf("close reason %q, want %q", reason, transport.ReasonForcedClose)
		}
		if got := c.sess.waitClosed(t); got != transport.ReasonForcedClose {
			t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonForcedClose)
		}
		awaitParked(t, 0)
	})
	t.Run("ping timeout", func(t *testing.T) {
		ts := newTestServer(t, func(o *native.Options) {
			o.PingInterval = 50 * time.Millisecond
			o.PingTimeout = 50 * time.Millisecond
		})
		o := protoDial
		o.noPong = true
		c := ts.dial(t, o)
		if reason := c.expectClose(transport.ClosePingTimeout); reason != transport.ReasonPingTimeout {
			t.Errorf("close reason %q, want %q", reason, transport.ReasonPingTimeout)
		}
		if got := c.sess.waitClosed(t); got != transport.ReasonPingTimeout {
			t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonPingTimeout)
		}
		awaitParked(t, 0)
	})
	t.Run("Shutdown", func(t *testing.T) {
		ts := newTestServer(t, nil)
		const n = 20
		cs := make([]*testClient, n)
		for i := range cs {
			cs[i] = ts.dial(t, protoDial)
		}
		awaitParked(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		for _, c := range cs {
			c.expectClose(transport.CloseGoingAway)
			if got := c.sess.waitClosed(t); got != transport.ReasonShuttingDown {
				t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonShuttingDown)
			}
		}
		// Shutdown waited for every goroutine of the server, the poller's included.
		if got := transporttest.GoroutinesIn(transporttest.PollerPkg); got["total"] != 0 {
			t.Fatalf("poller goroutines after Shutdown: %v", got)
		}
	})
	t.Run("Shutdown drops", func(t *testing.T) {
		// Clients that never read: the close handshake cannot end, Shutdown's context does, and the
		// parked connections are dropped.
		ts := newTestServer(t, nil)
		cs := make([]*testClient, 5)
		for i := range cs {
			cs[i] = ts.dial(t, dialOptions{subprotocols: protoDial.subprotocols, noRead: true})
		}
		awaitParked(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		ts.srv.Shutdown(ctx)
		for _, c := range cs {
			if got := c.sess.waitClosed(t); got != transport.ReasonShuttingDown {
				t.Errorf("Session.Closed(%q), want %q", got, transport.ReasonShuttingDown)
			}
		}
		if got := transporttest.GoroutinesIn(transporttest.PollerPkg); got["total"] != 0 {
			t.Fatalf("poller goroutines after Shutdown: %v", got)
		}
	})
}

// TestParkRacesClose: clients send bursts (each message parks and wakes the connection) while the
// server closes their connections: every connection ends once, with the server's reason, and nothing
// is left running (goleak, -race).
func TestParkRacesClose(t *testing.T) {
	ts := newTestServer(t, nil)
	const n, rounds = 20, 5
	for range rounds {
		cs := make([]*testClient, n)
		for i := range cs {
			cs[i] = ts.dial(t, protoDial)
		}
		var senders sync.WaitGroup
		for _, c := range cs {
			frame := wire.EncodeFrame(c.f, event("burst", `"x"`))
			senders.Go(func() { transporttest.WriteUntilClosed(c.ws, websocket.MessageBinary, frame, testTimeout) })
		}
		for i, c := range cs {
			if i%2 == 0 {
				c.sess.conn.Close(transport.CloseNormal, transport.ReasonForcedClose)
			} else {
				c.sess.conn.Send(&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "x"})
				c.sess.conn.Close(transport.CloseGoingAway, transport.ReasonServerDisconnect)
			}
		}
		for i, c := range cs {
			want := transport.ReasonForcedClose
			if i%2 == 1 {
				want = transport.ReasonServerDisconnect
			}
			if got := c.sess.waitClosed(t); got != want {
				t.Errorf("Session.Closed(%q), want %q", got, want)
			}
			c.ws.CloseNow() // a sender blocked on a full socket
		}
		senders.Wait()
	}
	awaitParked(t, 0)
}

// TestPipelinedFrameNotParked: a frame sent in the same packet as the upgrade request reaches the server
// with the request (transport.UpgradeWriter.Carried): the reader reads it before it parks, and answers.
func TestPipelinedFrameNotParked(t *testing.T) {
	ts := newTestServer(t, nil)
	conn, err := net.Dial("tcp", ts.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET / HTTP/1.1\r\nHost: roomio\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + wire.SubprotocolJSON + "\r\n\r\n"
	frame := maskedFrame(0x1, wire.EncodeFrame(wire.FormatJSON, event("early", `"x"`)))
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// One unmasked text frame from the server: the echo.
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = int(ext[0])<<8 | int(ext[1])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	msgs, err := wire.DecodeFrame(wire.FormatJSON, payload)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("server frame %q: %v", payload, err)
	}
	if p, err := wire.FromMessage(msgs[0]); err != nil || p.Name != "early" {
		t.Fatalf("got %+v (%v), want the echo of event early", p, err)
	}
	awaitParked(t, 1)
}
