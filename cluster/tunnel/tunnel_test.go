package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/nettest"
	"google.golang.org/protobuf/proto"

	"github.com/roomio/roomio/cluster"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

const tunnelTestTimeout = 10 * time.Second

// tunnelBus connects the tunnels of in-process nodes as the cluster does: envelopes are encoded when
// sent and delivered in order per pair of nodes, one at a time per receiving node, by a goroutine that
// stands for the node router.
type tunnelBus struct {
	t     *testing.T
	nodes map[string]*Tunnels
	in    map[string]chan busMsg

	mu     sync.Mutex
	filter func(from, to string, env *clusterv1.Envelope) error // non-nil error: Send fails; errDrop: lost
	down   map[string]bool
	wg     sync.WaitGroup
}

type busMsg struct {
	from string
	b    []byte
}

// errDrop makes a filter lose an envelope that Send accepted, as a broken stream does.
var errDrop = errors.New("dropped")

// newTunnelBus starts a node per name; handlers[name], when set, serves the tunnels opened to it.
func newTunnelBus(t *testing.T, handlers map[string]http.Handler, names ...string) *tunnelBus {
	t.Helper()
	bus := &tunnelBus{t: t, nodes: make(map[string]*Tunnels), in: make(map[string]chan busMsg), down: make(map[string]bool)}
	for _, name := range names {
		name := name
		send := func(to string, env *clusterv1.Envelope) error { return bus.send(name, to, env) }
		isPeer := func(id string) bool { _, ok := bus.nodes[id]; return ok && id != name }
		tn := New(Config{Self: name, Send: send, IsPeer: isPeer, Handler: handlers[name], Logger: slog.New(slog.DiscardHandler)})
		bus.nodes[name] = tn
		ch := make(chan busMsg, 1<<16)
		bus.in[name] = ch
		bus.wg.Go(func() {
			for m := range ch {
				env := &clusterv1.Envelope{}
				if err := proto.Unmarshal(m.b, env); err != nil {
					t.Errorf("decode: %v", err)
					continue
				}
				tn.Receive(m.from, env)
			}
		})
		tn.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), tunnelTestTimeout)
		defer cancel()
		for _, tn := range bus.nodes {
			if err := tn.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		bus.mu.Lock()
		for name, ch := range bus.in {
			close(ch)
			delete(bus.in, name)
		}
		bus.mu.Unlock()
		bus.wg.Wait()
	})
	return bus
}

func (bus *tunnelBus) send(from, to string, env *clusterv1.Envelope) error {
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	bus.mu.Lock()
	defer bus.mu.Unlock()
	if f := bus.filter; f != nil {
		if err := f(from, to, env); errors.Is(err, errDrop) {
			return nil
		} else if err != nil {
			return err
		}
	}
	ch := bus.in[to]
	if ch == nil || bus.down[to] {
		return cluster.ErrUnknownNode
	}
	select {
	case ch <- busMsg{from, b}:
		return nil
	default:
		return cluster.ErrQueueFull
	}
}

func (bus *tunnelBus) setFilter(f func(from, to string, env *clusterv1.Envelope) error) {
	bus.mu.Lock()
	bus.filter = f
	bus.mu.Unlock()
}

// pipe opens a tunnel from node a to node b (whose tunnels have no HTTP server) and returns both ends.
func (bus *tunnelBus) pipe(a, b string) (net.Conn, net.Conn, error) {
	c1, err := bus.nodes[a].dial(context.Background(), "tcp", b+":80")
	if err != nil {
		return nil, nil, err
	}
	select {
	case c2 := <-bus.nodes[b].ln.conns:
		return c1, c2, nil
	case <-time.After(tunnelTestTimeout):
		c1.Close()
		return nil, nil, errors.New("the tunnel did not arrive")
	}
}

// TestTunnelConn runs x/net's net.Conn conformance tests over a tunnel.
func TestTunnelConn(t *testing.T) {
	bus := newTunnelBus(t, nil, "a", "b")
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c1, c2, err := bus.pipe("a", "b")
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
	// Tunnels opened from either end with the same id are distinct.
	c1, c2, err := bus.pipe("b", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	d1, d2, err := bus.pipe("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	defer d2.Close()
	c1.Write([]byte("from b"))
	d1.Write([]byte("from a"))
	for _, x := range []struct {
		c    net.Conn
		want string
	}{{c2, "from b"}, {d2, "from a"}} {
		buf := make([]byte, 6)
		if _, err := io.ReadFull(x.c, buf); err != nil || string(buf) != x.want {
			t.Fatalf("read %q, %v; want %q", buf, err, x.want)
		}
	}
}

// TestTunnelFlowControl checks that a writer never gets more than the window ahead of the reader, and
// that everything arrives, in order.
func TestTunnelFlowControl(t *testing.T) {
	bus := newTunnelBus(t, nil, "a", "b")
	c1, c2, err := bus.pipe("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	want := make([]byte, 5*window+12345)
	rand.Read(want)
	wrote := make(chan error, 1)
	go func() {
		_, err := c1.Write(want)
		if err == nil {
			err = c1.Close()
		}
		wrote <- err
	}()
	// The reader does not read: the writer stops at the window.
	tc1 := c1.(*conn)
	deadline := time.Now().Add(tunnelTestTimeout)
	for {
		tc1.mu.Lock()
		sent := tc1.sent
		tc1.mu.Unlock()
		if sent == window {
			break
		}
		if sent > window || time.Now().After(deadline) {
			t.Fatalf("%d bytes sent to a reader that reads nothing", sent)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-wrote:
		t.Fatalf("Write returned (%v) with the window full", err)
	default:
	}
	got, err := io.ReadAll(c2)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// TestTunnelResets checks how a tunnel ends when something goes wrong: each case resets both ends, and
// the node table forgets the tunnel.
func TestTunnelResets(t *testing.T) {
	cases := []struct {
		name  string
		run   func(t *testing.T, bus *tunnelBus, c1, c2 net.Conn)
		check func(t *testing.T, err1, err2 error)
	}{
		{"lost data", func(t *testing.T, bus *tunnelBus, c1, c2 net.Conn) {
			bus.setFilter(func(from, to string, env *clusterv1.Envelope) error {
				if d := env.GetTunnelData(); d != nil && string(d.Data) == "lost" {
					return errDrop
				}
				return nil
			})
			c1.Write([]byte("lost"))
			c1.Write([]byte("next"))
		}, func(t *testing.T, err1, err2 error) {
			if !errors.Is(err2, errGap) || !strings.Contains(err1.Error(), "lost data") {
				t.Fatalf("errors %v / %v", err1, err2)
			}
		}},
		{"failed send", func(t *testing.T, bus *tunnelBus, c1, c2 net.Conn) {
			bus.setFilter(func(from, to string, env *clusterv1.Envelope) error {
				if env.GetTunnelData() != nil {
					return cluster.ErrQueueFull
				}
				return nil
			})
			if _, err := c1.Write([]byte("x")); !errors.Is(err, cluster.ErrQueueFull) {
				t.Fatalf("Write: %v", err)
			}
		}, func(t *testing.T, err1, err2 error) {
			if !errors.Is(err1, cluster.ErrQueueFull) || !strings.Contains(err2.Error(), "peer queue full") {
				t.Fatalf("errors %v / %v", err1, err2)
			}
		}},
		{"overflow", func(t *testing.T, bus *tunnelBus, c1, c2 net.Conn) {
			// A sender that ignores the window: the receiver resets instead of buffering.
			tc1 := c1.(*conn)
			chunk := make([]byte, chunkSize)
			for off := 0; off <= window; off += len(chunk) {
				tc1.sendData(chunk, uint64(off), 0)
			}
		}, func(t *testing.T, err1, err2 error) {
			if !errors.Is(err2, errFull) || !strings.Contains(err1.Error(), "overflow") {
				t.Fatalf("errors %v / %v", err1, err2)
			}
		}},
		{"unknown tunnel", func(t *testing.T, bus *tunnelBus, c1, c2 net.Conn) {
			tc2 := c2.(*conn)
			bus.nodes["b"].remove(tc2.key) // b forgets the tunnel
			c1.Write([]byte("anyone?"))
			tc2.fail(errors.New("forgotten"), false)
		}, func(t *testing.T, err1, err2 error) {
			if !strings.Contains(err1.Error(), unknownTunnel) {
				t.Fatalf("error %v", err1)
			}
		}},
		{"member down", func(t *testing.T, bus *tunnelBus, c1, c2 net.Conn) {
			bus.mu.Lock()
			bus.down["b"] = true
			bus.mu.Unlock()
			bus.nodes["a"].MemberDown("b")
			bus.nodes["b"].MemberDown("a")
		}, func(t *testing.T, err1, err2 error) {
			if !errors.Is(err1, errPeerDown) || !errors.Is(err2, errPeerDown) {
				t.Fatalf("errors %v / %v", err1, err2)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bus := newTunnelBus(t, nil, "a", "b")
			c1, c2, err := bus.pipe("a", "b")
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			defer c2.Close()
			c1.SetReadDeadline(time.Now().Add(tunnelTestTimeout))
			c2.SetReadDeadline(time.Now().Add(tunnelTestTimeout))
			tc.run(t, bus, c1, c2)
			_, err1 := c1.Read(make([]byte, 10))
			_, err2 := c2.Read(make([]byte, 10))
			if errors.Is(err1, os.ErrDeadlineExceeded) || errors.Is(err2, os.ErrDeadlineExceeded) {
				t.Fatalf("not reset: %v / %v", err1, err2)
			}
			tc.check(t, err1, err2)
			for _, name := range []string{"a", "b"} {
				if n := bus.nodes[name].Len(); n != 0 {
					t.Errorf("node %s still has %d tunnels", name, n)
				}
			}
		})
	}
}

// TestTunnelOrderlyEnd checks that Close delivers what was written before it, then EOF, and that
// writing to a tunnel the other side closed fails.
func TestTunnelOrderlyEnd(t *testing.T) {
	bus := newTunnelBus(t, nil, "a", "b")
	c1, c2, err := bus.pipe("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c1.Write([]byte("last words"))
	c1.Close()
	if got, err := io.ReadAll(c2); err != nil || string(got) != "last words" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := c2.Write([]byte("x")); !errors.Is(err, errEnded) {
		t.Fatalf("Write after the other side closed: %v", err)
	}
	// Shutdown ends the tunnels in order too, and refuses new ones.
	d1, d2, err := bus.pipe("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	d2.Write([]byte("bye"))
	if err := bus.nodes["b"].Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(d1); err != nil || string(got) != "bye" {
		t.Fatalf("read %q, %v", got, err)
	}
	e1, err := bus.nodes["a"].dial(context.Background(), "tcp", "b:80")
	if err != nil {
		t.Fatal(err) // opening does not wait for an answer
	}
	defer e1.Close()
	e1.SetReadDeadline(time.Now().Add(tunnelTestTimeout))
	if _, err := e1.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), errShutdown.Error()) {
		t.Fatalf("tunnel to a node that shut down: %v", err)
	}
}

// TestTunnelHTTP relays HTTP requests, a large response and a WebSocket through tunnels, as
// the engine's Socket.IO handler does.
func TestTunnelHTTP(t *testing.T) {
	big := make([]byte, 3*window+7)
	rand.Read(big)
	owner := http.NewServeMux()
	owner.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Remote", r.RemoteAddr)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RawQuery, body)
	})
	owner.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	owner.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(-1)
		for {
			typ, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			if err := ws.Write(r.Context(), typ, append([]byte("echo "), data...)); err != nil {
				return
			}
		}
	})
	bus := newTunnelBus(t, map[string]http.Handler{"b": owner}, "a", "b")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The engine relays a session to the node its id names: the part before the first '.'.
		node, _, _ := strings.Cut(r.URL.Query().Get("sid"), ".")
		if !bus.nodes["a"].Forward(w, r, node) {
			http.Error(w, "not forwarded", http.StatusBadRequest)
		}
	}))
	t.Cleanup(front.Close)
	hc := &http.Client{Transport: &http.Transport{}, Timeout: tunnelTestTimeout}
	t.Cleanup(hc.CloseIdleConnections)

	// Only sids of another live node are relayed.
	for _, sid := range []string{"a.x", "c.x", "nodot", ""} {
		resp, err := hc.Get(front.URL + "/echo?sid=" + sid)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("sid %q: status %d", sid, resp.StatusCode)
		}
	}
	// Concurrent requests, each with its own tunnel; the client's connections stay open.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			resp, err := hc.Post(front.URL+fmt.Sprintf("/echo?sid=b.x&i=%d", i), "text/plain", strings.NewReader("body"))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			host := strings.TrimPrefix(front.URL, "http://")
			if want := fmt.Sprintf("POST sid=b.x&i=%d body", i); string(got) != want || resp.Header.Get("X-Host") != host {
				t.Errorf("got %q (host %q), want %q", got, resp.Header.Get("X-Host"), want)
			}
			if ra := resp.Header.Get("X-Remote"); !strings.HasPrefix(ra, "127.0.0.1:") {
				t.Errorf("owner saw the client at %q", ra)
			}
		})
	}
	wg.Wait()
	resp, err := hc.Get(front.URL + "/big?sid=b.x")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big response: %d bytes, %v", len(got), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), tunnelTestTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/ws?sid=b.x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for _, msg := range []string{"one", "two", strings.Repeat("x", 200_000)} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, data, err := ws.Read(ctx); err != nil || string(data) != "echo "+msg {
			t.Fatalf("websocket echo: %.20q, %v", data, err)
		}
	}
	// The owner going away ends the relayed WebSocket.
	bus.nodes["a"].MemberDown("b")
	if _, _, err := ws.Read(ctx); err == nil {
		t.Fatal("websocket still open after the owner left")
	}
}
