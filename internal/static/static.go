// Package static serves one embedded file over HTTP the way roomio's pages and scripts need it: a strong
// ETag from the content's hash and "Cache-Control: no-cache", so browsers revalidate (304) instead of
// using a stale copy after an upgrade; GET and HEAD only (405 with Allow otherwise); nosniff.
//
// It imports nothing of roomio's.
package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

// Handler returns a handler that serves content with contentType at any path it is mounted on; name is
// only used by http.ServeContent for Range requests' bookkeeping. content must not change afterwards.
func Handler(name, contentType string, content []byte) http.Handler {
	sum := sha256.Sum256(content)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		// ServeContent answers If-None-Match with 304 and handles HEAD and Range; the zero modtime leaves
		// Last-Modified out, which an embedded file does not have.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(content))
	})
}
