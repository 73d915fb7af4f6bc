package browser

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/roomio/roomio/internal/static"
)

//go:embed roomio.js
var script []byte

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
func Handler() http.Handler { return handler }

var handler = static.Handler("roomio.js", ContentType, script)
