package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomio/roomio/engine"
)

// Claims names: besides the registered ones (sub, exp, nbf, iss, aud), a token may carry these.
const (
	// ClaimAllowedRooms lists the rooms Socket.Join may add the socket to (an array of strings). Absent:
	// any room. Identity.AllowedRooms.
	ClaimAllowedRooms = "allowed_rooms"
	// ClaimRooms lists rooms the socket joins at connect, before it learns it is connected (Centrifugo's
	// "channels"; an array of strings). They are allowed rooms too. Identity.Rooms.
	ClaimRooms = "rooms"
)

// JWTOptions configures NewJWT. At least one key is required; each key admits only the algorithms of
// its type, so a token is never verified with a key of another kind (no "none", no HS256 signed with a
// public key used as the HMAC secret).
type JWTOptions struct {
	// HMACSecret verifies HS256, HS384 and HS512 tokens.
	HMACSecret []byte
	// PublicKeyPEM is an RSA or ECDSA public key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY", or a
	// certificate): an RSA key verifies RS256, RS384 and RS512; an EC key the ES algorithm of its curve
	// (P-256: ES256, P-384: ES384, P-521: ES512).
	PublicKeyPEM []byte
	// JWKS is a JSON Web Key Set (RFC 7517) of RSA and EC public keys, chosen by the token's "kid"
	// header (a token without kid is accepted when the set holds exactly one key). A key's "alg", when
	// present, is the only algorithm it verifies. Symmetric ("oct") and private keys are refused.
	JWKS []byte
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer, Audience string
	// Leeway tolerates clock skew on exp and nbf. Zero means none.
	Leeway time.Duration
	// RequireExpiry refuses tokens without exp. By default a token without exp never expires.
	RequireExpiry bool
}

// JWT verifies JSON Web Tokens with github.com/golang-jwt/jwt/v5. It implements engine.Authenticator:
// the token's sub is the socket's user id, ClaimAllowedRooms and ClaimRooms its rooms, exp its expiry.
// Safe for concurrent use.
type JWT struct {
	hmac    []byte
	keys    []jwtKey // PublicKeyPEM (kid "") and the JWKS
	methods []string
	opts    []jwt.ParserOption
}

type jwtKey struct {
	kid  string
	algs []string
	key  any
}

// NewJWT returns a verifier for opts, or an error for a key that does not parse.
func NewJWT(opts JWTOptions) (*JWT, error) {
	j := &JWT{}
	if len(opts.HMACSecret) > 0 {
		j.hmac = append([]byte(nil), opts.HMACSecret...)
		j.methods = append(j.methods, "HS256", "HS384", "HS512")
	}
	if len(opts.PublicKeyPEM) > 0 {
		k, err := parsePublicPEM(opts.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("auth: public key: %w", err)
		}
		j.keys = append(j.keys, k)
	}
	if len(opts.JWKS) > 0 {
		ks, err := parseJWKS(opts.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS: %w", err)
		}
		j.keys = append(j.keys, ks...)
	}
	for _, k := range j.keys {
		j.methods = append(j.methods, k.algs...)
	}
	if len(j.methods) == 0 {
		return nil, errors.New("auth: JWT needs an HMAC secret, a public key or a JWKS")
	}
	slices.Sort(j.methods)
	j.methods = slices.Compact(j.methods)
	j.opts = []jwt.ParserOption{jwt.WithValidMethods(j.methods), jwt.WithLeeway(opts.Leeway)}
	if opts.Issuer != "" {
		j.opts = append(j.opts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		j.opts = append(j.opts, jwt.WithAudience(opts.Audience))
	}
	if opts.RequireExpiry {
		j.opts = append(j.opts, jwt.WithExpirationRequired())
	}
	return j, nil
}

// claims are the claims roomio reads; a claim of the wrong type makes the token invalid.
type claims struct {
	jwt.RegisteredClaims
	AllowedRooms *[]string `json:"allowed_rooms"`
	Rooms        []string  `json:"rooms"`
}

// keyFor picks the key of a token's algorithm (and kid); the parser has already refused algorithms
// outside j.methods.
func (j *JWT) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if j.hmac != nil && (alg == "HS256" || alg == "HS384" || alg == "HS512") {
		return j.hmac, nil
	}
	kid, _ := t.Header["kid"].(string)
	// A kid picks the key of that kid; a kid-less key (PublicKeyPEM) serves tokens whose kid no key
	// has, and tokens without kid; a JWKS key serves a token without kid only when it is the one key.
	var bare, only []jwtKey
	for _, k := range j.keys {
		if !slices.Contains(k.algs, alg) {
			continue
		}
		if kid != "" && k.kid == kid {
			return k.key, nil
		}
		if k.kid == "" {
			bare = append(bare, k)
		}
		only = append(only, k)
	}
	if len(bare) > 0 {
		return bare[0].key, nil
	}
	if kid == "" && len(only) == 1 && len(j.keys) == 1 {
		return only[0].key, nil
	}
	return nil, fmt.Errorf("no key for algorithm %s and kid %q", alg, kid)
}

// Verify checks token and returns the identity it carries, or an *engine.AuthError (AuthTokenMissing,
// AuthTokenExpired, AuthTokenInvalid).
func (j *JWT) Verify(token string) (*engine.Identity, error) {
	if token == "" {
		return nil, &engine.AuthError{Code: engine.AuthTokenMissing, Message: "authentication required: no token"}
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, j.keyFor, j.opts...)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, &engine.AuthError{Code: engine.AuthTokenExpired, Message: "token expired"}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, &engine.AuthError{Code: engine.AuthTokenInvalid, Message: "invalid token: not valid yet"}
	case err != nil:
		return nil, &engine.AuthError{Code: engine.AuthTokenInvalid, Message: "invalid token: " + reason(err)}
	}
	id := &engine.Identity{UserID: c.Subject, Rooms: c.Rooms}
	if c.AllowedRooms != nil {
		id.AllowedRooms = append([]string{}, *c.AllowedRooms...)
	}
	if c.ExpiresAt != nil {
		id.ExpiresAt = c.ExpiresAt.Time
	}
	for _, r := range append(id.Rooms, id.AllowedRooms...) {
		if r == "" {
			return nil, &engine.AuthError{Code: engine.AuthTokenInvalid, Message: "invalid token: empty room name"}
		}
	}
	return id, nil
}

// reason is the part of a jwt error a client may see: which check failed, not the key material.
func reason(err error) string {
	// jwt reports a method outside WithValidMethods as "signing method X is invalid", a signature error.
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method") {
		return "algorithm not allowed"
	}
	for _, e := range []error{jwt.ErrTokenMalformed, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable,
		jwt.ErrTokenInvalidClaims, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenRequiredClaimMissing} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "unverifiable"
}

// Authenticate implements engine.Authenticator with the request's token.
func (j *JWT) Authenticate(_ context.Context, req *engine.AuthRequest) (*engine.Identity, error) {
	return j.Verify(req.Token)
}

func parsePublicPEM(b []byte) (jwtKey, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(b); err == nil {
		return rsaKey("", k)
	}
	k, err := jwt.ParseECPublicKeyFromPEM(b)
	if err != nil {
		return jwtKey{}, errors.New("not a PEM RSA or ECDSA public key")
	}
	return ecKey("", k)
}

func rsaKey(kid string, k *rsa.PublicKey) (jwtKey, error) {
	if k.N.BitLen() < 2048 {
		return jwtKey{}, fmt.Errorf("RSA key of %d bits: at least 2048 needed", k.N.BitLen())
	}
	return jwtKey{kid: kid, algs: []string{"RS256", "RS384", "RS512"}, key: k}, nil
}

func ecKey(kid string, k *ecdsa.PublicKey) (jwtKey, error) {
	switch k.Curve {
	case elliptic.P256():
		return jwtKey{kid: kid, algs: []string{"ES256"}, key: k}, nil
	case elliptic.P384():
		return jwtKey{kid: kid, algs: []string{"ES384"}, key: k}, nil
	case elliptic.P521():
		return jwtKey{kid: kid, algs: []string{"ES512"}, key: k}, nil
	}
	return jwtKey{}, errors.New("unsupported EC curve")
}

// jwk is the subset of RFC 7517/7518 public keys roomio reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

func parseJWKS(b []byte) ([]jwtKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no keys")
	}
	var out []jwtKey
	for i, w := range set.Keys {
		k, err := w.key()
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, w.Kid, err)
		}
		if k.kid == "" && len(set.Keys) > 1 {
			return nil, fmt.Errorf("key %d has no kid (a set of several keys needs them)", i)
		}
		out = append(out, k)
	}
	return out, nil
}

func (w jwk) key() (jwtKey, error) {
	if w.Use != "" && w.Use != "sig" {
		return jwtKey{}, fmt.Errorf("use %q is not sig", w.Use)
	}
	if w.D != "" {
		return jwtKey{}, errors.New("a private key: publish only public keys")
	}
	b64 := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("bad base64url %q", s)
		}
		return new(big.Int).SetBytes(b), nil
	}
	var k jwtKey
	var err error
	switch w.Kty {
	case "RSA":
		n, err1 := b64(w.N)
		e, err2 := b64(w.E)
		if err := errors.Join(err1, err2); err != nil {
			return jwtKey{}, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return jwtKey{}, errors.New("bad RSA exponent")
		}
		k, err = rsaKey(w.Kid, &rsa.PublicKey{N: n, E: int(e.Int64())})
	case "EC":
		var curve elliptic.Curve
		switch w.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return jwtKey{}, fmt.Errorf("unsupported curve %q", w.Crv)
		}
		x, err1 := b64(w.X)
		y, err2 := b64(w.Y)
		if err := errors.Join(err1, err2); err != nil {
			return jwtKey{}, err
		}
		pub := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
		if !curve.IsOnCurve(x, y) { //nolint:staticcheck // the point check is what matters here
			return jwtKey{}, errors.New("EC point not on its curve")
		}
		k, err = ecKey(w.Kid, pub)
	default:
		return jwtKey{}, fmt.Errorf("key type %q not supported (RSA or EC public keys only)", w.Kty)
	}
	if err != nil {
		return jwtKey{}, err
	}
	if w.Alg != "" {
		if !slices.Contains(k.algs, w.Alg) {
			return jwtKey{}, fmt.Errorf("alg %s does not fit a %s key", w.Alg, w.Kty)
		}
		k.algs = []string{w.Alg}
	}
	return k, nil
}
