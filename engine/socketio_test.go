package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// The official socket.io-client (e2e/package-lock.json) drives these tests through e2e/sio.mjs. They need
// node and e2e/node_modules, which scripts/e2e-setup.sh installs; scripts/test.sh sets ROOMIO_E2E=1.

func needNode(t *testing.T) string {
	t.Helper()
	if os.Getenv("ROOMIO_E2E") != "1" {
		t.Skip("set ROOMIO_E2E=1 after scripts/e2e-setup.sh to run the socket.io-client tests (scripts/test.sh does both)")
	}
	dir, err := filepath.Abs("../e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("socket.io-client is not installed: run scripts/e2e-setup.sh (%v)", err)
	}
	return dir
}

// sioServer serves an engine's Socket.IO endpoint (and the native one) on a loopback listener whose
// address can be reused by a restarted engine.
type sioServer struct {
	e    *engine.Engine
	srv  *http.Server
	addr string
}

func serveSIO(t *testing.T, addr string, cfg engine.Config, setup func(e *engine.Engine)) *sioServer {
	t.Helper()
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(e)
	}
	e.Start(context.Background())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", e.SocketIOHandler())
	mux.Handle("/ws", e.Handler())
	s := &sioServer{e: e, srv: &http.Server{Handler: mux}, addr: ln.Addr().String()}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *sioServer) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := s.e.Shutdown(ctx); err != nil && !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Shutdown: %v", err)
	}
	s.srv.Shutdown(ctx)
	if st := s.e.Stats(); !st.Idle() {
		t.Errorf("actors left: %+v", st)
	}
}

// nodeRun is a running scenario: its "step" lines arrive on steps; send tells it to go on.
type nodeRun struct {
	steps chan string
	stdin io.WriteCloser
	done  chan error
	out   *strings.Builder
}

func runScenario(t *testing.T, scenario, base string, extra ...string) *nodeRun {
	t.Helper()
	dir := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "node", append([]string{"sio.mjs", scenario, base}, extra...)...)
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &nodeRun{steps: make(chan string, 16), stdin: stdin, done: make(chan error, 1), out: &strings.Builder{}}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			r.out.WriteString(line + "\n")
			if step, ok := strings.CutPrefix(line, "step "); ok {
				r.steps <- step
			}
		}
		r.done <- cmd.Wait()
		cancel()
	}()
	t.Cleanup(func() {
		stdin.Close()
		cancel()
	})
	return r
}

func (r *nodeRun) step(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.steps:
		return s
	case err := <-r.done:
		t.Fatalf("scenario ended (%v) before its next step:\n%s", err, r.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("no step from the scenario:\n%s", r.out)
	}
	return ""
}

func (r *nodeRun) proceed() { fmt.Fprintln(r.stdin, "go") }

func (r *nodeRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("scenario failed (%v):\n%s", err, r.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("scenario did not finish:\n%s", r.out)
	}
}

// sioApp is the server side of the scenarios.
func sioApp(reasons chan<- string) func(e *engine.Engine) {
	return func(e *engine.Engine) {
		handlers := func(s *engine.Socket) {
			s.On("add", func(ev *engine.Event) {
				var a, b int
				ev.Bind(0, &a)
				ev.Bind(1, &b)
				ev.Ack(a + b)
			})
			s.On("whoami", func(ev *engine.Event) { ev.Ack(s.Namespace().Name()) })
			s.On("my-auth", func(ev *engine.Event) { ev.Ack(json.RawMessage(s.Handshake().Auth)) })
			s.On("ask-me", func(ev *engine.Event) {
				var q string
				ev.Bind(0, &q)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res, err := s.EmitWithAck(ctx, "question", q)
				if err != nil {
					ev.Ack(err.Error())
					return
				}
				ev.Ack(res[0])
			})
			s.On("join", func(ev *engine.Event) {
				var room string
				ev.Bind(0, &room)
				ev.Ack(s.Join(context.Background(), room) == nil)
			})
			s.On("bin-echo", func(ev *engine.Event) {
				args := make([]any, len(ev.Args))
				for i, a := range ev.Args {
					args[i] = a
				}
				ev.Ack(args...)
			})
			s.On("send-gift", func(*engine.Event) { s.Emit("gift", []byte("roomio")) })
			// Re-emits what it received, in reverse order, as an event to the sender, to the room
			// "mirror" (which the sender is in) and as the ack: nested binaries must stay in place.
			s.On("mirror", func(ev *engine.Event) {
				args := make([]any, len(ev.Args))
				for i, a := range ev.Args {
					args[len(args)-1-i] = a
				}
				if err := s.Join(ev.Context(), "mirror"); err != nil {
					ev.Ack(err.Error())
					return
				}
				s.Emit("mirrored", args...)
				s.Namespace().To("mirror").Emit("mirrored-room", args...)
				ev.Ack(args...)
			})
			s.On("join-room", func(ev *engine.Event) {
				var req struct{ Room, Password string }
				ev.Bind(0, &req)
				if !s.Namespace().IsDefined(req.Room) {
					ev.Ack(map[string]string{"error": "engine: room has no behaviour"})
					return
				}
				err := s.JoinRoom(ev.Context(), req.Room, req.Password)
				if re := (*engine.RefusedError)(nil); errors.As(err, &re) {
					ev.Ack(map[string]string{"error": re.Err.Error()})
					return
				} else if err != nil {
					ev.Ack(map[string]string{"error": err.Error()})
					return
				}
				ev.Ack(map[string]bool{"ok": true})
			})
			s.On("room-say", func(ev *engine.Event) {
				var room, text string
				ev.Bind(0, &room)
				ev.Bind(1, &text)
				res, err := s.RequestRoom(ev.Context(), room, "say", text)
				if err != nil {
					ev.Ack(map[string]string{"error": err.Error()})
					return
				}
				ev.Ack(res[0])
			})
			s.On("kick-me", func(*engine.Event) { s.Disconnect(false) })
			if reasons != nil {
				s.OnDisconnect(func(r string) { reasons <- r })
			}
		}
		e.Use(func(s *engine.Socket) error {
			var auth struct{ Token string }
			if s.Handshake().Auth != nil {
				json.Unmarshal(s.Handshake().Auth, &auth)
				if auth.Token != "secret" {
					return &engine.ConnectError{Message: "not authorized", Data: map[string]string{"hint": "send a token"}}
				}
			}
			return nil
		})
		e.OnConnection(handlers)
		e.Of("/admin").OnConnection(handlers)
		e.Of("/").Define("vault:", func(string) engine.Behavior { return &vault{} })
	}
}

func TestSocketIOClientScenarios(t *testing.T) {
	for _, sc := range []string{"default-transports", "polling-only", "websocket-only", "namespaces", "auth-middleware", "acks", "binary", "nested-binary", "server-disconnect", "behavior-room"} {
		t.Run(sc, func(t *testing.T) {
			s := serveSIO(t, "127.0.0.1:0", engine.Config{}, sioApp(nil))
			runScenario(t, sc, "http://"+s.addr).wait(t)
		})
	}
}

func TestSocketIOAndNativeShareRooms(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", engine.Config{}, sioApp(nil))
	c, err := client.Dial(ctxT(t), "ws://"+s.addr+"/ws", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	native, err := c.Connect(ctxT(t), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := native.EmitWithAck(ctxT(t), "join", "mixed"); err != nil || string(res[0].Data) != "true" {
		t.Fatalf("native join: %v %v", res, err)
	}
	news := native.Events("news", 1)
	run := runScenario(t, "broadcast-mixed", "http://"+s.addr)
	if st := run.step(t); st != "joined" {
		t.Fatalf("step %q", st)
	}
	if err := s.e.To("mixed").Emit("news", map[string]any{"from": "server", "n": 1}); err != nil {
		t.Fatal(err)
	}
	run.proceed()
	run.wait(t)
	select {
	case ev := <-news:
		if len(ev.Args) != 1 || string(ev.Args[0].Data) != `{"from":"server","n":1}` {
			t.Fatalf("native got %v", ev.Args)
		}
	case <-time.After(waitFor):
		t.Fatal("native client missed the broadcast")
	}
}

func TestSocketIOClientDisconnectReason(t *testing.T) {
	reasons := make(chan string, 1)
	s := serveSIO(t, "127.0.0.1:0", engine.Config{}, sioApp(reasons))
	run := runScenario(t, "client-disconnect", "http://"+s.addr)
	run.step(t)
	run.wait(t)
	select {
	case r := <-reasons:
		if r != "client namespace disconnect" {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(waitFor):
		t.Fatal("no disconnect on the server")
	}
}

func TestSocketIOReconnectAfterRestart(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", engine.Config{}, sioApp(nil))
	run := runScenario(t, "reconnect-after-restart", "http://"+s.addr)
	if st := run.step(t); st != "connected" {
		t.Fatalf("step %q", st)
	}
	s.stop(t)
	if st := run.step(t); st != "disconnected" {
		t.Fatalf("step %q", st)
	}
	serveSIO(t, s.addr, engine.Config{}, sioApp(nil))
	run.wait(t)
}

func TestSocketIOPingTimeout(t *testing.T) {
	reasons := make(chan string, 1)
	s := serveSIO(t, "127.0.0.1:0", engine.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, sioApp(reasons))
	run := runScenario(t, "ping-timeout", "http://"+s.addr)
	select {
	case r := <-reasons:
		if r != "ping timeout" {
			t.Fatalf("server reason %q, want ping timeout", r)
		}
	case <-time.After(waitFor):
		t.Fatal("the silent client was not dropped")
	}
	run.step(t)
	run.wait(t)
}

// vault is the behaviour room of the scenarios: a password to join, and a counter of what was said.
type vault struct {
	engine.BaseBehavior
	seq int
}

func (v *vault) OnJoin(r *engine.RoomContext, j *engine.Joiner) error {
	var pw string
	j.Options.Decode(&pw)
	if pw != "secret" {
		return errors.New("wrong password")
	}
	return nil
}

func (v *vault) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	var text string
	m.Bind(0, &text)
	v.seq++
	r.Emit("said", map[string]any{"seq": v.seq, "text": text})
	m.Reply(map[string]any{"ok": true, "seq": v.seq})
}
