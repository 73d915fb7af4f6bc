package auth_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The official socket.io-client (e2e/package-lock.json) runs e2e/auth.mjs against a node with JWT auth.
// It needs node and e2e/node_modules (scripts/e2e-setup.sh); scripts/test.sh sets ROOMIO_E2E=1.
func needNode(t *testing.T) string {
	t.Helper()
	if os.Getenv("ROOMIO_E2E") != "1" {
		t.Skip("set ROOMIO_E2E=1 after scripts/e2e-setup.sh to run the socket.io-client tests")
	}
	dir, err := filepath.Abs("../../e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("socket.io-client is not installed: run scripts/e2e-setup.sh (%v)", err)
	}
	return dir
}

// TestJWTSocketIOClient: valid tokens connect (auth.token, Authorization header) with their user id and
// rooms; expired, bad signature, "none", HS256 signed with the public key and missing tokens are
// connect_errors with the documented message and data; an unrefreshed token's expiry disconnects. The
// short token lives 5 s from here: enough for the scenario's earlier steps, even under -race.
func TestJWTSocketIOClient(t *testing.T) {
	dir := needNode(t)
	k := newKeys(t)
	n := jwtNode(t, k)
	hour := time.Now().Add(time.Hour).Unix()
	valid := jwt.MapClaims{"sub": "alice", "exp": hour, "rooms": []string{"news"}, "allowed_rooms": []string{"chat"}}
	tokens := map[string]string{
		"valid":   sign(t, jwt.SigningMethodRS256, k.rsa, valid, nil),
		"expired": sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()}, nil),
		"badsig":  sign(t, jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-xx"), valid, nil),
		"none":    sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid, nil),
		"pubhs":   sign(t, jwt.SigningMethodHS256, k.rsaPEM, valid, nil),
		"short":   sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(5 * time.Second).Unix()}, nil),
	}
	env, _ := json.Marshal(tokens)
	cmd := exec.Command("node", "auth.mjs", n.url)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AUTH_TOKENS="+string(env))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("auth.mjs: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		`whoami polling+websocket {"rooms":["news"],"user":"alice"}`,
		`join-secret true`,
		`whoami websocket {"rooms":["news"],"user":"alice"}`,
		`join-secret true`,
		`whoami header {"rooms":["news"],"user":"alice"}`,
		`refused missing authentication required: no token {"code":"token_missing"}`,
		`refused expired token expired {"code":"token_expired"}`,
		`refused badsig invalid token: token signature is invalid {"code":"token_invalid"}`,
		`refused none invalid token: algorithm not allowed {"code":"token_invalid"}`,
		`refused pubhs invalid token: token signature is invalid {"code":"token_invalid"}`,
		`refresh-bad {"ok":false,"code":"token_invalid","message":"invalid token: token is malformed"}`,
		`disconnect io server disconnect`,
		`ok`,
	}, "\n")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("auth.mjs printed:\n%s\nwant:\n%s", got, want)
	}
}
