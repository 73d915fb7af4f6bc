package engineio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/engineio"
)

func TestHandshakePolling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     func(*engineio.Options)
		upgrades string
	}{
		{"defaults", func(o *engineio.Options) { o.PingInterval, o.PingTimeout = 0, 0 }, `["websocket"]`},
		{"DisableUpgrades", func(o *engineio.Options) { o.DisableUpgrades = true }, `[]`},
		{"polling only", func(o *engineio.Options) { o.Transports = []string{"polling"} }, `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *engineio.Options) {
				tc.opts(o)
				o.MaxPayload = 0
			})
			status, body, h := e.do(http.MethodGet, "EIO=4&transport=polling", "", nil)
			if status != http.StatusOK || h.Get("Content-Type") != "text/plain; charset=UTF-8" {
				t.Fatalf("handshake: %d %q (%s)", status, body, h.Get("Content-Type"))
			}
			ping := `"pingInterval":60000,"pingTimeout":60000`
			if tc.name == "defaults" {
				ping = `"pingInterval":25000,"pingTimeout":20000`
			}
			// Byte-exact, in the reference server's key order.
			re := regexp.MustCompile(`^0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":` + regexp.QuoteMeta(tc.upgrades) + `,` + ping + `,"maxPayload":1000000\}$`)
			if !re.MatchString(body) {
				t.Fatalf("open packet %q, want %s", body, re)
			}
			s := e.nextSession()
			if s.Transport() != "polling" || !strings.Contains(body, s.ID()) || s.Handshake().Query.Get("EIO") != "4" {
				t.Fatalf("session %q transport %q handshake %+v", s.ID(), s.Transport(), s.Handshake())
			}
		})
	}
}

func TestHandshakeWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial("EIO=4&transport=websocket")
	sid, o := parseOpen(t, readWS(t, c))
	if len(o.Upgrades) != 0 || o.PingInterval != 60000 || o.PingTimeout != 60000 || o.MaxPayload != 1000000 {
		t.Fatalf("open packet %+v", o)
	}
	s := e.nextSession()
	if s.ID() != sid || s.Transport() != "websocket" {
		t.Fatalf("session %q on %q, client has %q", s.ID(), s.Transport(), sid)
	}
}

// TestSendFromOnSession checks that frames sent from OnSession follow the open packet: over long-polling
// they wait for the first poll, the handshake response being the open packet alone.
func TestSendFromOnSession(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, func(o *engineio.Options) {
			on := o.OnSession
			o.OnSession = func(s *engineio.Session) {
				on(s)
				s.SendMessage([]byte("welcome"), false)
			}
		})
		c, _ := e.open(tr)
		c.expect("4welcome")
	})
}

func TestEcho(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		c, s := e.open(tr)
		c.send("4hello", "4wörld", "bAQIDBA==", "4")
		c.expect("4hello", "4wörld", "bAQIDBA==", "4")
		for _, want := range []message{{"hello", false}, {"wörld", false}, {"\x01\x02\x03\x04", true}, {"", false}} {
			if got := s.nextMessage(t); got != want {
				t.Fatalf("OnMessage(%q, %v), want %q, %v", got.data, got.binary, want.data, want.binary)
			}
		}
	})
}

// TestPollingBatch checks that the replies to a POST's packets are queued before the POST returns, so
// that one poll returns them all, joined by the record separator.
func TestPollingBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	if status, body := e.post(sid, "4test1\x1e4test2\x1ebAQIDBA==\x1e4test3"); status != http.StatusOK || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if status, body := e.get(sid); status != http.StatusOK || body != "4test1\x1e4test2\x1ebAQIDBA==\x1e4test3" {
		t.Fatalf("GET: %d %q", status, body)
	}
	_, _, h := e.do(http.MethodPost, "EIO=4&transport=polling&sid="+sid, "4x", nil)
	if got := h.Get("Content-Type"); got != "text/html; charset=UTF-8" {
		t.Fatalf("POST Content-Type %q", got)
	}
}

// TestPollWaits checks that a poll waits until something is queued.
func TestPollWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, s := e.open("polling")
	got := make(chan []string, 1)
	go func() { got <- c.recv(1) }()
	select {
	case p := <-got:
		t.Fatalf("poll returned %q with nothing queued", p)
	case <-time.After(20 * time.Millisecond): // not a synchronisation: the poll must still be waiting
	}
	s.SendFrames(false, engineio.Frame{Data: []byte("4late")}, engineio.Frame{Data: []byte{1, 2}, Binary: true})
	select {
	case p := <-got:
		if !equal(p, []string{"4late"}) {
			t.Fatalf("poll returned %q", p)
		}
	case <-time.After(testTimeout):
		t.Fatal("poll did not return")
	}
	c.expect("bAQI=")
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, s := e.open("polling")

	// A poll is pending when the WebSocket probes: the probe's answer ends it with a noop.
	poll := make(chan string, 1)
	go func() {
		_, body := e.get(c.sid)
		poll <- body
	}()
	eventually(t, "the poll to be pending", func() bool { return pollPending(e, c.sid) })
	ws := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	writeWS(t, ws, "2probe")
	if p := readWS(t, ws); p != "3probe" {
		t.Fatalf("probe answered %q", p)
	}
	if p := <-poll; p != "6" {
		t.Fatalf("pending poll returned %q, want noop", p)
	}
	// Until the upgrade packet, a poll still works: it answers with a noop.
	if status, body := e.get(c.sid); status != http.StatusOK || body != "6" {
		t.Fatalf("poll while upgrading: %d %q", status, body)
	}
	if s.Transport() != "polling" {
		t.Fatalf("transport %q before the upgrade packet", s.Transport())
	}
	s.SendMessage([]byte("queued before upgrade"), false)
	writeWS(t, ws, "5")
	if p := readWS(t, ws); p != "4queued before upgrade" {
		t.Fatalf("after upgrade got %q", p)
	}
	if s.Transport() != "websocket" {
		t.Fatalf("transport %q after upgrade", s.Transport())
	}
	writeWS(t, ws, "4hello", "bAQ==")
	if p := readWS(t, ws); p != "4hello" {
		t.Fatalf("echo %q", p)
	}
	if p := readWS(t, ws); p != "bAQ==" {
		t.Fatalf("echo %q", p)
	}

	// Polls and POSTs on the sid are refused now, and leave the session alone.
	if status, body := e.get(c.sid); status != http.StatusBadRequest || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("poll after upgrade: %d %q", status, body)
	}
	if status, body := e.post(c.sid, "4x"); status != http.StatusBadRequest || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("POST after upgrade: %d %q", status, body)
	}
	// A second WebSocket for the session is accepted, then closed.
	ws2 := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	if code := readClose(t, ws2); code != websocket.StatusPolicyViolation {
		t.Fatalf("second websocket closed with %v", code)
	}
	writeWS(t, ws, "4still here")
	if p := readWS(t, ws); p != "4still here" {
		t.Fatalf("echo %q", p)
	}
	select {
	case r := <-s.closed:
		t.Fatalf("session closed: %s", r)
	default:
	}
}

// pollPending reports whether a poll of sid is waiting in the server.
func pollPending(e *env, sid string) bool {
	return engineio.PollPending(e.srv, sid)
}

// TestUpgradeCrossedPoll checks that a poll sent after the probe and the upgrade packet, but on another
// connection, is answered as after the upgrade (refused) even when it reaches the server first.
func TestUpgradeCrossedPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, s := e.open("polling")
	ws := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	eventually(t, "the upgrade to start", func() bool { return engineio.Probing(e.srv, c.sid) })
	writeWS(t, ws, "2probe", "5")
	if status, body := e.get(c.sid); status != http.StatusBadRequest {
		t.Fatalf("poll after the upgrade packet: %d %q", status, body)
	}
	if p := readWS(t, ws); p != "3probe" {
		t.Fatalf("probe answered %q", p)
	}
	writeWS(t, ws, "4hello")
	if p := readWS(t, ws); p != "4hello" {
		t.Fatalf("echo %q", p)
	}
	if s.Transport() != "websocket" {
		t.Fatalf("transport %q", s.Transport())
	}
}

// TestUpgradeAnsweredPollClosed replays what engine.io-client does in Node.js, against a server slowed
// at the wrong moment: its poll is pending when the upgrade starts, the probe ends it with a noop, and
// the client, which uses a connection per request, reads the noop and closes the connection while the
// poll's handler has not returned yet. That poll was answered, not given up: the session must go on
// and the upgrade complete. (It used to be closed with "transport error", the upgrade refused.)
func TestUpgradeAnsweredPollClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, s := e.open("polling")

	// The poll, on a connection of its own that the client closes once it has the answer.
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(e.base, "http://"), "/engine.io/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	// The handler waits, once its answer is written, until the server has seen the client close.
	engineio.AfterPollAnswer(e.srv, func(r *http.Request) { <-r.Context().Done() })
	fmt.Fprintf(conn, "GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", c.sid)
	eventually(t, "the poll to be pending", func() bool { return pollPending(e, c.sid) })

	ws := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	writeWS(t, ws, "2probe")
	if p := readWS(t, ws); p != "3probe" {
		t.Fatalf("probe answered %q", p)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "6" {
		t.Fatalf("pending poll: %d %q %v", resp.StatusCode, body, err)
	}
	// Half-close: the server sees the end of the connection (its request context ends), finishes the
	// handler, then closes its side, which tells this test that the handler has returned.
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the answer: %d bytes, %v", n, err)
	}

	writeWS(t, ws, "5", "4hello")
	if p := readWS(t, ws); p != "4hello" {
		t.Fatalf("echo %q", p)
	}
	if s.Transport() != "websocket" {
		t.Fatalf("transport %q", s.Transport())
	}
	select {
	case r := <-s.closed:
		t.Fatalf("session closed: %s", r)
	default:
	}
}

// TestUpgradeSlowReader checks how a poll that arrives during an upgrade is answered while the server
// is slow to read the WebSocket: held until the reader has taken what the client sent there before the
// poll, then answered as the client left the session. No time window decides it.
func TestUpgradeSlowReader(t *testing.T) {
	t.Parallel()
	for _, crossed := range []bool{false, true} {
		e := newEnv(t, nil)
		c, s := e.open("polling")
		release := make(chan struct{})
		var once sync.Once
		engineio.BeforeProbeRead(e.srv, func() { <-release })
		defer once.Do(func() { close(release) })
		ws := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
		if crossed {
			// A client that polls after its upgrade packet (the conformance suite does).
			writeWS(t, ws, "2probe", "5")
		} else {
			// engine.io-client: its poll is in flight while it probes; it sends the upgrade packet only
			// once that poll is answered.
			writeWS(t, ws, "2probe")
		}
		type answer struct {
			status int
			body   string
		}
		poll := make(chan answer, 1)
		go func() {
			status, body := e.get(c.sid)
			poll <- answer{status, body}
		}()
		eventually(t, "the poll to wait for the upgrade", func() bool { return engineio.PollsHeld(e.srv, c.sid) == 1 })
		once.Do(func() { close(release) })
		if p := readWS(t, ws); p != "3probe" {
			t.Fatalf("probe answered %q", p)
		}
		a := <-poll
		if crossed {
			if a.status != http.StatusBadRequest {
				t.Fatalf("poll sent after the upgrade packet: %d %q", a.status, a.body)
			}
		} else {
			if a.status != http.StatusOK || a.body != "6" {
				t.Fatalf("poll in flight during the probe: %d %q", a.status, a.body)
			}
			writeWS(t, ws, "5")
		}
		writeWS(t, ws, "4hello")
		if p := readWS(t, ws); p != "4hello" {
			t.Fatalf("echo %q", p)
		}
		if s.Transport() != "websocket" {
			t.Fatalf("transport %q", s.Transport())
		}
	}
}

// TestUpgradeAborted checks that an upgrade that goes wrong leaves the session on long-polling.
func TestUpgradeAborted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, s := e.open("polling")
	ws := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	writeWS(t, ws, "4not a probe")
	if code := readClose(t, ws); code != websocket.StatusPolicyViolation {
		t.Fatalf("aborted upgrade closed with %v", code)
	}
	c.send("4hello")
	c.expect("4hello")
	if s.Transport() != "polling" {
		t.Fatalf("transport %q", s.Transport())
	}
	// The session may try again.
	ws = e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	writeWS(t, ws, "2probe")
	if p := readWS(t, ws); p != "3probe" {
		t.Fatalf("probe answered %q", p)
	}
	writeWS(t, ws, "5", "4again")
	if p := readWS(t, ws); p != "4again" {
		t.Fatalf("echo %q", p)
	}
}

func TestUpgradeDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.DisableUpgrades = true })
	sid, _ := e.handshake()
	if _, err := e.dialErr("EIO=4&transport=websocket&sid=" + sid); err == nil || !strings.Contains(err.Error(), "status 400") {
		t.Fatalf("upgrade with DisableUpgrades: %v", err)
	}
}

func TestHeartbeat(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, func(o *engineio.Options) {
			o.PingInterval = 20 * time.Millisecond
			o.PingTimeout = 2 * time.Second
		})
		c, s := e.open(tr)
		for range 5 {
			c.expect("2")
			c.send("3")
		}
		// Messages go on between pings.
		c.send("4x")
		for {
			if p := c.recv(1)[0]; p == "4x" {
				break
			} else if p != "2" {
				t.Fatalf("received %q", p)
			}
		}
		select {
		case r := <-s.closed:
			t.Fatalf("session closed: %s", r)
		default:
		}
	})
}

func TestPingTimeout(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, func(o *engineio.Options) {
			o.PingInterval = 20 * time.Millisecond
			o.PingTimeout = 30 * time.Millisecond
		})
		c, s := e.open(tr)
		c.expect("2") // and no pong
		if tr == "websocket" {
			if code := readClose(t, c.ws); code != transport.ClosePingTimeout {
				t.Fatalf("close code %v", code)
			}
		}
		if r := s.waitClosed(t); r != transport.ReasonPingTimeout {
			t.Fatalf("closed with %q", r)
		}
		if tr == "websocket" {
			return
		}
		if status, body := e.get(c.sid); status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("poll after ping timeout: %d %q", status, body)
		}
	})
}

// TestPingDeadlineOnRequest checks that a request after the pong deadline is refused even when the
// server's timer has not fired yet.
func TestPingDeadlineOnRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // the heartbeat timer does not fire during the test
	sid, _ := e.handshake()
	s := e.nextSession()
	engineio.ExpirePong(s.Session)
	if status, _ := e.post(sid, "3"); status != http.StatusBadRequest {
		t.Fatalf("late pong: %d", status)
	}
	if r := s.waitClosed(t); r != transport.ReasonPingTimeout {
		t.Fatalf("closed with %q", r)
	}
}

// TestLatePing checks that when the ping went out after its planned deadline (a late timer), a POST may
// still bring the pong within PingTimeout of the ping, while a poll is refused.
func TestLatePing(t *testing.T) {
	t.Parallel()
	for _, pong := range []bool{true, false} {
		e := newEnv(t, nil)
		sid, _ := e.handshake()
		s := e.nextSession()
		engineio.LatePing(s.Session)
		if !pong {
			if status, _ := e.get(sid); status != http.StatusBadRequest {
				t.Fatalf("poll after the planned deadline: %d", status)
			}
			if r := s.waitClosed(t); r != transport.ReasonPingTimeout {
				t.Fatalf("closed with %q", r)
			}
			continue
		}
		if status, body := e.post(sid, "3"); status != http.StatusOK {
			t.Fatalf("pong after a late ping: %d %q", status, body)
		}
		if status, body := e.post(sid, "4alive"); status != http.StatusOK {
			t.Fatalf("POST after the pong: %d %q", status, body)
		}
		if status, body := e.get(sid); status != http.StatusOK || body != "4alive" {
			t.Fatalf("poll after the pong: %d %q", status, body)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.MaxPayload = 100 })
	sid, _ := e.handshake()
	ws := e.dial("EIO=4&transport=websocket")
	wsSID, _ := parseOpen(t, readWS(t, ws))
	const (
		unknownTransport = `{"code":0,"message":"Transport unknown"}`
		unknownSID       = `{"code":1,"message":"Session ID unknown"}`
		badMethod        = `{"code":2,"message":"Bad handshake method"}`
		badRequest       = `{"code":3,"message":"Bad request"}`
		badVersion       = `{"code":5,"message":"Unsupported protocol version"}`
	)
	for _, tc := range []struct {
		name, method, query, body string
		status                    int
		want                      string
	}{
		{"no transport", "GET", "EIO=4", "", 400, unknownTransport},
		{"unknown transport", "GET", "EIO=4&transport=abc", "", 400, unknownTransport},
		{"no EIO", "GET", "transport=polling", "", 400, badVersion},
		{"EIO=3", "GET", "EIO=3&transport=polling", "", 400, badVersion},
		{"EIO=abc", "GET", "EIO=abc&transport=polling", "", 400, badVersion},
		{"POST handshake", "POST", "EIO=4&transport=polling", "4x", 400, badMethod},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", "", 400, badMethod},
		{"unknown sid GET", "GET", "EIO=4&transport=polling&sid=nope", "", 400, unknownSID},
		{"unknown sid POST", "POST", "EIO=4&transport=polling&sid=nope", "4x", 400, unknownSID},
		{"PUT on session", "PUT", "EIO=4&transport=polling&sid=" + sid, "", 400, badRequest},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", "", 400, badRequest},
		{"poll on websocket session", "GET", "EIO=4&transport=polling&sid=" + wsSID, "", 400, badRequest},
		{"POST too large", "POST", "EIO=4&transport=polling&sid=" + sid, "4" + strings.Repeat("x", 100), 413, ""},
	} {
		status, body, _ := e.do(tc.method, tc.query, tc.body, nil)
		if status != tc.status || body != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.name, status, body, tc.status, tc.want)
		}
	}
	// None of that disturbed the sessions.
	if status, body := e.post(sid, "4"+strings.Repeat("x", 99)); status != 200 || body != "ok" {
		t.Fatalf("POST at the limit: %d %q", status, body)
	}
	if status, body := e.get(sid); status != 200 || body != "4"+strings.Repeat("x", 99) {
		t.Fatalf("GET: %d %q", status, body)
	}
	writeWS(t, ws, "4ok")
	if p := readWS(t, ws); p != "4ok" {
		t.Fatalf("websocket echo %q", p)
	}

	// Refused WebSocket handshakes get a plain 400.
	for _, q := range []string{"EIO=4&transport=abc", "transport=websocket", "EIO=abc&transport=websocket", "EIO=4&transport=websocket&sid=nope"} {
		if _, err := e.dialErr(q); err == nil || !strings.Contains(err.Error(), "status 400") || strings.Contains(err.Error(), `"code"`) {
			t.Errorf("dial %s: %v", q, err)
		}
	}
}

func TestForbiddenOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.OriginPatterns = []string{"good.example"} })
	for _, tc := range []struct {
		origin string
		status int
		body   string
	}{
		{"http://evil.example", 403, `{"code":4,"message":"Forbidden"}`},
		{"http://good.example", 200, ""},
		{"", 200, ""},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		status, body, _ := e.do(http.MethodGet, "EIO=4&transport=polling", "", h)
		if status != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("Origin %q: %d %q", tc.origin, status, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.base, "http") + "?EIO=4&transport=websocket"
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin websocket: %v", err)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cors   engineio.CORS
		origin string
		allow  string
		creds  bool
	}{
		{"any", engineio.CORS{AllowOrigins: []string{"*"}}, "http://a.example", "*", false},
		{"any with credentials", engineio.CORS{AllowOrigins: []string{"*"}, AllowCredentials: true}, "http://a.example", "http://a.example", true},
		{"listed", engineio.CORS{AllowOrigins: []string{"http://a.example"}}, "http://a.example", "http://a.example", false},
		{"not listed", engineio.CORS{AllowOrigins: []string{"http://a.example"}}, "http://b.example", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *engineio.Options) { o.CORS = &tc.cors })
			h := http.Header{"Origin": {tc.origin}}
			status, _, rh := e.do(http.MethodGet, "EIO=4&transport=polling", "", h)
			wantStatus := 200
			if tc.allow == "" {
				wantStatus = 403
			}
			if status != wantStatus || rh.Get("Access-Control-Allow-Origin") != tc.allow || (rh.Get("Access-Control-Allow-Credentials") == "true") != tc.creds {
				t.Fatalf("GET: %d, headers %v", status, rh)
			}
			h.Set("Access-Control-Request-Method", "POST")
			h.Set("Access-Control-Request-Headers", "content-type")
			status, _, rh = e.do(http.MethodOptions, "EIO=4&transport=polling", "", h)
			if status != http.StatusNoContent || rh.Get("Access-Control-Allow-Origin") != tc.allow ||
				!strings.Contains(rh.Get("Access-Control-Allow-Methods"), "POST") || rh.Get("Access-Control-Allow-Headers") != "content-type" {
				t.Fatalf("preflight: %d, headers %v", status, rh)
			}
		})
	}
	e := newEnv(t, nil)
	_, _, rh := e.do(http.MethodGet, "EIO=4&transport=polling", "", http.Header{"Origin": {"http://" + strings.TrimPrefix(strings.TrimSuffix(e.base, "/engine.io/"), "http://")}})
	if rh.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS header without CORS options: %v", rh)
	}
}

func TestDuplicatePoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	s := e.nextSession()
	first := make(chan string, 1)
	go func() {
		status, body := e.get(sid)
		first <- http.StatusText(status) + " " + body
	}()
	eventually(t, "the poll to be pending", func() bool { return pollPending(e, sid) })
	if status, body := e.get(sid); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("second poll: %d %q", status, body)
	}
	if got := <-first; got != "OK 1" {
		t.Fatalf("first poll: %q, want the close packet", got)
	}
	if r := s.waitClosed(t); r != transport.ReasonTransportError {
		t.Fatalf("closed with %q", r)
	}
	if status, _ := e.get(sid); status != 400 {
		t.Fatalf("poll after close: %d", status)
	}
}

func TestDuplicatePost(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	s := e.nextSession()
	s.block = block // handling the first POST's message waits until the second POST was refused
	first := make(chan int, 1)
	go func() {
		status, _ := e.post(sid, "4first")
		first <- status
	}()
	eventually(t, "the first POST to be handled", func() bool { return engineio.PostPending(e.srv, sid) })
	if status, body := e.post(sid, "4second"); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("second POST: %d %q", status, body)
	}
	close(block)
	<-first
	if r := s.waitClosed(t); r != transport.ReasonTransportError {
		t.Fatalf("closed with %q", r)
	}
	if m := s.nextMessage(t); m.data != "first" {
		t.Fatalf("message %q", m.data)
	}
	select {
	case m := <-s.msgs:
		t.Fatalf("message %q after close", m.data)
	default:
	}
}

func TestParseError(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		for _, bad := range []string{"abc", "", "7", "b!!!"} {
			if bad == "" && tr == "websocket" {
				continue // an empty text message: covered by "7"'s path, and polling's empty body
			}
			t.Run(bad, func(t *testing.T) {
				e := newEnv(t, nil)
				c, s := e.open(tr)
				if tr == "polling" {
					status, _ := e.post(c.sid, "4before\x1e"+bad)
					if status != http.StatusBadRequest {
						t.Fatalf("POST %q: %d", bad, status)
					}
					if status, _ := e.get(c.sid); status != http.StatusBadRequest {
						t.Fatalf("poll after parse error: %d", status)
					}
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					defer cancel()
					if err := c.ws.Write(ctx, websocket.MessageText, []byte(bad)); err != nil {
						t.Fatal(err)
					}
					if code := readClose(t, c.ws); code != transport.CloseProtocolError {
						t.Fatalf("close code %v", code)
					}
				}
				if r := s.waitClosed(t); r != transport.ReasonParseError {
					t.Fatalf("closed with %q", r)
				}
			})
		}
	})
}

func TestClientClose(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		c, s := e.open(tr)
		if tr == "polling" {
			// The pending poll ends with a noop (reference server), the session with "transport close".
			poll := make(chan string, 1)
			go func() {
				_, body := e.get(c.sid)
				poll <- body
			}()
			eventually(t, "the poll to be pending", func() bool { return pollPending(e, c.sid) })
			c.send("1")
			if p := <-poll; p != "6" {
				t.Fatalf("pending poll got %q", p)
			}
			if status, _ := e.get(c.sid); status != 400 {
				t.Fatalf("poll after close: %d", status)
			}
		} else {
			c.send("1")
			if code := readClose(t, c.ws); code != websocket.StatusNormalClosure {
				t.Fatalf("close code %v", code)
			}
		}
		if r := s.waitClosed(t); r != transport.ReasonTransportClose {
			t.Fatalf("closed with %q", r)
		}
		if err := s.SendMessage([]byte("x"), false); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("SendMessage after close: %v", err)
		}
	})
}

// TestClientCloseCrossedPoll checks that a poll that reaches the server just after the client's close
// packet (sent on another connection) still gets the noop, and only that one.
func TestClientCloseCrossedPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	s := e.nextSession()
	if status, body := e.post(sid, "1"); status != 200 || body != "ok" {
		t.Fatalf("POST close: %d %q", status, body)
	}
	if r := s.waitClosed(t); r != transport.ReasonTransportClose {
		t.Fatalf("closed with %q", r)
	}
	if status, body := e.get(sid); status != 200 || body != "6" {
		t.Fatalf("crossed poll: %d %q", status, body)
	}
	if status, _ := e.get(sid); status != 400 {
		t.Fatalf("poll after that: %d", status)
	}
	if status, _ := e.post(sid, "4x"); status != 400 {
		t.Fatalf("POST after close: %d", status)
	}
	eventually(t, "the session to be removed", func() bool { return e.srv.NumSessions() == 0 })
}

func TestClientGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	s := e.nextSession()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"?EIO=4&transport=polling&sid="+sid, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := e.hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	eventually(t, "the poll to be pending", func() bool { return pollPending(e, sid) })
	cancel()
	<-done
	if r := s.waitClosed(t); r != transport.ReasonTransportError {
		t.Fatalf("closed with %q", r)
	}
}

func TestClose(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		c, s := e.open(tr)
		s.SendMessage([]byte("bye"), false)
		s.SendFrames(false, engineio.Frame{Data: []byte{9}, Binary: true})
		s.Close("forced close")
		if err := s.SendMessage([]byte("late"), false); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("SendMessage after Close: %v", err)
		}
		c.expect("4bye", "bCQ==", "1")
		if tr == "websocket" {
			if code := readClose(t, c.ws); code != websocket.StatusNormalClosure {
				t.Fatalf("close code %v", code)
			}
		}
		if r := s.waitClosed(t); r != "forced close" {
			t.Fatalf("closed with %q", r)
		}
		if tr == "polling" {
			if status, _ := e.get(c.sid); status != 400 {
				t.Fatalf("poll after close: %d", status)
			}
		}
		eventually(t, "the session to be removed", func() bool { return e.srv.NumSessions() == 0 })
	})
}

func TestSlowClient(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, func(o *engineio.Options) { o.QueueBytes = 1000 })
		c, s := e.open(tr)
		// The client reads nothing: over a WebSocket, the writer blocks once the kernel's buffers are
		// full, then the queue fills.
		big := []byte(strings.Repeat("x", 400))
		// Volatile messages are dropped when the queue is full, without closing.
		var err error
		for i := 0; i < 10_000 && err == nil; i++ {
			err = s.SendFrames(true, engineio.Frame{Data: big})
		}
		if err != nil {
			t.Fatalf("volatile send: %v", err)
		}
		for err == nil {
			err = s.SendMessage(big, false)
		}
		if !errors.Is(err, transport.ErrSlowClient) {
			t.Fatalf("SendMessage on a full queue: %v", err)
		}
		if tr == "websocket" {
			if code := readClose(t, c.ws); code != transport.CloseSlowClient {
				t.Fatalf("close code %v", code)
			}
		} else if status, body := e.get(c.sid); status != 400 {
			t.Fatalf("poll after overflow: %d %q", status, body)
		}
		if r := s.waitClosed(t); r != transport.ReasonSlowClient {
			t.Fatalf("closed with %q", r)
		}
		if err := s.SendMessage(big, false); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("SendMessage after overflow: %v", err)
		}
	})
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pc, ps := e.open("polling")
	wc, ws := e.open("websocket")
	poll := make(chan string, 1)
	go func() {
		_, body := e.get(pc.sid)
		poll <- body
	}()
	eventually(t, "the poll to be pending", func() bool { return pollPending(e, pc.sid) })
	ws.SendMessage([]byte("last"), false)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- e.srv.Shutdown(ctx) }()
	if p := <-poll; p != "1" {
		t.Fatalf("pending poll got %q", p)
	}
	wc.expect("4last", "1")
	if code := readClose(t, wc.ws); code != websocket.StatusGoingAway {
		t.Fatalf("close code %v", code)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, s := range []*testSession{ps, ws} {
		if r := s.waitClosed(t); r != transport.ReasonShuttingDown {
			t.Fatalf("closed with %q", r)
		}
	}
	if status, _, _ := e.do(http.MethodGet, "EIO=4&transport=polling", "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("handshake after Shutdown: %d", status)
	}
	if _, err := e.dialErr("EIO=4&transport=websocket"); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("websocket after Shutdown: %v", err)
	}
	if n := e.srv.NumSessions(); n != 0 {
		t.Fatalf("%d sessions after Shutdown", n)
	}
}

// TestShutdownDeadline checks that Shutdown drops what it cannot deliver when its context ends: here a
// long-polling session whose client never polls again.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, s := e.open("polling")
	s.SendMessage([]byte("never delivered"), false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := s.waitClosed(t); r != transport.ReasonShuttingDown {
		t.Fatalf("closed with %q", r)
	}
}

// TestShutdownDeadlineDropsWebSockets: a WebSocket whose client reads nothing keeps a graceful Shutdown
// waiting for its queued frames (the writer is blocked once the socket's buffers are full, and its write
// timeout is an hour here); at Shutdown's deadline the server closes the connection, which ends the
// blocked write and the session, so Shutdown returns.
func TestShutdownDeadlineDropsWebSockets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.QueueBytes = 64 << 20; o.WriteTimeout = time.Hour })
	_, s := e.open("websocket")
	chunk := strings.Repeat("x", 64<<10)
	for range 512 { // 32 MiB: far more than the loopback connection's buffers hold
		if err := s.SendMessage([]byte(chunk), false); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown had not returned 30 s after its deadline: the blocked WebSocket was not dropped")
	}
	if r := s.waitClosed(t); r != transport.ReasonShuttingDown {
		t.Fatalf("closed with %q", r)
	}
}

func TestWebSocketTooBig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.MaxPayload = 100 })
	c, s := e.open("websocket")
	writeWS(t, c.ws, "4"+strings.Repeat("x", 99))
	c.expect("4" + strings.Repeat("x", 99))
	writeWS(t, c.ws, "4"+strings.Repeat("x", 100))
	if code := readClose(t, c.ws); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %v", code)
	}
	if r := s.waitClosed(t); r != transport.ReasonTransportError {
		t.Fatalf("closed with %q", r)
	}
}

// TestWebSocketOnly checks Transports: {"websocket"}.
func TestWebSocketOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.Transports = []string{"websocket"} })
	if status, body, _ := e.do(http.MethodGet, "EIO=4&transport=polling", "", nil); status != 400 || body != `{"code":0,"message":"Transport unknown"}` {
		t.Fatalf("polling handshake: %d %q", status, body)
	}
	c, _ := e.open("websocket")
	c.send("4hi")
	c.expect("4hi")
}

// TestConcurrentSenders checks that concurrent senders' groups stay whole and every frame arrives.
func TestConcurrentSenders(t *testing.T) {
	run(t, func(t *testing.T, tr string) {
		e := newEnv(t, nil)
		c, s := e.open(tr)
		const senders, each = 4, 50
		var wg sync.WaitGroup
		for i := range senders {
			wg.Go(func() {
				for j := range each {
					s.SendFrames(false,
						engineio.Frame{Data: []byte{'4', byte('a' + i)}},
						engineio.Frame{Data: []byte{byte(i), byte(j)}, Binary: true})
				}
			})
		}
		got := c.recv(2 * senders * each)
		wg.Wait()
		next := make([]int, senders)
		for k := 0; k < len(got); k += 2 {
			i := int(got[k][1] - 'a')
			f, err := engineio.DecodePayload([]byte(got[k+1]))
			if err != nil || f[0].Data[0] != byte(i) || int(f[0].Data[1]) != next[i] {
				t.Fatalf("packet %d: %q then %q", k, got[k], got[k+1])
			}
			next[i]++
		}
	})
}

func TestBadPosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, contentType string
	}{
		{"binary body", "4x", "application/octet-stream"},
		{"ping from client", "2", ""},
		{"probe over polling", "2probe", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			sid, _ := e.handshake()
			s := e.nextSession()
			h := http.Header{}
			if tc.contentType != "" {
				h.Set("Content-Type", tc.contentType)
			}
			e.do(http.MethodPost, "EIO=4&transport=polling&sid="+sid, tc.body, h)
			if r := s.waitClosed(t); r != transport.ReasonTransportError {
				t.Fatalf("closed with %q", r)
			}
			if status, _ := e.get(sid); status != 400 {
				t.Fatalf("poll after close: %d", status)
			}
		})
	}
}

// TestCloseUndelivered checks that Close on a long-polling session whose client does not poll again ends
// the session after PingTimeout.
func TestCloseUndelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *engineio.Options) { o.PingTimeout = 30 * time.Millisecond })
	sid, _ := e.handshake()
	s := e.nextSession()
	s.Close("bye")
	if r := s.waitClosed(t); r != "bye" {
		t.Fatalf("closed with %q", r)
	}
	if status, _ := e.get(sid); status != 400 {
		t.Fatalf("poll after close: %d", status)
	}
}

func TestCloseLongReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, s := e.open("websocket")
	s.Close(strings.Repeat("é", 100))
	c.expect("1")
	_, err := readWSErr(c.ws)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure || len(ce.Reason) > 123 || !strings.HasPrefix(strings.Repeat("é", 100), ce.Reason) {
		t.Fatalf("close: %v", err)
	}
	if r := s.waitClosed(t); r != strings.Repeat("é", 100) {
		t.Fatalf("closed with %q", r)
	}
}
