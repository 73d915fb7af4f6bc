package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
	"github.com/roomio/roomio/internal/loadgen"
)

// serveNode starts a roomio node in-process, as cmd/roomio serves it: the engine with the chat app on
// "/", the native endpoint at /ws and Socket.IO at /socket.io/, on a loopback httptest server.
func serveNode(t *testing.T, cfg engine.Config) string {
	t.Helper()
	return serveNodeCounting(t, cfg, nil)
}

// serveNodeCounting is serveNode, counting the node's connected sockets on connected (nil: none).
func serveNodeCounting(t *testing.T, cfg engine.Config, connected *atomic.Int64) string {
	t.Helper()
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	chatapp.Register(eng.Of("/"))
	if connected != nil {
		eng.OnConnection(func(*engine.Socket) { connected.Add(1) })
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", eng.Handler())
	mux.Handle("/socket.io/", eng.SocketIOHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return srv.URL
}

var protocols = []loadgen.Protocol{loadgen.SocketIO, loadgen.SocketIOPolling, loadgen.Native}

// forEachProtocol runs fn as a subtest for every protocol, in parallel.
func forEachProtocol(t *testing.T, fn func(t *testing.T, p loadgen.Protocol)) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			fn(t, p)
		})
	}
}

func run(t *testing.T, cfg loadgen.Config) *loadgen.Result {
	t.Helper()
	if cfg.Drain == 0 {
		cfg.Drain = 30 * time.Second // a bound, not a measure: a closed run ends when the last delivery arrives
	}
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// checkClosed asserts what an exactly-once server gives a closed scenario: every emit reached every
// member of its room once, and nothing went wrong.
func checkClosed(t *testing.T, res *loadgen.Result) {
	t.Helper()
	m := res.Messages
	if res.Errors.Total != 0 {
		t.Errorf("errors %+v", res.Errors)
	}
	if res.Connections.Connected != res.Params.Clients || res.Connections.Lost != 0 {
		t.Errorf("connections %+v, want %d connected, none lost", res.Connections, res.Params.Clients)
	}
	if m.Emits == 0 || m.Deliveries == 0 {
		t.Fatalf("messages %+v: nothing emitted or delivered", m)
	}
	if m.Deliveries != m.Expected || m.Missing != 0 || m.Duplicates != 0 {
		t.Errorf("messages %+v: want deliveries = expected, none missing or duplicated", m)
	}
	if res.Latency.Count != uint64(m.Deliveries) || res.Latency.P50Ms <= 0 || res.Latency.MaxMs < res.Latency.P99Ms {
		t.Errorf("latency %+v for %d deliveries", res.Latency, m.Deliveries)
	}
}

// TestFanout runs one room of 6 clients, 2 of them publishing 40/s for 1 s, over each protocol: every say
// reaches every member (sender included) exactly once.
func TestFanout(t *testing.T) {
	url := serveNode(t, engine.Config{})
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		var progress bytes.Buffer
		res := run(t, loadgen.Config{URL: url, Protocol: p, Scenario: loadgen.Fanout, Clients: 6, Publishers: 2,
			Rate: 40, Duration: time.Second, Progress: &progress, Interval: 250 * time.Millisecond})
		checkClosed(t, res)
		if want := res.Messages.Emits * 6; res.Messages.Expected != want {
			t.Errorf("expected %d deliveries for %d emits to 6 members, want %d", res.Messages.Expected, res.Messages.Emits, want)
		}
		if !strings.Contains(progress.String(), "deliveries/s") || len(res.Timeline) == 0 {
			t.Errorf("no progress line or timeline: %q, %d samples", progress.String(), len(res.Timeline))
		}
		checkJSON(t, res)
		checkHTML(t, res, 5)
	})
}

// TestRooms spreads 12 clients over 4 rooms, each saying 10/s for 1 s: each say reaches its room's 3
// members.
func TestRooms(t *testing.T) {
	url := serveNode(t, engine.Config{})
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		res := run(t, loadgen.Config{URL: url, Protocol: p, Scenario: loadgen.ManyRooms, Clients: 12, Rooms: 4,
			Rate: 10, Duration: time.Second})
		checkClosed(t, res)
		if want := res.Messages.Emits * 3; res.Messages.Expected != want {
			t.Errorf("expected %d, want %d (3 members per room)", res.Messages.Expected, want)
		}
	})
}

// TestFlatOut: with no rate, a publisher keeps Window emits in flight; Messages makes the run's size
// exact.
func TestFlatOut(t *testing.T) {
	url := serveNode(t, engine.Config{})
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		res := run(t, loadgen.Config{URL: url, Protocol: p, Clients: 5, Publishers: 1, Window: 4, Messages: 200,
			Duration: time.Minute})
		checkClosed(t, res)
		if res.Messages.Emits != 200 || res.Messages.Deliveries != 1000 {
			t.Errorf("messages %+v, want 200 emits and 1000 deliveries", res.Messages)
		}
	})
}

// TestIdleHeartbeat holds connections across many server heartbeats (ping every 100 ms, 20 of them): on
// each transport the tool answers pings (over the POST loop when polling), so no connection is lost. The
// pong timeout is as long as the server allows (just under 4 intervals), so a loaded machine running the
// race detector does not drop a client that answers.
func TestIdleHeartbeat(t *testing.T) {
	url := serveNode(t, engine.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 390 * time.Millisecond})
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		res := run(t, loadgen.Config{URL: url, Protocol: p, Scenario: loadgen.Idle, Clients: 8,
			Duration: 2 * time.Second})
		c := res.Connections
		if c.Connected != 8 || c.Lost != 0 || res.Errors.Total != 0 {
			t.Errorf("connections %+v errors %+v, want 8 connected and kept", c, res.Errors)
		}
		if res.Messages.Emits != 0 || res.Messages.Expected != 0 {
			t.Errorf("idle emitted: %+v", res.Messages)
		}
		checkJSON(t, res)
		checkHTML(t, res, 3)
	})
}

// Several URLs, as for the nodes of a cluster: the clients spread over them round-robin.
func TestSeveralURLs(t *testing.T) {
	var counts [3]atomic.Int64
	var urls []string
	for i := range counts {
		urls = append(urls, serveNodeCounting(t, engine.Config{}, &counts[i]))
	}
	res := run(t, loadgen.Config{URL: strings.Join(urls, ","), Scenario: loadgen.Idle, Clients: 9,
		Duration: 100 * time.Millisecond})
	if res.Connections.Connected != 9 || res.Errors.Total != 0 {
		t.Fatalf("connections %+v errors %+v, want 9 connected", res.Connections, res.Errors)
	}
	for i := range counts {
		if n := counts[i].Load(); n != 3 {
			t.Errorf("node %d got %d connections, want 3", i, n)
		}
	}
	if res.Target != strings.Join([]string{urls[0] + "/socket.io/", urls[1] + "/socket.io/", urls[2] + "/socket.io/"}, ",") {
		t.Errorf("target %q, want the three URLs", res.Target)
	}
	if _, err := loadgen.Run(context.Background(), loadgen.Config{URL: urls[0] + ",ftp://x", Scenario: loadgen.Idle}); !errors.Is(err, loadgen.ErrConfig) {
		t.Errorf("a bad second URL: %v, want ErrConfig", err)
	}
}

func TestConnectStorm(t *testing.T) {
	url := serveNode(t, engine.Config{})
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		res := run(t, loadgen.Config{URL: url, Protocol: p, Scenario: loadgen.ConnectStorm, Clients: 40,
			Concurrency: 20})
		c := res.Connections
		if c.Attempted != 40 || c.Connected != 40 || c.ConnectLatency.Count != 40 || res.Errors.Total != 0 {
			t.Errorf("connections %+v errors %+v", c, res.Errors)
		}
		if c.ConnectLatency.P50Ms <= 0 || len(c.ConnectLatency.Buckets) == 0 {
			t.Errorf("connect latency %+v", c.ConnectLatency)
		}
	})
}

// TestRefusals: a namespace the server does not have fails every connect (Socket.IO CONNECT_ERROR, native
// ConnectError); a room name the chat refuses fails every join. Both are counted with their message.
func TestRefusals(t *testing.T) {
	url := serveNode(t, engine.Config{})
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		res := run(t, loadgen.Config{URL: url, Protocol: p, Scenario: loadgen.Idle, Clients: 3,
			Namespace: "/nowhere", Duration: time.Millisecond})
		if res.Connections.Connected != 0 || res.Errors.Connect != 3 || res.Errors.Total != 3 ||
			res.Connections.Lost != 0 || len(res.Errors.Samples) == 0 {
			t.Errorf("unknown namespace: connections %+v errors %+v", res.Connections, res.Errors)
		}

		res = run(t, loadgen.Config{URL: url, Protocol: p, Clients: 3, RoomPrefix: strings.Repeat("r", 200),
			Rate: 10, Duration: 100 * time.Millisecond})
		if res.Errors.Join != 3 || res.Errors.Total != 3 || res.Messages.Emits != 0 ||
			!slices.ContainsFunc(res.Errors.Samples, func(s string) bool { return strings.Contains(s, "invalid room name") }) {
			t.Errorf("long room name: errors %+v messages %+v", res.Errors, res.Messages)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]loadgen.Config{
		"no url":              {},
		"bad scheme":          {URL: "ftp://x"},
		"scenario":            {URL: "http://x", Scenario: "nope"},
		"protocol":            {URL: "http://x", Protocol: "nope"},
		"publishers":          {URL: "http://x", Clients: 2, Publishers: 3},
		"say args no payload": {URL: "http://x", SayArgs: "room"},
		"say args unknown":    {URL: "http://x", SayArgs: "room,body"},
		"auth":                {URL: "http://x", Auth: "[1]"},
		"namespace":           {URL: "http://x", Namespace: "chat"},
		"negative":            {URL: "http://x", Rate: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := loadgen.Run(context.Background(), cfg); !errors.Is(err, loadgen.ErrConfig) {
				t.Errorf("Run = %v, want ErrConfig", err)
			}
		})
	}
}

// checkJSON asserts that the result's JSON has the documented fields and parses back into a Result.
func checkJSON(t *testing.T, res *loadgen.Result) {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back loadgen.Result
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("the JSON does not parse into a Result: %v", err)
	}
	if back.Schema != loadgen.SchemaVersion || back.Messages != res.Messages || len(back.Timeline) != len(res.Timeline) {
		t.Errorf("round trip changed the result: %+v", back)
	}
	var doc map[string]map[string]any
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	doc = map[string]map[string]any{}
	for _, k := range []string{"params", "phases", "connections", "messages", "latency", "errors"} {
		var m map[string]any
		if err := json.Unmarshal(top[k], &m); err != nil {
			t.Fatalf("%s is not an object: %v", k, err)
		}
		doc[k] = m
	}
	for k, fields := range map[string][]string{
		"messages":    {"emits", "deliveries", "expected", "duplicates", "missing", "emits_per_sec", "deliveries_per_sec"},
		"latency":     {"count", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "buckets"},
		"connections": {"attempted", "connected", "failed", "lost", "connect_latency"},
		"errors":      {"total", "connect", "join", "emit", "disconnect", "samples"},
	} {
		for _, f := range fields {
			if _, ok := doc[k][f]; !ok {
				t.Errorf("%s.%s missing from the JSON", k, f)
			}
		}
	}
	for _, k := range []string{"schema", "scenario", "protocol", "target", "started", "timeline"} {
		if _, ok := top[k]; !ok {
			t.Errorf("%s missing from the JSON", k)
		}
	}
}

// checkHTML parses the report with x/net/html's tokenizer: it must be well formed (every element closed
// in order, void elements aside), hold at least minCharts SVG charts, and load or run nothing.
func checkHTML(t *testing.T, res *loadgen.Result, minCharts int) {
	t.Helper()
	var buf bytes.Buffer
	if err := loadgen.WriteHTML(&buf, res); err != nil {
		t.Fatal(err)
	}
	void := map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "link": true, "input": true}
	z := html.NewTokenizer(bytes.NewReader(buf.Bytes()))
	var stack []string
	svgs := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken:
			if tok.Data == "script" {
				t.Error("the report has a script")
			}
			for _, a := range tok.Attr {
				if (a.Key == "src" || a.Key == "href") && strings.Contains(a.Val, "//") {
					t.Errorf("the report loads %s", a.Val)
				}
			}
			if tok.Data == "svg" {
				svgs++
			}
			if !void[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> closes %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements %v", stack)
	}
	if svgs < minCharts {
		t.Errorf("%d SVG charts, want at least %d", svgs, minCharts)
	}
	if !strings.Contains(buf.String(), "<polyline") {
		t.Error("no chart line in the report")
	}
}

// lineWatch is a Progress writer that closes seen[k] at the first line containing k (lines are written
// by one goroutine at a time).
type lineWatch struct {
	mu   sync.Mutex
	seen map[string]chan struct{}
}

func newLineWatch(wants ...string) *lineWatch {
	w := &lineWatch{seen: map[string]chan struct{}{}}
	for _, k := range wants {
		w.seen[k] = make(chan struct{})
	}
	return w
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, ch := range w.seen {
		if strings.Contains(string(p), k) {
			close(ch)
			delete(w.seen, k)
		}
	}
	return len(p), nil
}

func (w *lineWatch) wait(t *testing.T, k string, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no progress line with %q", k)
	}
}

// TestServerGone: connections the server ends while they are held count as lost, with a disconnect
// error each; cancelling the context returns the partial result.
func TestServerGone(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p loadgen.Protocol) {
		eng, err := engine.New(engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		chatapp.Register(eng.Of("/"))
		if err := eng.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/ws", eng.Handler())
		mux.Handle("/socket.io/", eng.SocketIOHandler())
		srv := httptest.NewServer(mux)
		defer srv.Close()

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Both in the hold phase: the connect phase may print "connected 0/4" before any connection is up.
		const held, gone = "hold    connected 4/4", "hold    connected 0/4"
		watch := newLineWatch(held, gone)
		heldCh, goneCh := watch.seen[held], watch.seen[gone]
		type out struct {
			res *loadgen.Result
			err error
		}
		done := make(chan out, 1)
		go func() {
			res, err := loadgen.Run(ctx, loadgen.Config{URL: srv.URL, Protocol: p, Scenario: loadgen.Idle, Clients: 4,
				Duration: time.Hour, Interval: 20 * time.Millisecond, Progress: watch})
			done <- out{res, err}
		}()
		watch.wait(t, held, heldCh)
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := eng.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		watch.wait(t, gone, goneCh) // the tool saw all four connections end
		cancel()
		o := <-done
		if !errors.Is(o.err, context.Canceled) || o.res == nil {
			t.Fatalf("Run = %v, %v; want the partial result and context.Canceled", o.res, o.err)
		}
		if o.res.Connections.Connected != 4 || o.res.Connections.Lost != 4 || o.res.Errors.Disconnect != 4 {
			t.Errorf("connections %+v errors %+v, want 4 connected and 4 lost", o.res.Connections, o.res.Errors)
		}
	})
}

// TestServerStats samples the node's process (this one: the node runs in-process) over the measured
// window: CPU and RSS are read, and the per-delivery and per-connection figures are the divisions of
// what was read by what was counted.
func TestServerStats(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("-pid reads /proc: Linux only")
	}
	url := serveNode(t, engine.Config{})
	pid := os.Getpid()

	res := run(t, loadgen.Config{URL: url, Clients: 5, Publishers: 1, Window: 4, Messages: 300,
		Duration: time.Minute, PIDs: []int{pid}, Label: "A:fanout"})
	checkClosed(t, res)
	s := res.ServerStats
	if s == nil || s.Error != "" {
		t.Fatalf("server stats %+v", s)
	}
	if !slices.Equal(s.PIDs, []int{pid}) || s.CPUMicros <= 0 || s.WindowSec <= 0 || s.CPUPct <= 0 ||
		s.RSSKiBBefore <= 0 || s.RSSKiBAfter <= 0 || s.RSSKiBPerConn != 0 || res.Label != "A:fanout" {
		t.Errorf("server stats %+v label %q", s, res.Label)
	}
	if want := math.Round(float64(s.CPUMicros)/float64(res.Messages.Deliveries)*1000) / 1000; s.CPUMicrosPerDelivery != want {
		t.Errorf("cpu µs per delivery %v, want %d/%d = %v", s.CPUMicrosPerDelivery, s.CPUMicros, res.Messages.Deliveries, want)
	}
	if s.SysMicros < 0 || s.SysMicros > s.CPUMicros ||
		s.SysMicrosPerDelivery != math.Round(float64(s.SysMicros)/float64(res.Messages.Deliveries)*1000)/1000 {
		t.Errorf("system CPU %d µs (%v per delivery) of %d", s.SysMicros, s.SysMicrosPerDelivery, s.CPUMicros)
	}
	// The server is this process, so the tool's own CPU is the server's, read a moment apart (each
	// reading exact to a clock tick: at most two ticks apart).
	if d := s.ClientCPUMicros - s.CPUMicros; d < -20_000 || d > 20_000 ||
		s.ClientCPUMicrosPerDelivery != math.Round(float64(s.ClientCPUMicros)/float64(res.Messages.Deliveries)*1000)/1000 {
		t.Errorf("client CPU %d µs (%v per delivery), server %d µs", s.ClientCPUMicros, s.ClientCPUMicrosPerDelivery, s.CPUMicros)
	}
	checkJSON(t, res)
	b, _ := json.Marshal(res)
	var top map[string]any
	_ = json.Unmarshal(b, &top)
	for _, k := range []string{"server_cpu_us_per_delivery", "server_sys_us_per_delivery", "client_cpu_us_per_delivery", "server_rss_kib_per_conn", "server_cpu_us", "label"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON has no top-level %q", k)
		}
	}

	// Idle with rooms: every client joins one; RSS per connection is the delta over the connections.
	res = run(t, loadgen.Config{URL: url, Scenario: loadgen.Idle, Clients: 20, Rooms: 4,
		Duration: 100 * time.Millisecond, PIDs: []int{pid}})
	s = res.ServerStats
	if res.Connections.Connected != 20 || res.Errors.Total != 0 || s == nil || s.Error != "" || s.RSSKiBAfter <= 0 {
		t.Fatalf("idle: connections %+v errors %+v server %+v", res.Connections, res.Errors, s)
	}
	if want := math.Round(float64(s.RSSKiBAfter-s.RSSKiBBefore)/20*1000) / 1000; s.RSSKiBPerConn != want {
		t.Errorf("RSS KiB per connection %v, want (%d-%d)/20 = %v", s.RSSKiBPerConn, s.RSSKiBAfter, s.RSSKiBBefore, want)
	}
	// The joins happen: a room name the chat refuses fails each of them.
	res = run(t, loadgen.Config{URL: url, Scenario: loadgen.Idle, Clients: 6, Rooms: 2,
		RoomPrefix: strings.Repeat("r", 200), Duration: time.Millisecond})
	if res.Errors.Join != 6 || res.ServerStats != nil {
		t.Errorf("idle with refused rooms: errors %+v, server stats %+v (no PIDs: want none)", res.Errors, res.ServerStats)
	}

	if _, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, PIDs: []int{1 << 30}}); !errors.Is(err, loadgen.ErrConfig) {
		t.Errorf("a pid that does not exist: %v, want ErrConfig", err)
	}
}

// TestRoomsPublishers: a dedicated publisher joins every room and emits into them in turn; receivers
// are spread over the rooms after it. 1 + 8 clients over 4 rooms: each emit reaches 2 receivers and the
// publisher itself.
func TestRoomsPublishers(t *testing.T) {
	url := serveNode(t, engine.Config{})
	res := run(t, loadgen.Config{URL: url, Scenario: loadgen.ManyRooms, Clients: 9, Rooms: 4, Publishers: 1,
		Window: 4, Messages: 400, Duration: time.Minute})
	checkClosed(t, res)
	if res.Messages.Emits != 400 || res.Messages.Expected != 400*3 {
		t.Errorf("messages %+v, want 400 emits and 1200 deliveries", res.Messages)
	}
	if res.Params.Publishers != 1 {
		t.Errorf("params %+v", res.Params)
	}
}

// TestCompare reads labelled results back from their JSON and prints the medians and ratios.
func TestCompare(t *testing.T) {
	mk := func(label string, sc loadgen.Scenario, cpu, dps, p99, rss float64) *loadgen.Result {
		r := &loadgen.Result{Label: label, Scenario: sc, Params: loadgen.Params{Clients: 10}}
		r.Connections.Connected = 10
		r.Messages.DeliveriesPerSec = dps
		r.Latency = loadgen.LatencyStats{Count: 1, P50Ms: p99 / 2, P99Ms: p99}
		r.ServerStats = &loadgen.ServerStats{CPUMicrosPerDelivery: cpu, SysMicrosPerDelivery: cpu / 2, ClientCPUMicrosPerDelivery: 10, RSSKiBPerConn: rss, CPUPct: 50}
		return r
	}
	in := []*loadgen.Result{
		mk("A:fanout", loadgen.Fanout, 10, 1000, 4, 0), mk("B:fanout", loadgen.Fanout, 6, 1500, 2, 0),
		mk("A:fanout", loadgen.Fanout, 12, 1200, 6, 0), mk("B:fanout", loadgen.Fanout, 4, 2500, 3, 0),
		mk("A:fanout", loadgen.Fanout, 20, 100, 5, 0), mk("B:fanout", loadgen.Fanout, 5, 2000, 1, 0),
		mk("A:idle", loadgen.Idle, 0, 0, 0, 20), mk("B:idle", loadgen.Idle, 0, 0, 0, 50),
		mk("other", loadgen.Fanout, 1, 1, 1, 1),
	}
	in[1].Messages.Missing = 3
	var buf bytes.Buffer
	for _, r := range in {
		b, _ := json.MarshalIndent(r, "", "  ")
		buf.Write(b)
	}
	back, err := loadgen.ReadResults(&buf)
	if err != nil || len(back) != len(in) {
		t.Fatalf("ReadResults: %d results, %v", len(back), err)
	}
	var out bytes.Buffer
	if err := loadgen.Compare(&out, back); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"RATIO fanout.cpu_us_per_delivery B/A=0.417 (A=12.00 B=5.000)",
		"RATIO fanout.sys_us_per_delivery B/A=0.417 (A=6.000 B=2.500)",
		"RATIO fanout.deliveries_per_s B/A=2.000 (A=1000 B=2000)",
		"RATIO fanout.p99_ms B/A=0.400 (A=5.000 B=2.000)",
		"RATIO fanout.server_cpu_pct B/A=1.000 (A=50.00 B=50.00)",
		"RATIO fanout.client_cpu_us_per_delivery B/A=1.000 (A=10.00 B=10.00)",
		"RATIO idle.rss_kib_per_conn B/A=2.500 (A=20.00 B=50.00)",
		"WARN B fanout run 1: 3 deliveries missing, 0 duplicated",
		"12.00 [10.00 .. 20.00]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "RATIO idle.cpu") || strings.Contains(out.String(), "other") {
		t.Errorf("idle has message metrics, or an unlabelled run counted:\n%s", out.String())
	}
	if err := loadgen.Compare(io.Discard, in[8:]); err == nil {
		t.Error("no labelled result: no error")
	}
}
