package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/auth"
)

// authOptions are the node's authentication flags (docs/operations.md, "Authentication").
type authOptions struct {
	jwtKey       string // HMAC secret
	jwtPublicKey string // PEM file
	jwksFile     string
	connectHook  string
	joinHook     string
	authTimeout  time.Duration
}

func (a *authOptions) register(fs *flag.FlagSet) error {
	fs.StringVar(&a.jwtKey, "jwt-key", envOr("ROOMIO_JWT_KEY", ""), "HMAC secret verifying HS256 tokens; prefer the env variable to keep it out of ps (env ROOMIO_JWT_KEY)")
	fs.StringVar(&a.jwtPublicKey, "jwt-public-key", envOr("ROOMIO_JWT_PUBLIC_KEY", ""), "PEM file of an RSA or EC public key verifying RS256/ES256 tokens (env ROOMIO_JWT_PUBLIC_KEY)")
	fs.StringVar(&a.jwksFile, "jwks-file", envOr("ROOMIO_JWKS_FILE", ""), "JSON Web Key Set file of RSA/EC public keys, chosen by the token's kid (env ROOMIO_JWKS_FILE)")
	fs.StringVar(&a.connectHook, "connect-hook", envOr("ROOMIO_CONNECT_HOOK", ""), "URL the node POSTs each connect's handshake to; its answer allows, refuses or sets user and rooms (env ROOMIO_CONNECT_HOOK)")
	fs.StringVar(&a.joinHook, "join-hook", envOr("ROOMIO_JOIN_HOOK", ""), "URL the node POSTs joins to that the socket's token does not allow (env ROOMIO_JOIN_HOOK)")
	d, err := time.ParseDuration(envOr("ROOMIO_AUTH_TIMEOUT", "0s"))
	if err != nil {
		return fmt.Errorf("ROOMIO_AUTH_TIMEOUT: %w", err)
	}
	fs.DurationVar(&a.authTimeout, "auth-timeout", d, "bound of one hook call; a slower hook refuses with auth_unavailable; 0: 5s (env ROOMIO_AUTH_TIMEOUT)")
	return nil
}

// config builds the engine's AuthConfig: a token is verified with the JWT keys, a connect without one
// goes to the connect hook (when both are set; either alone decides every connect). close releases the
// hooks' connections.
func (a authOptions) config() (cfg engine.AuthConfig, close func(), err error) {
	close = func() {}
	if a.authTimeout < 0 {
		return cfg, close, errors.New("-auth-timeout must not be negative")
	}
	cfg.Timeout = a.authTimeout
	var jo auth.JWTOptions
	jo.HMACSecret = []byte(a.jwtKey)
	if a.jwtPublicKey != "" {
		if jo.PublicKeyPEM, err = os.ReadFile(a.jwtPublicKey); err != nil {
			return cfg, close, fmt.Errorf("-jwt-public-key: %w", err)
		}
	}
	if a.jwksFile != "" {
		if jo.JWKS, err = os.ReadFile(a.jwksFile); err != nil {
			return cfg, close, fmt.Errorf("-jwks-file: %w", err)
		}
	}
	var verifier, hook engine.Authenticator
	if len(jo.HMACSecret) > 0 || len(jo.PublicKeyPEM) > 0 || len(jo.JWKS) > 0 {
		v, err := auth.NewJWT(jo)
		if err != nil {
			return cfg, close, err
		}
		verifier = v
	}
	var hooks []*auth.Hook
	close = func() {
		for _, h := range hooks {
			h.Close()
		}
	}
	if a.connectHook != "" {
		h, err := auth.NewConnectHook(auth.HookOptions{URL: a.connectHook})
		if err != nil {
			return cfg, close, fmt.Errorf("-connect-hook: %w", err)
		}
		hooks = append(hooks, h)
		hook = h
	}
	if a.joinHook != "" {
		h, err := auth.NewJoinHook(auth.HookOptions{URL: a.joinHook})
		if err != nil {
			return cfg, close, fmt.Errorf("-join-hook: %w", err)
		}
		hooks = append(hooks, h)
		cfg.JoinAuthorizer = h
	}
	switch {
	case verifier != nil && hook != nil:
		cfg.Authenticator = auth.ByToken(verifier, hook)
	case verifier != nil:
		cfg.Authenticator = verifier
	case hook != nil:
		cfg.Authenticator = hook
	}
	return cfg, close, nil
}
