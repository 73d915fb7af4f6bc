// Command chat is the roomio chat as a program of its own: a multi-room browser chat in one short main,
// showing how to embed the engine in an ordinary net/http server.
//
//	go run ./examples/chat                    # then open http://127.0.0.1:8080/ in two tabs
//	go run ./examples/chat -addr 127.0.0.1:9000
//
// It shows the three routes a browser app needs on a plain [http.ServeMux] — its page, the browser client
// the page imports ([browser.Handler]) and the engine's WebSocket endpoint — and the shutdown order:
// the engine before the HTTP server. The chat's logic, event by event, is in package chatapp, which the
// roomio node (cmd/roomio) runs too.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/roomio/roomio/client/browser"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP listen address")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	// SIGINT (Ctrl-C) or SIGTERM ends the program cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The zero Config is a single node with the defaults each field documents.
	eng, err := engine.New(engine.Config{})
	if err != nil {
		return err
	}
	// Handlers go in before Start, so that no socket connects without them.
	chatapp.Register(eng.Of("/"))
	if err := eng.Start(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		eng.Close()
		return err
	}
	srv := &http.Server{Handler: newMux(eng), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Printf("chat on http://%s/", ln.Addr())

	select {
	case <-ctx.Done():
	case err := <-serveErr: // the listener failed
		eng.Close()
		return err
	}
	// The engine first: WebSockets are hijacked connections that http.Server.Shutdown neither waits for
	// nor closes. The engine drains their queues and closes them with "going away"; then the HTTP server
	// stops.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(eng.Shutdown(sctx), srv.Shutdown(sctx))
}

// newMux routes what the browser needs: the page, the script it imports, the endpoint it connects to.
func newMux(eng *engine.Engine) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", chatapp.Page())          // the chat page, at / only
	mux.Handle("GET /roomio.js", browser.Handler()) // the page does: import { connect } from "./roomio.js"
	mux.Handle("/ws", eng.Handler())                // and connects to /ws (native protocol, JSON mapping)
	return mux
}
