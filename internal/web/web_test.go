package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/roomio/roomio/internal/web"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string // body: a substring the response must contain
	}{
		{"page", http.MethodGet, "/", 200, "text/html; charset=utf-8", `id="log"`},
		{"client", http.MethodGet, "/roomio.js", 200, "text/javascript; charset=utf-8", "export function connect"},
		{"head", http.MethodHead, "/roomio.js", 200, "text/javascript; charset=utf-8", ""},
		{"no listing", http.MethodGet, "/static/", 404, "", ""},
		{"no raw path", http.MethodGet, "/static/roomio.js", 404, "", ""},
		{"unknown", http.MethodGet, "/nope.js", 404, "", ""},
		{"post", http.MethodPost, "/", 405, "", ""},
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
			if tt.contentType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
				}
				if res.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Error("X-Content-Type-Options: nosniff missing")
				}
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not contain %q", tt.body)
			}
		})
	}
}

func TestHandlerRevalidate(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
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
