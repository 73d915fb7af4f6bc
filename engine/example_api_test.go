package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// serve starts e on a loopback listener behind a plain http.ServeMux, the way an application embeds it,
// and returns the native endpoint's URL and a stop function that shuts down in the right order.
func serve(e *engine.Engine) (wsURL string, stop func()) {
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())                 // the native protocol
	mux.Handle("/socket.io/", e.SocketIOHandler()) // Socket.IO clients
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return "ws://" + ln.Addr().String() + "/ws", func() {
		// The engine first: it drains and closes the WebSocket connections, which http.Server does not
		// track once they are hijacked. Then the HTTP server.
		e.Shutdown(context.Background())
		srv.Shutdown(context.Background())
	}
}

// dialSocket connects namespace ns of the engine at url; setup registers client handlers first.
func dialSocket(ctx context.Context, url, ns string, setup func(*client.Socket)) *client.Socket {
	c, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		panic(err)
	}
	var opts []client.ConnectOption
	if setup != nil {
		opts = append(opts, client.WithSetup(setup))
	}
	s, err := c.Connect(ctx, ns, nil, opts...)
	if err != nil {
		panic(err)
	}
	return s
}

// Embedding: the engine's endpoints mounted on the application's own ServeMux next to its routes.
func ExampleEngine_Handler() {
	e, _ := engine.New(engine.Config{})
	e.OnConnection(func(s *engine.Socket) { s.Emit("welcome", s.ID() != "") })
	e.Start(context.Background())
	url, stop := serve(e)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	welcome := make(chan bool, 1)
	dialSocket(ctx, url, "/", func(s *client.Socket) {
		s.On("welcome", func(args []client.Arg, _ client.AckFunc) {
			var ok bool
			args[0].Decode(&ok)
			welcome <- ok
		})
	})
	fmt.Println(<-welcome)
	// Output: true
}

// Rooms: a socket is always in the room named by its id; Join and Leave change the rest, and Rooms asks
// the socket's actor for the set.
func ExampleSocket_Join() {
	e, _ := engine.New(engine.Config{})
	done := make(chan []string, 1)
	e.OnConnection(func(s *engine.Socket) {
		ctx := s.Context() // ends when the socket disconnects
		s.Join(ctx, "lobby", "news", "sports")
		s.Leave(ctx, "sports")
		rooms, _ := s.Rooms(ctx)
		done <- slices.DeleteFunc(rooms, func(r string) bool { return r == s.ID() })
	})
	e.Start(context.Background())
	url, stop := serve(e)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dialSocket(ctx, url, "/", nil)
	fmt.Println(<-done)
	// Output: [lobby news]
}

// Unions and except: To(a).To(b) reaches every socket in a or b once; Except removes the sockets of a
// room; Socket.To leaves out the sender.
func ExampleBroadcastOperator_To() {
	e, _ := engine.New(engine.Config{})
	e.OnConnection(func(s *engine.Socket) {
		s.On("join", func(ev *engine.Event) {
			var rooms []string
			ev.Bind(0, &rooms)
			ev.Ack(s.Join(ev.Context(), rooms...) == nil)
		})
	})
	e.Start(context.Background())
	url, stop := serve(e)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	members := map[string][]string{"ann": {"a", "b"}, "bob": {"b"}, "cid": {"a", "muted"}, "dan": {"c"}}
	logs := make(chan string, len(members))
	for name, rooms := range members {
		var got []string // written by this socket's handlers only, which run one at a time
		s := dialSocket(ctx, url, "/", func(s *client.Socket) {
			s.On("news", func([]client.Arg, client.AckFunc) { got = append(got, "news") })
			s.On("end", func([]client.Arg, client.AckFunc) { logs <- name + ": " + strings.Join(append(got, "end"), " ") })
		})
		s.EmitWithAck(ctx, "join", rooms)
	}
	e.To("a").To("b").Except("muted").Emit("news")
	// A second emit to the same rooms from the same emitter arrives after the first at every socket.
	e.To("a").To("b").Emit("end")
	var lines []string
	for range 3 { // ann, bob and cid are in a or b; dan gets neither
		lines = append(lines, <-logs)
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// ann: news end
	// bob: news end
	// cid: end
}

// Acks both ways: the server asks one socket and waits for its answer; the client's ack reaches the
// server's handler.
func ExampleSocket_EmitWithAck() {
	e, _ := engine.New(engine.Config{})
	answers := make(chan string, 1)
	e.OnConnection(func(s *engine.Socket) {
		ctx, cancel := context.WithTimeout(s.Context(), time.Second)
		defer cancel()
		args, err := s.EmitWithAck(ctx, "name?")
		if err != nil {
			answers <- err.Error()
			return
		}
		var name string
		args[0].Decode(&name)
		answers <- name
	})
	e.Start(context.Background())
	url, stop := serve(e)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dialSocket(ctx, url, "/", func(s *client.Socket) {
		s.On("name?", func(_ []client.Arg, ack client.AckFunc) { ack("ann") })
	})
	fmt.Println(<-answers)
	// Output: ann
}

// Namespaces: one connection can hold sockets of several namespaces, each with its own handlers and
// rooms; an unknown namespace is refused.
func ExampleEngine_Of() {
	e, _ := engine.New(engine.Config{})
	admin := e.Of("/admin")
	admin.Use(func(s *engine.Socket) error {
		if !strings.Contains(string(s.Handshake().Auth), "secret") {
			return &engine.ConnectError{Message: "not an admin"}
		}
		return nil
	})
	admin.OnConnection(func(s *engine.Socket) { s.Emit("hello", "admin") })
	e.Start(context.Background())
	url, stop := serve(e)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _ := client.Dial(ctx, url, client.Options{})
	defer c.Close()
	hello := make(chan string, 1)
	_, err := c.Connect(ctx, "/admin", map[string]string{"token": "secret"}, client.WithSetup(func(s *client.Socket) {
		s.On("hello", func(args []client.Arg, _ client.AckFunc) {
			var who string
			args[0].Decode(&who)
			hello <- who
		})
	}))
	fmt.Println(err, <-hello)
	_, err = c.Connect(ctx, "/nowhere", nil)
	var ce *client.ConnectError
	fmt.Println(errors.As(err, &ce), ce.Message)
	// Output:
	// <nil> admin
	// true Invalid namespace
}
