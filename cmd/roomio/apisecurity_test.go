package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAPIRefusesCrossSite: what a web page in a developer's browser can send to a local node — a
// cross-origin POST, a text/plain "simple" request, a request through a rebound DNS name — is refused
// with a JSON error and delivers nothing; backend requests (no Origin) go through.
func TestAPIRefusesCrossSite(t *testing.T) {
	tn := serveNode(t, nil)
	u := tn.user()
	own := tn.api.Listener.Addr().String()
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		want   int
	}{
		{"evil origin", "POST", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"evil origin, GET", "GET", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"null origin", "POST", http.Header{"Origin": {"null"}}, 403},
		{"other loopback port", "POST", http.Header{"Origin": {"http://127.0.0.1:3000"}}, 403},
		{"own origin", "POST", http.Header{"Origin": {"http://" + own}}, 202},
		{"cross-site fetch", "POST", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"same-site fetch", "GET", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"same-origin fetch", "POST", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 202},
		{"typed URL", "GET", http.Header{"Sec-Fetch-Site": {"none"}}, 200},
		{"text/plain", "POST", http.Header{"Content-Type": {"text/plain"}}, 415},
		{"form", "POST", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, 415},
		{"multipart", "POST", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, 415},
		{"no Content-Type", "POST", http.Header{"Content-Type": {""}}, 415},
		{"json with charset", "POST", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, 202},
		{"JSON in capitals", "POST", http.Header{"Content-Type": {"Application/JSON"}}, 202},
		{"rebound host", "POST", http.Header{"Host": {"evil.example"}}, 403},
		{"rebound host with port", "GET", http.Header{"Host": {"evil.example:" + strings.Split(own, ":")[1]}}, 403},
		{"name under a public domain", "GET", http.Header{"Host": {"127.0.0.1.nip.io"}}, 403},
		{"localhost", "POST", http.Header{"Host": {"localhost:8090"}}, 202},
		{"a .localhost name", "GET", http.Header{"Host": {"app.localhost"}}, 200},
		{"IPv6 loopback", "POST", http.Header{"Host": {"[::1]:8090"}}, 202},
		{"another loopback IP", "GET", http.Header{"Host": {"127.0.0.2"}}, 200},
	} {
		path, body := "/api/v1/sockets", ""
		if tc.method == "POST" {
			path, body = "/api/v1/emit", `{"event":"`+tc.name+`"}`
		}
		res, b := tn.do(t, tc.method, path, body, tc.header)
		if tc.want >= 400 {
			checkAPIError(t, tc.name, res.StatusCode, res.Header, b, tc.want)
		} else if res.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, b, tc.want)
		}
		if tc.want == 202 {
			expectEvent(t, u, tc.name)
		}
	}
	// None of the refused emits went out: the next event is the marker.
	tn.emit(t, `{"event":"marker"}`)
	expectEvent(t, u, "marker")
}

// TestAPINotOnPublicListener: the public listener answers nothing under /api/.
func TestAPINotOnPublicListener(t *testing.T) {
	tn := serveNode(t, nil)
	u := tn.user()
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/emit", `{"event":"x"}`},
		{"GET", "/api/v1/sockets", ""},
		{"GET", "/api/v1/cluster", ""},
		{"GET", "/api/v1/stats", ""},
	} {
		req, err := http.NewRequestWithContext(ctxT(t), tc.method, tn.srv.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := tn.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		res.Body.Close()
		checkAPIError(t, tc.method+" "+tc.path+" on the public listener", res.StatusCode, res.Header, b.Bytes(), http.StatusNotFound)
	}
	tn.emit(t, `{"event":"marker"}`)
	expectEvent(t, u, "marker")
}

// TestAPIKeyOnPublicAddress: with -api-key, the API may listen on any address; then any Host is
// accepted (the key is the protection) but cross-site requests are still refused.
func TestAPIKeyOnPublicAddress(t *testing.T) {
	const key = "k3y"
	tn := serveNode(t, func(o *options) { o.apiAddr, o.apiKey = "0.0.0.0:0", key })
	u := tn.user()
	auth := func(h http.Header) http.Header { h.Set("Authorization", "Bearer "+key); return h }
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"any host", auth(http.Header{"Host": {"roomio.internal:8090"}}), 202},
		{"cross-site", auth(http.Header{"Origin": {"https://evil.example"}}), 403},
		{"text/plain", auth(http.Header{"Content-Type": {"text/plain"}}), 415},
		{"no key", http.Header{"Host": {"roomio.internal:8090"}}, 401},
	} {
		res, b := tn.do(t, "POST", "/api/v1/emit", `{"event":"`+tc.name+`"}`, tc.header)
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, b, tc.want)
		}
	}
	expectEvent(t, u, "any host")
	tn.emitWithKey(t, key, `{"event":"marker"}`)
	expectEvent(t, u, "marker")
}

// emitWithKey is emit with an API key.
func (tn *testNode) emitWithKey(t *testing.T, key, body string) {
	t.Helper()
	res, b := tn.do(t, http.MethodPost, "/api/v1/emit", body, http.Header{"Authorization": {"Bearer " + key}})
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("emit %s = %d %s, want 202", body, res.StatusCode, b)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes (a log destination).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAPIAuthFailuresRateLimited: 1 000 requests with a wrong or missing key write at most one log
// line per 10 s, and GET /api/v1/stats counts every one.
func TestAPIAuthFailuresRateLimited(t *testing.T) {
	const key, attempts = "right", 1000
	var logs lockedBuffer
	tn := serveNodeLog(t, func(o *options) { o.apiKey = key }, slog.New(slog.NewTextHandler(&logs, nil)))
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < attempts; i += 8 {
				h := http.Header{"Authorization": {"Bearer guess" + strings.Repeat("x", i%5)}}
				if i%3 == 0 {
					h = nil
				}
				res, b := tn.do(t, http.MethodGet, "/api/v1/sockets", "", h)
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("attempt %d: %d %s, want 401", i, res.StatusCode, b)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	lines := strings.Count(logs.String(), `msg="refused an API request with a missing or wrong key"`)
	t.Logf("%d refused requests in %v: %d log lines", attempts, elapsed.Round(time.Millisecond), lines)
	if maxLines := 1 + int(elapsed/(10*time.Second)); lines < 1 || lines > maxLines {
		t.Errorf("%d log lines for %d failures in %v, want 1 to %d:\n%s", lines, attempts, elapsed, maxLines, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "total=1 ") {
		t.Errorf("the first line is not a warning with the running total:\n%s", logs.String())
	}
	res, b := tn.do(t, http.MethodGet, "/api/v1/stats", "", http.Header{"Authorization": {"Bearer " + key}})
	var st struct {
		APIAuthFailures uint64            `json:"api_auth_failures"`
		Cluster         map[string]uint64 `json:"cluster"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil || st.Cluster == nil {
		t.Fatalf("GET /api/v1/stats = %d %s", res.StatusCode, b)
	}
	if st.APIAuthFailures != attempts {
		t.Fatalf("api_auth_failures = %d, want %d", st.APIAuthFailures, attempts)
	}
}
