package engine_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/transport/wire"
)

const waitFor = 10 * time.Second

// harness is an engine served over loopback by httptest. It records every server-side socket by id.
type harness struct {
	t   *testing.T
	e   *engine.Engine
	url string

	mu      sync.Mutex
	sockets map[string]*engine.Socket
	arrived chan struct{}
}

// start serves a new engine; setup registers handlers before Start. Cleanup shuts it down and asserts
// that no actor is left.
func start(t *testing.T, cfg engine.Config, setup func(e *engine.Engine)) *harness {
	t.Helper()
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, sockets: make(map[string]*engine.Socket), arrived: make(chan struct{}, 1)}
	e.Of("/").OnConnection(h.track)
	if setup != nil {
		setup(e)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	h.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		if st := e.Stats(); !st.Idle() {
			t.Errorf("actors or broadcasts left after Shutdown: %+v", st)
		}
	})
	return h
}

func (h *harness) track(s *engine.Socket) {
	h.mu.Lock()
	h.sockets[s.ID()] = s
	h.mu.Unlock()
	select {
	case h.arrived <- struct{}{}:
	default:
	}
}

// server returns the server-side socket with id, waiting for its connection handler to have run.
func (h *harness) server(id string) *engine.Socket {
	h.t.Helper()
	deadline := time.After(waitFor)
	for {
		h.mu.Lock()
		s := h.sockets[id]
		h.mu.Unlock()
		if s != nil {
			return s
		}
		select {
		case <-h.arrived:
		case <-deadline:
			h.t.Fatalf("server socket %s never connected", id)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// dial opens a client connection; cleanup closes it.
func (h *harness) dial(opts client.Options) *client.Client {
	h.t.Helper()
	c, err := client.Dial(ctxT(h.t), h.url, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// user is a connected client socket with a recorder of everything it receives.
type user struct {
	*client.Socket
	c   *client.Client
	rec chan client.Event
}

// connect dials and connects ns with auth, recording every event from the start.
func (h *harness) connect(ns string, auth any, format ...wire.Format) *user {
	h.t.Helper()
	opts := client.Options{}
	if len(format) > 0 {
		opts.Format = format[0]
	}
	c := h.dial(opts)
	u := &user{c: c, rec: make(chan client.Event, 100000)}
	s, err := c.Connect(ctxT(h.t), ns, auth, client.WithSetup(func(s *client.Socket) {
		s.OnAny(func(ev string, args []client.Arg, ack client.AckFunc) {
			u.rec <- client.Event{Name: ev, Args: args, Ack: ack}
		})
	}))
	if err != nil {
		h.t.Fatal(err)
	}
	u.Socket = s
	return u
}

// next returns the next recorded event.
func (u *user) next(t *testing.T) client.Event {
	t.Helper()
	select {
	case ev := <-u.rec:
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event arrived")
		return client.Event{}
	}
}

// until returns the names of the events received before every marker has arrived (markers excluded).
func (u *user) until(t *testing.T, markers ...string) []string {
	t.Helper()
	want := make(map[string]bool)
	for _, m := range markers {
		want[m] = true
	}
	var got []string
	for len(want) > 0 {
		ev := u.next(t)
		if want[ev.Name] {
			delete(want, ev.Name)
			continue
		}
		got = append(got, ev.Name)
	}
	return got
}

func count(names []string, name string) int {
	n := 0
	for _, x := range names {
		if x == name {
			n++
		}
	}
	return n
}

// join makes the server-side socket of u join rooms.
func (h *harness) join(u *user, rooms ...string) {
	h.t.Helper()
	if err := h.server(u.ID()).Join(ctxT(h.t), rooms...); err != nil {
		h.t.Fatal(err)
	}
}

// roomsOf returns s.Rooms, failing the test on an error.
func roomsOf(t *testing.T, s *engine.Socket) []string {
	t.Helper()
	rooms, err := s.Rooms(ctxT(t))
	if err != nil {
		t.Fatalf("Rooms: %v", err)
	}
	return rooms
}

// waitUntil polls cond until it holds (for state that has no event to wait on).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
