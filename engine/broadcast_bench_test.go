package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/wire"
)

// sink is an in-process connection: it encodes like a native protobuf connection and queues on a real
// transport.Queue, without a socket.
type sink struct {
	id        string
	q         *transport.Queue[[]byte]
	delivered *atomic.Int64
	closed    atomic.Int32 // the close code, once closed
}

func (s *sink) ID() string                     { return s.id }
func (s *sink) Close(code int, _ string)       { s.closed.CompareAndSwap(0, int32(code)) }
func (s *sink) Handshake() transport.Handshake { return transport.Handshake{} }
func (s *sink) Send(p *packet.Packet) error {
	ok, overflow := s.q.Push(p.Encode(wire.FormatProto.Encoder()), p.Volatile)
	if overflow {
		s.Close(transport.CloseSlowClient, transport.ReasonSlowClient)
	}
	if !ok {
		return transport.ErrSlowClient
	}
	if p.Kind == packet.KindEvent {
		s.delivered.Add(1)
	}
	return nil
}

func newBenchEngine(b *testing.B, cfg ...engine.Config) *engine.Engine {
	b.Helper()
	// The WebSocket benchmarks open up to 1000 connections from loopback: no per-address limit.
	c := engine.Config{MaxConnsPerIP: -1}
	if len(cfg) > 0 {
		c = cfg[0]
		c.MaxConnsPerIP = -1
	}
	e, err := engine.New(c)
	if err != nil {
		b.Fatal(err)
	}
	e.OnConnection(func(s *engine.Socket) { s.Join(context.Background(), "bench") })
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func waitMembers(b *testing.B, e *engine.Engine, n int) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		socks, _ := e.To("bench").FetchSockets(context.Background())
		if len(socks) == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d members joined", len(socks), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkBroadcast measures the broadcast path (operator → namespace actor → room actor → socket actors
// → encoded once → connection queues) to in-process sinks; every queue is drained inside the timing.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) { benchBroadcast(b, n, engine.Config{}) })
	}
}

// BenchmarkBroadcastRecovery is BenchmarkBroadcast with connection state recovery off and on (every
// tick then carries an offset and is recorded in each socket's ring): the CPU recovery costs the fan-out
// path, without the network's noise.
func BenchmarkBroadcastRecovery(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, on := range []bool{false, true} {
			name := map[bool]string{false: "off", true: "on"}[on]
			b.Run(fmt.Sprintf("members=%d/recovery=%s", n, name), func(b *testing.B) {
				benchBroadcast(b, n, engine.Config{Recovery: engine.RecoveryConfig{Enabled: on}})
			})
		}
	}
}

// benchBroadcast emits to n in-process members of room "bench" of an engine configured by cfg.
func benchBroadcast(b *testing.B, n int, cfg engine.Config) {
	e := newBenchEngine(b, cfg)
	var delivered atomic.Int64
	sinks := make([]*sink, n)
	for i := range sinks {
		sinks[i] = &sink{id: fmt.Sprint(i), q: transport.NewQueue(1 << 20), delivered: &delivered}
		e.Open(sinks[i]).Packet(&packet.Packet{Kind: packet.KindConnect, Namespace: "/"})
	}
	waitMembers(b, e, n)
	var frames [][]byte
	ctx := context.Background()
	drain := func(sent int64) {
		for delivered.Load() < sent {
			runtime.Gosched() // the actors need the CPU more than this loop does
		}
		for _, s := range sinks {
			frames, _, _ = s.q.Take(ctx, frames)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	// Up to `window` emits are in flight; then every queue is drained inside the timing.
	sent := int64(0)
	for i := 1; i <= b.N; i++ {
		if err := e.To("bench").Emit("tick", 1); err != nil {
			b.Fatal(err)
		}
		sent += int64(n)
		if i%window == 0 || i == b.N {
			drain(sent)
		}
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "deliveries/s")
}

// wsReaders dials n WebSocket clients to url and counts the messages they receive.
type wsReaders struct {
	conns    []*websocket.Conn
	received atomic.Int64
	wg       sync.WaitGroup
}

func dialReaders(b *testing.B, url string, n int, connect bool) *wsReaders {
	b.Helper()
	r := &wsReaders{}
	ctx := context.Background()
	for range n {
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
		if err != nil {
			b.Fatal(err)
		}
		ws.SetReadLimit(1 << 24)
		if connect {
			ws.Write(ctx, websocket.MessageBinary, wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindConnect, Namespace: "/"}))
		}
		r.conns = append(r.conns, ws)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				msgs, err := wire.DecodeFrame(wire.FormatProto, data)
				if err != nil {
					return
				}
				for _, m := range msgs {
					if m.GetEvent() != nil {
						r.received.Add(1)
					}
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, ws := range r.conns {
			ws.CloseNow()
		}
		r.wg.Wait()
	})
	return r
}

// window is how many emits may be in flight before the benchmark waits for the readers; the same for
// the engine and the bare loop.
const window = 16

func (r *wsReaders) await(want int64) {
	for r.received.Load() < want {
		time.Sleep(20 * time.Microsecond)
	}
}

// BenchmarkFanoutWebSocket measures emit → receive over real loopback WebSockets through the whole
// engine, to be read against BenchmarkBareLoopWebSocket in the same run (docs/benchmarks.md).
func BenchmarkFanoutWebSocket(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			e := newBenchEngine(b)
			srv := httptest.NewServer(e.Handler())
			b.Cleanup(srv.Close)
			r := dialReaders(b, "ws"+strings.TrimPrefix(srv.URL, "http"), n, true)
			waitMembers(b, e, n)
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			// A counted loop rather than b.Loop: the last window must be awaited before the timer stops.
			var i int64
			for i = 1; i <= int64(b.N); i++ {
				e.To("bench").Emit("tick", 1)
				if i > window {
					r.await((i - window) * int64(n))
				}
			}
			i--
			r.await(i * int64(n))
			b.ReportMetric(float64(i*int64(n))/time.Since(began).Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkBareLoopWebSocket writes one pre-encoded frame to every connection in a loop with
// coder/websocket: the ceiling the engine's fan-out is compared with.
func BenchmarkBareLoopWebSocket(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var mu sync.Mutex
			var server []*websocket.Conn
			ready := make(chan struct{}, n)
			stop := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{Subprotocols: []string{wire.SubprotocolProto}})
				if err != nil {
					return
				}
				mu.Lock()
				server = append(server, ws)
				mu.Unlock()
				ready <- struct{}{}
				<-stop
				ws.CloseNow()
			}))
			b.Cleanup(func() { close(stop); srv.Close() })
			r := dialReaders(b, "ws"+strings.TrimPrefix(srv.URL, "http"), n, false)
			for range n {
				<-ready
			}
			frame := wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "tick", Args: []packet.Arg{{Data: []byte("1")}}})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			var i int64
			for i = 1; i <= int64(b.N); i++ {
				for _, ws := range server {
					ws.Write(ctx, websocket.MessageBinary, frame)
				}
				if i > window {
					r.await((i - window) * int64(n))
				}
			}
			i--
			r.await(i * int64(n))
			b.ReportMetric(float64(i*int64(n))/time.Since(began).Seconds(), "deliveries/s")
		})
	}
}
