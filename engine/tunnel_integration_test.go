//go:build integration

package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
)

// startSIONodes starts n engines with base (its Cluster addresses set here) that form one cluster, each
// serving Socket.IO on its own listener, and waits until every node sees all the others.
func startSIONodes(t *testing.T, n int, base engine.Config, setup func(e *engine.Engine)) []*sioServer {
	t.Helper()
	var ss []*sioServer
	var seed string
	for range n {
		cfg := base
		cfg.Cluster = engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}
		if seed != "" {
			cfg.Cluster.Seeds = []string{seed}
		}
		s := serveSIO(t, "127.0.0.1:0", cfg, setup)
		if seed == "" {
			seed = s.e.ClusterMembers()[0].GossipAddr
		}
		ss = append(ss, s)
	}
	for _, s := range ss {
		waitUntil(t, "the cluster to converge", func() bool { return len(s.e.ClusterMembers()) == n })
	}
	return ss
}

// lbProxy is a plain HTTP load balancer in front of the nodes: every request goes to the next node in
// turn, with no stickiness (httputil.ReverseProxy, which relays WebSocket upgrades too). With
// avoidOwner, a request that names a session goes to any node but the session's own, so every such
// request is relayed between nodes.
type lbProxy struct {
	url        string
	avoidOwner bool

	mu    sync.Mutex
	nodes []*sioServer
	next  int
	hits  []int
}

// newLBProxy starts the proxy; setNodes gives it its backends. Its cleanup runs after the nodes' (it
// is registered first), so that no request is pending through it when it closes.
func newLBProxy(t *testing.T, avoidOwner bool) *lbProxy {
	t.Helper()
	p := &lbProxy{avoidOwner: avoidOwner}
	tr := &http.Transport{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := p.pick(pr.In.URL.Query().Get("sid"))
			pr.SetURL(&url.URL{Scheme: "http", Host: target.addr})
		},
		Transport: tr,
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	p.url = srv.URL
	return p
}

func (p *lbProxy) setNodes(nodes []*sioServer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes = nodes
	p.hits = make([]int, len(nodes))
}

func (p *lbProxy) pick(sid string) *sioServer {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		i := p.next % len(p.nodes)
		p.next++
		if p.avoidOwner && sid != "" && strings.HasPrefix(sid, p.nodes[i].e.NodeID()+".") {
			continue
		}
		p.hits[i]++
		return p.nodes[i]
	}
}

// setNext makes the next request go to node i.
func (p *lbProxy) setNext(i int) {
	p.mu.Lock()
	p.next = i
	p.mu.Unlock()
}

// eioClient speaks raw Engine.IO long-polling.
type eioClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	sid  string
}

func newEIOClient(t *testing.T, base string) *eioClient {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: waitFor}
	t.Cleanup(hc.CloseIdleConnections)
	return &eioClient{t: t, base: base + "/socket.io/?EIO=4&transport=polling", hc: hc}
}

func (c *eioClient) do(method, query, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+query, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, query, err)
	}
	return resp.StatusCode, string(b)
}

// open does the handshake.
func (c *eioClient) open() {
	c.t.Helper()
	status, body := c.do(http.MethodGet, "", "")
	var o struct{ SID string }
	if status != http.StatusOK || !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &o) != nil {
		c.t.Fatalf("handshake: %d %q", status, body)
	}
	c.sid = o.SID
}

func (c *eioClient) post(payload string) {
	c.t.Helper()
	if status, body := c.do(http.MethodPost, "&sid="+c.sid, payload); status != http.StatusOK || body != "ok" {
		c.t.Fatalf("POST %q: %d %q", payload, status, body)
	}
}

// get polls, skipping pings (answered with a pong) and noops.
func (c *eioClient) get() string {
	c.t.Helper()
	for {
		status, body := c.do(http.MethodGet, "&sid="+c.sid, "")
		if status != http.StatusOK {
			c.t.Fatalf("GET: %d %q", status, body)
		}
		var keep []string
		for _, p := range strings.Split(body, "\x1e") {
			switch p {
			case "2":
				c.post("3")
			case "6":
			default:
				keep = append(keep, p)
			}
		}
		if len(keep) > 0 {
			return strings.Join(keep, "\x1e")
		}
	}
}

// TestTunnelEngineIOThroughProxy drives Engine.IO by hand through a round-robin proxy over three nodes:
// the session lives on the node of the handshake, and every other request is relayed to it, the
// WebSocket upgrade included.
func TestTunnelEngineIOThroughProxy(t *testing.T) {
	p := newLBProxy(t, false)
	ns := startSIONodes(t, 3, engine.Config{}, sioApp(nil))
	p.setNodes(ns)
	// Requests go to nodes 0, 1, 2, 0, 1, 2 in turn: the handshake to node 0, which owns the session,
	// and two requests in three to the other nodes.
	c := newEIOClient(t, p.url)
	c.open()
	if !strings.HasPrefix(c.sid, ns[0].e.NodeID()+".") {
		t.Fatalf("sid %q does not name node %s", c.sid, ns[0].e.NodeID())
	}
	c.post("40")
	var connect struct{ SID string }
	if got := c.get(); !strings.HasPrefix(got, "40") || json.Unmarshal([]byte(got[2:]), &connect) != nil {
		t.Fatalf("CONNECT reply %q", got)
	}
	c.post(`421["add",2,3]`)
	if got := c.get(); got != `431[5]` {
		t.Fatalf("ack %q", got)
	}
	// An emit from yet another node reaches the socket, and the poll that collects it is relayed.
	ns[1].e.To(connect.SID).Emit("hello", "x")
	if got := c.get(); got != `42["hello","x"]` {
		t.Fatalf("emit %q", got)
	}
	p.mu.Lock()
	hits := slices.Clone(p.hits)
	p.mu.Unlock()
	if !slices.Equal(hits, []int{2, 2, 2}) {
		t.Fatalf("requests per node %v", hits)
	}
	if st := ns[0].e.Stats(); st.Sockets != 1 {
		t.Fatalf("node 0 has %d sockets", st.Sockets)
	}
	for i := 1; i < 3; i++ {
		if st := ns[i].e.Stats(); st.Sockets != 0 {
			t.Fatalf("node %d has %d sockets", i, st.Sockets)
		}
	}

	// The upgrade, relayed from node 1.
	p.setNext(1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.url, "http")+"/socket.io/?EIO=4&transport=websocket&sid="+c.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() string {
		t.Helper()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) == "2" {
				ws.Write(ctx, websocket.MessageText, []byte("3"))
				continue
			}
			return string(data)
		}
	}
	ws.Write(ctx, websocket.MessageText, []byte("2probe"))
	if got := read(); got != "3probe" {
		t.Fatalf("probe answered %q", got)
	}
	ws.Write(ctx, websocket.MessageText, []byte("5"))
	ws.Write(ctx, websocket.MessageText, []byte(`422["add",20,22]`))
	if got := read(); got != `432[42]` {
		t.Fatalf("ack over the relayed websocket %q", got)
	}
	ns[2].e.To(connect.SID).Emit("hello", "ws")
	if got := read(); got != `42["hello","ws"]` {
		t.Fatalf("emit over the relayed websocket %q", got)
	}
	// After the upgrade, a poll is refused by the owner, as it would be without the relay.
	if status, _ := c.do(http.MethodGet, "&sid="+c.sid, ""); status != http.StatusBadRequest {
		t.Fatalf("poll after the upgrade: %d", status)
	}
	// A sid of a node that is not in the cluster, and a sid of no node, are unknown.
	for _, sid := range []string{"zzzzzzzz.abc", "abc"} {
		status, body := c.do(http.MethodGet, "&sid="+sid, "")
		if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("sid %q: %d %q", sid, status, body)
		}
	}
}

// TestTunnelManyPollingClients runs concurrent long-polling clients through a proxy that never sends a
// request to its session's node.
func TestTunnelManyPollingClients(t *testing.T) {
	p := newLBProxy(t, true)
	ns := startSIONodes(t, 3, engine.Config{}, sioApp(nil))
	p.setNodes(ns)
	const clients, acks = 20, 10
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			c := newEIOClient(t, p.url)
			c.open()
			c.post("40")
			if got := c.get(); !strings.HasPrefix(got, "40") {
				t.Errorf("client %d: CONNECT reply %q", i, got)
				return
			}
			for k := range acks {
				c.post(fmt.Sprintf(`42%d["add",%d,%d]`, k, i, k))
				if got, want := c.get(), fmt.Sprintf(`43%d[%d]`, k, i+k); got != want {
					t.Errorf("client %d: got %q, want %q", i, got, want)
					return
				}
			}
			c.post("1")
		})
	}
	wg.Wait()
	// Every tunnel ended with its request.
	for i, n := range ns {
		waitUntil(t, fmt.Sprintf("node %d's tunnels to end", i), func() bool { return engine.OpenTunnels(n.e) == 0 })
	}
	var sockets int64
	for _, n := range ns {
		sockets += n.e.Stats().Sockets
	}
	if sockets != 0 {
		// The close packets were relayed too: every socket is gone.
		waitUntil(t, "the sockets to close", func() bool {
			var s int64
			for _, n := range ns {
				s += n.e.Stats().Sockets
			}
			return s == 0
		})
	}
}

// TestTunnelOwnerLeaves checks that a relayed request ends when the session's node shuts down.
func TestTunnelOwnerLeaves(t *testing.T) {
	p := newLBProxy(t, true)
	ns := startSIONodes(t, 3, engine.Config{}, sioApp(nil))
	p.setNodes(ns)
	p.setNext(0)
	c := newEIOClient(t, p.url)
	c.open()
	c.post("40")
	c.get()
	done := make(chan string, 1)
	go func() {
		// A pending poll, relayed from another node.
		req, _ := http.NewRequest(http.MethodGet, c.base+"&sid="+c.sid, nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- fmt.Sprintf("%d %q", resp.StatusCode, b)
	}()
	waitUntil(t, "the poll to be relayed", func() bool { return engine.OpenTunnels(ns[0].e) == 1 })
	ns[0].stop(t)
	select {
	case got := <-done:
		t.Logf("pending poll ended with %s", got)
	case <-time.After(5 * time.Second):
		t.Fatal("the relayed poll outlived its session's node")
	}
}

// TestTunnelSocketIOClientThroughProxy runs socket.io-client scenarios through the proxy: with plain
// round robin, and with every request after the handshake sent to a node that must relay it (so the
// upgrade of default-transports surely crosses a tunnel).
func TestTunnelSocketIOClientThroughProxy(t *testing.T) {
	needNode(t)
	for _, mode := range []struct {
		name       string
		avoidOwner bool
	}{{"round-robin", false}, {"never-the-owner", true}} {
		for _, sc := range []string{"polling-only", "default-transports", "acks", "binary", "namespaces"} {
			t.Run(mode.name+"/"+sc, func(t *testing.T) {
				p := newLBProxy(t, mode.avoidOwner)
				p.setNodes(startSIONodes(t, 3, engine.Config{}, sioApp(nil)))
				runScenario(t, sc, p.url).wait(t)
			})
		}
	}
}
