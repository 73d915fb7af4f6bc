package chatapp

import (
	_ "embed"
	"net/http"

	"github.com/roomio/roomio/internal/static"
)

//go:embed index.html
var page []byte

// Page returns an http.Handler that serves the chat page at any path it is mounted on: GET and HEAD with
// an ETag, 405 for other methods. The page loads ./roomio.js relative to its own URL, so mount it at a
// directory's root ("GET /{$}") with the browser client beside it ("GET /roomio.js").
func Page() http.Handler {
	return static.Handler("index.html", "text/html; charset=utf-8", page)
}
