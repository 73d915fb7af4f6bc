// Command conformance serves what the official protocol test suites expect on localhost:3000, so they can
// be run against roomio:
//
//	go run ./examples/conformance -suite engineio   # then, in engine.io-protocol/test-suite: npm ci && npm test
//	go run ./examples/conformance -suite socketio   # socket.io-protocol/test-suite
//
// The Engine.IO suite expects a plain echo server at /engine.io/ with pingInterval 300 ms, pingTimeout
// 200 ms, maxPayload 1 000 000 and CORS "*".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A suite builds the handler a test suite runs against, and a function that shuts it down.
type suite func(log *slog.Logger) (http.Handler, func(context.Context) error)

// suites maps each -suite name to its server. Files of this package register theirs from init.
var suites = map[string]suite{
	"engineio": engineIOSuite,
}

func main() {
	addr := flag.String("addr", "localhost:3000", "address to listen on (the suites call localhost:3000)")
	name := flag.String("suite", "socketio", "which suite to serve: "+strings.Join(suiteNames(), " or "))
	verbose := flag.Bool("v", false, "log at debug level")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	build, ok := suites[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "conformance: unknown -suite %q (want %s)\n", *name, strings.Join(suiteNames(), " or "))
		os.Exit(2)
	}
	if err := run(*addr, build, log); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func suiteNames() []string {
	var names []string
	for n := range suites {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// run serves build's handler on addr until SIGINT or SIGTERM, then shuts down.
func run(addr string, build suite, log *slog.Logger) error {
	handler, shutdown := build(log)
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := errors.Join(shutdown(sctx), srv.Shutdown(sctx))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
