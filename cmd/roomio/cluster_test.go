package main_test

// Multi-process cluster tests: every node is its own OS process running the roomio binary, which is
// built with the race detector when these tests run under -race. They carry the race detector's coverage
// of the cluster: several nodes in one process race inside grpc's process-global logger (every node's
// gRPC setup writes it), so engine/cluster_integration_test.go runs without -race. They need only Go, so
// they run in every `go test -race ./...` with no build tag or environment gate (the in-process multi-node
// tests carry the `integration` tag instead), except TestClusterProcessesSocketIO, which needs Node.js and
// ROOMIO_E2E=1.
//
// Synchronisation is by events (log lines, acks, received events, process exits) or by polling
// /api/v1/cluster and /api/v1/sockets under a deadline (eventually); nothing sleeps.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
)

// clusterWait bounds each wait for an event, an ack, an HTTP answer or a node start.
const clusterWait = 15 * time.Second

// nodeBinary returns the node binary, built once per test process (TestMain names the directory).
func nodeBinary(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ROOMIO_TEST_BINDIR")
	if dir == "" {
		return buildNode(t)
	}
	sharedBin.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		sharedBin.path, sharedBin.err = buildNodeIn(ctx, dir)
	})
	if sharedBin.err != nil {
		t.Fatal(sharedBin.err)
	}
	return sharedBin.path
}

var sharedBin struct {
	once sync.Once
	path string
	err  error
}

// testCluster is a set of node processes and the HTTP client that talks to their APIs.
type testCluster struct {
	t     testing.TB
	bin   string
	http  *http.Client
	nodes []*procNode // started by startNodes
	all   []*procNode // every process spawned
}

// newTestCluster returns an empty cluster. Its cleanup, which runs after those of the clients the test
// connected, stops every node process (stopAll).
func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	tr := &http.Transport{}
	c := &testCluster{t: t, bin: nodeBinary(t), http: &http.Client{Transport: tr, Timeout: clusterWait}}
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(c.stopAll)
	return c
}

// stopAll stops every node still running with SIGTERM, the last started first, then waits for each to
// exit: it expects a clean exit unless the test killed the node, and fails the test when a node's log
// reports a data race. The logs are printed when the test failed.
//
// The nodes stop one after another, because nodes that leave together can spend their whole shutdown
// budget in the leave (TestClusterProcessesConcurrentSIGTERM). The next node gets SIGTERM once the
// previous one logged "stopped" (or exited), without waiting out the race runtime's second of sleep at
// exit (GORACE atexit_sleep_ms).
func (c *testCluster) stopAll() {
	t := c.t
	for _, n := range slices.Backward(c.all) {
		select {
		case <-n.exited:
			continue
		default:
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		if !n.waitLog(20*time.Second, func(log string) bool { return strings.Contains(log, "msg=stopped") }) {
			select {
			case <-n.exited:
			default:
				t.Errorf("%s did not log msg=stopped within 20s of SIGTERM", n.name)
			}
		}
	}
	for _, n := range c.all {
		select {
		case <-n.exited:
			if n.waitErr != nil && !n.killed && !n.expectFail {
				t.Errorf("%s did not exit cleanly after SIGTERM: %v", n.name, n.waitErr)
			}
		case <-time.After(20 * time.Second):
			n.cmd.Process.Kill()
			<-n.exited
			t.Errorf("%s still running 20s after SIGTERM; killed", n.name)
		}
		if strings.Contains(n.log.String(), "DATA RACE") {
			t.Errorf("%s: the race detector reported a data race", n.name)
		}
	}
	if t.Failed() {
		for _, n := range c.all {
			t.Logf("%s (node %s, exit %v) log:\n%s", n.name, n.id, n.waitErr, n.log.String())
		}
	}
}

// ports are the four addresses of one node: its public listener, gossip, node-to-node streams and API.
type ports struct{ addr, gossip, remote, api string }

// freePorts picks four free loopback ports; the gossip port is free for both TCP and UDP (memberlist
// binds both). Another process can take one before the node binds it: startNodes retries once.
func freePorts(t testing.TB) ports {
	t.Helper()
	var got []string
	var hold []io.Closer
	defer func() {
		for _, c := range hold {
			c.Close()
		}
	}()
	for len(got) < 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hold = append(hold, ln)
		addr := ln.Addr().String()
		if len(got) == 1 { // gossip
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				continue // UDP port taken: pick another
			}
			hold = append(hold, pc)
		}
		got = append(got, addr)
	}
	return ports{addr: got[0], gossip: got[1], remote: got[2], api: got[3]}
}

// procNode is one node process.
type procNode struct {
	c    *testCluster
	name string
	p    ports
	id   string // its node id, once it listens

	cmd        *exec.Cmd
	log        *nodeLog
	exited     chan struct{}
	waitErr    error // valid once exited is closed
	killed     bool  // by the test, with SIGKILL
	expectFail bool  // a non-zero exit is expected
}

// spawn starts a node process on p with extra flags and returns at once; the cluster's cleanup stops it.
func (c *testCluster) spawn(name string, p ports, extra ...string) *procNode {
	c.t.Helper()
	return c.spawnArgs(name, p, append([]string{"-addr", p.addr, "-api-addr", p.api, "-cluster-addr", p.gossip, "-remote-addr", p.remote, "-app", "chat", "-log-level", "info"}, extra...))
}

// spawnArgs starts a node process on p with exactly args (and env added to nodeEnv) and returns at
// once; the cluster's cleanup stops it.
func (c *testCluster) spawnArgs(name string, p ports, args []string, env ...string) *procNode {
	t := c.t
	t.Helper()
	n := &procNode{c: c, name: name, p: p, exited: make(chan struct{})}
	n.log = &nodeLog{listening: make(chan string, 1), changed: make(chan struct{}, 1)}
	n.cmd = exec.Command(c.bin, args...)
	n.cmd.Env = append(nodeEnv(), env...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	}()
	c.all = append(c.all, n)
	return n
}

// nodeEnv is the test's environment without ROOMIO_* variables and GOGC, which would configure the
// node; spawnArgs adds its env after it.
func nodeEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "ROOMIO_") || strings.HasPrefix(kv, "GOGC=")
	})
}

// waitLog waits until cond holds for the node's log, and reports whether it did before timeout and
// before the node exited.
func (n *procNode) waitLog(timeout time.Duration, cond func(log string) bool) bool {
	deadline := time.After(timeout)
	for !cond(n.log.String()) {
		select {
		case <-n.log.changed:
		case <-n.exited:
			return cond(n.log.String())
		case <-deadline:
			return false
		}
	}
	return true
}

// waitListenLine waits for the node's "listening" line; it reports the exit error when the node exits
// first.
func (n *procNode) waitListenLine() error {
	select {
	case <-n.log.listening:
		return nil
	case <-n.exited:
		return fmt.Errorf("%s exited before listening: %v\n%s", n.name, n.waitErr, n.log.String())
	case <-time.After(clusterWait):
		return fmt.Errorf("%s did not log msg=listening within %v\n%s", n.name, clusterWait, n.log.String())
	}
}

// waitListening waits for the node's "listening" line and learns its node id; it reports the exit
// error when the node exits first.
func (n *procNode) waitListening() error {
	if err := n.waitListenLine(); err != nil {
		return err
	}
	var st clusterState
	if code := n.getJSON("/api/v1/cluster", &st); code != http.StatusOK || st.Node == "" {
		return fmt.Errorf("%s: GET /api/v1/cluster = %d %+v", n.name, code, st)
	}
	n.id = st.Node
	return nil
}

// kill ends the node with SIGKILL and waits until it is gone.
func (n *procNode) kill(t testing.TB) {
	t.Helper()
	n.killed = true
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", n.name, err)
	}
	<-n.exited
}

// terminate sends SIGTERM and returns a channel closed when the node has exited.
func (n *procNode) terminate(t testing.TB) <-chan struct{} {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", n.name, err)
	}
	return n.exited
}

// startNode starts a node that joins join (none when empty) and waits until it listens. When the node
// cannot bind (another process took a port meanwhile) it retries once on fresh ports, or on the same
// ports when fixed is set.
func (c *testCluster) startNode(name string, p ports, fixed bool, join string, extra ...string) *procNode {
	t := c.t
	t.Helper()
	if join != "" {
		extra = append([]string{"-join", join}, extra...)
	}
	n := c.spawn(name, p, extra...)
	err := n.waitListening()
	if err != nil && strings.Contains(n.log.String(), "address already in use") {
		t.Logf("%s could not bind, retrying: %v", name, err)
		n.expectFail = true
		if !fixed {
			p = freePorts(t)
		}
		n = c.spawn(name, p, extra...)
		err = n.waitListening()
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startNodes starts n nodes (node1…), each joining the first, and waits until every node lists all of
// them.
func (c *testCluster) startNodes(n int, extra ...string) []*procNode {
	c.t.Helper()
	for i := range n {
		join := ""
		if i > 0 {
			join = c.nodes[0].p.gossip
		}
		c.nodes = append(c.nodes, c.startNode(fmt.Sprintf("node%d", i+1), freePorts(c.t), false, join, extra...))
	}
	c.converge(c.nodes...)
	return c.nodes
}

// converge waits until each of nodes lists exactly nodes as the cluster's members.
func (c *testCluster) converge(nodes ...*procNode) time.Duration {
	c.t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, n.id)
	}
	slices.Sort(want)
	return eventually(c.t, clusterWait, fmt.Sprintf("every node to list members %v", want), func() bool {
		for _, n := range nodes {
			if !slices.Equal(n.memberIDs(), want) {
				return false
			}
		}
		return true
	})
}

// eventually polls cond every 20 ms until it holds, failing the test after timeout; it returns how long
// that took.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		<-tick.C
	}
	return time.Since(start)
}

type clusterState struct {
	Node    string `json:"node"`
	Members []struct {
		ID         string `json:"id"`
		GossipAddr string `json:"gossip_addr"`
		RemoteAddr string `json:"remote_addr"`
		Self       bool   `json:"self"`
	} `json:"members"`
}

type socketList struct {
	Sockets []struct {
		ID    string   `json:"id"`
		Rooms []string `json:"rooms"`
	} `json:"sockets"`
}

func (s socketList) ids() []string {
	var out []string
	for _, x := range s.Sockets {
		out = append(out, x.ID)
	}
	slices.Sort(out)
	return out
}

// apiURL is the URL of path on the node's API listener.
func (n *procNode) apiURL(path string) string { return "http://" + n.p.api + path }

// url is the URL of path on the node's public listener.
func (n *procNode) url(path string) string { return "http://" + n.p.addr + path }

// getJSON GETs path and decodes the JSON answer into v; it returns the status, or 0 when the request
// failed.
func (n *procNode) getJSON(path string, v any) int {
	res, err := n.c.http.Get(n.apiURL(path))
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return 0
	}
	return res.StatusCode
}

// memberIDs returns the sorted ids of the members the node lists (nil when it does not answer).
func (n *procNode) memberIDs() []string {
	var st clusterState
	if n.getJSON("/api/v1/cluster", &st) != http.StatusOK {
		return nil
	}
	var ids []string
	for _, m := range st.Members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// sockets lists the sockets of room on the node, with the status of the answer and how long it took.
func (n *procNode) sockets(room string) (socketList, int, time.Duration) {
	var l socketList
	start := time.Now()
	code := n.getJSON("/api/v1/sockets?room="+room, &l)
	return l, code, time.Since(start)
}

// emit POSTs /api/v1/emit to rooms.
func (n *procNode) emit(t testing.TB, event string, arg any, rooms ...string) {
	t.Helper()
	a, _ := json.Marshal(arg)
	body, _ := json.Marshal(map[string]any{"rooms": rooms, "event": event, "args": []json.RawMessage{a}})
	res, err := n.c.http.Post(n.apiURL("/api/v1/emit"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("%s: POST /api/v1/emit = %d %s", n.name, res.StatusCode, out)
	}
}

// user is a native client connected to namespace "/" of a node; it records every event it receives.
type user struct {
	name string
	c    *client.Client
	*client.Socket

	mu     sync.Mutex
	evs    []client.Event
	cursor int           // events before it were consumed by next
	notify chan struct{} // signalled after each event
}

// user connects a native client to the node; the test's cleanup closes it.
func (n *procNode) user(t testing.TB, name string) *user {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clusterWait)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+n.p.addr+"/ws", client.Options{})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", name, n.name, err)
	}
	t.Cleanup(func() { c.Close() }) // before the node's cleanup
	u := &user{name: name, c: c, notify: make(chan struct{}, 1)}
	s, err := c.Connect(ctx, "/", nil, client.WithSetup(func(s *client.Socket) {
		s.OnAny(func(ev string, args []client.Arg, ack client.AckFunc) {
			u.mu.Lock()
			u.evs = append(u.evs, client.Event{Name: ev, Args: args, Ack: ack})
			u.mu.Unlock()
			select {
			case u.notify <- struct{}{}:
			default:
			}
		})
	}))
	if err != nil {
		t.Fatalf("%s: connect: %v", name, err)
	}
	u.Socket = s
	return u
}

// next returns the next event named name, skipping events of other names.
func (u *user) next(t testing.TB, name string) client.Event {
	t.Helper()
	var ev client.Event
	u.wait(t, fmt.Sprintf("a %q event", name), func([]client.Event) bool {
		for u.cursor < len(u.evs) {
			ev = u.evs[u.cursor]
			u.cursor++
			if ev.Name == name {
				return true
			}
		}
		return false
	})
	return ev
}

// all waits until n events named name have arrived in all, and returns them; it does not consume them.
func (u *user) all(t testing.TB, name string, n int) []client.Event {
	t.Helper()
	var out []client.Event
	u.wait(t, fmt.Sprintf("%d %q events", n, name), func(evs []client.Event) bool {
		out = out[:0]
		for _, ev := range evs {
			if ev.Name == name {
				out = append(out, ev)
			}
		}
		return len(out) >= n
	})
	return out
}

// wait calls cond with every event received so far, under u.mu, after each new one, until it returns
// true; it fails the test after clusterWait.
func (u *user) wait(t testing.TB, what string, cond func(evs []client.Event) bool) {
	t.Helper()
	deadline := time.After(clusterWait)
	for {
		u.mu.Lock()
		done := cond(u.evs)
		u.mu.Unlock()
		if done {
			return
		}
		select {
		case <-u.notify:
		case <-deadline:
			t.Fatalf("%s: waited %v for %s", u.name, clusterWait, what)
		}
	}
}

// expect asserts that u's next event named name carries the single argument want (compared as decoded
// JSON).
func (u *user) expect(t testing.TB, name string, want any) {
	t.Helper()
	ev := u.next(t, name)
	var got any
	if len(ev.Args) != 1 || ev.Decode(&got) != nil || !reflect.DeepEqual(unnumbered(got, want), normalize(want)) {
		t.Fatalf("%s: %q carried %s, want %s", u.name, name, argsJSON(ev.Args), mustJSON(want))
	}
}

// unnumbered drops the chat's "seq" (said, the say ack) and "history" (the join ack) from got when want
// does not name them: the chat app's tests and TestClusterProcessesPlacedRoomOrder check them; these
// check delivery across processes.
func unnumbered(got, want any) any {
	g, ok := got.(map[string]any)
	w, _ := normalize(want).(map[string]any)
	if !ok || w == nil {
		return got
	}
	for _, k := range []string{"seq", "history"} {
		if _, named := w[k]; !named {
			delete(g, k)
		}
	}
	return g
}

// call emits event asking for an ack and asserts the ack is want.
func (u *user) call(t testing.TB, want any, event string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clusterWait)
	defer cancel()
	res, err := u.EmitWithAck(ctx, event, args...)
	if err != nil {
		t.Fatalf("%s: %s: %v", u.name, event, err)
	}
	var got any
	if len(res) != 1 || client.DecodeArgs(res, &got) != nil || !reflect.DeepEqual(unnumbered(got, want), normalize(want)) {
		t.Fatalf("%s: %s%s acked %s, want %s", u.name, event, mustJSON(args), argsJSON(res), mustJSON(want))
	}
}

// normalize turns v into what decoding its JSON into an any gives.
func normalize(v any) any {
	var out any
	json.Unmarshal([]byte(mustJSON(v)), &out)
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func argsJSON(args []client.Arg) string {
	var parts []string
	for _, a := range args {
		parts = append(parts, string(a.Data))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

var ok = map[string]any{"ok": true}

func joined(rooms ...string) map[string]any {
	return map[string]any{"ok": true, "rooms": rooms, "count": len(rooms)}
}

func said(room, from string, payload any) map[string]any {
	return map[string]any{"room": room, "from": from, "payload": payload}
}

func TestClusterProcessesDeliver(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	var us []*user
	for i, n := range nodes {
		u := n.user(t, fmt.Sprintf("u%d", i+1))
		u.call(t, joined("r"), "join", "r")
		us = append(us, u)
	}
	u1, u2, u3 := us[0], us[1], us[2]

	// A say on node 1 reaches the members on every node, the sender included.
	u1.call(t, ok, "say", "r", map[string]any{"n": 1})
	for _, u := range us {
		u.expect(t, "said", said("r", u1.ID(), map[string]any{"n": 1}))
	}
	// Whispers to sockets of other nodes, both ways.
	u1.call(t, ok, "whisper", u3.ID(), "psst")
	u3.expect(t, "whispered", map[string]any{"from": u1.ID(), "payload": "psst"})
	u3.call(t, ok, "whisper", u2.ID(), "back")
	u2.expect(t, "whispered", map[string]any{"from": u3.ID(), "payload": "back"})
	// A well-formed id of a socket that does not exist, on a live node and on an unknown one.
	for _, id := range []string{nodes[1].id + ".AAAAAAAAAAAAAAAAAAAA", "nonode00.AAAAAAAAAAAAAAAAAAAA"} {
		u1.call(t, map[string]any{"ok": false, "error": "no such socket"}, "whisper", id, "x")
	}
	// Socket ids, of any node, and names shaped like one are not room names.
	for _, room := range []string{u2.ID(), u1.ID(), "nonode00.AAAAAAAAAAAAAAAAAAAA"} {
		for _, ev := range []string{"join", "say"} {
			u3.call(t, map[string]any{"ok": false, "error": "invalid room name"}, ev, room, "x")
		}
	}
	// Other names with a dot are rooms like any other.
	for _, u := range us {
		u.call(t, joined("general.chat", "r"), "join", "general.chat")
	}
	u2.call(t, ok, "say", "general.chat", "dotted")
	for _, u := range us {
		u.expect(t, "said", said("general.chat", u2.ID(), "dotted"))
	}
	// The backend API on node 3 reaches everyone.
	nodes[2].emit(t, "news", map[string]any{"from": "api"}, "r")
	for _, u := range us {
		u.expect(t, "news", map[string]any{"from": "api"})
	}
	// Every node lists the room's three sockets.
	want := []string{u1.ID(), u2.ID(), u3.ID()}
	slices.Sort(want)
	for _, n := range nodes {
		l, code, _ := n.sockets("r")
		if code != http.StatusOK || !slices.Equal(l.ids(), want) {
			t.Errorf("%s: GET /api/v1/sockets?room=r = %d %v, want 200 %v", n.name, code, l.ids(), want)
		}
	}
}

func TestClusterProcessesKill9(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	// The chat room lives on node 1 or 2: its owner survives. (A room on the killed node starts over on
	// a survivor: its seq and history are not replicated yet.)
	room := roomOwnedBy(t, nodes, nodes[2])
	var us []*user
	for i, n := range nodes {
		u := n.user(t, fmt.Sprintf("u%d", i+1))
		u.call(t, joined(room), "join", room)
		us = append(us, u)
	}
	u1, u2 := us[0], us[1]

	// Steady traffic: u1 says its sequence number to r every 2 ms (after the previous ack).
	var started atomic.Int64 // says started
	stop := make(chan struct{})
	senderDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				senderDone <- nil
				return
			case <-tick.C:
			}
			started.Store(int64(seq + 1))
			ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
			res, err := u1.EmitWithAck(ctx, "say", room, seq)
			cancel()
			// The room's owner numbers its messages: the acks count 1, 2, 3…
			if err != nil || argsJSON(res) != fmt.Sprintf(`[{"ok":true,"seq":%d}]`, seq+1) {
				senderDone <- fmt.Errorf("say %d: %s %v", seq, argsJSON(res), err)
				return
			}
		}
	}()
	// stopSender stops the traffic; says 0…n-1 were acked.
	stopSender := func() (n int, err error) {
		close(stop)
		err = <-senderDone
		return int(started.Load()), err
	}
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			if _, err := stopSender(); err != nil {
				t.Error(err)
			}
		}
	})
	for _, u := range us {
		u.all(t, "said", 10) // traffic flows everywhere
	}

	n3 := nodes[2]
	killed := time.Now()
	n3.kill(t)
	firstAfter := int(started.Load()) // every say from here on started after node 3 was gone

	// A cluster-wide listing right after the kill answers by its timeout (5 s), without node 3; meanwhile
	// node 1 detects the failure and drops node 3 from its members.
	type listing struct {
		l    socketList
		code int
		took time.Duration
	}
	listed := make(chan listing, 1)
	go func() {
		l, code, took := nodes[0].sockets(room)
		listed <- listing{l, code, took}
	}()
	eventually(t, 15*time.Second, "node 1 to drop the killed node 3", func() bool {
		return !slices.Contains(nodes[0].memberIDs(), n3.id)
	})
	detected := time.Since(killed)
	t.Logf("node 1 dropped the kill -9ed node 3 from /api/v1/cluster %v after the kill", detected.Round(time.Millisecond))
	first := <-listed
	t.Logf("GET /api/v1/sockets on node 1 right after the kill: %d in %v, sockets %v", first.code, first.took.Round(time.Millisecond), first.l.ids())
	if first.code != http.StatusOK || first.took > 6*time.Second {
		t.Fatalf("GET /api/v1/sockets right after the kill: status %d after %v, want 200 within 6s", first.code, first.took)
	}
	want := []string{u1.ID(), u2.ID()}
	slices.Sort(want)
	if !slices.Equal(first.l.ids(), want) {
		t.Errorf("GET /api/v1/sockets right after the kill listed %v, want %v", first.l.ids(), want)
	}
	// From then on listings answer at once.
	l, code, took := nodes[0].sockets(room)
	t.Logf("GET /api/v1/sockets on node 1 after detection: %d in %v", code, took)
	if code != http.StatusOK || took > 2*time.Second || !slices.Equal(l.ids(), want) {
		t.Errorf("GET /api/v1/sockets after detection: %d in %v listing %v, want 200 at once listing %v", code, took, l.ids(), want)
	}
	c.converge(nodes[0], nodes[1])

	// Keep sending until at least 200 says went out after the kill, then stop: each survivor got every say,
	// in order, exactly once.
	eventually(t, clusterWait, "200 says after the kill", func() bool { return int(started.Load()) >= firstAfter+200 })
	total, err := stopSender()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{u1, u2} {
		var seqs []int
		for _, ev := range u.all(t, "said", total) {
			var m struct {
				Room    string
				From    string
				Payload int
			}
			if err := ev.Decode(&m); err != nil || m.Room != room || m.From != u1.ID() {
				t.Fatalf("%s: said %s", u.name, argsJSON(ev.Args))
			}
			seqs = append(seqs, m.Payload)
		}
		for i, s := range seqs {
			if s != i {
				t.Fatalf("%s: said #%d carried %d (lost, duplicated or reordered); around it: %v", u.name, i, s, seqs[max(0, i-5):min(len(seqs), i+5)])
			}
		}
	}
	t.Logf("%d says in all, %d after the kill: both survivors got every one, in order", total, total-firstAfter)
}

func TestClusterProcessesSIGTERM(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	// The chat room lives on node 1 or 3. (A room on the leaving node moves to a survivor, whose members
	// join it there again: a say right after the move may reach it before every member is back.)
	room := roomOwnedBy(t, nodes, nodes[1])
	var us []*user
	for i, n := range nodes {
		u := n.user(t, fmt.Sprintf("u%d", i+1))
		u.call(t, joined(room), "join", room)
		us = append(us, u)
	}
	n2, u2 := nodes[1], us[1]

	start := time.Now()
	exited := n2.terminate(t)
	left := eventually(t, clusterWait, "node 1 to drop node 2", func() bool {
		return !slices.Contains(nodes[0].memberIDs(), n2.id)
	})
	t.Logf("node 1 dropped node 2 from /api/v1/cluster %v after SIGTERM", left.Round(time.Millisecond))
	if left > 2*time.Second {
		t.Errorf("node 1 dropped the leaving node 2 after %v, want within 2s (a graceful leave, not failure detection)", left)
	}
	select {
	case <-u2.c.Done():
	case <-time.After(clusterWait):
		t.Fatal("node 2's client still connected")
	}
	if code := client.CloseCode(u2.c.Err()); code != 1001 {
		t.Errorf("node 2's client ended with %v (close code %d), want 1001 going away", u2.c.Err(), code)
	}
	t.Logf("node 2's client closed (1001) %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	select {
	case <-exited:
		if n2.waitErr != nil {
			t.Errorf("node 2 exited with %v after SIGTERM, want 0", n2.waitErr)
		}
	case <-time.After(clusterWait):
		t.Fatal("node 2 did not exit after SIGTERM")
	}
	c.converge(nodes[0], nodes[2])
	// The others go on.
	us[0].call(t, ok, "say", room, "still here")
	for _, u := range []*user{us[0], us[2]} {
		u.expect(t, "said", said(room, us[0].ID(), "still here"))
	}
}

func TestClusterProcessesRestartRejoins(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	old := nodes[2]
	old.kill(t)
	killed := time.Now()
	// A new process on the same addresses.
	n3 := c.startNode("node3-restarted", old.p, true, nodes[0].p.gossip)
	if n3.id == old.id {
		t.Fatalf("the restarted node kept its node id %s", n3.id)
	}
	c.converge(nodes[0], nodes[1], n3) // the new id in, the old one out
	t.Logf("cluster converged on the restarted node %s (was %s) %v after the kill", n3.id, old.id, time.Since(killed).Round(time.Millisecond))

	u1, u3 := nodes[0].user(t, "u1"), n3.user(t, "u3")
	u1.call(t, joined("r"), "join", "r")
	u3.call(t, joined("r"), "join", "r")
	u1.call(t, ok, "say", "r", "to the new node")
	for _, u := range []*user{u1, u3} {
		u.expect(t, "said", said("r", u1.ID(), "to the new node"))
	}
	u3.call(t, ok, "say", "r", "from the new node")
	for _, u := range []*user{u1, u3} {
		u.expect(t, "said", said("r", u3.ID(), "from the new node"))
	}
	u1.call(t, ok, "whisper", u3.ID(), "welcome back")
	u3.expect(t, "whispered", map[string]any{"from": u1.ID(), "payload": "welcome back"})
}

// TestClusterProcessesConcurrentSIGTERM stops every node at once, as `docker compose down` or a
// scale-down does: each must leave the cluster and exit cleanly within a few seconds. (It found a bug:
// memberlist's Leave waits until its leave has been gossiped, which never happens once nobody is left,
// and Engine.Shutdown used to hand it the whole shutdown budget; Leave now has a budget of its own.)
func TestClusterProcessesConcurrentSIGTERM(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	start := time.Now()
	for _, n := range nodes {
		n.terminate(t)
	}
	for _, n := range nodes {
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still running 30s after SIGTERM", n.name)
		}
		if n.waitErr != nil {
			t.Errorf("%s exited with %v after SIGTERM, want 0", n.name, n.waitErr)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the nodes took %v to stop, want less than 5s", d)
	}
	t.Logf("3 nodes stopped together in %v", time.Since(start).Round(time.Millisecond))
}

// TestClusterProcessesWrongKey: a node with another cluster key cannot join. What the binary does: its
// start (engine.Start, cluster.Node.Start) retries the join with backoff for as long as its context
// lives, and run gives it the signal context, with no deadline — so the node neither serves nor exits on
// its own; it logs each failed attempt at debug level only (the seed logs the refusals at warn level, at most one line per 10 s). SIGTERM
// ends it with exit status 1 and the join error. The absence check is event-driven: once node 3 logged two failed join attempts, node 1 must
// not list it, and still not after a further second.
func TestClusterProcessesWrongKey(t *testing.T) {
	key := func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	c := newTestCluster(t)
	nodes := c.startNodes(2, "-cluster-key", key())
	n3 := c.spawn("node3-wrong-key", freePorts(t), "-join", nodes[0].p.gossip, "-cluster-key", key(), "-log-level", "debug")
	n3.expectFail = true // stopped, it exits with status 1 (asserted below)
	const refused = "no installed keys could decrypt the message"
	if !n3.waitLog(clusterWait, func(log string) bool { return strings.Count(log, "join failed") >= 2 && strings.Contains(log, refused) }) {
		t.Fatalf("node 3 did not log two join attempts failing with %q within %v", refused, clusterWait)
	}
	// The seed reports the refusal at warn level, rate-limited: one line for the repeated attempts (the
	// joiner logs its attempts at debug level only).
	refusal := func(log string) bool {
		return strings.Contains(log, "level=WARN") && strings.Contains(log, `msg="gossip authentication failed"`) && strings.Contains(log, refused)
	}
	if !nodes[0].waitLog(clusterWait, refusal) {
		t.Fatalf("node 1 did not log a warning with %q", refused)
	}
	// An absence has no event to wait for: poll it for a bounded second.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
		for _, n := range nodes {
			if ids := n.memberIDs(); len(ids) != 2 {
				t.Fatalf("%s lists %v: a node with a wrong key joined", n.name, ids)
			}
		}
	}
	select {
	case <-n3.log.listening:
		t.Fatal("node 3 with a wrong key serves")
	case <-n3.exited:
		t.Fatalf("node 3 exited by itself (%v); the test expected it to keep retrying", n3.waitErr)
	default:
	}
	select {
	case <-n3.terminate(t):
	case <-time.After(clusterWait):
		t.Fatal("node 3 did not exit after SIGTERM")
	}
	var ee *exec.ExitError
	if !errors.As(n3.waitErr, &ee) || ee.ExitCode() != 1 || !strings.Contains(n3.log.String(), "joining the cluster") {
		t.Fatalf("node 3 ended with %v, want exit status 1 and the join error in its log", n3.waitErr)
	}
}

// TestClusterProcessesSocketIO: a socket.io-client on node 2 receives a say of a native client on node 1.
// It needs Node.js and e2e/node_modules (scripts/e2e-setup.sh):
//
//	scripts/e2e-setup.sh && ROOMIO_E2E=1 go test -race -run ClusterProcessesSocketIO -v ./cmd/roomio/
func TestClusterProcessesSocketIO(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	u1 := nodes[0].user(t, "u1")
	u1.call(t, joined("r"), "join", "r")

	run := runSIO(t, "cluster-chat", "http://"+nodes[1].p.addr)
	if s := run.step(t); s != "joined" {
		t.Fatalf("step %q, want joined", s)
	}
	// The scenario gets the expected sender on stdin, then waits for the said event.
	u1.call(t, ok, "say", "r", map[string]any{"n": 1, "text": "from node 1"})
	fmt.Fprintln(run.stdin, u1.ID())
	run.wait(t)
}

// TestClusterProcessesProbeInterval: -probe-interval shortens failure detection: with 200 ms probes a
// kill -9ed node is dropped in about a second instead of about six.
func TestClusterProcessesProbeInterval(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(2, "-probe-interval", "200ms")
	nodes[1].kill(t)
	took := eventually(t, clusterWait, "node 1 to drop the killed node 2", func() bool {
		return !slices.Contains(nodes[0].memberIDs(), nodes[1].id)
	})
	t.Logf("dropped %v after kill -9 with 200 ms probes", took.Round(time.Millisecond))
	if took > 4*time.Second {
		t.Errorf("detection took %v with 200 ms probes, want well under the ~6 s of the 1 s default", took)
	}
}

// TestClusterProcessesReadyz: a node whose seed is not up yet serves /healthz (200) but /readyz is 503;
// once the seed starts, the node joins and syncs, and /readyz is 200 on both.
func TestClusterProcessesReadyz(t *testing.T) {
	c := newTestCluster(t)
	seed := freePorts(t)
	b := c.spawn("late", freePorts(t), "-join", seed.gossip)
	status := func(n *procNode, path string) (int, string) {
		res, err := c.http.Get(n.url(path))
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	eventually(t, clusterWait, "the waiting node to answer /healthz", func() bool {
		code, _ := status(b, "/healthz")
		return code == http.StatusOK
	})
	if code, body := status(b, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started") {
		t.Fatalf("waiting for its seed: /readyz = %d %q, want 503 not started", code, body)
	}
	a := c.startNode("seed", seed, true, "")
	if err := b.waitListening(); err != nil {
		t.Fatal(err)
	}
	c.converge(a, b)
	for _, n := range []*procNode{a, b} {
		eventually(t, clusterWait, n.name+" to be ready", func() bool {
			code, body := status(n, "/readyz")
			return code == http.StatusOK && body == "ready\n"
		})
	}
}

// sioClientEnv skips the test without ROOMIO_E2E=1 and otherwise returns the e2e directory, where the
// official socket.io-client is installed (scripts/e2e-setup.sh), and the path of Node.js; it fails the
// test when either is missing.
func sioClientEnv(t *testing.T) (e2e, nodeJS string) {
	t.Helper()
	if os.Getenv("ROOMIO_E2E") != "1" {
		t.Skip("set ROOMIO_E2E=1 after scripts/e2e-setup.sh to run the socket.io-client tests (scripts/test.sh does both)")
	}
	e2e, err := filepath.Abs(filepath.Join("..", "..", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("socket.io-client is not installed: run scripts/e2e-setup.sh (%v)", err)
	}
	nodeJS, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("ROOMIO_E2E=1 but Node.js is not on PATH: %v", err)
	}
	return e2e, nodeJS
}
