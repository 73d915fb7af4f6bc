package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 10 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// keys are the test's signing keys, made once.
type keys struct {
	hmac   []byte
	rsa    *rsa.PrivateKey
	rsaPEM []byte // the public key
	ec     *ecdsa.PrivateKey
	ecPEM  []byte
}

func newKeys(t *testing.T) keys {
	t.Helper()
	k := keys{hmac: []byte("a-test-secret-of-32-bytes-length!")}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.rsaPEM = pemPublic(t, &k.rsa.PublicKey)
	k.ecPEM = pemPublic(t, &k.ec.PublicKey)
	return k
}

func pemPublic(t *testing.T, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign makes a token of method signed with key; header entries (e.g. kid) are added.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// node is an engine with auth, serving the native and Socket.IO endpoints over loopback, with an app on
// "/": whoami acks {user, rooms}; join(room) acks {ok} or {ok:false, error}.
type node struct {
	e    *engine.Engine
	url  string // http://…
	ws   string // ws://…/ws
	disc chan string
}

func startNode(t *testing.T, ac engine.AuthConfig) *node {
	t.Helper()
	e, err := engine.New(engine.Config{Auth: ac})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{e: e, disc: make(chan string, 16)}
	e.OnConnection(func(s *engine.Socket) {
		s.On("whoami", func(ev *engine.Event) {
			rooms, _ := s.Rooms(ev.Context())
			rooms = slices.DeleteFunc(rooms, func(r string) bool { return r == s.ID() })
			ev.Ack(map[string]any{"user": s.UserID(), "rooms": rooms})
		})
		s.On("join", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			if err := s.Join(ev.Context(), room); err != nil {
				ev.Ack(map[string]any{"ok": false, "error": err.Error(), "not_allowed": errors.Is(err, engine.ErrRoomNotAllowed)})
				return
			}
			ev.Ack(map[string]any{"ok": true})
		})
		s.OnDisconnect(func(reason string) { n.disc <- reason })
	})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.Handle("/socket.io/", e.SocketIOHandler())
	srv := httptest.NewServer(mux)
	n.url = srv.URL
	n.ws = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		if st := e.Stats(); !st.Idle() {
			t.Errorf("actors left after Shutdown: %+v", st)
		}
	})
	return n
}

// dial connects "/" with auth (and header), returning the socket or the connect error.
func (n *node) dial(t *testing.T, auth any, header http.Header) (*client.Socket, error) {
	t.Helper()
	c, err := client.Dial(ctxT(t), n.ws, client.Options{Header: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.Connect(ctxT(t), "/", auth)
}

// call emits event with an ack and decodes the ack's first argument.
func call(t *testing.T, s *client.Socket, event string, args ...any) map[string]any {
	t.Helper()
	res, err := s.EmitWithAck(ctxT(t), event, args...)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	var out map[string]any
	if len(res) == 0 {
		t.Fatalf("%s: empty ack", event)
	}
	if err := res[0].Decode(&out); err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	return out
}

// refusal checks that err is a connect error with message and data {"code": code}.
func refusal(t *testing.T, err error, code, message string) {
	t.Helper()
	var ce *client.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a connect error %s", err, code)
	}
	var data map[string]string
	if err := json.Unmarshal(ce.Data, &data); err != nil || data["code"] != code {
		t.Errorf("connect error data %s, want {\"code\":%q}", ce.Data, code)
	}
	if message != "" && ce.Message != message {
		t.Errorf("connect error message %q, want %q", ce.Message, message)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
