package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/auth"
)

// backend is an application's backend answering the hooks: the connect hook by the auth payload's
// "who", the join hook by room prefix "ok-".
type backend struct {
	srv     *httptest.Server
	connect chan auth.ConnectHookRequest
	release chan struct{} // closed at cleanup: frees the "slow" answer
}

func newBackend(t *testing.T) *backend {
	b := &backend{connect: make(chan auth.ConnectHookRequest, 16), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect", func(w http.ResponseWriter, r *http.Request) {
		var req auth.ConnectHookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		b.connect <- req
		var a struct{ Who string }
		json.Unmarshal(req.Auth, &a)
		switch a.Who {
		case "alice":
			json.NewEncoder(w).Encode(map[string]any{"allow": true, "user_id": "alice", "rooms": []string{"home"}, "allowed_rooms": []string{"chat"}})
		case "anon":
			json.NewEncoder(w).Encode(map[string]any{"allow": true})
		case "banned":
			json.NewEncoder(w).Encode(map[string]any{"allow": false, "message": "you are banned"})
		case "slow":
			select {
			case <-r.Context().Done():
			case <-b.release:
			}
		case "broken":
			w.Write([]byte("{not json"))
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /join", func(w http.ResponseWriter, r *http.Request) {
		var req auth.JoinHookRequest
		json.NewDecoder(r.Body).Decode(&req)
		ok := !slices.ContainsFunc(req.Rooms, func(room string) bool { return !strings.HasPrefix(room, "ok-") })
		json.NewEncoder(w).Encode(auth.JoinHookAnswer{Allow: ok, Message: "rooms start with ok-"})
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(func() { close(b.release); b.srv.Close() })
	return b
}

func hooks(t *testing.T, b *backend) (*auth.Hook, *auth.Hook) {
	c, err := auth.NewConnectHook(auth.HookOptions{URL: b.srv.URL + "/connect"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := auth.NewJoinHook(auth.HookOptions{URL: b.srv.URL + "/join"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); j.Close() })
	return c, j
}

// TestConnectHook: the backend allows (setting the user id and rooms), refuses with its message, or
// fails (5xx, bad JSON, too slow: refused with auth_unavailable); the node keeps serving throughout.
func TestConnectHook(t *testing.T) {
	b := newBackend(t)
	c, j := hooks(t, b)
	n := startNode(t, engine.AuthConfig{Authenticator: c, JoinAuthorizer: j, Timeout: 300 * time.Millisecond})

	s, err := n.dial(t, map[string]string{"who": "alice"}, http.Header{"Cookie": {"session=1"}, "X-Secret": {"no"}})
	if err != nil {
		t.Fatal(err)
	}
	req := <-b.connect
	if req.Namespace != "/" || req.Transport != "native" || req.RemoteAddr == "" || req.Headers["Cookie"][0] != "session=1" || req.Headers["X-Secret"] != nil {
		t.Errorf("hook request %+v", req)
	}
	if who := call(t, s, "whoami"); who["user"] != "alice" || js(who["rooms"]) != `["home"]` {
		t.Errorf("whoami %v", who)
	}
	// allowed_rooms allows chat; other rooms go to the join hook, which allows "ok-" rooms.
	for room, want := range map[string]bool{"chat": true, "ok-1": true, "nope": false} {
		if got := call(t, s, "join", room); got["ok"] != want {
			t.Errorf("join(%s) = %v, want ok %v", room, got, want)
		} else if !want && (got["not_allowed"] != true || !strings.Contains(got["error"].(string), "rooms start with ok-")) {
			t.Errorf("join(%s) refused with %v", room, got)
		}
	}
	for _, tc := range []struct{ who, code, msg string }{
		{"banned", engine.AuthForbidden, "you are banned"},
		{"server-error", engine.AuthUnavailable, "auth hook answered 500"},
		{"broken", engine.AuthUnavailable, "auth hook answer is not valid JSON"},
		{"slow", engine.AuthUnavailable, "auth hook timed out"},
	} {
		start := time.Now()
		_, err := n.dial(t, map[string]string{"who": tc.who}, nil)
		refusal(t, err, tc.code, tc.msg)
		<-b.connect
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", tc.who, d)
		}
	}
	// Still serving, and an anonymous identity joins through the hook only.
	s2, err := n.dial(t, map[string]string{"who": "anon"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-b.connect
	if who := call(t, s2, "whoami"); who["user"] != "" {
		t.Errorf("anon whoami %v", who)
	}
	if got := call(t, s2, "join", "chat"); got["ok"] != false {
		t.Errorf("anon join(chat) %v, want refused by the join hook", got)
	}
}

// TestHookBackendDown: a backend that is not listening refuses connects with auth_unavailable.
func TestHookBackendDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	c, err := auth.NewConnectHook(auth.HookOptions{URL: url + "/connect"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := startNode(t, engine.AuthConfig{Authenticator: c})
	_, err = n.dial(t, nil, nil)
	refusal(t, err, engine.AuthUnavailable, "auth hook unreachable")
	if _, err := auth.NewConnectHook(auth.HookOptions{URL: "ftp://x"}); err == nil {
		t.Error("an ftp hook URL was accepted")
	}
}

// TestByToken: a token goes to the JWT verifier, no token to the hook.
func TestByTokenHookAndJWT(t *testing.T) {
	k := newKeys(t)
	b := newBackend(t)
	c, _ := hooks(t, b)
	v, err := auth.NewJWT(auth.JWTOptions{HMACSecret: k.hmac})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, engine.AuthConfig{Authenticator: auth.ByToken(v, c)})
	s, err := n.dial(t, map[string]string{"who": "alice"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-b.connect
	if who := call(t, s, "whoami"); who["user"] != "alice" {
		t.Errorf("hook user: %v", who)
	}
	_, err = n.dial(t, map[string]string{"token": "bad"}, nil)
	refusal(t, err, engine.AuthTokenInvalid, "")
	select {
	case r := <-b.connect:
		t.Errorf("the hook was asked for a token: %+v", r)
	default:
	}
}
