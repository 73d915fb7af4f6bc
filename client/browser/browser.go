package browser

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"time"
)

//go:embed roomio.js
var script []byte

// etag is the script's strong entity tag: a hash of its content, so it changes with every build that
// changes the file and never otherwise.
var etag = func() string {
	sum := sha256.Sum256(script)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// ContentType is the media type the script is served with. It is fixed here rather than taken from the
// mime package, whose table the host's /etc/mime.types can change: browsers refuse to run a module script
// served with a non-JavaScript type.
const ContentType = "text/javascript; charset=utf-8"

// Script returns the content of roomio.js. The slice is a fresh copy that the caller may keep or modify.
func Script() []byte {
	return bytes.Clone(script)
}

// Handler returns an http.Handler that serves roomio.js at any path it is mounted on. It answers GET and
// HEAD with an ETag and "Cache-Control: no-cache", so browsers revalidate (304) instead of running a stale
// copy after an upgrade, and 405 to other methods.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match with 304 and handles HEAD and Range; the zero modtime leaves
	// Last-Modified out, which an embedded file does not have.
	http.ServeContent(w, r, "roomio.js", time.Time{}, bytes.NewReader(script))
}
