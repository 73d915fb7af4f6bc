package chatapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
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
		if st := eng.Stats(); st != (engine.Stats{}) {
			t.Errorf("actors left after Shutdown: %+v", st)
		}
	})
	return ts
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// chatUser is a client connected to namespace "/" that records every event it receives, in order.
type chatUser struct {
	*client.Socket
	rec chan client.Event
}

// user dials the server and connects "/" in format f (proto when omitted).
func (ts *testServer) user(f ...wire.Format) *chatUser {
	ts.t.Helper()
	opts := client.Options{}
	if len(f) > 0 {
		opts.Format = f[0]
	}
	c, err := client.Dial(ctxT(ts.t), ts.ws, opts)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.mu.Lock()
	ts.clients = append(ts.clients, c) // closed after Shutdown, by serveChat's cleanup
	ts.mu.Unlock()
	u := &chatUser{rec: make(chan client.Event, 1000)}
	s, err := c.Connect(ctxT(ts.t), "/", nil, client.WithSetup(func(s *client.Socket) {
		s.OnAny(func(ev string, args []client.Arg, ack client.AckFunc) {
			u.rec <- client.Event{Name: ev, Args: args, Ack: ack}
		})
	}))
	if err != nil {
		ts.t.Fatal(err)
	}
	u.Socket = s
	return u
}

// next returns the next event u received.
func (u *chatUser) next(t *testing.T) client.Event {
	t.Helper()
	select {
	case ev := <-u.rec:
		return ev
	case <-time.After(waitFor):
		t.Fatalf("user %s: no event arrived", u.ID())
		return client.Event{}
	}
}

// expect asserts that u's next event is name with exactly one argument, want (compared as decoded JSON).
func (u *chatUser) expect(t *testing.T, name string, want map[string]any) {
	t.Helper()
	ev := u.next(t)
	if ev.Name != name || len(ev.Args) != 1 {
		t.Fatalf("user %s: got event %q %s, want %q %v", u.ID(), ev.Name, argsString(ev.Args), name, want)
	}
	if got := decodeObject(t, ev.Args[0]); !reflect.DeepEqual(got, want) {
		t.Fatalf("user %s: %q carried %v, want %v", u.ID(), name, got, want)
	}
}

// call emits event with args, asking for an ack, and returns the ack's single argument, decoded.
func (u *chatUser) call(t *testing.T, event string, args ...any) map[string]any {
	t.Helper()
	res, err := u.EmitWithAck(ctxT(t), event, args...)
	if err != nil {
		t.Fatalf("user %s: %s: %v", u.ID(), event, err)
	}
	if len(res) != 1 {
		t.Fatalf("user %s: %s acked with %d arguments %s, want 1", u.ID(), event, len(res), argsString(res))
	}
	return decodeObject(t, res[0])
}

// mustCall is call asserting that the ack equals want.
func (u *chatUser) mustCall(t *testing.T, want map[string]any, event string, args ...any) {
	t.Helper()
	if got := u.call(t, event, args...); !reflect.DeepEqual(got, want) {
		t.Fatalf("user %s: %s%s acked %v, want %v", u.ID(), event, jsonString(args), got, want)
	}
}

func decodeObject(t *testing.T, a client.Arg) map[string]any {
	t.Helper()
	if a.Binary {
		t.Fatalf("binary argument %x, want a JSON object", a.Data)
	}
	var m map[string]any
	if err := json.Unmarshal(a.Data, &m); err != nil || m == nil {
		t.Fatalf("argument %s is not a JSON object: %v", a.Data, err)
	}
	return m
}

func argsString(args []client.Arg) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		if a.Binary {
			b.WriteString("<binary>")
		} else {
			b.Write(a.Data)
		}
	}
	return "[" + b.String() + "]"
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// formats are the native protocol's wire formats; chat behaviour is checked over each.
var formats = []struct {
	name string
	f    wire.Format
}{{"proto", wire.FormatProto}, {"json", wire.FormatJSON}}

func eachFormat(t *testing.T, fn func(t *testing.T, f wire.Format)) {
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) { fn(t, tc.f) })
	}
}
