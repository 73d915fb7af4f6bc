package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/metrics"
)

// metricsHandler serves the engine's metrics (package engine/metrics) with the Go runtime's and the
// process's, in Prometheus text format (or OpenMetrics/protobuf when the scraper asks).
func metricsHandler(e *engine.Engine) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(e), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// readyz answers 200 "ready" once the engine serves and, in a cluster, has synced its interest table with
// every peer it knows (engine.Readiness); 503 with the reason otherwise. /healthz stays liveness.
func (n *node) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := n.eng.Readiness(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", err)
		return
	}
	w.Write([]byte("ready\n"))
}

// checkLoopback refuses a -pprof address that is not a loopback host: profiles expose memory contents.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("must be a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)")
	}
	return nil
}

// startPprof serves net/http/pprof at /debug/pprof/ on its own listener at addr (loopback only).
func startPprof(addr string, logger *slog.Logger) (*http.Server, net.Listener, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, nil, fmt.Errorf("-pprof %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return srv, ln, nil
}
