package main_test

// Connection state recovery across node processes: three nodes behind a round-robin TCP proxy (no
// sticky sessions), a client whose connection the proxy cuts reconnects through it to another node and
// is recovered there; with its node killed (SIGKILL) it gets a fresh socket at once.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// rrProxy is a round-robin TCP proxy: each accepted connection goes to the next backend in turn (a
// backend that refuses the dial costs the client that connection, as behind a real balancer without
// health checks). cut closes every connection (no WebSocket close: the TCP connections end); hold
// makes new connections wait until release.
type rrProxy struct {
	addr     string
	ln       net.Listener
	backends []string
	wg       sync.WaitGroup

	mu     sync.Mutex
	next   int
	conns  map[net.Conn]struct{}
	gate   chan struct{} // closed: open
	picked []int         // backend of each connection, in order
	// avoidLast: a new WebSocket connection never goes to the backend of the WebSocket connection that
	// ended last (so that a client that lost its connection surely reconnects to another node).
	avoidLast bool
	last      int // backend of the WebSocket connection that ended last; -1 none
	down      int // a backend never picked (a health check found it silent); -1 none
}

func newRRProxy(t testing.TB, nodes []*procNode) *rrProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rrProxy{addr: ln.Addr().String(), ln: ln, conns: make(map[net.Conn]struct{}), gate: make(chan struct{}), last: -1, down: -1}
	close(p.gate)
	for _, n := range nodes {
		p.backends = append(p.backends, n.p.addr)
	}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.release()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *rrProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

func (p *rrProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *rrProxy) handle(c net.Conn) {
	p.track(c)
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	<-gate
	// The first bytes tell a WebSocket upgrade (the request's headers fit in them in these tests).
	head := make([]byte, 4096)
	n, err := c.Read(head)
	if err != nil {
		c.Close()
		return
	}
	head = head[:n]
	ws := bytes.Contains(bytes.ToLower(head), []byte("upgrade: websocket"))
	p.mu.Lock()
	i := p.next % len(p.backends)
	p.next++
	for (p.avoidLast && ws && i == p.last) || i == p.down {
		i = p.next % len(p.backends)
		p.next++
	}
	p.picked = append(p.picked, i)
	p.mu.Unlock()
	b, err := net.DialTimeout("tcp", p.backends[i], 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.track(b)
	if _, err := b.Write(head); err != nil {
		b.Close()
		c.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(b, c); b.Close() })
	io.Copy(c, b)
	c.Close()
	wg.Wait()
	if ws {
		p.mu.Lock()
		p.last = i
		p.mu.Unlock()
	}
}

func (p *rrProxy) setNext(i int) {
	p.mu.Lock()
	p.next = i
	p.mu.Unlock()
}

func (p *rrProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *rrProxy) hold() {
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
}

func (p *rrProxy) release() {
	p.mu.Lock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	p.mu.Unlock()
}

// recoveryStats returns the node's recovery counters (GET /api/v1/stats).
func (n *procNode) recoveryStats() engine.RecoveryStats {
	var st struct{ Recovery engine.RecoveryStats }
	n.getJSON("/api/v1/stats", &st)
	return st.Recovery
}

// recoveringClient dials the node behind the proxy with a reconnecting Go client, joins chat room room
// (none if empty) and receives one message to its id (so that it holds an offset).
func recoveringClient(t *testing.T, p *rrProxy, via *procNode, room string) (*client.Socket, <-chan client.Event, chan struct{}) {
	t.Helper()
	ctx := t.Context()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.Dial(ctx, "ws://"+p.addr+"/ws", client.Options{HTTPClient: &http.Client{Transport: tr},
		Reconnect: true, ReconnectMin: 5 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sock, err := c.Connect(ctx, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	reconnected := make(chan struct{}, 1)
	sock.OnReconnect(func() {
		select { // a later part of the test cuts this client's connection again: never block its hooks
		case reconnected <- struct{}{}:
		default:
		}
	})
	events := sock.Events("m", 128)
	if room != "" {
		res, err := sock.EmitWithAck(ctx, "join", room)
		var ack struct{ OK bool }
		if err != nil || len(res) != 1 || res[0].Decode(&ack) != nil || !ack.OK {
			t.Fatalf("join %s: %v %v", room, argsJSON(res), err)
		}
	}
	via.emit(t, "m", "warm", sock.ID())
	if got := nextEvent(t, events); got != `"warm"` {
		t.Fatalf("warm-up: %s", got)
	}
	return sock, events, reconnected
}

func nextEvent(t *testing.T, events <-chan client.Event) string {
	t.Helper()
	select {
	case ev := <-events:
		return string(ev.Args[0].Data)
	case <-time.After(clusterWait):
		t.Fatal("no event")
		return ""
	}
}

// TestClusterProcessesRecoveryNative: a Go client on node 1, in chat room r, loses its connection; 20
// messages go to r and to its id through the API of all three nodes; it reconnects through the proxy,
// which sends it to node 2: recovered there (same id, still in r) with the 20 once each, in order per
// emitting node and target, then new messages flow, to r and to its id (whose node prefix names node 1).
// Then a client on node 3 loses its connection and node 3 is killed: through the proxy it gets a fresh
// socket at once, without waiting for gossip to declare node 3 dead.
func TestClusterProcessesRecoveryNative(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	p := newRRProxy(t, nodes)

	sock, events, reconnected := recoveringClient(t, p, nodes[2], "r")
	id := sock.ID()
	p.hold()
	p.cut()
	eventually(t, clusterWait, "the socket detached on node 1", func() bool { return nodes[0].recoveryStats().Detached == 1 })
	for i := range 20 {
		target := []string{"r", id}[i%2]
		nodes[i%3].emit(t, "m", i, target)
	}
	for _, n := range nodes {
		n.sockets("r")
		n.sockets(id)
	}
	p.setNext(1)
	p.release()
	awaitReconnect(t, reconnected)
	if !sock.Recovered() || sock.ID() != id {
		t.Fatalf("recovered %v, id %q (was %q)", sock.Recovered(), sock.ID(), id)
	}
	var missed []int
	for range 20 {
		n, err := strconv.Atoi(nextEvent(t, events))
		if err != nil {
			t.Fatal(err)
		}
		missed = append(missed, n)
	}
	checkMissed(t, missed)
	nodes[2].emit(t, "m", "after-r", "r")
	if got := nextEvent(t, events); got != `"after-r"` {
		t.Fatalf("after recovery (a duplicate?): %s", got)
	}
	nodes[2].emit(t, "m", "after-id", id)
	if got := nextEvent(t, events); got != `"after-id"` {
		t.Fatalf("after recovery: %s", got)
	}
	if st := nodes[0].recoveryStats(); st.HandedOver != 1 || st.Detached != 0 {
		t.Fatalf("node 1 stats %+v", st)
	}
	if st := nodes[1].recoveryStats(); st.Recovered != 1 {
		t.Fatalf("node 2 stats %+v", st)
	}

	// The old node killed: a fresh socket at once.
	p.setNext(2)
	sock, _, reconnected = recoveringClient(t, p, nodes[0], "r")
	id = sock.ID()
	p.hold()
	p.cut()
	eventually(t, clusterWait, "the socket detached on node 3", func() bool { return nodes[2].recoveryStats().Detached == 1 })
	nodes[2].kill(t)
	p.setNext(0)
	start := time.Now()
	p.release()
	awaitReconnect(t, reconnected)
	took := time.Since(start)
	if sock.Recovered() || sock.ID() == id {
		t.Fatalf("recovered %v, id %q (was %q)", sock.Recovered(), sock.ID(), id)
	}
	if took > 2*time.Second {
		t.Fatalf("the fresh socket took %v", took)
	}
	t.Logf("fresh socket %v after the release (old node killed)", took)

	// The old node alive but silent (SIGSTOP: a member, its stream open, no answer): a fresh socket after
	// the bounded wait (3 s per step, or sooner if gossip declares the node dead meanwhile).
	// (The earlier clients lose their connections too and come back as well; the proxy stops sending
	// anything to the stopped node, as a balancer's health check would.)
	p.setNext(0)
	// No room: a chat room may be owned by the node killed above, whose death gossip may not have
	// declared yet.
	sock, _, reconnected = recoveringClient(t, p, nodes[1], "")
	id = sock.ID()
	before := nodes[0].recoveryStats().Detached
	p.hold()
	p.cut()
	eventually(t, clusterWait, "the socket detached on node 1", func() bool { return nodes[0].recoveryStats().Detached > before })
	if err := nodes[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nodes[0].cmd.Process.Signal(syscall.SIGCONT) }) // first, should the test fail
	p.mu.Lock()
	p.down = 0
	p.mu.Unlock()
	start = time.Now()
	p.release()
	awaitReconnect(t, reconnected)
	took = time.Since(start)
	if err := nodes[0].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if sock.Recovered() || sock.ID() == id {
		t.Fatalf("recovered %v, id %q (was %q)", sock.Recovered(), sock.ID(), id)
	}
	if took > 7*time.Second {
		t.Fatalf("the fresh socket took %v with the old node silent", took)
	}
	t.Logf("fresh socket %v after the release (old node stopped)", took)
}

// sioRun is a socket.io-client scenario of e2e/sio.mjs run by Node.js: its "step" lines, and lines the
// test writes to it.
type sioRun struct {
	steps  chan string
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    strings.Builder // under mu
	finish func() error
}

// output returns what the scenario printed so far.
func (r *sioRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// runSIO starts scenario with args (the servers' base URLs); it needs ROOMIO_E2E=1, Node.js and
// e2e/node_modules (the test is skipped without ROOMIO_E2E).
func runSIO(t *testing.T, scenario string, args ...string) *sioRun {
	t.Helper()
	e2e, nodeJS := sioClientEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	cmd := exec.CommandContext(ctx, nodeJS, append([]string{"sio.mjs", scenario}, args...)...)
	cmd.Dir = e2e
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &sioRun{steps: make(chan string, 8), stdin: stdin}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if step, ok := strings.CutPrefix(sc.Text(), "step "); ok {
				r.steps <- step
			}
		}
	}()
	r.finish = sync.OnceValue(func() error {
		<-scanned
		return cmd.Wait()
	})
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		r.finish()
	})
	return r
}

func (r *sioRun) step(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.steps:
		return s
	case <-time.After(clusterWait):
		t.Fatalf("no step from the scenario:\n%s", r.output())
		return ""
	}
}

func (r *sioRun) proceed() { fmt.Fprintln(r.stdin, "go") }

// wait ends the scenario's input and waits for it to end with "ok".
func (r *sioRun) wait(t *testing.T) {
	t.Helper()
	r.stdin.Close()
	if err := r.finish(); err != nil || !strings.HasSuffix(r.output(), "ok\n") {
		t.Fatalf("scenario failed (%v):\n%s", err, r.output())
	}
}

// TestClusterProcessesRecoverySocketIO: the official socket.io-client through the round-robin proxy,
// the scenarios of TestClusterProcessesRecoveryNative.
func TestClusterProcessesRecoverySocketIO(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	p := newRRProxy(t, nodes)

	run := runSIO(t, "recover-proxy", "http://"+p.addr)
	id, ok := strings.CutPrefix(run.step(t), "joined ")
	if !ok {
		t.Fatalf("scenario:\n%s", run.output())
	}
	nodes[2].emit(t, "m", "warm", id)
	if st := run.step(t); st != "away" {
		t.Fatalf("step %q", st)
	}
	eventually(t, clusterWait, "the socket detached on node 1", func() bool { return nodes[0].recoveryStats().Detached == 1 })
	for i := range 20 {
		nodes[i%3].emit(t, "m", i, []string{"r", id}[i%2])
	}
	for _, n := range nodes {
		n.sockets("r")
		n.sockets(id)
	}
	p.setNext(1)
	run.proceed()
	back := strings.SplitN(run.step(t), " ", 5) // back <recovered> <same id> <ms> <missed>
	if len(back) != 5 || back[0] != "back" || back[1] != "true" || back[2] != "true" {
		t.Fatalf("back: %q", back)
	}
	t.Logf("recovered on node 2 after %s ms", back[3])
	var missed []int
	if err := json.Unmarshal([]byte(back[4]), &missed); err != nil {
		t.Fatal(err)
	}
	checkMissed(t, missed)
	nodes[2].emit(t, "m", "after", "r")
	run.proceed()
	run.wait(t)
	if st := nodes[0].recoveryStats(); st.HandedOver != 1 {
		t.Fatalf("node 1 stats %+v", st)
	}

	// The old node killed: a fresh socket at once.
	p.setNext(2)
	run = runSIO(t, "recover-proxy", "http://"+p.addr)
	id, _ = strings.CutPrefix(run.step(t), "joined ")
	nodes[0].emit(t, "m", "warm", id)
	if st := run.step(t); st != "away" {
		t.Fatalf("step %q", st)
	}
	eventually(t, clusterWait, "the socket detached on node 3", func() bool { return nodes[2].recoveryStats().Detached == 1 })
	nodes[2].kill(t)
	p.setNext(0)
	run.proceed()
	back = strings.SplitN(run.step(t), " ", 5)
	if len(back) != 5 || back[1] != "false" || back[2] != "false" || back[4] != "[]" {
		t.Fatalf("back after the kill: %q", back)
	}
	if ms, _ := strconv.Atoi(back[3]); ms > 2000 {
		t.Fatalf("the fresh socket took %d ms", ms)
	}
	t.Logf("fresh socket after %s ms (old node killed)", back[3])
	run.wait(t)
}

// checkMissed checks the 20 messages of the recovery tests: 0…19 once each, in order per emitting node
// and target (i%3, i%2: i%6).
func checkMissed(t *testing.T, missed []int) {
	t.Helper()
	if got := slices.Sorted(slices.Values(missed)); len(got) != 20 || len(slices.Compact(got)) != 20 || got[0] != 0 || got[19] != 19 {
		t.Fatalf("missed messages: %v", missed)
	}
	for k := range 6 {
		var per []int
		for _, n := range missed {
			if n%6 == k {
				per = append(per, n)
			}
		}
		if !slices.IsSorted(per) {
			t.Fatalf("order of the messages of group %d: %v (all: %v)", k, per, missed)
		}
	}
}

// TestBrowserChatRecoveryAcrossNodes runs e2e/chat.mjs (two Chromium pages chat; page A's WebSocket
// drops, B sends five messages, A is recovered with them, same id, still in the room) through the
// round-robin proxy over three node processes, the proxy sending A's new connection to another node
// than the one it lost: the browser client (roomio.js) recovered across nodes.
func TestBrowserChatRecoveryAcrossNodes(t *testing.T) {
	root, nodeJS := browserEnv(t)
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	p := newRRProxy(t, nodes)
	p.mu.Lock()
	p.avoidLast = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeJS, filepath.Join("e2e", "chat.mjs"), "http://"+p.addr+"/")
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node e2e/chat.mjs failed: %v\n%s", err, out)
	}
	var handed, recovered int64
	for _, n := range nodes {
		st := n.recoveryStats()
		handed += st.HandedOver
		recovered += st.Recovered
	}
	if handed != 1 || recovered != 1 {
		t.Fatalf("handed over %d, recovered %d (want 1, 1)\n%s", handed, recovered, out)
	}
}

// TestBrowserChatRecoveryNodeGone runs e2e/chat-gone.mjs through the proxy over three node processes:
// the chat page loses its connection, the node that held its socket is killed (SIGKILL), and the page
// (roomio.js) gets a fresh socket at once, not recovered.
func TestBrowserChatRecoveryNodeGone(t *testing.T) {
	root, nodeJS := browserEnv(t)
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	p := newRRProxy(t, nodes)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeJS, filepath.Join("e2e", "chat-gone.mjs"), "http://"+p.addr+"/")
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("chat-gone.mjs ended: %v\n%s", cmd.Wait(), stderr.String())
			}
			return l
		case <-time.After(time.Minute):
			t.Fatalf("no line from chat-gone.mjs\n%s", stderr.String())
			return ""
		}
	}
	id, ok := strings.CutPrefix(next(), "AWAY ")
	if !ok {
		t.Fatalf("chat-gone.mjs: %s", stderr.String())
	}
	var holder *procNode
	eventually(t, clusterWait, "the page's socket detached", func() bool {
		for _, n := range nodes {
			if n.recoveryStats().Detached == 1 {
				holder = n
				return true
			}
		}
		return false
	})
	holder.kill(t)
	fmt.Fprintln(stdin, "go")
	ms, ok := strings.CutPrefix(next(), "FRESH ")
	if !ok {
		t.Fatalf("chat-gone.mjs: %s", stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chat-gone.mjs: %v\n%s", err, stderr.String())
	}
	if n, _ := strconv.Atoi(ms); n > 2000 {
		t.Fatalf("the fresh socket took %s ms", ms)
	}
	t.Logf("socket %s on the killed node %s; the page had a fresh socket %s ms after the dial that got through", id, holder.name, ms)
}

func awaitReconnect(t *testing.T, reconnected <-chan struct{}) {
	t.Helper()
	select {
	case <-reconnected:
	case <-time.After(clusterWait):
		t.Fatal("the client did not reconnect")
	}
}
