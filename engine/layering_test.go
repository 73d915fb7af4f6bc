package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces the dependency arrows between roomio's packages: lower layers never import upper
// ones, siblings talk through interfaces that engine connects, and the Go client depends on the native
// protocol's codec (transport/wire), not on the server side of the transports.
func TestLayering(t *testing.T) {
	const mod = "github.com/roomio/roomio/"
	// allowed[pkg] lists the roomio packages pkg may depend on (transitively), by prefix.
	allowed := map[string][]string{
		"proto/":          {"proto/"},
		"internal/packet": {},
		"actors":          {"proto/", "internal/packet"},
		"transport":       {"proto/", "internal/packet", "transport"},
		"transport/wire":  {"proto/", "internal/packet"},
		"cluster":         {"proto/", "cluster"},
		"client":          {"proto/", "internal/packet", "transport/wire"},
		"engine":          {"proto/", "internal/packet", "actors", "transport", "cluster"},
		"cmd/":            {"proto/", "internal/", "actors", "transport", "cluster", "engine", "client"},
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, "github.com/roomio/roomio/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		if !strings.HasPrefix(pkg, mod) {
			continue
		}
		rel := strings.TrimPrefix(pkg, mod)
		var rule []string
		var ruleKey string
		for k, v := range allowed {
			if (rel == k || strings.HasPrefix(rel, k)) && len(k) > len(ruleKey) {
				rule, ruleKey = v, k
			}
		}
		if ruleKey == "" {
			continue // examples, internal helpers: only checked through their importers
		}
		for _, d := range strings.Fields(deps) {
			if !strings.HasPrefix(d, mod) {
				continue
			}
			drel := strings.TrimPrefix(d, mod)
			ok := false
			for _, a := range rule {
				if drel == a || strings.HasPrefix(drel, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s must not depend on %s", rel, drel)
			}
		}
	}
}
