// Command roomio runs a roomio node: the native WebSocket endpoint at /ws, the Socket.IO endpoint at
// /socket.io/, the chat demo at / (the app of examples/chat/chatapp, with the browser client of
// client/browser at /roomio.js), a backend emitter API under /api/v1/, /healthz (liveness) and /readyz
// (readiness); the API listener also serves Prometheus metrics at /metrics. With -admin-ui it serves the Socket.IO Admin UI's namespace /admin (package
// engine/admin), and with -admin-ui-dir the UI's files at /admin/. Token auth and hooks: auth.go;
// /readyz and -pprof: ops.go.
//
//	go run ./cmd/roomio                      # 127.0.0.1:8080, API on 127.0.0.1:8090, chat app, info logs
//	go run ./cmd/roomio -addr :9000 -api-addr :9001 -api-key secret -log-level debug
//
// The API listens on its own address (-api-addr), loopback unless -api-key is set; the public listener
// never serves it. Every flag can also be set through the environment variable named in its help.
// SIGINT or SIGTERM shut the node down within -shutdown-timeout: connections are drained and closed
// with "going away", and whatever a client still holds when the budget ends is cut. docs/security.md
// is the node's security model.
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
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/roomio/roomio/client/browser"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/admin"
	"github.com/roomio/roomio/examples/chat/chatapp"
)

type options struct {
	addr     string
	app      string
	apiAddr  string // the API's own listener; empty: no API
	apiKey   string
	logLevel string
	origins  string
	shutdown time.Duration // budget of a SIGINT/SIGTERM shutdown

	clusterAddr     string // gossip bind/advertise address; empty: a single node
	remoteAddr      string // node-to-node stream address
	join            string // comma-separated seeds
	clusterKey      string // base64 of a 16-, 24- or 32-byte key
	clusterInsecure bool   // allow a cluster without a key on non-loopback addresses
	probe           time.Duration
	nodeID          string // empty: generated

	adminUI       bool   // serve the Socket.IO Admin UI's namespace /admin
	adminUser     string // its basic-auth user
	adminHash     string // bcrypt hash of its password
	adminNoAuth   bool
	adminReadOnly bool
	adminUIDir    string // the UI's built files, served at /admin/

	recovery time.Duration // connection state recovery: how long a dropped socket is kept; 0 off

	maxConnsPerIP int     // connections one remote IP may hold; -1 none
	eventRate     float64 // packets per second per connection; 0 no limit

	gcPercent int // the collector's GOGC for the node; -1 off; 0: leave the runtime's (GOGC set, no flag)

	http httpLimits // no flags: the defaults (zero values) unless a test sets them

	auth  authOptions // auth.go
	pprof string      // loopback address of the pprof listener; empty: none
}

// Defaults of the flags that take a duration or an address.
const (
	defaultAPIAddr  = "127.0.0.1:8090"
	defaultShutdown = 15 * time.Second
	defaultRecovery = 2 * time.Minute
)

// defaultGCPercent is the node's GOGC unless configured otherwise. A node's heap is mostly long-lived
// per-connection state, and Go's default (100) lets the heap grow to twice that before a collection, a
// peak whose pages the runtime keeps: at 50 an idle node holds 15-18 % less memory per connection, and
// a burst of connects runs 4-20 % slower (docs/benchmarks.md, "The collector's target and pooled frame
// slices").
const defaultGCPercent = 50

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

func envDuration(key string, def time.Duration) (time.Duration, error) {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("roomio", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", envOr("ROOMIO_ADDR", "127.0.0.1:8080"), "HTTP listen address (env ROOMIO_ADDR)")
	fs.StringVar(&o.app, "app", envOr("ROOMIO_APP", "chat"), "built-in app on namespace /: chat or none (env ROOMIO_APP)")
	fs.StringVar(&o.apiAddr, "api-addr", envOr("ROOMIO_API_ADDR", defaultAPIAddr), "listen address of the backend API /api/v1; must be loopback unless -api-key is set; empty: no API (env ROOMIO_API_ADDR)")
	fs.StringVar(&o.apiKey, "api-key", envOr("ROOMIO_API_KEY", ""), "bearer key the API requires; needed when -api-addr is not loopback (env ROOMIO_API_KEY)")
	fs.StringVar(&o.logLevel, "log-level", envOr("ROOMIO_LOG_LEVEL", "info"), "debug, info, warn or error (env ROOMIO_LOG_LEVEL)")
	fs.StringVar(&o.origins, "allowed-origins", envOr("ROOMIO_ALLOWED_ORIGINS", ""), "comma-separated cross-origin hosts allowed to open WebSockets (env ROOMIO_ALLOWED_ORIGINS)")
	shutdownDefault, err := envDuration("ROOMIO_SHUTDOWN_TIMEOUT", defaultShutdown)
	if err != nil {
		return o, err
	}
	recoveryDefault, err := envDuration("ROOMIO_RECOVERY", defaultRecovery)
	if err != nil {
		return o, err
	}
	fs.DurationVar(&o.recovery, "recovery", recoveryDefault, "connection state recovery: how long a Socket.IO client that lost its connection keeps its id, rooms and missed messages; 0: off (env ROOMIO_RECOVERY)")
	connsDefault, err := strconv.Atoi(envOr("ROOMIO_MAX_CONNS_PER_IP", "100"))
	if err != nil {
		return o, fmt.Errorf("ROOMIO_MAX_CONNS_PER_IP: %w", err)
	}
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", connsDefault, "connections one remote IP may hold (native and Socket.IO together); more are refused with 429; -1: no limit (env ROOMIO_MAX_CONNS_PER_IP)")
	rateDefault, err := strconv.ParseFloat(envOr("ROOMIO_EVENT_RATE", "50"), 64)
	if err != nil {
		return o, fmt.Errorf("ROOMIO_EVENT_RATE: %w", err)
	}
	fs.Float64Var(&o.eventRate, "event-rate", rateDefault, "packets per second each connection may send (burst: twice that); faster readers wait, and a client at twice the rate for 10s is closed with 4004; 0: no limit (env ROOMIO_EVENT_RATE)")
	gcDefault, err := strconv.Atoi(envOr("ROOMIO_GC_PERCENT", strconv.Itoa(defaultGCPercent)))
	if err != nil {
		return o, fmt.Errorf("ROOMIO_GC_PERCENT: %w", err)
	}
	fs.IntVar(&o.gcPercent, "gc-percent", gcDefault, "the Go collector's heap growth target (GOGC) for this node; -1: off; default 50, or the GOGC environment variable when it is set (env ROOMIO_GC_PERCENT)")
	fs.DurationVar(&o.shutdown, "shutdown-timeout", shutdownDefault, "how long SIGINT/SIGTERM may drain connections before the rest are cut (env ROOMIO_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&o.clusterAddr, "cluster-addr", envOr("ROOMIO_CLUSTER_ADDR", ""), "gossip host:port to bind and advertise; empty: single node (env ROOMIO_CLUSTER_ADDR)")
	fs.StringVar(&o.remoteAddr, "remote-addr", envOr("ROOMIO_REMOTE_ADDR", ""), "node-to-node host:port (default: the cluster-addr host, port+1) (env ROOMIO_REMOTE_ADDR)")
	fs.StringVar(&o.join, "join", envOr("ROOMIO_JOIN", ""), "comma-separated gossip addresses of nodes to join (env ROOMIO_JOIN)")
	fs.StringVar(&o.clusterKey, "cluster-key", envOr("ROOMIO_CLUSTER_KEY", ""), "base64 of a 16-, 24- or 32-byte key that encrypts gossip and authenticates nodes; required on non-loopback addresses (env ROOMIO_CLUSTER_KEY)")
	insecureDefault, err := strconv.ParseBool(envOr("ROOMIO_CLUSTER_INSECURE", "false"))
	if err != nil {
		return o, fmt.Errorf("ROOMIO_CLUSTER_INSECURE: %w", err)
	}
	fs.BoolVar(&o.clusterInsecure, "cluster-insecure", insecureDefault, "run a cluster without -cluster-key on non-loopback addresses: every host that reaches the ports is trusted (env ROOMIO_CLUSTER_INSECURE)")
	probeDefault, err := envDuration("ROOMIO_PROBE_INTERVAL", 0)
	if err != nil {
		return o, err
	}
	fs.StringVar(&o.nodeID, "node-id", envOr("ROOMIO_NODE_ID", ""), "this node's id in the cluster, 1-64 of [A-Za-z0-9_-], unique among live nodes; empty: generated (env ROOMIO_NODE_ID)")
	fs.DurationVar(&o.probe, "probe-interval", probeDefault, "failure-probe interval; a crashed node is declared dead after about 6 intervals; 0: 1s (env ROOMIO_PROBE_INTERVAL)")
	fs.BoolVar(&o.adminUI, "admin-ui", envOr("ROOMIO_ADMIN_UI", "") == "true", "serve the Socket.IO Admin UI's namespace /admin (env ROOMIO_ADMIN_UI=true)")
	fs.StringVar(&o.adminUser, "admin-user", envOr("ROOMIO_ADMIN_USER", "admin"), "Admin UI user name (env ROOMIO_ADMIN_USER)")
	fs.StringVar(&o.adminHash, "admin-password-hash", envOr("ROOMIO_ADMIN_PASSWORD_HASH", ""), "bcrypt hash of the Admin UI password (env ROOMIO_ADMIN_PASSWORD_HASH)")
	fs.BoolVar(&o.adminNoAuth, "admin-no-auth", envOr("ROOMIO_ADMIN_NO_AUTH", "") == "true", "Admin UI without credentials: anyone who reaches the node is admin (env ROOMIO_ADMIN_NO_AUTH=true)")
	fs.BoolVar(&o.adminReadOnly, "admin-readonly", envOr("ROOMIO_ADMIN_READONLY", "") == "true", "Admin UI may look but not act: no join, leave, disconnect or emit (env ROOMIO_ADMIN_READONLY=true)")
	fs.StringVar(&o.adminUIDir, "admin-ui-dir", envOr("ROOMIO_ADMIN_UI_DIR", ""), "directory of the Admin UI's built files (npm @socket.io/admin-ui's ui/dist), served at /admin/ (env ROOMIO_ADMIN_UI_DIR)")
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
	if o.gcPercent == 0 || o.gcPercent < -1 {
		return o, errors.New("-gc-percent must be positive, or -1 to turn the collector off")
	}
	if _, gogc := os.LookupEnv("GOGC"); gogc && !flagSet(fs, "gc-percent") && os.Getenv("ROOMIO_GC_PERCENT") == "" {
		o.gcPercent = 0 // GOGC, which the runtime read at start, stays in force
	}
	if o.app != "chat" && o.app != "none" {
		return o, fmt.Errorf("-app must be chat or none, not %q", o.app)
	}
	if o.shutdown <= 0 {
		return o, errors.New("-shutdown-timeout must be positive")
	}
	if o.apiAddr != "" && o.apiKey == "" && !loopbackAddr(o.apiAddr) {
		// Without a key the API's only protection is that no other host can reach it.
		return o, fmt.Errorf("-api-addr %s is not a loopback address: set -api-key (ROOMIO_API_KEY), or bind the API to 127.0.0.1", o.apiAddr)
	}
	if o.clusterAddr == "" && (o.remoteAddr != "" || o.join != "" || o.clusterKey != "" || o.probe != 0 || o.clusterInsecure || o.nodeID != "") {
		return o, errors.New("-remote-addr, -join, -cluster-key, -cluster-insecure, -node-id and -probe-interval need -cluster-addr")
	}
	if o.probe < 0 {
		return o, errors.New("-probe-interval must not be negative")
	}
	if o.maxConnsPerIP == 0 || o.maxConnsPerIP < -1 {
		return o, errors.New("-max-conns-per-ip must be positive, or -1 for no limit")
	}
	if o.eventRate < 0 {
		return o, errors.New("-event-rate must not be negative (0 turns the limit off)")
	}
	if o.recovery < 0 {
		return o, errors.New("-recovery must not be negative (0 turns it off)")
	}
	if !o.adminUI && (o.adminHash != "" || o.adminNoAuth || o.adminReadOnly || o.adminUIDir != "") {
		return o, errors.New("-admin-password-hash, -admin-no-auth, -admin-readonly and -admin-ui-dir need -admin-ui")
	}
	if o.adminUI && o.adminNoAuth == (o.adminHash != "") {
		return o, errors.New("-admin-ui needs -admin-password-hash (a bcrypt hash) or -admin-no-auth")
	}
	if o.adminUIDir != "" {
		if _, err := os.Stat(filepath.Join(o.adminUIDir, "index.html")); err != nil {
			return o, fmt.Errorf("-admin-ui-dir: %w", err)
		}
	}
	if o.clusterKey != "" && o.clusterInsecure {
		return o, errors.New("-cluster-insecure and -cluster-key exclude each other")
	}
	if o.pprof != "" {
		if err := checkLoopback(o.pprof); err != nil {
			return o, fmt.Errorf("-pprof %s: %w", o.pprof, err)
		}
	}
	return o, nil
}

// flagSet reports whether name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loopbackAddr reports whether a listen address (host:port) binds loopback only: its host is a loopback
// IP or "localhost". An empty host (":8090") binds every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clusterConfig turns the cluster flags into the engine's configuration. A cluster whose gossip or
// stream address is not loopback needs a key: without one, any host that reaches the ports can join,
// list every socket's handshake and emit to every room. -cluster-insecure lifts that, loudly.
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
	cc.NodeID = o.nodeID
	if o.clusterKey != "" {
		key, err := base64.StdEncoding.DecodeString(o.clusterKey)
		if err != nil {
			return cc, fmt.Errorf("-cluster-key: %w", err)
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return cc, fmt.Errorf("-cluster-key: %d bytes, want 16, 24 or 32", n)
		}
		cc.Key = key
	} else if !o.clusterInsecure && !o.clusterLoopback() {
		return cc, fmt.Errorf("-cluster-addr %s / -remote-addr %s are not loopback addresses: set -cluster-key (ROOMIO_CLUSTER_KEY), "+
			"or -cluster-insecure to trust every host that can reach these ports", cc.GossipAddr, cc.RemoteAddr)
	}
	return cc, nil
}

// clusterLoopback reports whether both cluster addresses are loopback.
func (o options) clusterLoopback() bool {
	if !loopbackAddr(o.clusterAddr) {
		return false
	}
	return o.remoteAddr == "" || loopbackAddr(o.remoteAddr)
}

// warnInsecureCluster logs, at Warn, a cluster that runs without a key.
func (o options) warnInsecureCluster(logger *slog.Logger) {
	if o.clusterAddr == "" || o.clusterKey != "" {
		return
	}
	if o.clusterLoopback() {
		logger.Warn("cluster without -cluster-key: any process on this host can join it, list every socket and emit to every room",
			"cluster_addr", o.clusterAddr)
		return
	}
	logger.Warn("INSECURE cluster (-cluster-insecure): no -cluster-key on a non-loopback address; every host that reaches the gossip and stream ports can join, list every socket and emit to every room",
		"cluster_addr", o.clusterAddr, "remote_addr", o.remoteAddr)
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
	if _, err := o.clusterConfig(); err != nil {
		return err // before listening
	}

	if o.gcPercent != 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(o.gcPercent))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	var apiLn net.Listener
	if o.apiAddr != "" {
		if apiLn, err = net.Listen("tcp", o.apiAddr); err != nil {
			ln.Close()
			return fmt.Errorf("-api-addr: %w", err)
		}
	}
	if o.pprof != "" {
		psrv, _, err := startPprof(o.pprof, logger)
		if err != nil {
			ln.Close()
			if apiLn != nil {
				apiLn.Close()
			}
			return err
		}
		defer psrv.Close()
	}
	o.warnInsecureCluster(logger)
	n, err := buildNode(o, logger)
	if err != nil {
		ln.Close()
		if apiLn != nil {
			apiLn.Close()
		}
		return err
	}
	defer n.closeAuth()
	if n.admin != nil {
		defer n.admin.Close() // after the engine's Shutdown below
	}
	// Serve before the engine starts: /healthz answers at once, /readyz says 503 until Start has joined
	// the cluster and synced, and the client endpoints answer 503 meanwhile.
	srvs := []*http.Server{n.server(n.handler())}
	lns := []net.Listener{ln}
	if apiLn != nil {
		srvs = append(srvs, n.server(n.apiHandler()))
		lns = append(lns, apiLn)
	}
	serveErr := make(chan error, len(srvs))
	for i, s := range srvs {
		go func() { serveErr <- s.Serve(lns[i]) }()
	}
	if apiLn != nil {
		logger.Info("API listening", "api_addr", apiLn.Addr().String(), "key", o.apiKey != "")
	}
	if err := n.eng.Start(ctx); err != nil {
		n.eng.Close()
		for _, s := range srvs {
			s.Close()
		}
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String(), "node", n.eng.NodeID())

	select {
	case <-ctx.Done():
		logger.Info("shutting down", "budget", o.shutdown)
	case err := <-serveErr:
		n.shutdown(o.shutdown, srvs...)
		return err
	}
	err = n.shutdown(o.shutdown, srvs...)
	logger.Info("stopped")
	return err
}

// shutdown stops the node within budget: the engine drains and closes its connections (WebSockets are
// hijacked, so http.Server.Shutdown does not wait for them), then the HTTP servers stop accepting and
// wait for their requests. When the budget ends first — a client that holds a request open, an upload
// that never finishes — every remaining connection is closed, which ends the handlers blocked on them;
// that is logged, not an error: the node exits on time whatever its clients do.
func (n *node) shutdown(budget time.Duration, srvs ...*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := n.eng.Shutdown(ctx)
		for _, s := range srvs {
			if herr := s.Shutdown(ctx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
				err = errors.Join(err, herr)
			}
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
		if ctx.Err() == nil {
			return err
		}
	case <-ctx.Done():
	}
	for _, s := range srvs {
		s.Close()
	}
	if err == nil {
		// The engine stops its actors even past its deadline (a few milliseconds); wait for that, not
		// for clients.
		select {
		case err = <-done:
		case <-time.After(closeGrace):
			err = errors.New("still stopping")
		}
	}
	n.log.Warn("shutdown budget spent: closed the connections still open", "budget", budget, "err", err)
	return nil
}

// closeGrace is how long shutdown waits, after the budget and closing every connection, for the engine
// to finish stopping.
const closeGrace = time.Second

// node is one roomio node: the engine and its HTTP surface.
type node struct {
	eng        *engine.Engine
	log        *slog.Logger
	limits     httpLimits
	admin      *admin.Admin // nil without -admin-ui
	adminUIDir string

	apiKey      string
	apiLoopback bool          // the API's listener is loopback: Host must name loopback (DNS rebinding)
	apiAuth     *failureLog   // wrong or missing API keys, logged rate-limited
	apiFailures atomic.Uint64 // their count (GET /api/v1/stats)
	closeAuth   func()        // releases the auth hooks' connections
	metrics     http.Handler  // GET /metrics on the API listener
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
		if n.admin != nil {
			n.admin.Close()
		}
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
	cfg.MaxConnsPerIP = o.maxConnsPerIP
	if o.eventRate == 0 {
		cfg.RateLimit.Disabled = true
	} else {
		cfg.RateLimit.Events, cfg.RateLimit.Burst = o.eventRate, max(1, int(2*o.eventRate))
	}
	if o.recovery > 0 {
		cfg.Recovery = engine.RecoveryConfig{Enabled: true, MaxDisconnection: o.recovery}
	}
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
	n := &node{eng: eng, log: logger, limits: o.http.withDefaults(), adminUIDir: o.adminUIDir, closeAuth: closeAuth,
		apiKey: o.apiKey, apiLoopback: o.apiAddr == "" || loopbackAddr(o.apiAddr)}
	n.metrics = metricsHandler(eng) // before Start: the observer counts every socket
	n.apiAuth = &failureLog{log: logger.With("component", "api"), msg: "refused an API request with a missing or wrong key", total: &n.apiFailures}
	if o.adminUI {
		// Before Start, so that the Admin UI sees every socket.
		n.admin, err = admin.Instrument(eng, admin.Config{
			Username: o.adminUser, PasswordHash: o.adminHash, NoAuth: o.adminNoAuth,
			ReadOnly: o.adminReadOnly, Logger: logger,
		})
		if err != nil {
			eng.Close()
			closeAuth()
			return nil, err
		}
	}
	return n, nil
}

// handler serves the public listener: the WebSocket and Socket.IO endpoints, the chat page, the
// browser client and /healthz. The API is not here (apiHandler, on its own listener).
func (n *node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", n.eng.Handler())
	mux.Handle("/socket.io/", n.eng.SocketIOHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "not found: the API is served on its own listener (-api-addr)"})
	})
	mux.HandleFunc("GET /readyz", n.readyz)
	// The chat page and the browser client it imports; served with -app none too. Every other path is
	// 404, and a method other than GET or HEAD on these two is 405.
	mux.Handle("GET /{$}", chatapp.Page())
	mux.Handle("GET /roomio.js", browser.Handler())
	if n.adminUIDir != "" {
		// The Admin UI's built files (index.html, js/, css/, img/): the page connects back to this node's
		// Socket.IO endpoint, namespace /admin.
		mux.Handle("GET /admin/", http.StripPrefix("/admin/", http.FileServer(http.Dir(n.adminUIDir))))
	}
	return n.bodyDeadline(mux)
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
