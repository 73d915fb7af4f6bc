package browser_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/client/browser"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/roomio.js", browser.Handler())
	mux.Handle("/assets/client.js", browser.Handler()) // any path: the mount decides
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path string
		status             int
		body               string // a substring the response must contain
	}{
		{"get", http.MethodGet, "/roomio.js", 200, "export function connect"},
		{"other mount", http.MethodGet, "/assets/client.js", 200, "export function connect"},
		{"head", http.MethodHead, "/roomio.js", 200, ""},
		{"post", http.MethodPost, "/roomio.js", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed {
				if got := res.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q, want \"GET, HEAD\"", got)
				}
				return
			}
			if got := res.Header.Get("Content-Type"); got != browser.ContentType {
				t.Errorf("Content-Type = %q, want %q", got, browser.ContentType)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("X-Content-Type-Options: nosniff missing")
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not contain %q", tt.body)
			}
			if tt.method == http.MethodGet && !bytes.Equal(body, browser.Script()) {
				t.Error("body differs from Script()")
			}
		})
	}
}

func TestHandlerRevalidate(t *testing.T) {
	srv := httptest.NewServer(browser.Handler())
	t.Cleanup(srv.Close)

	res, err := srv.Client().Get(srv.URL + "/roomio.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/roomio.js", nil)
	req.Header.Set("If-None-Match", etag)
	res, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("status = %d, want 304", res.StatusCode)
	}
}

// TestScriptIsACopy checks that a caller modifying Script's result does not change what is served.
func TestScriptIsACopy(t *testing.T) {
	b := browser.Script()
	if len(b) == 0 {
		t.Fatal("Script() is empty")
	}
	b[0] ^= 0xff
	if bytes.Equal(b, browser.Script()) {
		t.Fatal("modifying Script()'s result changed the embedded script")
	}
}
