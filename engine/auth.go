package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/wire"
)

// AuthConfig makes the engine authenticate every namespace connect and, optionally, authorize joins.
// Package engine/auth provides the implementations the node uses: JWT verification (HS256, RS256,
// ES256) and HTTP hooks an application's backend answers. docs/operations.md ("Authentication") has the
// wire view.
type AuthConfig struct {
	// Authenticator decides every namespace connect, before the namespace's middlewares run; a refusal
	// is a connect error and no socket exists. It also decides the RefreshEvent. Nil means no
	// authentication (the default): every connect reaches the middlewares, and sockets have no user id.
	Authenticator Authenticator
	// JoinAuthorizer, when set, is asked by Socket.Join for the rooms the socket's Identity does not
	// already allow (its Rooms, and its AllowedRooms when it lists some; see Identity). Nil means
	// Identity alone decides.
	JoinAuthorizer JoinAuthorizer
	// Timeout bounds one call of the Authenticator or the JoinAuthorizer: a call still running then is
	// refused with AuthUnavailable. Zero means 5s.
	Timeout time.Duration
}

// RefreshEvent is the event a client emits to present a new token for a connected socket when
// Config.Auth.Authenticator is set: one argument, the token as a string or {"token": "…"}. The engine
// handles it (the application's handlers never see it): the Authenticator is asked with
// AuthRequest.Refresh set, and on success the socket's expiry moves to the new Identity's ExpiresAt. Its
// ack is {"ok":true,"expires_at":UNIX_SECONDS} (0: no expiry) or {"ok":false,"code":CODE,"message":…};
// without an ack a refusal is an error message (native code 6). A refused refresh leaves the socket as
// it was, so it is still disconnected at its old expiry. The new token must name the same user.
const RefreshEvent = "roomio:refresh"

// DisconnectTokenExpired is the code of the native protocol's disconnect message sent to a socket whose
// token expired without a refresh (reason "token expired"); a Socket.IO client sees a server
// disconnect ("io server disconnect"). The socket's OnDisconnect handlers get the reason "token
// expired".
const DisconnectTokenExpired = 4401

// ReasonTokenExpired is the disconnect reason of a socket whose token expired without a refresh.
const ReasonTokenExpired = "token expired"

// Authenticator decides whether a connecting socket may connect, and who it is. Authenticate runs on the
// connecting socket's goroutine and may block (an HTTP call) up to AuthConfig.Timeout; ctx ends then or
// when the connection goes away. It returns the socket's Identity, or an error refusing the connect: an
// *AuthError is sent to the client as it is; any other error is logged and sent as AuthForbidden with
// the message "unauthorized" (its text is not shown to the client). Implementations must be safe for
// concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, req *AuthRequest) (*Identity, error)
}

// AuthRequest is what an Authenticator decides on.
type AuthRequest struct {
	// Namespace is the namespace being connected.
	Namespace string
	// Transport is "native" (the native protocol's WebSocket), or Engine.IO's "polling" or "websocket".
	Transport string
	// Handshake is the connection's opening request and the connect's auth payload.
	Handshake Handshake
	// Token is the token the client presented: the auth payload's "token" string (Socket.IO's
	// auth.token, the native connect's auth {"token":…}), else an "Authorization: Bearer" header on the
	// opening request; "" when none. Tokens in the URL's query are not looked at (URLs end up in logs).
	Token string
	// Refresh is set for a RefreshEvent of a connected socket; UserID is then that socket's user id.
	Refresh bool
	UserID  string
}

// Identity is who an Authenticator says a socket is, and what it may do.
type Identity struct {
	// UserID is the socket's user (Socket.UserID); "" for an anonymous socket.
	UserID string
	// AllowedRooms, when not nil, are the only rooms Socket.Join may add the socket to (besides Rooms);
	// others are refused with ErrRoomNotAllowed, unless a JoinAuthorizer allows them. Nil allows any room.
	// An empty non-nil list allows no room but Rooms.
	AllowedRooms []string
	// Rooms are joined before the client learns it is connected (Centrifugo's "channels").
	Rooms []string
	// ExpiresAt disconnects the socket when reached (reason ReasonTokenExpired) unless a RefreshEvent
	// moved it. Zero means never.
	ExpiresAt time.Time
}

// JoinAuthorizer decides Socket.Join for rooms the socket's Identity does not allow by itself. It runs
// on the caller of Join and may block up to AuthConfig.Timeout. A nil error allows every room of the
// request; an *AuthError refuses them with its message; any other error refuses them as
// AuthUnavailable. Implementations must be safe for concurrent use.
type JoinAuthorizer interface {
	AuthorizeJoin(ctx context.Context, req *JoinRequest) error
}

// JoinRequest is what a JoinAuthorizer decides on.
type JoinRequest struct {
	Namespace string
	SocketID  string
	UserID    string
	Rooms     []string
	Handshake Handshake
}

// Codes of AuthError, sent to the client as the connect error's data {"code": CODE}.
const (
	AuthTokenMissing = "token_missing" // no token presented
	AuthTokenInvalid = "token_invalid" // malformed, bad signature, algorithm not allowed for the key, claims of the wrong type
	AuthTokenExpired = "token_expired" // exp is past (or nbf is in the future)
	AuthForbidden    = "forbidden"     // a hook refused, or the token names another user on refresh
	AuthUnavailable  = "auth_unavailable"
)

// AuthError refuses a connect, a refresh or a join. The client gets a connect error whose message is
// Message and whose data is {"code": Code} (one of the Auth* codes).
type AuthError struct {
	Code    string
	Message string
}

func (e *AuthError) Error() string { return "engine: " + e.Code + ": " + e.Message }

// ErrRoomNotAllowed is returned (wrapped, with the room and the reason) by Socket.Join for a room the
// socket's identity does not allow and no JoinAuthorizer allowed.
var ErrRoomNotAllowed = errors.New("engine: room not allowed")

const defaultAuthTimeout = 5 * time.Second

// identity is a socket's authenticated state, guarded by Socket.mu.
type identity struct {
	userID  string
	allowed map[string]bool // nil: any room
	expires time.Time
	timer   *time.Timer
}

// transportName names the connection's transport for AuthRequest.Transport.
func (s *session) transportName() string {
	if t, ok := s.conn.(interface{ Transport() string }); ok {
		return t.Transport()
	}
	return "native"
}

// presentedToken finds the token of a connect: the auth payload's "token", else a Bearer header.
func presentedToken(hs Handshake) string {
	if len(hs.Auth) > 0 {
		var a struct {
			Token any `json:"token"`
		}
		if json.Unmarshal(hs.Auth, &a) == nil {
			if t, ok := a.Token.(string); ok && t != "" {
				return t
			}
		}
	}
	if hs.Headers != nil {
		scheme, tok, ok := strings.Cut(hs.Headers.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

func (e *Engine) authTimeout() time.Duration {
	if d := e.cfg.Auth.Timeout; d > 0 {
		return d
	}
	return defaultAuthTimeout
}

// authError turns what an Authenticator or JoinAuthorizer returned into the AuthError the client sees.
func (s *Socket) authError(what string, err error, ctx context.Context) *AuthError {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae
	}
	s.ns.e.log.Warn(what+" failed", "namespace", s.ns.name, "socket", s.id, "err", err)
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &AuthError{Code: AuthUnavailable, Message: "authentication timed out"}
	}
	return &AuthError{Code: AuthForbidden, Message: "unauthorized"}
}

// authenticate runs the Authenticator for a connecting socket. It returns the rooms to join at connect,
// or the error to refuse the connect with.
func (s *Socket) authenticate() ([]string, *AuthError) {
	e := s.ns.e
	a := e.cfg.Auth.Authenticator
	if a == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(s.Context(), e.authTimeout())
	defer cancel()
	var id *Identity
	var err error
	s.safely("authenticator", func() {
		id, err = a.Authenticate(ctx, &AuthRequest{
			Namespace: s.ns.name, Transport: s.sess.transportName(), Handshake: s.Handshake(), Token: presentedToken(s.Handshake()),
		})
	})
	if err == nil && id == nil {
		err = errors.New("authenticator returned no identity")
	}
	if err != nil {
		return nil, s.authError("authentication", err, ctx)
	}
	if !id.ExpiresAt.IsZero() && !time.Now().Before(id.ExpiresAt) {
		return nil, &AuthError{Code: AuthTokenExpired, Message: "token expired"}
	}
	if err := validRooms(id.Rooms); err != nil {
		return nil, s.authError("authentication", err, ctx)
	}
	s.mu.Lock()
	s.ident.userID = id.UserID
	if id.AllowedRooms != nil {
		s.ident.allowed = make(map[string]bool, len(id.AllowedRooms)+len(id.Rooms))
		for _, r := range id.AllowedRooms {
			s.ident.allowed[r] = true
		}
		for _, r := range id.Rooms {
			s.ident.allowed[r] = true
		}
	}
	s.ident.expires = id.ExpiresAt
	s.mu.Unlock()
	return id.Rooms, nil
}

// refuse answers a connect with a connect error and forgets the connecting socket. The socket leaves its
// session before the error is sent: a client may connect the namespace again as soon as it reads it, and
// that connect must not find this socket still registered ("already connected").
func (s *Socket) refuse(why connectRefusal, msg string, data []byte) {
	s.ns.e.ctr.connectErrors[why].Add(1)
	s.state.Store(sockDisconnected)
	s.ctx.end()
	s.sess.remove(s)
	s.sess.conn.Send(&packet.Packet{Kind: packet.KindConnectError, Namespace: s.ns.name, Message: msg, Data: data})
}

func (ae *AuthError) connectData() []byte {
	b, _ := json.Marshal(map[string]string{"code": ae.Code})
	return b
}

// armExpiry starts the socket's expiry timer, if its identity expires. Called once the socket is
// connected.
func (s *Socket) armExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ident.expires.IsZero() && s.state.Load() == sockConnected {
		s.ident.timer = time.AfterFunc(time.Until(s.ident.expires), s.expire)
	}
}

// expire disconnects the socket when its token's expiry has passed; a refresh that moved the expiry
// re-arms the timer instead.
func (s *Socket) expire() {
	s.mu.Lock()
	if s.state.Load() != sockConnected {
		s.mu.Unlock()
		return
	}
	if s.ident.expires.IsZero() {
		s.mu.Unlock()
		return
	}
	if left := time.Until(s.ident.expires); left > 0 {
		s.ident.timer = time.AfterFunc(left, s.expire)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.sess.conn.Send(&packet.Packet{Kind: packet.KindDisconnect, Namespace: s.ns.name, Code: DisconnectTokenExpired, Message: ReasonTokenExpired})
	s.teardown(ReasonTokenExpired)
}

// stopExpiry stops the expiry timer; s.mu is held.
func (s *Socket) stopExpiryLocked() {
	if s.ident.timer != nil {
		s.ident.timer.Stop()
		s.ident.timer = nil
	}
}

// refresh handles a RefreshEvent, on the socket's goroutine.
func (s *Socket) refresh(p *packet.Packet) {
	e := s.ns.e
	answer := func(ok bool, ae *AuthError, exp time.Time) {
		if p.AckID == 0 {
			if !ok {
				s.send(&packet.Packet{Kind: packet.KindError, Namespace: s.ns.name, Code: wire.ErrCodeRejected, Message: ae.Code + ": " + ae.Message})
			}
			return
		}
		var body any
		if ok {
			var unix int64
			if !exp.IsZero() {
				unix = exp.Unix()
			}
			body = map[string]any{"ok": true, "expires_at": unix}
		} else {
			body = map[string]any{"ok": false, "code": ae.Code, "message": ae.Message}
		}
		a, _ := toArgs([]any{body})
		s.send(&packet.Packet{Kind: packet.KindAck, Namespace: s.ns.name, AckID: p.AckID, Args: a})
	}
	if s.state.Load() != sockConnected {
		return
	}
	var token string
	if len(p.Args) > 0 && !p.Args[0].Binary {
		var v any
		if json.Unmarshal(p.Args[0].Data, &v) == nil {
			switch t := v.(type) {
			case string:
				token = t
			case map[string]any:
				token, _ = t["token"].(string)
			}
		}
	}
	if token == "" {
		answer(false, &AuthError{Code: AuthTokenMissing, Message: "no token in " + RefreshEvent}, time.Time{})
		return
	}
	s.mu.Lock()
	user := s.ident.userID
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.Context(), e.authTimeout())
	defer cancel()
	var id *Identity
	var err error
	s.safely("authenticator", func() {
		id, err = e.cfg.Auth.Authenticator.Authenticate(ctx, &AuthRequest{
			Namespace: s.ns.name, Transport: s.sess.transportName(), Handshake: s.Handshake(), Token: token, Refresh: true, UserID: user,
		})
	})
	if err == nil && id == nil {
		err = errors.New("authenticator returned no identity")
	}
	if err != nil {
		answer(false, s.authError("refresh", err, ctx), time.Time{})
		return
	}
	if id.UserID != user {
		answer(false, &AuthError{Code: AuthForbidden, Message: "the new token names another user"}, time.Time{})
		return
	}
	if !id.ExpiresAt.IsZero() && !time.Now().Before(id.ExpiresAt) {
		answer(false, &AuthError{Code: AuthTokenExpired, Message: "token expired"}, time.Time{})
		return
	}
	s.mu.Lock()
	s.ident.expires = id.ExpiresAt
	s.stopExpiryLocked()
	s.mu.Unlock()
	s.armExpiry()
	answer(true, nil, id.ExpiresAt)
}

// UserID returns the socket's user id, as its Authenticator set it; "" without authentication or for an
// anonymous socket.
func (s *Socket) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ident.userID
}

// ExpiresAt returns when the socket's token expires (it is disconnected then unless it refreshes); zero
// when it does not.
func (s *Socket) ExpiresAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ident.expires
}

// authorizeJoin checks rooms against the socket's identity and, for the rooms it does not allow, the
// JoinAuthorizer. The error wraps ErrRoomNotAllowed.
func (s *Socket) authorizeJoin(ctx context.Context, rooms []string) error {
	e := s.ns.e
	s.mu.Lock()
	allowed, user := s.ident.allowed, s.ident.userID
	s.mu.Unlock()
	ja := e.cfg.Auth.JoinAuthorizer
	var ask []string
	for _, r := range rooms {
		if r == s.id || (allowed != nil && allowed[r]) {
			continue
		}
		if allowed == nil && ja == nil {
			continue
		}
		if ja == nil {
			return fmt.Errorf("%w: %q is not in the socket's allowed rooms", ErrRoomNotAllowed, r)
		}
		ask = append(ask, r)
	}
	if len(ask) == 0 {
		return nil
	}
	slices.Sort(ask)
	ask = slices.Compact(ask)
	cctx, cancel := context.WithTimeout(ctx, e.authTimeout())
	defer cancel()
	var err error
	s.safely("join authorizer", func() {
		err = ja.AuthorizeJoin(cctx, &JoinRequest{Namespace: s.ns.name, SocketID: s.id, UserID: user, Rooms: ask, Handshake: s.Handshake()})
	})
	if err != nil {
		var ae *AuthError
		if !errors.As(err, &ae) {
			e.log.Warn("join authorization failed", "namespace", s.ns.name, "socket", s.id, "err", err)
			ae = &AuthError{Code: AuthUnavailable, Message: "join authorization unavailable"}
		}
		return fmt.Errorf("%w: %q: %s", ErrRoomNotAllowed, ask[0], ae.Message)
	}
	return nil
}
