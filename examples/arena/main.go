// Command arena is a small real-time game on roomio's behaviour rooms: in each arena up to four players
// steer a dot with the arrow keys to collect a coin. Each arena is one room whose code (arena.go) holds
// the game's state, refuses joins beyond four players or with a taken name, runs a 20 Hz game loop and
// sends every player the state each tick. The browser page (index.html) draws it on a canvas and sends
// its inputs straight to the room. Joining with no arena name is quick play: the fullest arena with a
// free place, or a new one (engine.Socket.JoinOrCreate).
//
//	go run ./examples/arena                  # then open http://127.0.0.1:8080/ in a few tabs
//	go run ./examples/arena -addr 127.0.0.1:9000
package main

import (
	"context"
	_ "embed"
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
)

//go:embed index.html
var page []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP listen address")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		return err
	}
	register(eng.Of("/")) // before Start: the behaviour and the handlers are there for the first socket
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
	log.Printf("arena on http://%s/", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		eng.Close()
		return err
	}
	// The engine first (it closes the WebSockets, which http.Server does not track), then the server.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(eng.Shutdown(sctx), srv.Shutdown(sctx))
}

// newMux serves the page, the browser client it imports and the engine's endpoint.
func newMux(eng *engine.Engine) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(page)
	})
	mux.Handle("GET /roomio.js", browser.Handler())
	mux.Handle("/ws", eng.Handler())
	return mux
}
