// Package auth authenticates a roomio engine's sockets: JSON Web Tokens verified with
// github.com/golang-jwt/jwt/v5, and HTTP hooks an application's backend answers (Centrifugo's proxy).
// Its types plug into engine.Config.Auth.
//
// # Entry points
//
//	v, err := auth.NewJWT(auth.JWTOptions{HMACSecret: key})          // or PublicKeyPEM, JWKS
//	hook, err := auth.NewConnectHook(auth.HookOptions{URL: "http://backend/roomio/connect"})
//	join, err := auth.NewJoinHook(auth.HookOptions{URL: "http://backend/roomio/join"})
//	e, err := engine.New(engine.Config{Auth: engine.AuthConfig{
//		Authenticator:  auth.ByToken(v, hook), // a token goes to v, no token to the hook
//		JoinAuthorizer: join,
//	}})
//
// A token's sub is the socket's user id (Socket.UserID), its allowed_rooms claim the rooms Socket.Join
// may add it to (absent: any), its rooms claim the rooms it joins at connect, its exp the moment it is
// disconnected unless the client refreshed (engine.RefreshEvent). Each key admits only the algorithms
// of its type: an HMAC secret HS256/384/512, an RSA key RS256/384/512, an EC key the ES algorithm of its
// curve; "none", and a token signed with HS256 using a public key as the secret, are refused.
// docs/operations.md ("Authentication") describes the node's flags, the claims and the hooks' JSON.
//
// # Concurrency
//
// JWT and Hook are safe for concurrent use; they hold no per-socket state. A Hook's calls are bounded by
// the context the engine gives them (engine.AuthConfig.Timeout).
//
// # Imports
//
// auth imports engine (for its Identity, AuthRequest and AuthError types) and nothing else of roomio;
// engine does not import auth.
package auth
