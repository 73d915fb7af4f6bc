package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestMux serves the example's routes and uses them as the browser does: the page, the script, then a
// WebSocket that joins a room.
func TestMux(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	chatapp.Register(eng.Of("/"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newMux(eng))
	var c *client.Client
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if c != nil {
			c.Close()
		}
		srv.Close()
	})

	for path, want := range map[string]string{"/": `from "./roomio.js"`, "/roomio.js": "export function connect"} {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s = %d, body without %q", path, res.StatusCode, want)
		}
	}

	c, err = client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Connect(ctx, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.EmitWithAck(ctx, "join", "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if len(res) != 1 || json.Unmarshal(res[0].Data, &ack) != nil ||
		!reflect.DeepEqual(ack, map[string]any{"ok": true, "rooms": []any{"lobby"}, "count": float64(1), "history": []any{}}) {
		t.Fatalf("join acked %v, want {ok:true, rooms:[lobby], count:1, history:[]}", res)
	}
}
