//go:build integration

package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
)

// Connection state recovery across nodes (engine/recovery_cluster.go): in-process nodes with recovery on,
// behind the round-robin proxy of tunnel_integration_test.go.

// startRecoveryNodes starts n clustered nodes with recovery on and recoveryApp.
func startRecoveryNodes(t *testing.T, n int) []*sioServer {
	t.Helper()
	return startSIONodes(t, n, recoveryConfig(time.Minute), recoveryApp)
}

// TestRecoverAcrossNodesSocketIO: the official client, in rooms a and b on node 0, loses its engine; 20
// messages go to a, b, a+b and its id from all three nodes; it reconnects through the round-robin
// proxy, which sends it to node 1: recovered there with the same id, both rooms and the 20 once each in
// order per target, then new messages flow (from node 1, to room a).
func TestRecoverAcrossNodesSocketIO(t *testing.T) {
	p := newLBProxy(t, false)
	ns := startRecoveryNodes(t, 3)
	p.setNodes(ns)
	run := runScenario(t, "recover", p.url, "websocket")
	st := run.step(t)
	id, ok := strings.CutPrefix(st, "joined ")
	if !ok || !strings.HasPrefix(id, ns[0].e.NodeID()+".") {
		t.Fatalf("step %q (node 0 is %s)", st, ns[0].e.NodeID())
	}
	ns[2].e.To("a").Emit("m", "warm")
	if st := run.step(t); !strings.HasPrefix(st, "away ") {
		t.Fatalf("step %q", st)
	}
	awaitRecovery(t, ns[0].e, "the socket detached", func(st engine.RecoveryStats) bool { return st.Detached == 1 })
	for i := range 20 {
		e := ns[i%3].e
		op := []engine.BroadcastOperator{e.To("a"), e.To("b"), e.To("a", "b"), e.To(id)}[i%4]
		if err := op.Emit("m", i); err != nil {
			t.Fatal(err)
		}
		// Buffered before the next one: order is kept per emitter, and these come from three.
		settled(t, e, "a", "b", id)
	}
	p.setNext(1)
	run.proceed()
	run.wait(t)
	if st := ns[0].e.RecoveryStats(); st.HandedOver != 1 || st.Detached != 0 {
		t.Fatalf("node 0 stats %+v", st)
	}
	if st := ns[1].e.RecoveryStats(); st.Recovered != 1 {
		t.Fatalf("node 1 stats %+v", st)
	}
}

// TestRecoverAcrossNodesWhileEmitting: node 2 emits a numbered stream to room a while the client's
// session moves from node 0 to node 1: the client gets every number after the last it saw, once, in
// order — none lost in the handover, none doubled.
func TestRecoverAcrossNodesWhileEmitting(t *testing.T) {
	ns := startRecoveryNodes(t, 3)
	for round := range 3 {
		sid, pid, offset := detachedClient(t, ns[0])
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent int
		// At most 100 of each, paced so that they span the handover without filling the buffer
		// (MaxBuffered, 256).
		wg.Go(func() {
			for sent < 100 {
				select {
				case <-stop:
					return
				default:
				}
				ns[2].e.To("a").Emit("m", sent)
				ns[0].e.To(sid).Emit("m", "direct")
				sent++
				time.Sleep(200 * time.Microsecond)
			}
		})
		c := dialRawSIO(t, ns[1].addr)
		events, got, gotPID := c.connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
		close(stop)
		wg.Wait()
		if got != sid || gotPID != pid {
			t.Fatalf("round %d: sid %q (want %q), pid %q (was %q)", round, got, sid, gotPID, pid)
		}
		// The stream ends with "end" from both emitters (two streams between nodes: no order between them).
		ns[2].e.To("a").Emit("m", "end")
		ns[0].e.To(sid).Emit("m", "end")
		ends := 0
		var nums []int
		directs := 0
		next := func(m string) bool {
			var args []json.RawMessage
			if err := json.Unmarshal([]byte(strings.TrimPrefix(m, "42")), &args); err != nil || len(args) < 3 {
				t.Fatalf("event %q", m)
			}
			switch string(args[1]) {
			case `"end"`:
				ends++
				return ends < 2
			case `"direct"`:
				directs++
			default:
				n, err := strconv.Atoi(string(args[1]))
				if err != nil {
					t.Fatalf("event %q", m)
				}
				nums = append(nums, n)
			}
			return true
		}
		for _, m := range events {
			next(m)
		}
		for next(c.read()) {
		}
		if len(nums) != sent {
			t.Fatalf("round %d: %d of %d numbers: %v", round, len(nums), sent, nums)
		}
		for i, n := range nums {
			if n != i {
				t.Fatalf("round %d: number %d is %d", round, i, n)
			}
		}
		if directs != sent {
			t.Fatalf("round %d: %d of %d emits to the id", round, directs, sent)
		}
		c.ws.Write(ctxT(t), websocket.MessageText, []byte("41"))
	}
}

// TestRecoverAcrossNodesBadInput: presented to node 1, a forged pid of node 0, a pid of a node that is
// not a member, a real pid of node 0 with an unknown or a malformed offset, and a real pid presented to
// nodes 1 and 2 at once: each a fresh socket at once, except one of the pair; never someone else's.
func TestRecoverAcrossNodesBadInput(t *testing.T) {
	ns := startRecoveryNodes(t, 3)
	fresh := func(s *sioServer, auth, notSID string) {
		t.Helper()
		c := dialRawSIO(t, s.addr)
		start := time.Now()
		events, sid, pid := c.connect(auth)
		if sid == "" || sid == notSID || pid == "" || len(events) != 0 {
			t.Fatalf("auth %s: sid %q pid %q events %q", auth, sid, pid, events)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("auth %s: answered after %v", auth, d)
		}
		c.ws.Write(ctxT(t), websocket.MessageText, []byte("41"))
	}
	sid, pid, _ := detachedClient(t, ns[0])
	node0 := ns[0].e.NodeID()
	fresh(ns[1], `{"pid":"`+node0+`.forgedforgedforgedAA","offset":"1"}`, sid)
	fresh(ns[1], `{"pid":"nosuchnode.`+strings.TrimPrefix(pid, node0+".")+`","offset":"1"}`, sid)
	fresh(ns[1], `{"pid":"`+ns[2].e.NodeID()+`.`+strings.TrimPrefix(pid, node0+".")+`","offset":"1"}`, sid)
	fresh(ns[1], `{"pid":"`+pid+`","offset":"not-an-offset"}`, sid) // the session is dropped with it
	fresh(ns[1], `{"pid":"`+pid+`","offset":"x"}`, sid)
	awaitRecovery(t, ns[0].e, "the session dropped", func(st engine.RecoveryStats) bool { return st.Detached == 0 })

	sid, pid, offset := detachedClient(t, ns[0])
	fresh(ns[1], `{"pid":"`+pid+`","offset":7}`, sid)

	sid, pid, offset = detachedClient(t, ns[0])
	ns[0].e.To("a").Emit("m", "missed")
	settled(t, ns[0].e, "a")
	auth := fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)
	var wg sync.WaitGroup
	results := make([]string, 6)
	for i := range results {
		c := dialRawSIO(t, ns[i%3].addr)
		wg.Go(func() {
			events, got, _ := c.connect(auth)
			results[i] = fmt.Sprint(got == sid, len(events))
		})
	}
	wg.Wait()
	slices.Sort(results)
	if want := []string{"false 0", "false 0", "false 0", "false 0", "false 0", "true 1"}; !slices.Equal(results, want) {
		t.Fatalf("concurrent claims: %v", results)
	}
}

// TestRecoverAcrossNodesTwice: a session moves from node 0 to node 1, drops again and is presented to
// node 2, which finds it on node 1 (node 0, which its pid names, no longer holds it), with what was
// sent meanwhile; the pid stays the same throughout.
func TestRecoverAcrossNodesTwice(t *testing.T) {
	ns := startRecoveryNodes(t, 3)
	sid, pid, offset := detachedClient(t, ns[0])
	ns[2].e.To("a").Emit("m", "one")
	settled(t, ns[2].e, "a")
	c := dialRawSIO(t, ns[1].addr)
	events, got, gotPID := c.connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if got != sid || gotPID != pid || len(events) != 1 {
		t.Fatalf("first move: sid %q pid %q events %q", got, gotPID, events)
	}
	var args []json.RawMessage
	json.Unmarshal([]byte(strings.TrimPrefix(events[0], "42")), &args)
	offset = lastOffset(t, args[1:])
	c.ws.CloseNow()
	awaitRecovery(t, ns[1].e, "detached on node 1", func(st engine.RecoveryStats) bool { return st.Detached == 1 })
	ns[0].e.To(sid).Emit("m", "two")
	settled(t, ns[0].e, sid)
	ns[2].e.To("a").Emit("m", "three")
	settled(t, ns[2].e, "a")
	c = dialRawSIO(t, ns[2].addr)
	events, got, gotPID = c.connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if got != sid || gotPID != pid || len(events) != 2 || !strings.Contains(events[0], `"two"`) || !strings.Contains(events[1], `"three"`) {
		t.Fatalf("second move: sid %q pid %q events %q", got, gotPID, events)
	}
	ns[0].e.To(sid).Emit("m", "four")
	if a := c.event(); string(a[0]) != `"four"` {
		t.Fatalf("after the second move: %s", a)
	}
	// Its data came along (as JSON).
	c.ws.Write(ctxT(t), websocket.MessageText, []byte(`421["data"]`))
	if got := c.read(); got != `431[{"user":"ann"}]` {
		t.Fatalf("data after two moves: %q", got)
	}
	if st := ns[1].e.RecoveryStats(); st.HandedOver != 1 || st.Recovered != 1 {
		t.Fatalf("node 1 stats %+v", st)
	}
}

// BenchmarkRecoveryAcrossNodes is BenchmarkRecoverySocketIO with the client back on another node: from
// the dial of the new WebSocket to node 1 to its CONNECT reply, the message it missed on node 0 replayed
// before it (the claim, the rejoin of the socket's room with every peer's acknowledgement, the barrier,
// the take).
func BenchmarkRecoveryAcrossNodes(b *testing.B) {
	var es []*engine.Engine
	var addrs []string
	var seed string
	for range 2 {
		cfg := engine.Config{Recovery: engine.RecoveryConfig{Enabled: true},
			Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}}
		if seed != "" {
			cfg.Cluster.Seeds = []string{seed}
		}
		e := newBenchEngine(b, cfg)
		if seed == "" {
			seed = e.ClusterMembers()[0].GossipAddr
		}
		mux := http.NewServeMux()
		mux.Handle("/socket.io/", e.SocketIOHandler())
		srv := httptest.NewServer(mux)
		b.Cleanup(srv.Close)
		es, addrs = append(es, e), append(addrs, srv.Listener.Addr().String())
	}
	for _, e := range es {
		for len(e.ClusterMembers()) != 2 {
			time.Sleep(time.Millisecond)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		from, to := es[i%2], addrs[(i+1)%2]
		c := dialRawSIO(b, addrs[i%2])
		_, sid, pid := c.connect("")
		from.To(sid).Emit("m", "warm")
		offset := lastOffset(b, c.event())
		c.ws.CloseNow()
		for from.RecoveryStats().Detached != 1 {
			time.Sleep(100 * time.Microsecond)
		}
		from.To(sid).Emit("m", i)
		settled(b, from, sid)
		b.StartTimer()
		c = dialRawSIO(b, to)
		events, got, _ := c.connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
		b.StopTimer()
		if got != sid || len(events) != 1 {
			b.Fatalf("iteration %d not recovered: got %q %q", i, got, events)
		}
		c.ws.Write(c.ctx, websocket.MessageText, []byte("41"))
		c.ws.CloseNow()
		b.StartTimer()
	}
}

// TestRecoverAcrossNodesNative: the native protocol's resume token across nodes: a socket detached on
// node 0 is recovered on node 1 with its missed event, the same sid and token; forged tokens (of node
// 0, of a node that is not a member), a real one with an unknown offset: fresh sockets, at once.
func TestRecoverAcrossNodesNative(t *testing.T) {
	ns := startRecoveryNodes(t, 3)
	detach := func() (sid, token, offset string) {
		t.Helper()
		c := dialRawNative(t, ns[0].addr)
		_, conn := c.connect("/", "", "")
		if err := ns[0].e.Of("/").In(conn.SID).SocketsJoin(ctxT(t), "a"); err != nil {
			t.Fatal(err)
		}
		ns[2].e.To("a").Emit("m", "warm")
		offset = c.next().Offset
		c.ws.CloseNow()
		awaitRecovery(t, ns[0].e, "detached", func(st engine.RecoveryStats) bool { return st.Detached == 1 })
		return conn.SID, conn.PID, offset
	}
	sid, token, offset := detach()
	ns[2].e.To("a").Emit("m", "missed")
	settled(t, ns[2].e, "a")
	c := dialRawNative(t, ns[1].addr)
	events, conn := c.connect("/", token, offset)
	if conn.SID != sid || conn.PID != token || len(events) != 1 || string(events[0].Args[0].Data) != `"missed"` {
		t.Fatalf("recovery: %+v, %d events", conn, len(events))
	}
	ns[2].e.To("a").Emit("m", "after")
	if p := c.next(); string(p.Args[0].Data) != `"after"` {
		t.Fatalf("after: %+v", p)
	}

	fresh := func(token, offset string) {
		t.Helper()
		c := dialRawNative(t, ns[1].addr)
		start := time.Now()
		events, conn := c.connect("/", token, offset)
		if conn.SID == sid || len(events) != 0 || time.Since(start) > time.Second {
			t.Fatalf("token %q offset %q: %+v, %d events, after %v", token, offset, conn, len(events), time.Since(start))
		}
	}
	sid, token, _ = detach()
	secret := strings.TrimPrefix(token, ns[0].e.NodeID()+".")
	fresh(ns[0].e.NodeID()+".forgedforgedforgedAA", "1")
	fresh("nosuchnode."+secret, "1")
	fresh(token, "unknown-offset") // the session is dropped with it
	awaitRecovery(t, ns[0].e, "the session dropped", func(st engine.RecoveryStats) bool { return st.Detached == 0 })
}
