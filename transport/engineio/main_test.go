package engineio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/roomio/roomio/transport/engineio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait; nothing should come close to it.
const testTimeout = 10 * time.Second

// env is one test's server: an engineio.Server on an httptest server, and the sessions it opened.
type env struct {
	t        *testing.T
	srv      *engineio.Server
	base     string // http://127.0.0.1:port/engine.io/
	hc       *http.Client
	sessions chan *testSession
}

// newEnv starts a server whose sessions record their messages and echo them back. Heartbeats are slow
// unless opts changes them, so they do not interleave with what a test expects.
func newEnv(t *testing.T, opts func(*engineio.Options)) *env {
	t.Helper()
	e := &env{t: t, sessions: make(chan *testSession, 64)}
	o := engineio.Options{
		PingInterval: time.Minute,
		PingTimeout:  time.Minute,
		OnSession: func(s *engineio.Session) {
			ts := &testSession{
				Session: s,
				echo:    true,
				msgs:    make(chan message, 1024),
				closed:  make(chan string, 1),
			}
			s.SetHandler(ts)
			e.sessions <- ts
		},
	}
	if opts != nil {
		opts(&o)
	}
	e.srv = engineio.NewServer(o)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", e.srv)
	hs := httptest.NewServer(mux)
	e.base = hs.URL + "/engine.io/"
	e.hc = &http.Client{Transport: &http.Transport{}, Timeout: testTimeout}
	// Cleanups run last-in first-out: Shutdown ends the pending polls that httptest's Close waits for.
	t.Cleanup(hs.Close)
	t.Cleanup(e.hc.CloseIdleConnections)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

// nextSession returns the next session the server opened.
func (e *env) nextSession() *testSession {
	e.t.Helper()
	select {
	case s := <-e.sessions:
		return s
	case <-time.After(testTimeout):
		e.t.Fatal("no session opened")
		return nil
	}
}

// do sends a request and returns the status and body.
func (e *env) do(method, query string, body string, header http.Header) (int, string, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+"?"+query, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, query, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// get polls session sid.
func (e *env) get(sid string) (int, string) {
	e.t.Helper()
	status, body, _ := e.do(http.MethodGet, "EIO=4&transport=polling&sid="+sid, "", nil)
	return status, body
}

// post sends payload to session sid.
func (e *env) post(sid, payload string) (int, string) {
	e.t.Helper()
	status, body, _ := e.do(http.MethodPost, "EIO=4&transport=polling&sid="+sid, payload, nil)
	return status, body
}

// handshake opens a long-polling session and returns its sid and open packet.
func (e *env) handshake() (string, openPacket) {
	e.t.Helper()
	status, body, _ := e.do(http.MethodGet, "EIO=4&transport=polling", "", nil)
	if status != http.StatusOK {
		e.t.Fatalf("handshake: %d %q", status, body)
	}
	return parseOpen(e.t, body)
}

// dial opens a WebSocket with query.
func (e *env) dial(query string) *websocket.Conn {
	e.t.Helper()
	c, err := e.dialErr(query)
	if err != nil {
		e.t.Fatalf("dial %s: %v", query, err)
	}
	return c
}

func (e *env) dialErr(query string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.base, "http")+"?"+query, nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			return nil, fmt.Errorf("%w (status %d, body %q)", err, resp.StatusCode, b)
		}
		return nil, err
	}
	c.SetReadLimit(-1)
	e.t.Cleanup(func() { c.CloseNow() })
	return c, nil
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t *testing.T, p string) (string, openPacket) {
	t.Helper()
	var o openPacket
	if !strings.HasPrefix(p, "0") {
		t.Fatalf("not an open packet: %q", p)
	}
	dec := json.NewDecoder(strings.NewReader(p[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.SID == "" {
		t.Fatalf("open packet %q: %v", p, err)
	}
	return o.SID, o
}

// readWS reads one message and returns it in polling notation (binary as "b"+base64).
func readWS(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	p, err := readWSErr(c)
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	return p
}

func readWSErr(c *websocket.Conn) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		return "", err
	}
	return string(engineio.AppendPayload(nil, []engineio.Frame{{Data: data, Binary: typ == websocket.MessageBinary}})), nil
}

// readClose reads until the connection ends and returns its close status.
func readClose(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	for {
		_, err := readWSErr(c)
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func writeWS(t *testing.T, c *websocket.Conn, packets ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, p := range packets {
		typ, data := websocket.MessageText, []byte(p)
		if strings.HasPrefix(p, "b") {
			f, err := engineio.DecodePayload(data)
			if err != nil {
				t.Fatal(err)
			}
			typ, data = websocket.MessageBinary, f[0].Data
		}
		if err := c.Write(ctx, typ, data); err != nil {
			t.Fatalf("websocket write %q: %v", p, err)
		}
	}
}

// message is one message a session received.
type message struct {
	data   string
	binary bool
}

// testSession records its messages and its close reason; it echoes messages back when echo is set, and
// waits on block (when not nil) before handling each message.
type testSession struct {
	*engineio.Session
	echo    bool
	block   chan struct{}
	msgs    chan message
	closed  chan string
	ncloses atomic.Int32
}

func (s *testSession) OnMessage(data []byte, binary bool) {
	if s.block != nil {
		<-s.block
	}
	if s.echo {
		s.SendMessage(bytes.Clone(data), binary)
	}
	s.msgs <- message{string(data), binary}
}

func (s *testSession) OnClose(reason string) {
	if s.ncloses.Add(1) == 1 {
		s.closed <- reason
	}
}

// waitClosed returns the reason passed to OnClose.
func (s *testSession) waitClosed(t *testing.T) string {
	t.Helper()
	select {
	case r := <-s.closed:
		return r
	case <-time.After(testTimeout):
		t.Fatal("OnClose was not called")
		return ""
	}
}

// nextMessage returns the next message the session received.
func (s *testSession) nextMessage(t *testing.T) message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(testTimeout):
		t.Fatal("no message received")
		return message{}
	}
}

// client is one session as its client sees it, over either transport.
type client struct {
	e   *env
	tr  string
	sid string
	ws  *websocket.Conn
	buf []string // packets received and not yet returned
}

// open opens a session over transport tr and returns the client and the server's session.
func (e *env) open(tr string) (*client, *testSession) {
	e.t.Helper()
	c := &client{e: e, tr: tr}
	if tr == engineio.TransportPolling {
		c.sid, _ = e.handshake()
	} else {
		c.ws = e.dial("EIO=4&transport=websocket")
		c.sid, _ = parseOpen(e.t, readWS(e.t, c.ws))
	}
	s := e.nextSession()
	if s.ID() != c.sid {
		e.t.Fatalf("session %q opened, client has %q", s.ID(), c.sid)
	}
	return c, s
}

// send sends packets (polling notation): one POST, or one WebSocket message each.
func (c *client) send(packets ...string) {
	c.e.t.Helper()
	if c.ws != nil {
		writeWS(c.e.t, c.ws, packets...)
		return
	}
	if status, body := c.e.post(c.sid, strings.Join(packets, "\x1e")); status != http.StatusOK || body != "ok" {
		c.e.t.Fatalf("POST: %d %q", status, body)
	}
}

// recv returns the next n packets from the server.
func (c *client) recv(n int) []string {
	c.e.t.Helper()
	for len(c.buf) < n {
		if c.ws != nil {
			c.buf = append(c.buf, readWS(c.e.t, c.ws))
			continue
		}
		status, body := c.e.get(c.sid)
		if status != http.StatusOK {
			c.e.t.Fatalf("GET: %d %q", status, body)
		}
		c.buf = append(c.buf, strings.Split(body, "\x1e")...)
	}
	got := c.buf[:n:n]
	c.buf = c.buf[n:]
	return got
}

// expect receives len(want) packets and compares them with want.
func (c *client) expect(want ...string) {
	c.e.t.Helper()
	if got := c.recv(len(want)); !equal(got, want) {
		c.e.t.Fatalf("received %q, want %q", got, want)
	}
}

func equal(a, b []string) bool { return slices.Equal(a, b) }

// run runs f over each transport, in parallel.
func run(t *testing.T, f func(t *testing.T, tr string)) {
	for _, tr := range []string{engineio.TransportPolling, engineio.TransportWebSocket} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

// eventually waits, deadline-bound, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
