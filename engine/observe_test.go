package engine_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/roomio/roomio/engine"
)

// observeRecorder is an Observer that writes what it sees as lines, for the tests of the admin's hooks.
type observeRecorder struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func (r *observeRecorder) add(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
}

func (r *observeRecorder) observer() engine.Observer {
	return engine.Observer{
		SocketConnected: func(s *engine.Socket) {
			r.add("connected %s %s %s conn=%t", s.Namespace().Name(), s.ID(), s.Transport(), s.ConnectionID() != "")
		},
		SocketDisconnected: func(s *engine.Socket, reason string) {
			r.add("disconnected %s %s %s", s.Namespace().Name(), s.ID(), reason)
		},
		RoomJoined: func(ns, room, id string) { r.add("joined %s %s %s", ns, room, id) },
		RoomLeft:   func(ns, room, id string) { r.add("left %s %s %s", ns, room, id) },
		ConnOpened: func(tr string) { r.add("open %s", tr) },
		ConnClosed: func(tr, reason string) { r.add("close %s %s", tr, reason) },
	}
}

// await waits until the recorded lines, with ids replaced by their names, are want.
func (r *observeRecorder) await(t *testing.T, ids map[string]string, want ...string) {
	t.Helper()
	waitUntil(t, "observed events", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.lines) >= len(want)
	})
	r.mu.Lock()
	got := slices.Clone(r.lines)
	r.lines = nil
	r.mu.Unlock()
	for i := range got {
		for id, name := range ids {
			got[i] = strings.ReplaceAll(got[i], id, name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("observed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAdminHooksObserve: an Observer sees every namespace (dynamic ones included), in order per
// namespace, with the transport and the counts the admin UI shows.
func TestAdminHooksObserve(t *testing.T) {
	rec := &observeRecorder{added: make(chan struct{}, 1)}
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.Observe(rec.observer())
		e.OfPattern(regexp.MustCompile(`/dyn-\d+`)).OnConnection(func(s *engine.Socket) {
			s.Join(s.Context(), "hello")
		})
	})
	a := h.connect("/", nil)
	rec.await(t, map[string]string{a.ID(): "A"}, "open native", "connected / A native conn=true")
	if st := h.e.Stats(); st.Connections != 1 {
		t.Errorf("Stats.Connections = %d, want 1", st.Connections)
	}
	if n := h.e.Of("/").SocketCount(); n != 1 {
		t.Errorf("SocketCount = %d, want 1", n)
	}
	if n := h.e.PollingConnections(); n != 0 {
		t.Errorf("PollingConnections = %d, want 0", n)
	}

	h.join(a, "r1")
	if err := h.server(a.ID()).Leave(ctxT(t), "r1"); err != nil {
		t.Fatal(err)
	}
	rec.await(t, map[string]string{a.ID(): "A"}, "joined / r1 A", "left / r1 A")

	// A dynamic namespace: its connect handler's join follows the connect.
	d, err := a.c.Connect(ctxT(t), "/dyn-7", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.await(t, map[string]string{d.ID(): "D"}, "connected /dyn-7 D native conn=true", "joined /dyn-7 hello D")
	names := []string{}
	for _, n := range h.e.Namespaces() {
		names = append(names, n.Name())
	}
	if !slices.Equal(names, []string{"/", "/dyn-7"}) {
		t.Errorf("Namespaces = %v", names)
	}

	h.join(a, "r2")
	rec.await(t, map[string]string{a.ID(): "A"}, "joined / r2 A")
	a.c.Close()
	// The disconnect comes before the leaves it causes; the two namespaces' events interleave freely.
	// They run on each namespace's hook goroutine, after the connection has closed: wait for all of them.
	waitUntil(t, "the close", func() bool { return h.e.Stats().Connections == 0 })
	wants := []string{"disconnected / A transport close", "left / r2 A", "disconnected /dyn-7 D", "left /dyn-7 hello D", "close native"}
	var got string
	observedAll := func() bool {
		rec.mu.Lock()
		got = strings.Join(rec.lines, "\n")
		rec.mu.Unlock()
		got = strings.ReplaceAll(strings.ReplaceAll(got, a.ID(), "A"), d.ID(), "D")
		for _, want := range wants {
			if !strings.Contains(got, want) {
				return false
			}
		}
		return true
	}
	waitUntil(t, "the disconnect and leave events", observedAll)
	if strings.Index(got, "disconnected / A") > strings.Index(got, "left / r2 A") {
		t.Errorf("leave before disconnect:\n%s", got)
	}
	if n := h.e.Of("/").SocketCount(); n != 0 {
		t.Errorf("SocketCount after close = %d", n)
	}
}
