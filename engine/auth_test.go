package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// userAuth is an Authenticator that believes the auth payload's "user" (tests only): "" is refused
// with AuthTokenMissing, "deny" with AuthForbidden.
type userAuth struct{}

func (userAuth) Authenticate(_ context.Context, req *engine.AuthRequest) (*engine.Identity, error) {
	var a struct{ User string }
	json.Unmarshal(req.Handshake.Auth, &a)
	switch a.User {
	case "":
		return nil, &engine.AuthError{Code: engine.AuthTokenMissing, Message: "who are you?"}
	case "deny":
		return nil, &engine.AuthError{Code: engine.AuthForbidden, Message: "denied"}
	case "panic":
		panic("authenticator bug")
	}
	return &engine.Identity{UserID: a.User, Rooms: []string{"home"}, AllowedRooms: []string{}}, nil
}

// TestAuthenticatorUserIDAndRooms: the Authenticator's identity sets Socket.UserID (also in
// FetchSockets) and the rooms joined at connect; AllowedRooms (empty) refuses every other Socket.Join
// with ErrRoomNotAllowed, while server-wide joins are not checked; refusals reach no middleware.
func TestAuthenticatorUserIDAndRooms(t *testing.T) {
	mw := make(chan string, 8)
	h := start(t, engine.Config{Auth: engine.AuthConfig{Authenticator: userAuth{}}}, func(e *engine.Engine) {
		e.Use(func(s *engine.Socket) error { mw <- s.UserID(); return nil })
	})
	u := h.connect("/", map[string]string{"user": "zoe"})
	s := h.server(u.ID())
	if s.UserID() != "zoe" || <-mw != "zoe" {
		t.Errorf("UserID = %q", s.UserID())
	}
	if got := roomsOf(t, s); len(got) != 2 || (got[0] != "home" && got[1] != "home") {
		t.Errorf("rooms at connect: %v", got)
	}
	if err := s.Join(ctxT(t), "other"); !errors.Is(err, engine.ErrRoomNotAllowed) {
		t.Errorf("Join(other) = %v, want ErrRoomNotAllowed", err)
	}
	if err := h.e.In(s.ID()).SocketsJoin(ctxT(t), "other"); err != nil {
		t.Errorf("SocketsJoin: %v", err)
	}
	socks, err := h.e.In("home").FetchSockets(ctxT(t))
	if err != nil || len(socks) != 1 || socks[0].UserID != "zoe" {
		t.Errorf("FetchSockets = %+v, %v", socks, err)
	}
	for _, who := range []string{"", "deny", "panic"} {
		c := h.dial(client.Options{})
		_, err := c.Connect(ctxT(t), "/", map[string]string{"user": who})
		if err == nil {
			t.Errorf("user %q connected", who)
		}
	}
	select {
	case id := <-mw:
		t.Errorf("a refused connect reached the middleware (%q)", id)
	default:
	}
}

// TestReadinessSingleNode: ErrNotStarted before Start, nil while running, ErrClosed after Shutdown.
func TestReadinessSingleNode(t *testing.T) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Readiness(); !errors.Is(err, engine.ErrNotStarted) {
		t.Errorf("before Start: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Readiness(); err != nil {
		t.Errorf("running: %v", err)
	}
	e.Close()
	if err := e.Readiness(); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
