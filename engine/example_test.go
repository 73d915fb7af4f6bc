package engine_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// A chat room: a socket joins a room on request and what it says reaches the room's other members.
func Example() {
	e, _ := engine.New(engine.Config{})
	e.OnConnection(func(s *engine.Socket) {
		s.On("join", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			ev.Ack(s.Join(context.Background(), room) == nil)
		})
		s.On("say", func(ev *engine.Event) {
			var room, text string
			ev.Bind(0, &room)
			ev.Bind(1, &text)
			s.To(room).Emit("said", text)
		})
	})
	e.Start(context.Background())
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	defer e.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var socks []*client.Socket
	for range 2 {
		c, _ := client.Dial(ctx, url, client.Options{})
		defer c.Close()
		s, _ := c.Connect(ctx, "/", nil)
		s.EmitWithAck(ctx, "join", "lobby")
		socks = append(socks, s)
	}
	said := socks[1].Events("said", 1)
	socks[0].Emit(ctx, "say", "lobby", "hello")
	ev := <-said
	var text string
	ev.Decode(&text)
	fmt.Println(text)
	// Output: hello
}

// Broadcast with acks: every selected socket answers; the replies are collected.
func ExampleBroadcastOperator_EmitWithAck() {
	e, _ := engine.New(engine.Config{})
	e.Start(context.Background())
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	defer e.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, answer := range []string{"yes", "no"} {
		c, _ := client.Dial(ctx, url, client.Options{})
		defer c.Close()
		c.Connect(ctx, "/", nil, client.WithSetup(func(s *client.Socket) {
			s.On("vote?", func(args []client.Arg, ack client.AckFunc) { ack(answer) })
		}))
	}
	replies, err := e.Timeout(time.Second).EmitWithAck(ctx, "vote?")
	votes := map[string]int{}
	for _, r := range replies {
		var v string
		r.Args[0].Decode(&v)
		votes[v]++
	}
	fmt.Println(len(replies), votes["yes"], votes["no"], err)
	// Output: 2 1 1 <nil>
}
