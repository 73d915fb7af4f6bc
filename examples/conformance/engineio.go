package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/roomio/roomio/transport/engineio"
)

// engineIOSuite is the server the Engine.IO protocol suite expects: an echo server at /engine.io/ (text
// stays text, binary stays binary).
func engineIOSuite(log *slog.Logger) (http.Handler, func(context.Context) error) {
	srv := engineio.NewServer(engineio.Options{
		PingInterval:   300 * time.Millisecond,
		PingTimeout:    200 * time.Millisecond,
		MaxPayload:     1_000_000,
		CORS:           &engineio.CORS{AllowOrigins: []string{"*"}},
		OriginPatterns: []string{"*"},
		Logger:         log,
		OnSession: func(s *engineio.Session) {
			s.SetHandler(echo{s})
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	return mux, srv.Shutdown
}

// echo sends every message back unchanged.
type echo struct{ s *engineio.Session }

func (e echo) OnMessage(data []byte, binary bool) {
	e.s.SendMessage(data, binary)
}

func (e echo) OnClose(string) {}
