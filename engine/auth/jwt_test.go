package auth_test

import (
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/auth"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksOf publishes the test's RSA and EC public keys as a JWKS, kids "r1" and "e1".
func jwksOf(k keys) []byte {
	pad := func(b *big.Int) []byte { out := make([]byte, 32); return b.FillBytes(out) }
	return []byte(`{"keys":[` +
		`{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":"` + b64(k.rsa.N.Bytes()) + `","e":"` + b64(big.NewInt(int64(k.rsa.E)).Bytes()) + `"},` +
		`{"kty":"EC","kid":"e1","crv":"P-256","x":"` + b64(pad(k.ec.X)) + `","y":"` + b64(pad(k.ec.Y)) + `"}]}`)
}

func jwtNode(t *testing.T, k keys) *node {
	t.Helper()
	v, err := auth.NewJWT(auth.JWTOptions{HMACSecret: k.hmac, PublicKeyPEM: k.rsaPEM, JWKS: jwksOf(k)})
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, engine.AuthConfig{Authenticator: v})
}

// TestJWTValidTokensConnect: HS256, RS256 (PEM and JWKS) and ES256 (JWKS) tokens connect with their
// user id; the rooms claim is joined before the client learns it is connected; allowed_rooms limits
// Socket.Join; the token may come in the auth payload or an Authorization header.
func TestJWTValidTokensConnect(t *testing.T) {
	k := newKeys(t)
	n := jwtNode(t, k)
	exp := time.Now().Add(time.Hour).Unix()
	claims := func(sub string) jwt.MapClaims {
		return jwt.MapClaims{"sub": sub, "exp": exp, "rooms": []string{"news"}, "allowed_rooms": []string{"chat"}}
	}
	cases := []struct {
		name   string
		token  string
		header bool
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, k.hmac, claims("alice"), nil), false},
		{"RS256 PEM", sign(t, jwt.SigningMethodRS256, k.rsa, claims("bob"), nil), false},
		{"RS256 JWKS kid", sign(t, jwt.SigningMethodRS256, k.rsa, claims("carol"), map[string]any{"kid": "r1"}), false},
		{"ES256 JWKS", sign(t, jwt.SigningMethodES256, k.ec, claims("dave"), map[string]any{"kid": "e1"}), false},
		{"HS256 Bearer header", sign(t, jwt.SigningMethodHS256, k.hmac, claims("erin"), nil), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var authPayload any = map[string]string{"token": tc.token}
			var h http.Header
			if tc.header {
				authPayload, h = nil, http.Header{"Authorization": {"Bearer " + tc.token}}
			}
			s, err := n.dial(t, authPayload, h)
			if err != nil {
				t.Fatal(err)
			}
			who := call(t, s, "whoami")
			if js(who["rooms"]) != `["news"]` || who["user"] == "" {
				t.Errorf("whoami = %v, want the token's user and rooms [news]", who)
			}
			if got := call(t, s, "join", "chat"); got["ok"] != true {
				t.Errorf("join(chat), allowed: %v", got)
			}
			if got := call(t, s, "join", "secret"); got["ok"] != false || got["not_allowed"] != true {
				t.Errorf("join(secret), not allowed: %v", got)
			}
		})
	}
}

// TestJWTRefusedTokens: expired, bad signature, wrong algorithms and a missing token are connect
// errors with their documented code, and no socket exists.
func TestJWTRefusedTokens(t *testing.T) {
	k := newKeys(t)
	n := jwtNode(t, k)
	valid := jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}
	other := []byte("another-secret-another-secret-xx")
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid, nil)
	cases := []struct {
		name, token, code, msg string
	}{
		{"missing", "", engine.AuthTokenMissing, "authentication required: no token"},
		{"expired", sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Minute).Unix()}, nil), engine.AuthTokenExpired, "token expired"},
		{"bad signature", sign(t, jwt.SigningMethodHS256, other, valid, nil), engine.AuthTokenInvalid, "invalid token: token signature is invalid"},
		{"alg none", noneTok, engine.AuthTokenInvalid, "invalid token: algorithm not allowed"},
		// The classic confusion: the RSA public key (which is public) used as an HMAC secret.
		{"HS256 signed with the public key", sign(t, jwt.SigningMethodHS256, k.rsaPEM, valid, nil), engine.AuthTokenInvalid, "invalid token: token signature is invalid"},
		{"garbage", "not.a.token", engine.AuthTokenInvalid, ""},
		{"rooms of the wrong type", sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": "x", "rooms": "lobby"}, nil), engine.AuthTokenInvalid, ""},
		{"unknown kid", sign(t, jwt.SigningMethodES256, k.ec, valid, map[string]any{"kid": "nope"}), engine.AuthTokenInvalid, ""},
		{"ES256 without kid (the JWKS has several keys)", sign(t, jwt.SigningMethodES256, k.ec, valid, nil), engine.AuthTokenInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a any
			if tc.token != "" {
				a = map[string]string{"token": tc.token}
			}
			_, err := n.dial(t, a, nil)
			refusal(t, err, tc.code, tc.msg)
		})
	}
	if st := n.e.Stats(); st.Sockets != 0 {
		t.Errorf("%d sockets exist after refusals", st.Sockets)
	}
}

// TestJWTKeyOnlyAdmitsItsAlgorithms: with only a public key configured, an HS256 token signed with that
// key's PEM is refused, and with only a secret an RS256 token is refused.
func TestJWTKeyOnlyAdmitsItsAlgorithms(t *testing.T) {
	k := newKeys(t)
	pub, err := auth.NewJWT(auth.JWTOptions{PublicKeyPEM: k.rsaPEM})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "x"}
	if _, err := pub.Verify(sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims, nil)); !isCode(err, engine.AuthTokenInvalid) {
		t.Errorf("HS256 with the public key as secret: %v", err)
	}
	if id, err := pub.Verify(sign(t, jwt.SigningMethodRS256, k.rsa, claims, nil)); err != nil || id.UserID != "x" {
		t.Errorf("RS256: %v %v", id, err)
	}
	sec, err := auth.NewJWT(auth.JWTOptions{HMACSecret: k.hmac})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sec.Verify(sign(t, jwt.SigningMethodRS256, k.rsa, claims, nil)); !isCode(err, engine.AuthTokenInvalid) {
		t.Errorf("RS256 with only a secret: %v", err)
	}
	ec, err := auth.NewJWT(auth.JWTOptions{PublicKeyPEM: k.ecPEM})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := ec.Verify(sign(t, jwt.SigningMethodES256, k.ec, claims, nil)); err != nil || id.UserID != "x" {
		t.Errorf("ES256 with an EC PEM: %v %v", id, err)
	}
	for _, bad := range []auth.JWTOptions{{}, {PublicKeyPEM: []byte("nope")}, {JWKS: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)}} {
		if _, err := auth.NewJWT(bad); err == nil {
			t.Errorf("NewJWT(%+v) accepted", bad)
		}
	}
}

func isCode(err error, code string) bool {
	var ae *engine.AuthError
	return errors.As(err, &ae) && ae.Code == code
}

// TestTokenExpiryDisconnects: a socket whose token expires is disconnected (native disconnect code
// 4401, reason "token expired"); a socket that refreshed before its expiry stays.
func TestTokenExpiryDisconnects(t *testing.T) {
	k := newKeys(t)
	n := jwtNode(t, k)
	// exp has a resolution of one second: the refreshed socket's old expiry is a second before the other's.
	base := time.Now().Truncate(time.Second).Add(2 * time.Second)
	tok := func(sub string, exp time.Time) string {
		return sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": sub, "exp": exp.Unix()}, nil)
	}
	refreshed, err := n.dial(t, map[string]string{"token": tok("r", base)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := n.dial(t, map[string]string{"token": tok("x", base.Add(time.Second))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A refresh naming another user, an expired one and a garbage one are refused and change nothing.
	for _, bad := range []struct{ tok, code string }{
		{tok("someone-else", base.Add(time.Hour)), engine.AuthForbidden},
		{tok("r", time.Now().Add(-time.Hour)), engine.AuthTokenExpired},
		{"garbage", engine.AuthTokenInvalid},
	} {
		if got := call(t, refreshed, engine.RefreshEvent, bad.tok); got["ok"] != false || got["code"] != bad.code {
			t.Errorf("bad refresh: %v, want code %s", got, bad.code)
		}
	}
	later := base.Add(time.Hour)
	if got := call(t, refreshed, engine.RefreshEvent, map[string]string{"token": tok("r", later)}); got["ok"] != true || got["expires_at"] != float64(later.Unix()) {
		t.Fatalf("refresh: %v", got)
	}
	select {
	case <-expiring.Done():
	case <-time.After(waitFor):
		t.Fatal("the expiring socket was not disconnected")
	}
	var de *client.DisconnectError
	if err := expiring.Err(); !errors.As(err, &de) || de.Code != engine.DisconnectTokenExpired || de.Reason != engine.ReasonTokenExpired {
		t.Errorf("expired socket ended with %v, want a disconnect %d %q", err, engine.DisconnectTokenExpired, engine.ReasonTokenExpired)
	}
	if r := <-n.disc; r != engine.ReasonTokenExpired {
		t.Errorf("server-side disconnect reason %q", r)
	}
	// The refreshed socket's old expiry (a second earlier) has passed: it is still there.
	if who := call(t, refreshed, "whoami"); who["user"] != "r" {
		t.Errorf("refreshed socket: %v", who)
	}
}
