package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The node's HTTP limits (http.go), against its real http.Server on loopback, with short test values.

// TestHTTPIdleConnectionsClosed: 1 500 keep-alive connections that made one request each and then sit
// idle are all closed by the idle timeout.
func TestHTTPIdleConnectionsClosed(t *testing.T) {
	const conns, idle = 1500, 500 * time.Millisecond
	tn := serveNode(t, func(o *options) { o.http.Idle = idle })
	addr := tn.srv.Listener.Addr().String()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, waitFor)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitFor))
			br := bufio.NewReader(c)
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				errs <- err
				return
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Close {
				errs <- fmt.Errorf("GET /healthz: %d, close %v: want a kept-alive 200", res.StatusCode, res.Close)
				return
			}
			// Idle now: the server must hang up (EOF), not the deadline.
			if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				errs <- fmt.Errorf("idle connection: read %d bytes, %v; want EOF", n, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d idle keep-alive connections closed by a %v idle timeout within %v", conns, idle, time.Since(start).Round(time.Millisecond))
}

// pollingSession opens an Engine.IO long-polling session on the node and returns its sid.
func pollingSession(t *testing.T, hc *http.Client, base string) string {
	t.Helper()
	res, err := hc.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK || len(b) < 2 || b[0] != '0' {
		t.Fatalf("polling handshake: %d %q %v", res.StatusCode, b, err)
	}
	var open struct{ Sid string }
	if err := json.Unmarshal(b[1:], &open); err != nil || open.Sid == "" {
		t.Fatalf("polling handshake %q: %v", b, err)
	}
	return open.Sid
}

// trickle writes head, then one body byte every gap until the connection fails or stop closes; it
// returns how many body bytes went out.
func trickle(c net.Conn, head string, gap time.Duration, stop <-chan struct{}) int {
	if _, err := io.WriteString(c, head); err != nil {
		return 0
	}
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for n := 0; ; n++ {
		if _, err := c.Write([]byte{'x'}); err != nil {
			return n
		}
		select {
		case <-tick.C:
		case <-stop:
			return n + 1
		}
	}
}

// TestHTTPTricklingBodyCutOff: a POST that sends its body one byte every 200 ms — fast enough for any
// per-read timeout — is cut off when the body deadline ends, on both listeners, and other requests are
// served meanwhile.
func TestHTTPTricklingBodyCutOff(t *testing.T) {
	const body = 2 * time.Second
	tn := serveNode(t, func(o *options) { o.http.Body = body })
	sid := pollingSession(t, tn.srv.Client(), tn.srv.URL)
	for _, tc := range []struct {
		name, addr, head string
	}{
		{"polling POST", tn.srv.Listener.Addr().String(),
			"POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"},
		{"API emit", tn.api.Listener.Addr().String(),
			"POST /api/v1/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", tc.addr, waitFor)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			stop := make(chan struct{})
			sent := make(chan int, 1)
			go func() { sent <- trickle(c, tc.head, 200*time.Millisecond, stop) }()
			// Meanwhile the node answers others.
			if res, _ := tn.do(t, http.MethodGet, "/healthz", "", nil); res.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz during the trickle = %d", res.StatusCode)
			}
			// The node answers (whatever it says) and hangs up: read to EOF or reset.
			c.SetReadDeadline(time.Now().Add(body + waitFor))
			out, err := io.ReadAll(c)
			took := time.Since(start)
			close(stop)
			n := <-sent
			if isTimeout(err) {
				t.Fatalf("the trickling POST was not cut off within %v (%d bytes sent)", body+waitFor, n)
			}
			t.Logf("cut off after %v, %d body bytes; answer %.60q", took.Round(time.Millisecond), n, out)
			if took < body-100*time.Millisecond || took > body+3*time.Second {
				t.Fatalf("cut off after %v, want at the %v body deadline", took, body)
			}
		})
	}
}

// TestHTTPHeaderTooLarge: a request with a 1 MB header is answered 431 on both listeners, and the
// connection closed.
func TestHTTPHeaderTooLarge(t *testing.T) {
	tn := serveNode(t, nil)
	for _, addr := range []string{tn.srv.Listener.Addr().String(), tn.api.Listener.Addr().String()} {
		c, err := net.DialTimeout("tcp", addr, waitFor)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitFor))
		big := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
		go io.WriteString(c, big) // fails once the node hangs up
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("%s: %v", addr, err)
		}
		res.Body.Close()
		c.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%s: a 1 MB header got %d, want 431", addr, res.StatusCode)
		}
	}
	// 16 KiB of headers are fine.
	h := http.Header{"X-Fill": {strings.Repeat("a", 15<<10)}}
	if res, _ := tn.do(t, http.MethodGet, "/healthz", "", h); res.StatusCode != http.StatusOK {
		t.Fatalf("15 KiB header: %d, want 200", res.StatusCode)
	}
}

// TestHTTPLongRequestsOutliveBodyDeadline: the body deadline leaves alone what has no body — a WebSocket
// and a long-polling GET that last longer than it still deliver.
func TestHTTPLongRequestsOutliveBodyDeadline(t *testing.T) {
	const body = 300 * time.Millisecond
	tn := serveNode(t, func(o *options) { o.http.Body = body })
	u := tn.user()
	// A polling socket connected to "/": POST the connect, GET its answer.
	sid := pollingSession(t, tn.srv.Client(), tn.srv.URL)
	poll := tn.srv.URL + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	res, err := tn.srv.Client().Post(poll, "text/plain;charset=UTF-8", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := pollGet(t, tn.srv.Client(), poll); !strings.HasPrefix(got, "40") {
		t.Fatalf("polling connect answered %q", got)
	}
	// The next GET waits for a packet: it is still open after three body deadlines, when the emit comes.
	got := make(chan string, 1)
	go func() { got <- pollGet(t, tn.srv.Client(), poll) }()
	<-time.After(3 * body) // the duration under test, not a synchronisation
	tn.emit(t, `{"event":"late","args":[1]}`)
	if g := <-got; g != `42["late",1]` {
		t.Fatalf("long-polling GET answered %q after %v, want the late event", g, 3*body)
	}
	expectEvent(t, u, "late", `1`)
}

// pollGet GETs one long-polling answer.
func pollGet(t *testing.T, hc *http.Client, url string) string {
	res, err := hc.Get(url)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(b)
}

// TestHTTPSlowHeadersCutOff: a connection that sends part of a header and then trickles, or nothing at
// all, is closed when the header timeout ends.
func TestHTTPSlowHeadersCutOff(t *testing.T) {
	const header = 500 * time.Millisecond
	tn := serveNode(t, func(o *options) { o.http.ReadHeader = header })
	for _, head := range []string{"", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "} {
		c, err := net.DialTimeout("tcp", tn.srv.Listener.Addr().String(), waitFor)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := make(chan struct{})
		go trickle(c, head, 100*time.Millisecond, stop)
		c.SetReadDeadline(time.Now().Add(waitFor))
		_, err = io.ReadAll(c)
		took := time.Since(start)
		close(stop)
		c.Close()
		if isTimeout(err) || took > header+2*time.Second {
			t.Fatalf("headers %q trickling: still open after %v, want closed at %v", head, took, header)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
