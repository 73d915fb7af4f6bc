package engine_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers lists, for every package of the module, the roomio packages it may import directly (exact import
// paths, relative to the module). The arrows point down: proto at the bottom; internal/packet; actors and
// the transports beside each other (siblings talk through interfaces that engine connects); cluster;
// engine, the only package that wires them; then client, examples and the node. A package missing from
// the table, an import not listed, or a row for a package that no longer exists fails the test.
var layers = map[string][]string{
	"proto":                   {},
	"proto/roomio/wire/v1":    {},
	"proto/roomio/cluster/v1": {"proto/roomio/wire/v1"},
	"internal/packet":         {},
	"internal/static":         {},
	// actors: the namespace, room and socket actors; no transport, no cluster.
	"actors": {"internal/packet"},
	// transport is the seam (Conn, Acceptor, Session, Queue); each front-end builds on it alone.
	"transport":               {"internal/packet"},
	"transport/wire":          {"internal/packet", "proto/roomio/wire/v1"},
	"transport/wire/wiretest": {"internal/packet", "transport/wire"},
	"transport/transporttest": {},
	// netpoll parks idle connections for the front-ends; it knows nothing of them.
	"transport/netpoll":  {},
	"transport/native":   {"internal/packet", "proto/roomio/wire/v1", "transport", "transport/netpoll", "transport/wire"},
	"transport/engineio": {"transport", "transport/netpoll"},
	"transport/socketio": {"internal/packet", "transport", "transport/engineio"},
	// cluster knows nothing of actors or engine: it carries envelopes between nodes.
	"cluster":             {"proto/roomio/cluster/v1"},
	"cluster/clustertest": {"cluster", "proto/roomio/cluster/v1"},
	"cluster/tunnel":      {"proto/roomio/cluster/v1"},
	// clusterlink converts between actors' messages and the cluster protocol; engine alone imports it.
	"internal/clusterlink": {"actors", "internal/packet", "proto/roomio/cluster/v1", "proto/roomio/wire/v1", "transport/wire"},
	"engine": {"actors", "cluster", "cluster/tunnel", "internal/clusterlink", "internal/packet",
		"proto/roomio/cluster/v1", "transport", "transport/engineio", "transport/native", "transport/socketio",
		"transport/wire"},
	// admin serves the Socket.IO Admin UI's namespace through engine's public API alone.
	"engine/admin": {"engine"},
	// auth: token verification and HTTP hooks behind engine.Config.Auth.
	"engine/auth": {"engine"},
	// metrics: the Prometheus collector, reading engine's public counters.
	"engine/metrics": {"engine"},
	// The Go client speaks the native protocol through its codec, never through the server side.
	"client":         {"internal/packet", "transport/wire"},
	"client/browser": {"internal/static"},
	// Programs and examples use the public API.
	"examples/chat/chatapp":          {"engine", "internal/static"},
	"examples/chat/chatapp/chattest": {"client", "transport/wire"},
	"examples/chat":                  {"client/browser", "engine", "examples/chat/chatapp"},
	"examples/cluster":               {"client/browser", "engine", "examples/chat/chatapp"},
	"examples/arena":                 {"client/browser", "engine"},
	"examples/conformance":           {"engine", "transport/engineio"}, // the Engine.IO suite needs a bare Engine.IO echo server
	"cmd/roomio":                     {"client/browser", "engine", "engine/admin", "engine/auth", "engine/metrics", "examples/chat/chatapp"},
	// The load tool is a client: it reaches a server through package client and its own Socket.IO code.
	"internal/loadgen": {"client"},
	"cmd/roomio-bench": {"internal/loadgen"},
}

// testLayers lists what a package's tests may import besides its own imports and itself: tests drive
// a package from above (a client against a server, an engine behind a program).
var testLayers = map[string][]string{
	"actors":                  {},
	"client":                  {"transport", "transport/native"}, // a native server to dial
	"client/browser":          {},
	"cluster":                 {"cluster/clustertest"},
	"cluster/tunnel":          {"cluster"},
	"cmd/roomio":              {"client", "examples/chat/chatapp/chattest", "transport/wire"},
	"cmd/roomio-bench":        {"engine", "examples/chat/chatapp"}, // a node to run against
	"engine":                  {"client"},
	"engine/admin":            {},
	"engine/auth":             {"client"},
	"engine/metrics":          {"client"}, // native clients to count
	"examples/chat":           {"client"},
	"examples/chat/chatapp":   {"client", "examples/chat/chatapp/chattest", "transport/wire"},
	"examples/cluster":        {"client"},
	"examples/arena":          {"client"},
	"internal/clusterlink":    {},
	"internal/loadgen":        {"engine", "examples/chat/chatapp"}, // a node to run against
	"internal/packet":         {},
	"transport":               {},
	"transport/engineio":      {"transport/transporttest"},
	"transport/native":        {"transport/transporttest", "transport/wire/wiretest"},
	"transport/socketio":      {"transport/wire"},
	"transport/wire":          {"transport/wire/wiretest"},
	"transport/transporttest": {},
	"transport/netpoll":       {"transport/transporttest"},
}

func TestLayering(t *testing.T) {
	const mod = "github.com/roomio/roomio"
	out, err := exec.Command("go", "list", "-tags", "integration", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`,
		mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// rel returns p relative to the module, or "" for a package outside it.
	rel := func(p string) string {
		if p == mod {
			return "."
		}
		if r, ok := strings.CutPrefix(p, mod+"/"); ok {
			return r
		}
		return ""
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Split(line, "|")
		pkg := rel(fields[0])
		seen[pkg] = true
		allowed, ok := layers[pkg]
		if !ok {
			t.Errorf("package %s has no row in the layering table", pkg)
			continue
		}
		for _, imp := range strings.Fields(fields[1]) {
			if r := rel(imp); r != "" && !slices.Contains(allowed, r) {
				t.Errorf("%s must not import %s", pkg, r)
			}
		}
		for _, imp := range strings.Fields(fields[2]) {
			r := rel(imp)
			if r == "" || r == pkg || slices.Contains(allowed, r) || slices.Contains(testLayers[pkg], r) {
				continue
			}
			t.Errorf("tests of %s must not import %s", pkg, r)
		}
	}
	for pkg := range layers {
		if !seen[pkg] {
			t.Errorf("the layering table names %s, which does not exist", pkg)
		}
	}
	for pkg := range testLayers {
		if !seen[pkg] {
			t.Errorf("the test layering table names %s, which does not exist", pkg)
		}
	}
}
