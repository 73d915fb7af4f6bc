package auth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomio/roomio/engine/auth"
)

// BenchmarkVerify is the cost a token adds to one connect, by algorithm.
func BenchmarkVerify(b *testing.B) {
	t := &testing.T{}
	k := newKeys(t)
	v, err := auth.NewJWT(auth.JWTOptions{HMACSecret: k.hmac, PublicKeyPEM: k.rsaPEM, JWKS: jwksOf(k)})
	if err != nil {
		b.Fatal(err)
	}
	c := jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix(), "rooms": []string{"a"}}
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, k.hmac, c, nil)},
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, c, nil)},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, c, map[string]any{"kid": "e1"})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
