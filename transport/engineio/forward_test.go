package engineio_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/roomio/roomio/transport/engineio"
)

// TestNewSID checks that sessions take their ids from Options.NewSID, on both transports.
func TestNewSID(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	e := newEnv(t, func(o *engineio.Options) {
		o.NewSID = func() string { return fmt.Sprintf("node1.s%d", n.Add(1)) }
	})
	if sid, _ := e.handshake(); sid != "node1.s1" {
		t.Fatalf("polling sid %q", sid)
	}
	ws := e.dial("EIO=4&transport=websocket")
	if _, o := parseOpen(t, readWS(t, ws)); o.SID != "node1.s2" {
		t.Fatalf("websocket sid %q", o.SID)
	}
	if s := e.nextSession(); s.ID() != "node1.s1" {
		t.Fatalf("session id %q", s.ID())
	}
	// A sid with a dot is a sid like any other.
	if status, body := e.post("node1.s1", "4hi"); status != http.StatusOK || body != "ok" {
		t.Fatalf("post: %d %q", status, body)
	}
}

// TestForward checks when Options.Forward is called and what its answer does.
func TestForward(t *testing.T) {
	t.Parallel()
	type call struct {
		method, sid string
		header      http.Header // the response header as Forward found it
	}
	calls := make(chan call, 16)
	e := newEnv(t, func(o *engineio.Options) {
		o.CORS = &engineio.CORS{AllowOrigins: []string{"*"}}
		o.Forward = func(w http.ResponseWriter, r *http.Request, sid string) bool {
			calls <- call{r.Method, sid, w.Header().Clone()}
			if !strings.HasPrefix(sid, "elsewhere.") {
				return false
			}
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte("forwarded " + r.URL.Query().Get("transport")))
			return true
		}
	})
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		default:
			t.Fatal("Forward was not called")
			return call{}
		}
	}
	// Requests for a session of another server are handed over before any check or header.
	if status, body := e.get("elsewhere.x"); status != http.StatusTeapot || body != "forwarded polling" {
		t.Fatalf("GET: %d %q", status, body)
	}
	if c := next(); c.method != http.MethodGet || c.sid != "elsewhere.x" || len(c.header) != 0 {
		t.Fatalf("GET: Forward saw %+v", c)
	}
	if status, body := e.post("elsewhere.y", "4hi"); status != http.StatusTeapot || body != "forwarded polling" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if c := next(); c.method != http.MethodPost || c.sid != "elsewhere.y" {
		t.Fatalf("POST: Forward saw %+v", c)
	}
	// So is a WebSocket upgrade (Forward answers it like any request here), and a request the server
	// itself would refuse (an unknown transport): the owner decides.
	if _, err := e.dialErr("EIO=4&transport=websocket&sid=elsewhere.z"); err == nil || !strings.Contains(err.Error(), "418") {
		t.Fatalf("websocket: %v", err)
	}
	next()
	if status, _, _ := e.do(http.MethodGet, "EIO=3&transport=carrier-pigeon&sid=elsewhere.w", "", nil); status != http.StatusTeapot {
		t.Fatalf("unknown transport: %d", status)
	}
	next()
	// When Forward declines, the answer is the usual "Session ID unknown".
	status, body, _ := e.do(http.MethodGet, "EIO=4&transport=polling&sid=nowhere.x", "", nil)
	if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("declined: %d %q", status, body)
	}
	next()
	// A preflight, a handshake and a request for a session of this server never reach Forward.
	if status, _, _ := e.do(http.MethodOptions, "EIO=4&transport=polling&sid=elsewhere.x", "", http.Header{
		"Origin": {"http://a.example"}, "Access-Control-Request-Method": {"POST"}}); status != http.StatusNoContent {
		t.Fatalf("preflight: %d", status)
	}
	sid, _ := e.handshake()
	if status, body := e.post(sid, "4hi"); status != http.StatusOK || body != "ok" {
		t.Fatalf("own session: %d %q", status, body)
	}
	if status, body := e.get(sid); status != http.StatusOK || body != "4hi" {
		t.Fatalf("own session: %d %q", status, body)
	}
	select {
	case c := <-calls:
		t.Fatalf("Forward called for %+v", c)
	default:
	}
}
