package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp/chattest"
	"github.com/roomio/roomio/transport/wire"
)

func TestMain(m *testing.M) {
	// The multi-process tests (cluster_test.go, package main_test) build the node binary once, into this
	// directory, which they find through the environment; it is removed when the tests end.
	dir, err := os.MkdirTemp("", "roomio-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("ROOMIO_TEST_BINDIR", dir)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// waitFor bounds every wait for an event, an ack or an HTTP answer.
const waitFor = 10 * time.Second

// testNode is a node (newNode) whose two listeners are served over loopback by httptest, each with the
// node's own http.Server configuration (limits included).
type testNode struct {
	t   *testing.T
	n   *node
	srv *httptest.Server // the public listener (handler)
	api *httptest.Server // the API's listener (apiHandler)
	ws  string           // the WebSocket endpoint, ws://127.0.0.1:port/ws

	mu      sync.Mutex
	clients []*client.Client
}

// serveNode starts a node with the chat app and no API key; tweak overrides options. Cleanup shuts the
// engine down while the test's clients are still connected (as a SIGTERM does), then closes them and the
// server, and asserts that no actor is left.
func serveNode(t *testing.T, tweak func(*options)) *testNode {
	t.Helper()
	return serveNodeLog(t, tweak, slog.New(slog.DiscardHandler))
}

// serveNodeLog is serveNode with the node logging to logger.
func serveNodeLog(t *testing.T, tweak func(*options), logger *slog.Logger) *testNode {
	t.Helper()
	o := options{addr: "127.0.0.1:0", app: "chat", logLevel: "info"}
	if tweak != nil {
		tweak(&o)
	}
	n, err := newNode(context.Background(), o, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, api := startServer(n, n.handler()), startServer(n, n.apiHandler())
	tn := &testNode{t: t, n: n, srv: srv, api: api, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := n.eng.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		tn.mu.Lock()
		clients := tn.clients
		tn.mu.Unlock()
		for _, c := range clients {
			c.Close()
		}
		srv.Close()
		if n.admin != nil {
			n.admin.Close()
		}
		api.Close()
		if st := n.eng.Stats(); !st.Idle() {
			t.Errorf("actors left after Shutdown: %+v", st)
		}
	})
	return tn
}

// startServer serves h on a loopback port with the node's http.Server.
func startServer(n *node, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config = n.server(h)
	srv.Start()
	return srv
}

func TestHealthz(t *testing.T) {
	tn := serveNode(t, nil)
	res, err := tn.srv.Client().Get(tn.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\"", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /healthz Content-Type = %q, want text/plain", ct)
	}
}

func TestDemoPage(t *testing.T) {
	tn := serveNode(t, nil)
	res, err := tn.srv.Client().Get(tn.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET / Content-Type = %q, want text/html", ct)
	}
	if !strings.Contains(strings.ToLower(string(body)), "<html") || !strings.Contains(string(body), "roomio.js") {
		t.Fatalf("GET / is not the demo page:\n%.300s", body)
	}
}

// TestWebRoutes checks the node's browser surface: the chat page at / and the client at /roomio.js, GET
// and HEAD only, nothing else (no directory listing, no other file).
func TestWebRoutes(t *testing.T) {
	tn := serveNode(t, func(o *options) { o.app = "none" }) // the page is served whatever the app
	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string // body: a substring the response must contain
	}{
		{"page", http.MethodGet, "/", 200, "text/html; charset=utf-8", `id="log"`},
		{"client", http.MethodGet, "/roomio.js", 200, "text/javascript; charset=utf-8", "export function connect"},
		{"head", http.MethodHead, "/roomio.js", 200, "text/javascript; charset=utf-8", ""},
		{"no listing", http.MethodGet, "/static/", 404, "", ""},
		{"no raw path", http.MethodGet, "/static/roomio.js", 404, "", ""},
		{"unknown", http.MethodGet, "/nope.js", 404, "", ""},
		{"post page", http.MethodPost, "/", 405, "", ""},
		{"post client", http.MethodPost, "/roomio.js", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctxT(t), tt.method, tn.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tn.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want \"GET, HEAD\"", res.Header.Get("Allow"))
			}
			if tt.contentType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
				}
				if res.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Error("X-Content-Type-Options: nosniff missing")
				}
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not contain %q", tt.body)
			}
		})
	}
}

// clearEnv unsets the ROOMIO_* variables for the test (t.Setenv restores them afterwards).
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ROOMIO_") && k != "ROOMIO_TEST_BINDIR" && k != "ROOMIO_E2E" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	// GOGC decides -gc-percent's default.
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
}

func TestParseFlags(t *testing.T) {
	// with returns the defaults changed by mod.
	with := func(mod func(*options)) options {
		o := options{adminUser: "admin", addr: "127.0.0.1:8080", app: "chat", apiAddr: "127.0.0.1:8090", logLevel: "info", shutdown: 15 * time.Second, recovery: 2 * time.Minute, maxConnsPerIP: 100, eventRate: 50, gcPercent: 50}
		if mod != nil {
			mod(&o)
		}
		return o
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want options
	}{
		{name: "defaults", want: with(nil)},
		{name: "flags", args: []string{"-addr", ":9000", "-app", "none", "-api-addr", ":9001", "-api-key", "k", "-log-level", "debug", "-allowed-origins", "a.example,b.example", "-shutdown-timeout", "3s"},
			want: with(func(o *options) {
				*o = options{adminUser: "admin", addr: ":9000", app: "none", apiAddr: ":9001", apiKey: "k", logLevel: "debug", origins: "a.example,b.example", shutdown: 3 * time.Second, maxConnsPerIP: 100, eventRate: 50, recovery: 2 * time.Minute, gcPercent: 50}
			})},
		{name: "limits", args: []string{"-max-conns-per-ip", "-1", "-event-rate", "0"}, want: with(func(o *options) { o.maxConnsPerIP, o.eventRate = -1, 0 })},
		{name: "limits from env", env: map[string]string{"ROOMIO_MAX_CONNS_PER_IP": "7", "ROOMIO_EVENT_RATE": "2.5"}, want: with(func(o *options) { o.maxConnsPerIP, o.eventRate = 7, 2.5 })},
		{name: "no API", args: []string{"-api-addr", ""}, want: with(func(o *options) { o.apiAddr = "" })},
		{name: "API on localhost", args: []string{"-api-addr", "localhost:7"}, want: with(func(o *options) { o.apiAddr = "localhost:7" })},
		{name: "API on IPv6 loopback", args: []string{"-api-addr", "[::1]:7"}, want: with(func(o *options) { o.apiAddr = "[::1]:7" })},
		{name: "env ROOMIO_ADDR", env: map[string]string{"ROOMIO_ADDR": "0.0.0.0:7000"},
			want: with(func(o *options) { o.addr = "0.0.0.0:7000" })},
		{name: "flag beats env", env: map[string]string{"ROOMIO_ADDR": "0.0.0.0:7000"}, args: []string{"-addr", "127.0.0.1:7001"},
			want: with(func(o *options) { o.addr = "127.0.0.1:7001" })},
		{name: "env for every flag", env: map[string]string{"ROOMIO_APP": "none", "ROOMIO_API_KEY": "s", "ROOMIO_API_ADDR": "0.0.0.0:1", "ROOMIO_LOG_LEVEL": "warn",
			"ROOMIO_ALLOWED_ORIGINS": "*", "ROOMIO_SHUTDOWN_TIMEOUT": "1m", "ROOMIO_CLUSTER_ADDR": "10.0.0.1:7946", "ROOMIO_CLUSTER_INSECURE": "true"},
			want: with(func(o *options) {
				o.app, o.apiKey, o.apiAddr, o.logLevel, o.origins, o.shutdown = "none", "s", "0.0.0.0:1", "warn", "*", time.Minute
				o.clusterAddr, o.clusterInsecure = "10.0.0.1:7946", true
			})},
		{name: "admin flags", args: []string{"-admin-ui", "-admin-user", "root", "-admin-password-hash", "$2a$10$x", "-admin-readonly"},
			want: with(func(o *options) {
				o.adminUI, o.adminUser, o.adminHash, o.adminReadOnly = true, "root", "$2a$10$x", true
			})},
		{name: "recovery off", args: []string{"-recovery", "0"}, want: with(func(o *options) { o.recovery = 0 })},
		{name: "recovery env", env: map[string]string{"ROOMIO_RECOVERY": "30s"}, want: with(func(o *options) { o.recovery = 30 * time.Second })},
		{name: "gc percent", args: []string{"-gc-percent", "120"}, want: with(func(o *options) { o.gcPercent = 120 })},
		{name: "collector off", args: []string{"-gc-percent", "-1"}, want: with(func(o *options) { o.gcPercent = -1 })},
		{name: "gc percent env", env: map[string]string{"ROOMIO_GC_PERCENT": "80"}, want: with(func(o *options) { o.gcPercent = 80 })},
		{name: "GOGC stays", env: map[string]string{"GOGC": "80"}, want: with(func(o *options) { o.gcPercent = 0 })},
		{name: "flag beats GOGC", env: map[string]string{"GOGC": "80"}, args: []string{"-gc-percent", "120"}, want: with(func(o *options) { o.gcPercent = 120 })},
		{name: "env beats GOGC", env: map[string]string{"GOGC": "80", "ROOMIO_GC_PERCENT": "70"}, want: with(func(o *options) { o.gcPercent = 70 })},
		{name: "admin env", env: map[string]string{"ROOMIO_ADMIN_UI": "true", "ROOMIO_ADMIN_NO_AUTH": "true"},
			want: with(func(o *options) { o.adminUI, o.adminNoAuth = true, true })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := parseFlags(tc.args)
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tc.args, err)
			}
			if got != tc.want {
				t.Fatalf("parseFlags(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the error
	}{
		{name: "invalid -app", args: []string{"-app", "game"}, want: "-app"},
		{name: "empty -app", args: []string{"-app", ""}, want: "-app"},
		{name: "invalid ROOMIO_APP", env: map[string]string{"ROOMIO_APP": "Chat"}, want: "-app"},
		{name: "unknown flag", args: []string{"-port", "80"}, want: "port"},
		{name: "positional argument", args: []string{"extra"}, want: "extra"},
		{name: "public API without a key", args: []string{"-api-addr", ":8090"}, want: "-api-key"},
		{name: "API on all interfaces without a key", args: []string{"-api-addr", "0.0.0.0:8090"}, want: "-api-key"},
		{name: "API on a host name without a key", args: []string{"-api-addr", "api.example:8090"}, want: "-api-key"},
		{name: "API from env without a key", env: map[string]string{"ROOMIO_API_ADDR": "10.1.2.3:8090"}, want: "-api-key"},
		{name: "zero -max-conns-per-ip", args: []string{"-max-conns-per-ip", "0"}, want: "-max-conns-per-ip"},
		{name: "negative -event-rate", args: []string{"-event-rate", "-1"}, want: "-event-rate"},
		{name: "bad ROOMIO_EVENT_RATE", env: map[string]string{"ROOMIO_EVENT_RATE": "fast"}, want: "ROOMIO_EVENT_RATE"},
		{name: "zero shutdown", args: []string{"-shutdown-timeout", "0s"}, want: "-shutdown-timeout"},
		{name: "bad ROOMIO_SHUTDOWN_TIMEOUT", env: map[string]string{"ROOMIO_SHUTDOWN_TIMEOUT": "soon"}, want: "ROOMIO_SHUTDOWN_TIMEOUT"},
		{name: "zero -gc-percent", args: []string{"-gc-percent", "0"}, want: "-gc-percent"},
		{name: "-gc-percent below -1", args: []string{"-gc-percent", "-2"}, want: "-gc-percent"},
		{name: "bad ROOMIO_GC_PERCENT", env: map[string]string{"ROOMIO_GC_PERCENT": "half"}, want: "ROOMIO_GC_PERCENT"},
		{name: "negative recovery", args: []string{"-recovery", "-1s"}, want: "-recovery"},
		{name: "bad ROOMIO_RECOVERY", env: map[string]string{"ROOMIO_RECOVERY": "long"}, want: "ROOMIO_RECOVERY"},
		{name: "insecure without a cluster", args: []string{"-cluster-insecure"}, want: "-cluster-addr"},
		{name: "insecure and a key", args: []string{"-cluster-addr", "10.0.0.1:7946", "-cluster-insecure", "-cluster-key", "MDEyMzQ1Njc4OWFiY2RlZg=="}, want: "-cluster-insecure"},
		{name: "admin without credentials", args: []string{"-admin-ui"}, want: "-admin-ui"},
		{name: "admin with both", args: []string{"-admin-ui", "-admin-no-auth", "-admin-password-hash", "$2a$10$x"}, want: "-admin-ui"},
		{name: "admin options without -admin-ui", args: []string{"-admin-readonly"}, want: "-admin-ui"},
		{name: "admin UI dir without index.html", args: []string{"-admin-ui", "-admin-no-auth", "-admin-ui-dir", "."}, want: "-admin-ui-dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o, err := parseFlags(tc.args)
			if err == nil {
				t.Fatalf("parseFlags(%q) = %+v, want an error", tc.args, o)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseFlags(%q): %v, want an error naming %s", tc.args, err, tc.want)
			}
		})
	}
}

// TestRunRejectsBadConfig checks that run fails before it listens when the configuration is invalid.
func TestRunRejectsBadConfig(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{
		{"-app", "game"},
		{"-log-level", "loud"},
		{"-addr", "127.0.0.1:notaport"},
		{"-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:notaport"},
		{"-addr", "127.0.0.1:0", "-api-addr", ":0"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestAppNone checks that -app none installs no chat handlers: a join changes nothing.
func TestAppNone(t *testing.T) {
	tn := serveNode(t, func(o *options) { o.app = "none" })
	// A socket's events are handled in order, so once the test's own "probe" has been answered, a chat
	// handler (installed before it) would have handled the join.
	tn.n.eng.Of("/").OnConnection(func(s *engine.Socket) {
		s.On("probe", func(ev *engine.Event) { ev.Ack("pong") })
	})
	u := tn.user()
	if err := u.Emit(ctxT(t), "join", "lobby"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.EmitWithAck(ctxT(t), "probe"); err != nil {
		t.Fatal(err)
	}
	socks := tn.sockets(t, "/api/v1/sockets")
	if len(socks) != 1 || socks[0].ID != u.ID() || !slices.Equal(socks[0].Rooms, []string{u.ID()}) {
		t.Fatalf("with -app none, sockets = %+v, want only %s in its own room", socks, u.ID())
	}
}

// chatUser is a client connected to namespace "/" that records every event it receives (chattest.User).
type chatUser = chattest.User

// user dials the server and connects "/" in format f (proto when omitted); the client is closed by the
// cleanup, after the engine's shutdown.
func (tn *testNode) user(f ...wire.Format) *chatUser {
	tn.t.Helper()
	format := wire.FormatProto
	if len(f) > 0 {
		format = f[0]
	}
	u, c := chattest.Connect(tn.t, tn.ws, format)
	tn.mu.Lock()
	tn.clients = append(tn.clients, c)
	tn.mu.Unlock()
	return u
}

func ctxT(t *testing.T) context.Context { return chattest.Ctx(t) }
