package engine_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/roomio/roomio/engine"
)

// The socket's context ends when it disconnects; OnDisconnecting still sees the rooms, OnDisconnect runs
// after, and Rooms then reports ErrDisconnected.
func TestDisconnectingContextAndRooms(t *testing.T) {
	type seen struct {
		rooms []string
		err   error
	}
	disconnecting := make(chan seen, 1)
	order := make(chan string, 2)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.OnDisconnecting(func(reason string) {
				rooms, err := s.Rooms(t.Context())
				order <- "disconnecting " + reason
				disconnecting <- seen{rooms, err}
			})
			s.OnDisconnect(func(reason string) { order <- "disconnect " + reason })
		})
	})
	u := h.connect("/", nil)
	s := h.server(u.ID())
	h.join(u, "a", "b")
	if err := s.Context().Err(); err != nil {
		t.Fatalf("context of a connected socket: %v", err)
	}
	if err := u.Disconnect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	<-s.Context().Done()
	got := <-disconnecting
	want := []string{"a", "b", u.ID()}
	slices.Sort(want)
	if got.err != nil || !slices.Equal(got.rooms, want) {
		t.Fatalf("rooms in OnDisconnecting = %v, %v; want %v", got.rooms, got.err, want)
	}
	if a, b := <-order, <-order; a != "disconnecting client namespace disconnect" || b != "disconnect client namespace disconnect" {
		t.Fatalf("hook order = %q, %q", a, b)
	}
	if _, err := s.Rooms(ctxT(t)); !errors.Is(err, engine.ErrDisconnected) {
		t.Fatalf("Rooms after disconnect: err = %v, want ErrDisconnected", err)
	}
	waitUntil(t, "the socket's rooms to go", func() bool { return h.e.Stats().Rooms == 0 })
}

// Leave takes several rooms, like Join.
func TestLeaveSeveralRooms(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	u := h.connect("/", nil)
	s := h.server(u.ID())
	h.join(u, "a", "b", "c")
	if err := s.Leave(ctxT(t), "a", "c", "never-joined"); err != nil {
		t.Fatal(err)
	}
	want := []string{"b", u.ID()}
	slices.Sort(want)
	if got := roomsOf(t, s); !slices.Equal(got, want) {
		t.Fatalf("rooms = %v, want %v", got, want)
	}
}

// Ack on an event that asked for none does nothing; a second Ack is refused.
func TestAckWithoutAckAndTwice(t *testing.T) {
	errs := make(chan error, 4)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.On("e", func(ev *engine.Event) {
				errs <- ev.Ack("first")
				errs <- ev.Ack("second")
			})
		})
	})
	u := h.connect("/", nil)
	if err := u.Emit(ctxT(t), "e"); err != nil {
		t.Fatal(err)
	}
	if a, b := <-errs, <-errs; a != nil || b != nil {
		t.Fatalf("Ack without an ack requested: %v, %v; want nil, nil", a, b)
	}
	args, err := u.EmitWithAck(ctxT(t), "e")
	if err != nil {
		t.Fatal(err)
	}
	var first string
	if err := args[0].Decode(&first); err != nil || first != "first" {
		t.Fatalf("ack = %v (%v), want \"first\"", first, err)
	}
	if a, b := <-errs, <-errs; a != nil || !errors.Is(b, engine.ErrAlreadyAcked) {
		t.Fatalf("acks: %v, %v; want nil, ErrAlreadyAcked", a, b)
	}
}

// Arg is a plain exported type: a binary argument refuses json.RawMessage with engine's own error, binds
// into *[]byte and *Arg, and an Arg passed to Emit goes out unchanged.
func TestArgDecodeAndRelay(t *testing.T) {
	got := make(chan error, 1)
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.On("relay", func(ev *engine.Event) {
				var raw json.RawMessage
				if err := ev.Bind(1, &raw); !errors.Is(err, engine.ErrBinaryArg) {
					got <- err
					return
				}
				var b []byte
				var a engine.Arg
				if err := ev.Bind(1, &b); err != nil || string(b) != "\x00\x01" {
					got <- err
					return
				}
				if err := ev.Bind(0, &a); err != nil || a.Binary || string(a.Data) != `{"k":[1,2]}` {
					got <- err
					return
				}
				got <- s.Emit("back", ev.Args[0], ev.Args[1])
			})
		})
	})
	u := h.connect("/", nil)
	if err := u.Emit(ctxT(t), "relay", json.RawMessage(`{"k":[1,2]}`), []byte{0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("handler: %v", err)
	}
	ev := u.next(t)
	if ev.Name != "back" || len(ev.Args) != 2 || string(ev.Args[0].Data) != `{"k":[1,2]}` ||
		!ev.Args[1].Binary || string(ev.Args[1].Data) != "\x00\x01" {
		t.Fatalf("relayed %s %+v", ev.Name, ev.Args)
	}
}
