package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/roomio/roomio/engine"
)

// DefaultHookHeaders are the opening request's headers a hook receives when HookOptions.Headers is nil.
var DefaultHookHeaders = []string{"Authorization", "Cookie", "Origin", "User-Agent", "X-Forwarded-For", "X-Real-Ip"}

// maxHookAnswer bounds a hook's answer body.
const maxHookAnswer = 64 << 10

// HookOptions configures NewConnectHook and NewJoinHook.
type HookOptions struct {
	// URL receives the POSTs (http or https).
	URL string
	// Headers lists the opening request's headers passed on (canonical names). Nil means
	// DefaultHookHeaders; an empty list passes none.
	Headers []string
	// Client sends the requests. Nil means a client of its own (keep-alive connections, no redirects);
	// Close releases its idle connections. The engine's AuthConfig.Timeout bounds every call.
	Client *http.Client
}

// Hook calls an application's backend over HTTP (Centrifugo's proxy): NewConnectHook makes it an
// engine.Authenticator, NewJoinHook an engine.JoinAuthorizer. docs/operations.md has the JSON both ways.
// A backend that does not answer 200 with a valid answer within the engine's auth timeout (connection
// refused, 5xx, bad JSON, too slow) refuses the connect or join with engine.AuthUnavailable. Safe for
// concurrent use.
type Hook struct {
	url     string
	headers []string
	client  *http.Client
	own     bool
}

func newHook(o HookOptions) (*Hook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: hook URL %q: want http(s)://host/path", o.URL)
	}
	h := &Hook{url: o.URL, headers: o.Headers, client: o.Client}
	if h.headers == nil {
		h.headers = DefaultHookHeaders
	}
	if h.client == nil {
		h.own = true
		h.client = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A hook answers itself; a redirect is a misconfiguration, not something to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return h, nil
}

// NewConnectHook returns a Hook whose Authenticate POSTs a ConnectHookRequest to o.URL.
func NewConnectHook(o HookOptions) (*Hook, error) { return newHook(o) }

// NewJoinHook returns a Hook whose AuthorizeJoin POSTs a JoinHookRequest to o.URL.
func NewJoinHook(o HookOptions) (*Hook, error) { return newHook(o) }

// Close releases the idle connections of the hook's own client.
func (h *Hook) Close() {
	if h.own {
		h.client.CloseIdleConnections()
	}
}

// ConnectHookRequest is the JSON body a connect hook receives.
type ConnectHookRequest struct {
	Namespace  string              `json:"namespace"`
	Transport  string              `json:"transport"` // "native", "polling" or "websocket"
	RemoteAddr string              `json:"remote_addr"`
	URL        string              `json:"url"`
	Query      map[string][]string `json:"query"`
	Headers    map[string][]string `json:"headers"` // the subset HookOptions.Headers names
	Auth       json.RawMessage     `json:"auth,omitempty"`
	Token      string              `json:"token,omitempty"`
	// Refresh and UserID are set for a refresh (engine.RefreshEvent) of a connected socket.
	Refresh bool   `json:"refresh,omitempty"`
	UserID  string `json:"user_id,omitempty"`
}

// ConnectHookAnswer is the JSON a connect hook answers with (status 200).
type ConnectHookAnswer struct {
	// Allow must be true to let the socket connect.
	Allow bool `json:"allow"`
	// Message (and Code, default "forbidden") are the connect error the client gets when Allow is false.
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
	// UserID, AllowedRooms (null or absent: any room), Rooms (joined at connect) and ExpiresAt (unix
	// seconds; 0: never) are the socket's identity (engine.Identity).
	UserID       string    `json:"user_id,omitempty"`
	AllowedRooms *[]string `json:"allowed_rooms,omitempty"`
	Rooms        []string  `json:"rooms,omitempty"`
	ExpiresAt    int64     `json:"expires_at,omitempty"`
}

// JoinHookRequest is the JSON body a join hook receives.
type JoinHookRequest struct {
	Namespace  string              `json:"namespace"`
	SocketID   string              `json:"socket_id"`
	UserID     string              `json:"user_id"`
	Rooms      []string            `json:"rooms"`
	RemoteAddr string              `json:"remote_addr"`
	Headers    map[string][]string `json:"headers"`
	Auth       json.RawMessage     `json:"auth,omitempty"`
}

// JoinHookAnswer is the JSON a join hook answers with (status 200): Allow true allows every room of the
// request; otherwise Message says why.
type JoinHookAnswer struct {
	Allow   bool   `json:"allow"`
	Message string `json:"message,omitempty"`
}

func (h *Hook) headerSubset(hd http.Header) map[string][]string {
	out := map[string][]string{}
	for _, k := range h.headers {
		if v := hd.Values(k); len(v) > 0 {
			out[http.CanonicalHeaderKey(k)] = v
		}
	}
	return out
}

// post sends body and decodes the answer into out; any failure is an AuthUnavailable error.
func (h *Hook) post(ctx context.Context, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxHookAnswer))
		return &engine.AuthError{Code: engine.AuthUnavailable, Message: fmt.Sprintf("auth hook answered %d", resp.StatusCode)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHookAnswer+1))
	if err != nil {
		return unavailable(ctx, err)
	}
	if len(data) > maxHookAnswer {
		return &engine.AuthError{Code: engine.AuthUnavailable, Message: "auth hook answer too large"}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &engine.AuthError{Code: engine.AuthUnavailable, Message: "auth hook answer is not valid JSON"}
	}
	return nil
}

func unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &engine.AuthError{Code: engine.AuthUnavailable, Message: "auth hook timed out"}
	}
	return &engine.AuthError{Code: engine.AuthUnavailable, Message: "auth hook unreachable"}
}

// Authenticate implements engine.Authenticator.
func (h *Hook) Authenticate(ctx context.Context, req *engine.AuthRequest) (*engine.Identity, error) {
	hs := req.Handshake
	body := ConnectHookRequest{
		Namespace: req.Namespace, Transport: req.Transport, RemoteAddr: hs.RemoteAddr, URL: hs.URL,
		Query: hs.Query, Headers: h.headerSubset(hs.Headers), Token: req.Token, Refresh: req.Refresh, UserID: req.UserID,
	}
	if body.Query == nil {
		body.Query = map[string][]string{}
	}
	if json.Valid(hs.Auth) {
		body.Auth = hs.Auth
	}
	var a ConnectHookAnswer
	if err := h.post(ctx, body, &a); err != nil {
		return nil, err
	}
	if !a.Allow {
		code, msg := a.Code, a.Message
		if code == "" {
			code = engine.AuthForbidden
		}
		if msg == "" {
			msg = "forbidden"
		}
		return nil, &engine.AuthError{Code: code, Message: msg}
	}
	id := &engine.Identity{UserID: a.UserID, Rooms: a.Rooms}
	if a.AllowedRooms != nil {
		id.AllowedRooms = append([]string{}, *a.AllowedRooms...)
	}
	if a.ExpiresAt > 0 {
		id.ExpiresAt = time.Unix(a.ExpiresAt, 0)
	}
	return id, nil
}

// AuthorizeJoin implements engine.JoinAuthorizer.
func (h *Hook) AuthorizeJoin(ctx context.Context, req *engine.JoinRequest) error {
	body := JoinHookRequest{
		Namespace: req.Namespace, SocketID: req.SocketID, UserID: req.UserID, Rooms: req.Rooms,
		RemoteAddr: req.Handshake.RemoteAddr, Headers: h.headerSubset(req.Handshake.Headers),
	}
	if json.Valid(req.Handshake.Auth) {
		body.Auth = req.Handshake.Auth
	}
	var a JoinHookAnswer
	if err := h.post(ctx, body, &a); err != nil {
		return err
	}
	if !a.Allow {
		msg := a.Message
		if msg == "" {
			msg = "forbidden"
		}
		return &engine.AuthError{Code: engine.AuthForbidden, Message: msg}
	}
	return nil
}

// ByToken returns an Authenticator that asks withToken when the client presented a token and
// withoutToken otherwise (Centrifugo's behaviour with both a token key and a connect proxy). Either may
// be nil: a request for it is refused with engine.AuthTokenMissing (no token) or AuthTokenInvalid.
func ByToken(withToken, withoutToken engine.Authenticator) engine.Authenticator {
	return byToken{withToken, withoutToken}
}

type byToken struct{ with, without engine.Authenticator }

func (b byToken) Authenticate(ctx context.Context, req *engine.AuthRequest) (*engine.Identity, error) {
	if req.Token != "" {
		if b.with == nil {
			return nil, &engine.AuthError{Code: engine.AuthTokenInvalid, Message: "tokens are not accepted"}
		}
		return b.with.Authenticate(ctx, req)
	}
	if b.without == nil {
		return nil, &engine.AuthError{Code: engine.AuthTokenMissing, Message: "authentication required: no token"}
	}
	return b.without.Authenticate(ctx, req)
}
