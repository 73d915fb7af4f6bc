package chatapp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
	"github.com/roomio/roomio/examples/chat/chatapp/chattest"
	"github.com/roomio/roomio/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait for an event or an ack.
const waitFor = 10 * time.Second

// testServer is an engine running the chat app on namespace "/", served over loopback by httptest.
type testServer struct {
	t   *testing.T
	eng *engine.Engine
	ws  string // the WebSocket endpoint, ws://127.0.0.1:port/ws

	mu      sync.Mutex
	clients []*client.Client
}

// serveChat starts an engine with the chat app. Cleanup shuts the engine down while the test's clients
// are still connected, then closes them and the server, and asserts that no actor is left.
func serveChat(t *testing.T) *testServer {
	t.Helper()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	chatapp.Register(eng.Of("/"))
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", eng.Handler())
	srv := httptest.NewServer(mux)
	ts := &testServer{t: t, eng: eng, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.mu.Lock()
		clients := ts.clients
		ts.mu.Unlock()
		for _, c := range clients {
			c.Close()
		}
		srv.Close()
		if st := eng.Stats(); !st.Idle() {
			t.Errorf("actors left after Shutdown: %+v", st)
		}
	})
	return ts
}

// chatUser is a client connected to namespace "/" that records every event it receives (chattest.User).
type chatUser = chattest.User

// user dials the server and connects "/" in format f (proto when omitted); the client is closed by the
// cleanup, after the engine's shutdown.
func (ts *testServer) user(f ...wire.Format) *chatUser {
	ts.t.Helper()
	format := wire.FormatProto
	if len(f) > 0 {
		format = f[0]
	}
	u, c := chattest.Connect(ts.t, ts.ws, format)
	ts.mu.Lock()
	ts.clients = append(ts.clients, c)
	ts.mu.Unlock()
	return u
}

func ctxT(t *testing.T) context.Context { return chattest.Ctx(t) }
