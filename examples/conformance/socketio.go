package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/roomio/roomio/engine"
)

func init() { suites["socketio"] = socketIOSuite }

// socketIOSuite is the server the Socket.IO protocol suite expects at /socket.io/: pingInterval 300 ms,
// pingTimeout 200 ms, maxPayload 1 000 000, connectTimeout 1 000 ms, CORS "*". Namespace "/" emits
// "auth" with the handshake auth on connect, echoes "message" as "message-back" with the same
// arguments (binary included) and acks "message-with-ack" with the same arguments; "/custom" emits
// "auth" on connect; any other namespace is refused.
func socketIOSuite(log *slog.Logger) (http.Handler, func(context.Context) error) {
	e, err := engine.New(engine.Config{
		Logger:         log,
		PingInterval:   300 * time.Millisecond,
		PingTimeout:    200 * time.Millisecond,
		MaxMessageSize: 1_000_000,
		ConnectTimeout: time.Second,
		AllowedOrigins: []string{"*"},
		SocketIO:       engine.SocketIOConfig{CORSOrigins: []string{"*"}},
	})
	if err != nil {
		panic(err) // the configuration above is valid
	}
	sendAuth := func(s *engine.Socket) {
		auth := json.RawMessage(s.Handshake().Auth)
		if auth == nil {
			auth = json.RawMessage("{}") // Socket.IO's handshake.auth when the client sent none
		}
		s.Emit("auth", auth)
	}
	e.OnConnection(func(s *engine.Socket) {
		sendAuth(s)
		s.On("message", func(ev *engine.Event) { s.Emit("message-back", asAny(ev.Args)...) })
		s.On("message-with-ack", func(ev *engine.Event) { ev.Ack(asAny(ev.Args)...) })
	})
	e.Of("/custom").OnConnection(sendAuth)
	e.Start(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", e.SocketIOHandler())
	return mux, e.Shutdown
}

func asAny(args []engine.Arg) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
