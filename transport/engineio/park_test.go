package engineio_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/engineio"
	"github.com/roomio/roomio/transport/transporttest"
)

// The tests of this file pin the moments a WebSocket session is parked (no reader goroutine; see
// package transport/netpoll) by counting goroutines, so they do not run in parallel with the others.

const pkg = "roomio/transport/engineio."

// awaitParked waits until every connection of the package's servers is parked (transporttest.AwaitAllParked).
func awaitParked(t *testing.T, pollers int) {
	t.Helper()
	transporttest.AwaitAllParked(t, pkg, pollers, testTimeout)
}

// dialRaw opens a WebSocket session and returns the client's TCP connection too (to write raw bytes).
func (e *env) dialRaw() (*websocket.Conn, net.Conn) {
	e.t.Helper()
	var raw net.Conn
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		raw = c
		return c, err
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.base, "http")+"?EIO=4&transport=websocket", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ws.CloseNow() })
	return ws, raw
}

// upgraded opens a long-polling session and upgrades it to a WebSocket.
func (e *env) upgraded() (*client, *testSession) {
	e.t.Helper()
	c, s := e.open(engineio.TransportPolling)
	c.ws = e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	writeWS(e.t, c.ws, "2probe")
	if p := readWS(e.t, c.ws); p != "3probe" {
		e.t.Fatalf("probe answered %q", p)
	}
	writeWS(e.t, c.ws, "5")
	c.tr = engineio.TransportWebSocket
	return c, s
}

// TestParkedSessionsAnswer: a message that reaches a parked WebSocket (opened directly, or upgraded from
// long-polling) is read and answered, for many sessions at once over many rounds, each round starting
// with every WebSocket parked.
func TestParkedSessionsAnswer(t *testing.T) {
	e := newEnv(t, nil)
	const direct, upgraded, rounds = 20, 10, 10
	var cs []*client
	for range direct {
		c, _ := e.open(engineio.TransportWebSocket)
		cs = append(cs, c)
	}
	for range upgraded {
		c, _ := e.upgraded()
		cs = append(cs, c)
	}
	for r := range rounds {
		awaitParked(t, 1)
		for i, c := range cs {
			p := fmt.Sprintf("4round %d session %d", r, i)
			c.send(p)
			c.expect(p)
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
	default:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// TestParkedSplitFrame: a frame that reaches a parked WebSocket in pieces (cut in its header, in its
// payload) is read whole: the first piece starts the reader, which waits in its read for the rest.
func TestParkedSplitFrame(t *testing.T) {
	e := newEnv(t, nil)
	ws, raw := e.dialRaw()
	readWS(t, ws) // the open packet
	e.nextSession()
	msg := "4" + strings.Repeat("a", 300) // a payload length of 16 bits: an 8-byte header with the mask
	frame := maskedFrame(0x1, []byte(msg))
	for _, cuts := range [][]int{{1}, {3}, {6}, {8, 100}, {1, 2, 3, 4, 5, 6, 7, 8}} {
		awaitParked(t, 1)
		rest, done := frame, 0
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
		if p := readWS(t, ws); p != msg {
			t.Fatalf("cuts %v: echo %q, want the split frame", cuts, p)
		}
	}
	awaitParked(t, 1)
}

// TestParkedClientEnds: a parked WebSocket whose client ends it (a close frame, its TCP connection
// closed, or reset) ends the session with the matching reason; the poller's goroutine ends with the
// last WebSocket.
func TestParkedClientEnds(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name   string
		end    func(ws *websocket.Conn, raw net.Conn)
		reason string
	}{
		{"close frame", func(ws *websocket.Conn, _ net.Conn) { ws.Close(websocket.StatusNormalClosure, "bye") }, transport.ReasonTransportClose},
		{"FIN", func(_ *websocket.Conn, raw net.Conn) { raw.Close() }, transport.ReasonTransportClose},
		{"RST", func(_ *websocket.Conn, raw net.Conn) { raw.(*net.TCPConn).SetLinger(0); raw.Close() }, transport.ReasonTransportError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, raw := e.dialRaw()
			readWS(t, ws) // the open packet
			s := e.nextSession()
			awaitParked(t, 1)
			if tc.name == "close frame" {
				// The client's Close waits for the server's answer, which a reader must take.
				go func() { readClose(t, ws) }()
			}
			tc.end(ws, raw)
			if got := s.waitClosed(t); got != tc.reason {
				t.Errorf("OnClose(%q), want %q", got, tc.reason)
			}
			eventually(t, "the session to be removed", func() bool { return e.srv.NumSessions() == 0 })
			awaitParked(t, 0)
		})
	}
}

// TestParkedServerCloses: the server side closes parked WebSockets (the session's Close, a ping
// timeout, Shutdown): each one ends with its close code and reason, and nothing is left running.
func TestParkedServerCloses(t *testing.T) {
	t.Run("Close", func(t *testing.T) {
		e := newEnv(t, nil)
		c, s := e.open(engineio.TransportWebSocket)
		awaitParked(t, 1)
		s.Close("forced close")
		c.expect("1")
		if code := readClose(t, c.ws); code != websocket.StatusNormalClosure {
			t.Fatalf("close code %v", code)
		}
		if r := s.waitClosed(t); r != "forced close" {
			t.Fatalf("OnClose(%q)", r)
		}
		awaitParked(t, 0)
	})
	t.Run("ping timeout", func(t *testing.T) {
		e := newEnv(t, func(o *engineio.Options) {
			o.PingInterval = 50 * time.Millisecond
			o.PingTimeout = 50 * time.Millisecond
		})
		c, s := e.open(engineio.TransportWebSocket)
		c.expect("2") // the ping, not answered
		if code := readClose(t, c.ws); code != transport.ClosePingTimeout {
			t.Fatalf("close code %v", code)
		}
		if r := s.waitClosed(t); r != transport.ReasonPingTimeout {
			t.Fatalf("OnClose(%q)", r)
		}
		awaitParked(t, 0)
	})
	t.Run("Shutdown", func(t *testing.T) {
		e := newEnv(t, nil)
		const n = 20
		type pair struct {
			c *client
			s *testSession
		}
		var ps []pair
		for range n {
			c, s := e.open(engineio.TransportWebSocket)
			ps = append(ps, pair{c, s})
		}
		awaitParked(t, 1)
		// The clients read (answer the close handshake) while the server shuts down.
		var readers sync.WaitGroup
		codes := make(chan websocket.StatusCode, n)
		for _, p := range ps {
			readers.Go(func() { codes <- readClose(t, p.c.ws) })
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		readers.Wait()
		close(codes)
		for code := range codes {
			if code != websocket.StatusGoingAway {
				t.Errorf("close code %v, want %v", code, websocket.StatusGoingAway)
			}
		}
		for _, p := range ps {
			if r := p.s.waitClosed(t); r != transport.ReasonShuttingDown {
				t.Errorf("OnClose(%q), want %q", r, transport.ReasonShuttingDown)
			}
		}
		// Shutdown waited for every goroutine of the server, the poller's included.
		if got := transporttest.GoroutinesIn(transporttest.PollerPkg); got["total"] != 0 {
			t.Fatalf("poller goroutines after Shutdown: %v", got)
		}
	})
	t.Run("Shutdown drops", func(t *testing.T) {
		// Clients that never read: the close handshake cannot end, Shutdown's context does, and the
		// parked WebSockets are dropped.
		e := newEnv(t, nil)
		var ss []*testSession
		for range 5 {
			_, s := e.open(engineio.TransportWebSocket)
			ss = append(ss, s)
		}
		awaitParked(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		e.srv.Shutdown(ctx)
		for _, s := range ss {
			if r := s.waitClosed(t); r != transport.ReasonShuttingDown {
				t.Errorf("OnClose(%q), want %q", r, transport.ReasonShuttingDown)
			}
		}
		if got := transporttest.GoroutinesIn(transporttest.PollerPkg); got["total"] != 0 {
			t.Fatalf("poller goroutines after Shutdown: %v", got)
		}
	})
}

// TestParkRacesClose: clients send bursts (each message parks and wakes the WebSocket) while the
// server closes their sessions: every session ends once, with the server's reason, and nothing is left
// running (goleak, -race).
func TestParkRacesClose(t *testing.T) {
	e := newEnv(t, nil)
	const n, rounds = 20, 5
	for range rounds {
		var cs []*client
		var ss []*testSession
		for range n {
			c, s := e.open(engineio.TransportWebSocket)
			cs, ss = append(cs, c), append(ss, s)
		}
		var clients sync.WaitGroup
		for _, c := range cs {
			clients.Go(func() { readClose(t, c.ws) }) // drains the echoes until the connection ends
			clients.Go(func() { transporttest.WriteUntilClosed(c.ws, websocket.MessageText, []byte("4burst"), testTimeout) })
		}
		for _, s := range ss {
			s.Close("forced close")
		}
		for _, s := range ss {
			if r := s.waitClosed(t); r != "forced close" {
				t.Errorf("OnClose(%q), want %q", r, "forced close")
			}
		}
		for _, c := range cs {
			c.ws.CloseNow() // a writer blocked on a full socket
		}
		clients.Wait()
	}
	eventually(t, "the sessions to be removed", func() bool { return e.srv.NumSessions() == 0 })
	awaitParked(t, 0)
}
