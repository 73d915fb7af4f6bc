package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// dialToken connects "/" of the node with the token in the auth payload.
func (tn *testNode) dialToken(t *testing.T, token string) (*client.Socket, error) {
	t.Helper()
	c, err := client.Dial(ctxT(t), tn.ws, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn.mu.Lock()
	tn.clients = append(tn.clients, c)
	tn.mu.Unlock()
	var auth any
	if token != "" {
		auth = map[string]string{"token": token}
	}
	return c.Connect(ctxT(t), "/", auth)
}

func ackOf(t *testing.T, s *client.Socket, event string, args ...any) map[string]any {
	t.Helper()
	res, err := s.EmitWithAck(ctxT(t), event, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := res[0].Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuthJWTFlags: with -jwt-key and -jwt-public-key, HS256 and RS256 tokens connect to the chat app
// with their user id (listed by /api/v1/sockets) and rooms; the chat app's join outside allowed_rooms is
// refused; a token signed otherwise, an expired one and none at all are connect errors.
func TestAuthJWTFlags(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemFile := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := []byte("node-secret-node-secret-node-sec")
	tn := serveNode(t, func(o *options) { o.auth.jwtKey = string(secret); o.auth.jwtPublicKey = pemFile })
	sign := func(m jwt.SigningMethod, k any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hour := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name, token, user string
	}{
		{"HS256", sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "ann", "exp": hour, "rooms": []string{"lobby"}, "allowed_rooms": []string{"ops"}}), "ann"},
		{"RS256", sign(jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": "ben", "exp": hour, "rooms": []string{"lobby"}, "allowed_rooms": []string{"ops"}}), "ben"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tn.dialToken(t, tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if got := ackOf(t, s, "leave", "elsewhere"); js(got) != `{"count":1,"ok":true,"rooms":["lobby"]}` {
				t.Errorf("rooms at connect: %v", got)
			}
			if got := ackOf(t, s, "join", "ops"); got["ok"] != true {
				t.Errorf("join(ops): %v", got)
			}
			if got := ackOf(t, s, "join", "secret"); got["ok"] != false || !strings.Contains(got["error"].(string), "room not allowed") {
				t.Errorf("join(secret): %v", got)
			}
			socks := tn.sockets(t, "/api/v1/sockets")
			i := slices.IndexFunc(socks, func(a apiSocket) bool { return a.ID == s.ID() })
			if i < 0 || socks[i].UserID != tc.user {
				t.Errorf("/api/v1/sockets = %+v, want %s with user_id %s", socks, s.ID(), tc.user)
			}
		})
	}
	for _, tc := range []struct{ name, token, code string }{
		{"missing", "", engine.AuthTokenMissing},
		{"expired", sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Hour).Unix()}), engine.AuthTokenExpired},
		{"bad signature", sign(jwt.SigningMethodHS256, []byte("wrong-wrong-wrong-wrong-wrong-wr"), jwt.MapClaims{"sub": "x"}), engine.AuthTokenInvalid},
		{"none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "x"}), engine.AuthTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tn.dialToken(t, tc.token)
			var ce *client.ConnectError
			if !errors.As(err, &ce) || string(ce.Data) != `{"code":"`+tc.code+`"}` {
				t.Errorf("got %v, want a connect error with code %s", err, tc.code)
			}
		})
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAuthFlagErrors: unreadable key files, bad keys and bad hook URLs stop the node at start.
func TestAuthFlagErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	for _, o := range []authOptions{
		{jwtPublicKey: filepath.Join(t.TempDir(), "missing.pem")},
		{jwtPublicKey: bad},
		{jwksFile: bad},
		{connectHook: "not a url"},
		{joinHook: "ftp://x/"},
		{authTimeout: -time.Second},
	} {
		if _, err := newNode(context.Background(), options{app: "none", auth: o}, nil); err == nil {
			t.Errorf("node started with %+v", o)
		}
	}
}

// TestAuthParseFlags: the auth and pprof flags, and their environment variables.
func TestAuthParseFlags(t *testing.T) {
	clearEnv(t)
	t.Setenv("ROOMIO_JWT_KEY", "envsecret")
	t.Setenv("ROOMIO_AUTH_TIMEOUT", "2s")
	t.Setenv("ROOMIO_PPROF", "127.0.0.1:6060")
	o, err := parseFlags([]string{"-jwt-public-key", "k.pem", "-jwks-file", "k.json", "-connect-hook", "http://b/c", "-join-hook", "http://b/j"})
	if err != nil {
		t.Fatal(err)
	}
	want := authOptions{jwtKey: "envsecret", jwtPublicKey: "k.pem", jwksFile: "k.json", connectHook: "http://b/c", joinHook: "http://b/j", authTimeout: 2 * time.Second}
	if o.auth != want || o.pprof != "127.0.0.1:6060" {
		t.Errorf("parseFlags = %+v pprof %q, want %+v", o.auth, o.pprof, want)
	}
	t.Setenv("ROOMIO_AUTH_TIMEOUT", "soon")
	if _, err := parseFlags(nil); err == nil {
		t.Error("ROOMIO_AUTH_TIMEOUT=soon accepted")
	}
}
