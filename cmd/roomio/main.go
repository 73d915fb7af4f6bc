// Command roomio runs a roomio node: the native WebSocket endpoint at /ws, the Socket.IO endpoint at
// /socket.io/, the chat demo at / (the app of examples/chat/chatapp, with the browser client of
// client/browser at /roomio.js), a backend emitter API under /api/v1/, /healthz (liveness) and /readyz
// (readiness). Token auth and hooks: auth.go; /readyz and -pprof: ops.go.
//
//	go run ./cmd/roomio                      # 127.0.0.1:8080, chat app, info logs
//	go run ./cmd/roomio -addr :9000 -api-key secret -log-level debug
//
// Every flag can also be set through the environment variable named in its help. SIGINT or SIGTERM
// shut the node down cleanly: connections are drained and closed with "going away".
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/roomio/roomio/client/browser"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
)

type options struct {
	addr     string
	app      string
	apiKey   string
	logLevel string
	origins  string

	clusterAddr string // gossip bind/advertise address; empty: a single node
	remoteAddr  string // node-to-node stream address
	join        string // comma-separated seeds
	clusterKey  string // base64 of a 16-, 24- or 32-byte key
	probe       time.Duration

	auth  authOptions // auth.go
	pprof string      // loopback address of the pprof listener; empty: none
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "roomio:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("roomio", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", envOr("ROOMIO_ADDR", "127.0.0.1:8080"), "HTTP listen address (env ROOMIO_ADDR)")
	fs.StringVar(&o.app, "app", envOr("ROOMIO_APP", "chat"), "built-in app on namespace /: chat or none (env ROOMIO_APP)")
	fs.StringVar(&o.apiKey, "api-key", envOr("ROOMIO_API_KEY", ""), "bearer key for /api/v1; empty: API answers loopback clients only (env ROOMIO_API_KEY)")
	fs.StringVar(&o.logLevel, "log-level", envOr("ROOMIO_LOG_LEVEL", "info"), "debug, info, warn or error (env ROOMIO_LOG_LEVEL)")
	fs.StringVar(&o.origins, "allowed-origins", envOr("ROOMIO_ALLOWED_ORIGINS", ""), "comma-separated cross-origin hosts allowed to open WebSockets (env ROOMIO_ALLOWED_ORIGINS)")
	fs.StringVar(&o.clusterAddr, "cluster-addr", envOr("ROOMIO_CLUSTER_ADDR", ""), "gossip host:port to bind and advertise; empty: single node (env ROOMIO_CLUSTER_ADDR)")
	fs.StringVar(&o.remoteAddr, "remote-addr", envOr("ROOMIO_REMOTE_ADDR", ""), "node-to-node host:port (default: the cluster-addr host, port+1) (env ROOMIO_REMOTE_ADDR)")
	fs.StringVar(&o.join, "join", envOr("ROOMIO_JOIN", ""), "comma-separated gossip addresses of nodes to join (env ROOMIO_JOIN)")
	fs.StringVar(&o.clusterKey, "cluster-key", envOr("ROOMIO_CLUSTER_KEY", ""), "base64 of a 16-, 24- or 32-byte key that encrypts gossip and authenticates nodes (env ROOMIO_CLUSTER_KEY)")
	probeDefault, err := time.ParseDuration(envOr("ROOMIO_PROBE_INTERVAL", "0s"))
	if err != nil {
		return o, fmt.Errorf("ROOMIO_PROBE_INTERVAL: %w", err)
	}
	fs.DurationVar(&o.probe, "probe-interval", probeDefault, "failure-probe interval; a crashed node is declared dead after about 6 intervals; 0: 1s (env ROOMIO_PROBE_INTERVAL)")
	if err := o.auth.register(fs); err != nil {
		return o, err
	}
	fs.StringVar(&o.pprof, "pprof", envOr("ROOMIO_PPROF", ""), "loopback host:port serving net/http/pprof on its own listener; empty: off (env ROOMIO_PPROF)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		// Parsing stops at the first non-flag, so a typo such as "- app none" would silently drop the
		// flags after it.
		return o, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if o.app != "chat" && o.app != "none" {
		return o, fmt.Errorf("-app must be chat or none, not %q", o.app)
	}
	if o.clusterAddr == "" && (o.remoteAddr != "" || o.join != "" || o.clusterKey != "" || o.probe != 0) {
		return o, errors.New("-remote-addr, -join, -cluster-key and -probe-interval need -cluster-addr")
	}
	if o.probe < 0 {
		return o, errors.New("-probe-interval must not be negative")
	}
	if o.pprof != "" {
		if err := checkLoopback(o.pprof); err != nil {
			return o, fmt.Errorf("-pprof %s: %w", o.pprof, err)
		}
	}
	return o, nil
}

// clusterConfig turns the cluster flags into the engine's configuration.
func (o options) clusterConfig() (engine.ClusterConfig, error) {
	var cc engine.ClusterConfig
	if o.clusterAddr == "" {
		return cc, nil
	}
	cc.GossipAddr, cc.AdvertiseGossip = o.clusterAddr, o.clusterAddr
	cc.RemoteAddr = o.remoteAddr
	if cc.RemoteAddr == "" {
		host, port, err := net.SplitHostPort(o.clusterAddr)
		if err != nil {
			return cc, fmt.Errorf("-cluster-addr: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p == 0 {
			return cc, fmt.Errorf("-cluster-addr needs a fixed port when -remote-addr is not given")
		}
		cc.RemoteAddr = net.JoinHostPort(host, strconv.Itoa(p+1))
	}
	cc.AdvertiseRemote = cc.RemoteAddr
	cc.Seeds = splitComma(o.join)
	cc.ProbeInterval = o.probe
	if o.clusterKey != "" {
		key, err := base64.StdEncoding.DecodeString(o.clusterKey)
		if err != nil {
			return cc, fmt.Errorf("-cluster-key: %w", err)
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return cc, fmt.Errorf("-cluster-key: %d bytes, want 16, 24 or 32", n)
		}
		cc.Key = key
	}
	return cc, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	if o.pprof != "" {
		psrv, _, err := startPprof(o.pprof, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer psrv.Close()
	}
	n, err := buildNode(o, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer n.closeAuth()
	// Serve before the engine starts: /healthz answers at once, /readyz says 503 until Start has joined
	// the cluster and synced, and the client endpoints answer 503 meanwhile.
	srv := &http.Server{Handler: n.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := n.eng.Start(ctx); err != nil {
		n.eng.Close()
		srv.Close()
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String(), "node", n.eng.NodeID())

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// WebSockets are hijacked connections that http.Server.Shutdown does not wait for: the engine drains
	// and closes them; then the HTTP server stops.
	err = n.eng.Shutdown(sctx)
	if herr := srv.Shutdown(sctx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = errors.Join(err, herr)
	}
	logger.Info("stopped")
	return err
}

// node is one roomio node: the engine and its HTTP surface.
type node struct {
	eng       *engine.Engine
	apiKey    string
	log       *slog.Logger
	closeAuth func() // releases the auth hooks' connections
}

// newNode builds a node and starts its engine.
func newNode(ctx context.Context, o options, logger *slog.Logger) (*node, error) {
	n, err := buildNode(o, logger)
	if err != nil {
		return nil, err
	}
	if err := n.eng.Start(ctx); err != nil {
		n.eng.Close()
		n.closeAuth()
		return nil, err
	}
	return n, nil
}

// buildNode builds a node whose engine is not started yet.
func buildNode(o options, logger *slog.Logger) (*node, error) {
	cc, err := o.clusterConfig()
	if err != nil {
		return nil, err
	}
	ac, closeAuth, err := o.auth.config()
	if err != nil {
		closeAuth()
		return nil, err
	}
	cfg := engine.Config{Logger: logger, Cluster: cc, Auth: ac}
	if o.origins != "" {
		cfg.AllowedOrigins = splitComma(o.origins)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		closeAuth()
		return nil, err
	}
	if o.app == "chat" {
		chatapp.Register(eng.Of("/"))
	}
	return &node{eng: eng, apiKey: o.apiKey, log: logger, closeAuth: closeAuth}, nil
}

func (n *node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", n.eng.Handler())
	mux.Handle("/socket.io/", n.eng.SocketIOHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.Handle("POST /api/v1/emit", n.requireAPI(http.HandlerFunc(n.apiEmit)))
	mux.Handle("GET /api/v1/sockets", n.requireAPI(http.HandlerFunc(n.apiSockets)))
	mux.Handle("GET /api/v1/cluster", n.requireAPI(http.HandlerFunc(n.apiCluster)))
	// The chat page and the browser client it imports; served with -app none too. Every other path is
	// 404, and a method other than GET or HEAD on these two is 405.
	mux.Handle("GET /{$}", chatapp.Page())
	mux.Handle("GET /roomio.js", browser.Handler())
	return mux
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
