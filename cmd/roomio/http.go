package main

import (
	"log/slog"
	"net/http"
	"time"
)

// httpLimits bound what one HTTP client can hold on either listener. They are not flags: the defaults suit
// a public deployment (docs/guarantees.md, "HTTP limits of the node"); tests shorten them.
type httpLimits struct {
	// ReadHeader bounds reading a request's headers, from the connection's first byte or from the end
	// of the previous request's idle wait. Zero means 10 s.
	ReadHeader time.Duration
	// Body bounds reading a request's body, from the end of its headers: an upload that trickles is cut
	// when it runs out, however steadily it trickles. Requests without a body (WebSocket upgrades,
	// long-polling GETs) get no read deadline, so they may last as long as their protocol wants. Zero
	// means 30 s.
	Body time.Duration
	// Idle bounds how long a keep-alive connection may wait for its next request. Zero means 60 s.
	Idle time.Duration
	// MaxHeaderBytes bounds a request's header block; a larger one is answered 431 and the connection
	// closed. net/http allows 4 KiB more for its read buffer. Zero means 16 KiB.
	MaxHeaderBytes int
}

func (l httpLimits) withDefaults() httpLimits {
	if l.ReadHeader <= 0 {
		l.ReadHeader = 10 * time.Second
	}
	if l.Body <= 0 {
		l.Body = 30 * time.Second
	}
	if l.Idle <= 0 {
		l.Idle = 60 * time.Second
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 16 << 10
	}
	return l
}

// server returns the http.Server for one listener, with the node's limits. It sets no ReadTimeout and no
// WriteTimeout: both are per connection and would cut long-polling requests and, through the deadline
// they leave on the connection, hijacked WebSockets; the body deadline is set per request instead
// (bodyDeadline), and the engine bounds its own writes.
func (n *node) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: n.limits.ReadHeader,
		IdleTimeout:       n.limits.Idle,
		MaxHeaderBytes:    n.limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
}

// bodyDeadline sets a read deadline of limits.Body on every request that has a body, before h reads it.
// net/http's own ReadTimeout cannot do this: it also runs during a long-polling GET, whose context it
// cancels when the connection's background read times out.
func (n *node) bodyDeadline(h http.Handler) http.Handler {
	d := n.limits.Body
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // a Content-Length or chunked
			// Errors only for connections that have no deadlines of their own (HTTP/2, test recorders).
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}
