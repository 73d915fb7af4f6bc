package chatapp

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"time"
)

//go:embed index.html
var page []byte

// pageETag is a hash of the page, so browsers revalidate instead of showing a stale copy after an upgrade.
var pageETag = func() string {
	sum := sha256.Sum256(page)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// Page returns an http.Handler that serves the chat page at any path it is mounted on: GET and HEAD with
// an ETag, 405 for other methods. The page loads ./roomio.js relative to its own URL, so mount it at a
// directory's root ("GET /{$}") with the browser client beside it ("GET /roomio.js").
func Page() http.Handler {
	return http.HandlerFunc(servePage)
}

func servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("ETag", pageETag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(page))
}
