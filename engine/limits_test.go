package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/wire"
)

// sayHandler is the chat's say: every event is broadcast to the room "lobby" through a namespace-level
// operator (no socket attached to the emit) and acked.
func sayHandler(e *engine.Engine) {
	ns := e.Of("/")
	ns.OnConnection(func(s *engine.Socket) {
		s.On("say", func(ev *engine.Event) {
			var text string
			ev.Bind(0, &text)
			ns.To("lobby").Emit("said", s.ID(), text)
			ev.Ack(true)
		})
		s.On("ping", func(ev *engine.Event) { ev.Ack("pong") })
	})
}

// sayFrame is one native frame of n "say" events asking for acks.
func sayFrame(n int, text string) []byte {
	ps := make([]*packet.Packet, n)
	for i := range ps {
		ps[i] = &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "say", AckID: 1<<40 + uint64(i), // far from the client library's own ack ids
			Args: []packet.Arg{{Data: []byte(`"` + text + `"`)}}}
	}
	return wire.EncodeFrame(wire.FormatProto, ps...)
}

// flood runs flooders clients that join "lobby" and write say frames as fast as the server reads them
// until stop is closed. They read nothing themselves beyond what the client library does (it discards
// events without handlers).
func flood(t *testing.T, h *harness, flooders int, stop <-chan struct{}) *sync.WaitGroup {
	t.Helper()
	frame := sayFrame(64, strings.Repeat("x", 200))
	// All connect and join first: a flood already running would delay the others' connects.
	cs := make([]*client.Client, flooders)
	for i := range cs {
		cs[i] = h.dial(client.Options{})
		s, err := cs[i].Connect(ctxT(t), "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		h.join(&user{Socket: s, c: cs[i]}, "lobby")
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-stop
				cancel()
			}()
			for ctx.Err() == nil {
				if c.WriteRaw(ctx, websocket.MessageBinary, frame) != nil {
					return
				}
			}
		})
	}
	return &wg
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// 16 clients flood "say" (a broadcast to their room per event, with acks): the broadcasts in flight stay
// within the budget, handlers wait for it, the heap does not grow with the flood, and a well-behaved
// member of the room keeps getting its acks and the room's messages.
func TestFloodIsBoundedByTheBroadcastBudget(t *testing.T) {
	const budget = 32
	h := start(t, engine.Config{MaxBroadcastsInFlight: budget, RateLimit: engine.RateLimit{Disabled: true}}, sayHandler)
	by := h.connect("/", nil)
	h.join(by, "lobby")
	before := heapMB()

	stop := make(chan struct{})
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if n := h.e.Stats().BroadcastsInFlight; n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	const flooders = 16
	wg := flood(t, h, flooders, stop)

	// The bystander's own events are answered throughout, and the room reaches it.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := by.EmitWithAck(ctx, "ping"); err != nil {
			t.Fatalf("bystander ping %d: %v", i, err)
		}
		cancel()
	}
	grown := heapMB() - before
	close(stop)
	wg.Wait()
	<-sampled
	if ev := by.next(t); ev.Name != "said" {
		t.Fatalf("bystander got %q, want said", ev.Name)
	}
	st := h.e.Stats()
	t.Logf("peak in flight %d (budget %d), heap %+.1f MB, waits %d", peak.Load(), budget, grown, st.BackpressureWaits)
	// A handler that passed the gate may still emit: at most one broadcast per running handler above it.
	if p := peak.Load(); p > budget+flooders+1 {
		t.Fatalf("peak broadcasts in flight %d, budget %d", p, budget)
	}
	if st.BackpressureWaits == 0 {
		t.Fatal("the budget was never reached: the flood did not test it")
	}
	if grown > 64 {
		t.Fatalf("heap grew by %.0f MB during the flood", grown)
	}
}

// A client event that waits for the broadcast budget longer than BackpressureTimeout closes its
// connection with 4005; the budget is held spent here as broadcasts the actors are slow to process would.
func TestBackpressureTimeoutCloses(t *testing.T) {
	h := start(t, engine.Config{MaxBroadcastsInFlight: 1, BackpressureTimeout: 200 * time.Millisecond}, sayHandler)
	by := h.connect("/", nil)
	h.join(by, "r")
	u := h.connect("/", nil)
	release := h.e.HoldBudget()
	if err := u.Emit(ctxT(t), "say", "blocked"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-u.c.Done():
	case <-time.After(waitFor):
		t.Fatal("not closed")
	}
	if code := client.CloseCode(u.c.Err()); code != transport.CloseBackpressure {
		t.Fatalf("close code %d (%v), want %d", code, u.c.Err(), transport.CloseBackpressure)
	}
	if st := h.e.Stats(); st.BackpressureClosed != 1 || st.BackpressureWaits == 0 {
		t.Fatalf("stats %+v", st)
	}
	release()
	bystanderOK(t, h, by, "backpressure")
	if _, err := by.EmitWithAck(ctxT(t), "ping"); err != nil {
		t.Fatal(err)
	}
}

// A client that keeps sending over its rate limit is slowed, then closed with 4004; one under the limit
// is not, and a bystander keeps being served.
func TestRateLimitSlowsThenCloses(t *testing.T) {
	h := start(t, engine.Config{RateLimit: engine.RateLimit{Events: 50, Burst: 10, CloseAfter: 500 * time.Millisecond}}, sayHandler)
	by := h.connect("/", nil)
	h.join(by, "r")

	polite := h.connect("/", nil)
	fast := h.dial(client.Options{})
	if _, err := fast.Connect(ctxT(t), "/", nil); err != nil {
		t.Fatal(err)
	}
	frame := sayFrame(8, "spam")
	go func() {
		for fast.WriteRaw(context.Background(), websocket.MessageBinary, frame) == nil {
		}
	}()
	// The polite client sends 10 events a second meanwhile.
	for i := range 10 {
		if _, err := polite.EmitWithAck(ctxT(t), "ping"); err != nil {
			t.Fatalf("polite ping %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-fast.Done():
	case <-time.After(waitFor):
		t.Fatal("the flooding client was not closed")
	}
	if code := client.CloseCode(fast.Err()); code != transport.CloseRateLimited {
		t.Fatalf("close code %d (%v), want %d", code, fast.Err(), transport.CloseRateLimited)
	}
	st := h.e.Stats()
	if st.RateLimited == 0 || st.RateLimitClosed != 1 {
		t.Fatalf("stats %+v: want rate-limited packets and one closed connection", st)
	}
	if _, err := polite.EmitWithAck(ctxT(t), "ping"); err != nil {
		t.Fatalf("polite client after the flood: %v", err)
	}
	bystanderOK(t, h, by, "rate limit")
}

// A rate-limited client is slowed to the limit: 60 events at 50/s with a burst of 10 take about a second.
func TestRateLimitPacesTheReader(t *testing.T) {
	h := start(t, engine.Config{RateLimit: engine.RateLimit{Events: 50, Burst: 10}}, sayHandler)
	u := h.connect("/", nil)
	t0 := time.Now()
	if err := u.c.WriteRaw(ctxT(t), websocket.MessageBinary, sayFrame(60, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := u.EmitWithAck(ctxT(t), "ping"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 800*time.Millisecond {
		t.Fatalf("61 events at 50/s (burst 10) took %v", d)
	}
	if h.e.Stats().RateLimited == 0 {
		t.Fatal("no packet counted as rate limited")
	}
}

// Connections per remote address: a native upgrade and a Socket.IO handshake (polling and WebSocket)
// beyond the limit are answered 429; a connection that ends frees its place.
func TestConnectionsPerAddress(t *testing.T) {
	e, err := engine.New(engine.Config{MaxConnsPerIP: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.Handle("/socket.io/", e.SocketIOHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		e.Shutdown(ctx)
		srv.Close()
	})
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	a, err := client.Dial(ctxT(t), wsURL+"/ws", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A polling handshake is the second connection.
	resp, err := http.Get(srv.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("polling handshake: %d", resp.StatusCode)
	}
	// The third: refused on each endpoint.
	_, resp, err = websocket.Dial(ctxT(t), wsURL+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("native upgrade over the limit: %v %v, want 429", resp, err)
	}
	resp, err = http.Get(srv.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("polling handshake over the limit: %d, want 429", resp.StatusCode)
	}
	_, resp, err = websocket.Dial(ctxT(t), wsURL+"/socket.io/?EIO=4&transport=websocket", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("Socket.IO websocket over the limit: %v %v, want 429", resp, err)
	}
	// Closing the native connection frees a place.
	a.Close()
	waitUntil(t, "a place is free", func() bool {
		c, _, err := websocket.Dial(context.Background(), wsURL+"/ws", nil)
		if err != nil {
			return false
		}
		c.CloseNow()
		return true
	})
}

// A native frame holding more messages than MaxFrameMessages closes the connection with 1009 before any
// is handled; a frame of bad messages is answered with one Error packet, not one per message.
func TestFrameMessageCountIsBounded(t *testing.T) {
	h := start(t, engine.Config{MaxFrameMessages: 100}, sayHandler)
	by := h.connect("/", nil)
	h.join(by, "r")

	// 524 288 empty messages in 1 MiB: refused whole.
	c := h.dial(client.Options{})
	var errs atomic.Int64
	c.OnError(func(string, uint32, string) { errs.Add(1) })
	empty := make([]byte, 0, 1<<20)
	for len(empty)+2 <= 1<<20 {
		empty = protowire.AppendTag(empty, 1, protowire.BytesType)
		empty = protowire.AppendVarint(empty, 0)
	}
	if err := c.WriteRaw(ctxT(t), websocket.MessageBinary, empty); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("not closed")
	}
	if code := client.CloseCode(c.Err()); code != transport.CloseTooBig {
		t.Fatalf("close code %d (%v), want %d", code, c.Err(), transport.CloseTooBig)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d error packets for a refused frame", n)
	}

	// 100 messages of an unknown kind: one Error.
	c = h.dial(client.Options{})
	codes := make(chan uint32, 200)
	c.OnError(func(_ string, code uint32, _ string) { codes <- code })
	s, err := c.Connect(ctxT(t), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)
	var frame []byte
	for range 100 {
		frame = protowire.AppendBytes(protowire.AppendTag(frame, 1, protowire.BytesType), msg)
	}
	if err := c.WriteRaw(ctxT(t), websocket.MessageBinary, frame); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-codes:
		if code != wire.ErrCodeUnknownKind {
			t.Fatalf("error code %d", code)
		}
	case <-time.After(waitFor):
		t.Fatal("no error packet")
	}
	// A second frame with one bad message: its error is reported after any other of the first frame's
	// (the client runs its hooks in arrival order).
	if err := c.WriteRaw(ctxT(t), websocket.MessageBinary, protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), msg)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-codes:
	case <-time.After(waitFor):
		t.Fatal("no error packet for the second frame")
	}
	if n := len(codes); n != 0 {
		t.Fatalf("%d more error packets for one frame of 100 bad messages, want 1 in all", n+1)
	}
	if _, err := s.EmitWithAck(ctxT(t), "ping"); err != nil {
		t.Fatal(err)
	}
	bystanderOK(t, h, by, "frame count")
}

// A connection keeps at most HandshakeHeaderBytes of its request headers.
func TestHandshakeHeadersAreBounded(t *testing.T) {
	h := start(t, engine.Config{}, nil)
	hdr := http.Header{}
	hdr.Set("X-Big", strings.Repeat("b", 512<<10))
	hdr.Set("X-Small", "kept")
	c := h.dial(client.Options{Header: hdr})
	s, err := c.Connect(ctxT(t), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := h.server(s.ID()).Handshake().Headers
	total := 0
	for k, vs := range got {
		for _, v := range vs {
			total += len(k) + len(v)
		}
	}
	if total > 8<<10 {
		t.Fatalf("kept %d header bytes, want at most 8 KiB", total)
	}
	if got.Get("X-Small") != "kept" || got.Get("X-Big") != "" {
		t.Fatalf("kept X-Small=%q, X-Big of %d bytes", got.Get("X-Small"), len(got.Get("X-Big")))
	}
}

// MaxRooms bounds the rooms of the node: a Join that would create one more fails with ErrRoomLimit and
// leaves the socket out of it; existing rooms can still be joined, and a freed place can be taken.
func TestRoomLimit(t *testing.T) {
	h := start(t, engine.Config{MaxRooms: 3}, nil)
	a, b := h.connect("/", nil), h.connect("/", nil)
	sa, sb := h.server(a.ID()), h.server(b.ID())
	if err := sa.Join(ctxT(t), "r1", "r2", "r3"); err != nil {
		t.Fatal(err)
	}
	if err := sb.Join(ctxT(t), "r4", "r1"); !errors.Is(err, engine.ErrRoomLimit) {
		t.Fatalf("Join beyond MaxRooms = %v, want ErrRoomLimit", err)
	}
	if got, want := roomsOf(t, sb), sorted([]string{b.ID(), "r1"}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("b's rooms %v, want %v", got, want)
	}
	h.e.To("r4").Emit("nobody")
	h.e.To("r1").Emit("m")
	if got := b.until(t, "m"); len(got) != 0 {
		t.Fatalf("b got %v", got)
	}
	if err := sa.Leave(ctxT(t), "r3"); err != nil {
		t.Fatal(err)
	}
	if err := sb.Join(ctxT(t), "r4"); err != nil {
		t.Fatalf("Join after a room was freed: %v", err)
	}
}

// TestFloodHeapFigure measures the flood of docs/benchmarks.md: 16 clients flooding "say" for
// ROOMIO_FLOOD seconds, with the broadcast budget switched off (a budget no flood reaches, which is the
// behaviour before it existed) and at its default, the rate limit off; then with every default. The heap
// is the test process's: server and clients (the bystander records what it receives).
//
//	ROOMIO_FLOOD=15 go test -run=TestFloodHeapFigure -v -count=1 ./engine/
func TestFloodHeapFigure(t *testing.T) {
	secs := os.Getenv("ROOMIO_FLOOD")
	if secs == "" {
		t.Skip("set ROOMIO_FLOOD=<seconds> to measure")
	}
	d, err := time.ParseDuration(secs + "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		budget int
		rate   bool
	}{{"budget off", 1 << 30, false}, {"default budget", 0, false}, {"defaults (budget and rate limit)", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, engine.Config{MaxBroadcastsInFlight: tc.budget, MaxBroadcastBytesInFlight: 1 << 40,
				RateLimit: engine.RateLimit{Disabled: !tc.rate}, MaxConnsPerIP: -1}, sayHandler)
			by := h.connect("/", nil)
			h.join(by, "lobby")
			before := heapMB()
			stop := make(chan struct{})
			wg := flood(t, h, 16, stop)
			var peak float64
			var worst time.Duration
			end := time.Now().Add(d)
			for time.Now().Before(end) {
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := by.EmitWithAck(ctx, "ping")
				cancel()
				if err != nil {
					t.Logf("bystander ping: %v", err)
				}
				worst = max(worst, time.Since(t0))
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, float64(m.HeapAlloc)/(1<<20))
				time.Sleep(200 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			st := h.e.Stats()
			t.Logf("%s: heap %.0f MB before, peak %.0f MB during %v; in flight at the end %d; bystander's slowest ping %v; waits %d; rate-limited %d, closed %d",
				tc.name, before, peak, d, st.BroadcastsInFlight, worst.Round(time.Millisecond), st.BackpressureWaits, st.RateLimited, st.RateLimitClosed)
		})
	}
}

// A Socket.IO connection may hold at most MaxMessageSize bytes of one packet's pending attachments, and
// only for SocketIO.AttachmentTimeout: beyond either it is closed (reason "parse error") while a bystander
// keeps being served.
func TestSocketIOAttachmentsAreBounded(t *testing.T) {
	reasons := make(chan string, 4)
	e, err := engine.New(engine.Config{MaxMessageSize: 1 << 20, SocketIO: engine.SocketIOConfig{AttachmentTimeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	e.Of("/").OnConnection(func(s *engine.Socket) {
		s.On("up", func(ev *engine.Event) { ev.Ack(len(ev.Args)) })
		s.On("ping", func(ev *engine.Event) { ev.Ack("pong") })
		s.OnDisconnect(func(r string) { reasons <- r })
	})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.Handle("/socket.io/", e.SocketIOHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		e.Shutdown(ctx)
		srv.Close()
	})
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	by, err := client.Dial(ctxT(t), wsURL+"/ws", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer by.Close()
	bs, err := by.Connect(ctxT(t), "/", nil)
	if err != nil {
		t.Fatal(err)
	}

	// sio opens a Socket.IO connection over an Engine.IO WebSocket and connects "/".
	sio := func() *websocket.Conn {
		ws, _, err := websocket.Dial(ctxT(t), wsURL+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(-1)
		t.Cleanup(func() { ws.CloseNow() })
		if _, open, err := ws.Read(ctxT(t)); err != nil || open[0] != '0' {
			t.Fatalf("open: %q %v", open, err)
		}
		ws.Write(ctxT(t), websocket.MessageText, []byte("40"))
		if _, ok, err := ws.Read(ctxT(t)); err != nil || !strings.HasPrefix(string(ok), "40") {
			t.Fatalf("connect: %q %v", ok, err)
		}
		return ws
	}
	closed := func(ws *websocket.Conn, what string) {
		t.Helper()
		for {
			if _, _, err := ws.Read(ctxT(t)); err != nil {
				break
			}
		}
		select {
		case r := <-reasons:
			if r != transport.ReasonParseError {
				t.Fatalf("%s: disconnect reason %q, want %q", what, r, transport.ReasonParseError)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s: no disconnect", what)
		}
		if _, err := bs.EmitWithAck(ctxT(t), "ping"); err != nil {
			t.Fatalf("bystander after %s: %v", what, err)
		}
	}
	const two = `{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}`
	const three = two + `,{"_placeholder":true,"num":2}`

	// A complete packet within the bound is handled.
	ws := sio()
	ws.Write(ctxT(t), websocket.MessageText, []byte(`452-1["up",`+two+`]`))
	ws.Write(ctxT(t), websocket.MessageBinary, make([]byte, 300<<10))
	ws.Write(ctxT(t), websocket.MessageBinary, make([]byte, 300<<10))
	if _, ack, err := ws.Read(ctxT(t)); err != nil || string(ack) != "431[2]" {
		t.Fatalf("ack: %q %v", ack, err)
	}
	// Three attachments of 400 KiB announced: the third takes the packet over 1 MiB.
	ws.Write(ctxT(t), websocket.MessageText, []byte(`453-["up",`+three+`]`))
	for range 3 {
		if ws.Write(ctxT(t), websocket.MessageBinary, make([]byte, 400<<10)) != nil {
			break
		}
	}
	closed(ws, "attachments over MaxMessageSize")

	// Two announced, one sent, then nothing: closed after AttachmentTimeout.
	ws = sio()
	ws.Write(ctxT(t), websocket.MessageText, []byte(`452-["up",`+two+`]`))
	ws.Write(ctxT(t), websocket.MessageBinary, []byte("one"))
	t0 := time.Now()
	closed(ws, "incomplete packet")
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// In a cluster a room of a socket id's form is refused whatever node it names.
func TestQualifiedSocketIDForm(t *testing.T) {
	for room, want := range map[string]bool{
		"n1.abcdefghijklmnopqrst":          true,
		"node-7.AbC_-0123456789xyzAB"[:27]: true,
		"abcdefghijklmnopqrst":             false, // a bare id is refused only if it is a local socket's
		".abcdefghijklmnopqrst":            false,
		"n1.abcdefghijklmnopqrs":           false,
		"n1.abcdefghijklmnopqr!t":          false,
		"announcements.general":            false,
	} {
		if got := engine.IsQualifiedSID(room); got != want {
			t.Errorf("IsQualifiedSID(%q) = %v, want %v", room, got, want)
		}
	}
}
