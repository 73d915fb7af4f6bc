package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, url, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestReadyzSingleNode: /readyz is 503 before the engine starts (while /healthz is 200 already), 200
// once it serves, 503 again once it shuts down.
func TestReadyzSingleNode(t *testing.T) {
	n, err := buildNode(options{app: "chat"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.handler())
	defer srv.Close()
	c := srv.Client()
	if code, body := get(t, c, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started") {
		t.Errorf("before Start: /readyz = %d %q, want 503 not started", code, body)
	}
	if code, _ := get(t, c, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("before Start: /healthz = %d, want 200", code)
	}
	if err := n.eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, c, srv.URL+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("started: /readyz = %d %q, want 200 ready", code, body)
	}
	if err := n.eng.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, c, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "closed") {
		t.Errorf("after Shutdown: /readyz = %d %q, want 503 closed", code, body)
	}
}

// TestPprof: -pprof serves net/http/pprof on its own loopback listener and refuses other addresses.
func TestPprof(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "example.com:6060", "nonsense"} {
		if _, err := parseFlags([]string{"-pprof", addr}); err == nil {
			t.Errorf("-pprof %s accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060"} {
		if _, err := parseFlags([]string{"-pprof", addr}); err != nil {
			t.Errorf("-pprof %s: %v", addr, err)
		}
	}
	srv, ln, err := startPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if code, body := get(t, c, "http://"+ln.Addr().String()+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d", code)
	}
	if code, _ := get(t, c, "http://"+ln.Addr().String()+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine = %d", code)
	}
	if _, _, err := startPprof("0.0.0.0:0", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("startPprof on 0.0.0.0 accepted")
	}
}
