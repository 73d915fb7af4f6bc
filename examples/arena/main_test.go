package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 10 * time.Second

// serve starts the arena on a loopback server; cleanup shuts it down and checks that no actor is left.
func serve(t *testing.T) string {
	t.Helper()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	register(eng.Of("/"))
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newMux(eng))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		if st := eng.Stats(); !st.Idle() {
			t.Errorf("actors left: %+v", st)
		}
	})
	return srv.URL
}

type state struct {
	Tick    int64
	Players []struct {
		ID, Name string
		X, Y     float64
		Score    int
	}
}

type gamer struct {
	s      *client.Socket
	states <-chan client.Event
}

func dial(t *testing.T, url string) *gamer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	g := &gamer{}
	g.s, err = c.Connect(ctx, "/", nil, client.WithSetup(func(s *client.Socket) { g.states = s.Events("state", 1000) }))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// join asks to join arena as name and returns the refusal's text ("" when joined).
func (g *gamer) join(t *testing.T, arena, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	res, err := g.s.EmitWithAck(ctx, "join", map[string]string{"arena": arena, "name": name})
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		OK    bool
		Error string
	}
	if err := client.DecodeArgs(res, &ack); err != nil || ack.OK == (ack.Error != "") {
		t.Fatalf("join acked %s (%v)", res[0].Data, err)
	}
	return ack.Error
}

// until returns the first state that satisfies cond.
func (g *gamer) until(t *testing.T, what string, cond func(s state) bool) state {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case ev := <-g.states:
			var s state
			if err := ev.Decode(&s); err != nil {
				t.Fatal(err)
			}
			if cond(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no state with %s", what)
		}
	}
}

func (s state) player(name string) (x float64, ok bool) {
	for _, p := range s.Players {
		if p.Name == name {
			return p.X, true
		}
	}
	return 0, false
}

func TestArena(t *testing.T) {
	url := serve(t)
	ann, bob := dial(t, url), dial(t, url)
	if msg := ann.join(t, "1", " "); msg != "pick a name of 1 to 24 characters" {
		t.Fatalf("blank name: %q", msg)
	}
	if msg := ann.join(t, "1", "ann"); msg != "" {
		t.Fatal(msg)
	}
	if msg := bob.join(t, "1", "ann"); !strings.Contains(msg, "taken") {
		t.Fatalf("taken name: %q", msg)
	}
	if msg := bob.join(t, "1", "bob"); msg != "" {
		t.Fatal(msg)
	}
	// Both see both in the state the room sends every tick.
	both := func(s state) bool { _, a := s.player("ann"); _, b := s.player("bob"); return a && b }
	before := bob.until(t, "ann and bob", both)
	ann.until(t, "ann and bob", both)
	x0, _ := before.player("ann")

	// Ann's input goes straight to the room; bob sees her move right, tick by tick.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := ann.s.RoomRequest(ctx, "arena:1", "input", map[string]float64{"dx": 1}); err != nil {
		t.Fatal(err)
	}
	bob.until(t, "ann moved right", func(s state) bool { x, ok := s.player("ann"); return ok && x > x0+20 || ok && x >= width-radius })

	// A socket that is not in the arena cannot steer in it.
	out := dial(t, url)
	var se *client.ServerError
	if _, err := out.s.RoomRequest(ctx, "arena:1", "input", map[string]float64{"dx": 1}); !errors.As(err, &se) || se.Code != 7 {
		t.Fatalf("input from a non-member = %v, want error code 7", err)
	}
	// Four players at most.
	if msg := out.join(t, "1", "cat"); msg != "" {
		t.Fatal(msg)
	}
	if msg := dial(t, url).join(t, "1", "dan"); msg != "" {
		t.Fatal(msg)
	}
	if msg := dial(t, url).join(t, "1", "eve"); msg != "this arena is full (4 players)" {
		t.Fatalf("fifth player: %q", msg)
	}
	// Another arena is another room, with its own state.
	if msg := dial(t, url).join(t, "2", "eve"); msg != "" {
		t.Fatal(msg)
	}
	// A player who leaves is gone from the state.
	if _, err := bob.s.EmitWithAck(ctx, "leave", "arena:1"); err != nil {
		t.Fatal(err)
	}
	ann.until(t, "bob gone", func(s state) bool { _, b := s.player("bob"); return !b })
}

// TestArenaBrowser plays the arena in two headless Chromium pages (e2e/arena.mjs): both join, each sees
// the other, one steers with the arrow keys and the other sees it move. It needs Node.js, Chromium and
// e2e/node_modules (scripts/e2e-setup.sh), so it runs with ROOMIO_E2E=1.
func TestArenaBrowser(t *testing.T) {
	if os.Getenv("ROOMIO_E2E") != "1" {
		t.Skip("real-browser test: run scripts/e2e-setup.sh, then ROOMIO_E2E=1 go test -run Browser ./examples/arena/")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core")); err != nil {
		t.Fatalf("e2e/node_modules/playwright-core missing (run scripts/e2e-setup.sh): %v", err)
	}
	url := serve(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("e2e", "arena.mjs"), url+"/")
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node e2e/arena.mjs failed: %v\n%s", err, out)
	}
	t.Logf("node e2e/arena.mjs:\n%s", out)
}

// TestArenaQuickPlay: six players ask for quick play (no arena name) at once: the first four fill one
// arena, the next two open a second, each named "arena:" and a fresh id.
func TestArenaQuickPlay(t *testing.T) {
	url := serve(t)
	type result struct{ room, err string }
	results := make(chan result, 6)
	for i := range 6 {
		g := dial(t, url)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			res, err := g.s.EmitWithAck(ctx, "join", map[string]string{"arena": "", "name": string(rune('a' + i))})
			var ack struct {
				OK    bool
				Room  string
				Error string
			}
			if err == nil {
				err = client.DecodeArgs(res, &ack)
			}
			if err != nil {
				ack.Error = err.Error()
			}
			results <- result{ack.Room, ack.Error}
		}()
	}
	per := map[string]int{}
	for range 6 {
		r := <-results
		if r.err != "" || !strings.HasPrefix(r.room, "arena:") {
			t.Fatalf("quick play: %+v", r)
		}
		per[r.room]++
	}
	counts := []int{}
	for _, n := range per {
		counts = append(counts, n)
	}
	if len(per) != 2 || !(counts[0] == 4 && counts[1] == 2 || counts[0] == 2 && counts[1] == 4) {
		t.Fatalf("six quick plays: %v, want one arena of 4 and one of 2", per)
	}
}
