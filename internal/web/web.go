package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"
	"time"
)

//go:embed static
var static embed.FS

// asset is one embedded file with the headers it is served with.
type asset struct {
	name        string // path inside static/
	contentType string
	body        []byte
	etag        string
}

// routes maps a request path to the file served for it. Content types are fixed here rather than taken
// from the mime package, whose table the host's /etc/mime.types can change: browsers refuse to run a
// module script served with a non-JavaScript type.
var routes = map[string]*asset{
	"/":          {name: "static/index.html", contentType: "text/html; charset=utf-8"},
	"/roomio.js": {name: "static/roomio.js", contentType: "text/javascript; charset=utf-8"},
}

func init() {
	for _, a := range routes {
		b, err := static.ReadFile(a.name)
		if err != nil {
			panic("web: embedded file missing: " + a.name) // a build without static/ is a programmer error
		}
		sum := sha256.Sum256(b)
		a.body = b
		a.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	}
}

// Handler returns an http.Handler that serves the demo page at "/" and the client at "/roomio.js". It
// answers GET and HEAD (with an ETag, so browsers revalidate instead of using a stale copy), 405 for other
// methods and 404 for every other path. Mount it at the root of the node's mux, next to the protocol
// endpoints, so the page's relative URLs resolve.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := routes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match with 304 and handles HEAD and Range; the zero modtime leaves
	// Last-Modified out, which embedded files do not have.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
