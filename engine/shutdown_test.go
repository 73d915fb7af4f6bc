package engine_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

func TestShutdownDrainsAndStopsEverything(t *testing.T) {
	reasons := make(chan string, 10)
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.OnConnection(func(s *engine.Socket) {
		s.Join(context.Background(), "r")
		s.OnDisconnect(func(r string) { reasons <- r })
	})
	e.Start(context.Background())
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	var clients []*client.Client
	var events []<-chan client.Event
	for range 3 {
		c, err := client.Dial(ctxT(t), url, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.Connect(ctxT(t), "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		events = append(events, s.Events("last", 100))
	}
	waitUntil(t, "3 members", func() bool {
		socks, _ := e.To("r").FetchSockets(ctxT(t))
		return len(socks) == 3
	})
	if st := e.Stats(); st.Sockets != 3 || st.Rooms != 1 || st.Namespaces != 1 {
		t.Fatalf("stats before shutdown %+v", st)
	}
	// Queued messages are written before the close.
	for i := range 50 {
		e.To("r").Emit("last", i)
	}
	if err := e.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i, ch := range events {
		for j := range 50 {
			select {
			case ev := <-ch:
				var got int
				if err := ev.Decode(&got); err != nil || got != j {
					t.Logf("args %v", ev.Args)
					t.Fatalf("client %d: message %d is %d", i, j, got)
				}
			case <-time.After(waitFor):
				t.Fatalf("client %d got %d of 50 queued messages", i, j)
			}
		}
	}
	for _, c := range clients {
		<-c.Done()
		if code := client.CloseCode(c.Err()); code != transport.CloseGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
	}
	for range 3 {
		if r := <-reasons; r != "server shutting down" {
			t.Fatalf("reason %q", r)
		}
	}
	if st := e.Stats(); !st.Idle() {
		t.Fatalf("actors left: %+v", st)
	}
	// After Shutdown: new connections get 503, blocking calls ErrClosed / ErrNotStarted.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status after shutdown %d", resp.StatusCode)
	}
	if err := e.Shutdown(context.Background()); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := e.Emit("x"); !errors.Is(err, engine.ErrNotStarted) {
		t.Fatalf("Emit after shutdown: %v", err)
	}
}

func TestVolatileDroppedWhenQueueFull(t *testing.T) {
	// An in-process connection whose 4 KiB queue is never drained: volatile emits beyond it are dropped
	// and counted, the connection stays; the next non-volatile emit disconnects it as a slow client.
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.OnConnection(func(s *engine.Socket) { s.Join(context.Background(), "r") })
	e.Start(context.Background())
	defer e.Close()
	var delivered atomic.Int64
	sk := &sink{id: "s", q: transport.NewQueue(4 << 10), delivered: &delivered}
	e.Open(sk).Packet(&packet.Packet{Kind: packet.KindConnect, Namespace: "/"})
	waitUntil(t, "the socket to join r", func() bool {
		socks, _ := e.To("r").FetchSockets(ctxT(t))
		return len(socks) == 1
	})
	payload := strings.Repeat("v", 1<<10)
	for i := range 100 {
		e.To("r").Volatile().Emit("v", i, payload)
	}
	// FetchSockets travels the same route (namespace → room r → socket): when it returns, the socket
	// actor has handled all 100 emits.
	if socks, _ := e.To("r").FetchSockets(ctxT(t)); len(socks) != 1 {
		t.Fatal("socket gone after volatile overflow")
	}
	if d := sk.q.Dropped(); d == 0 || d >= 100 {
		t.Fatalf("%d of 100 volatile emits dropped, want some but not all", d)
	}
	if code := sk.closed.Load(); code != 0 {
		t.Fatalf("closed with %d by volatile overflow", code)
	}
	e.To("r").Emit("must-arrive", payload)
	waitUntil(t, "the slow-client close", func() bool { return sk.closed.Load() == transport.CloseSlowClient })
}
