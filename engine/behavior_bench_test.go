package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

// relay is the benchmarks' behaviour: every message is numbered and emitted to every member, as a chat
// or game room does; a request is answered with its number.
type relay struct {
	engine.BaseBehavior
	seq   int
	every time.Duration
	tick  func(dt time.Duration)
}

func (r *relay) OnMessage(c *engine.RoomContext, m *engine.RoomMessage) {
	r.seq++
	if c.Len() > 0 {
		c.Emit("said", r.seq)
	}
	m.Reply(r.seq)
}

func (r *relay) OnTick(_ *engine.RoomContext, dt time.Duration) {
	if r.tick != nil {
		r.tick(dt)
	}
}

// benchSockets connects n in-process sinks and returns their server-side sockets.
func benchSockets(b *testing.B, e *engine.Engine, n int, delivered *atomic.Int64) ([]*engine.Socket, []*sink) {
	b.Helper()
	var mu sync.Mutex
	socks := make([]*engine.Socket, 0, n)
	all := make(chan struct{})
	e.OnConnection(func(s *engine.Socket) {
		mu.Lock()
		socks = append(socks, s)
		if len(socks) == n {
			close(all)
		}
		mu.Unlock()
	})
	sinks := make([]*sink, n)
	for i := range sinks {
		sinks[i] = &sink{id: fmt.Sprint(i), q: transport.NewQueue(1 << 20), delivered: delivered}
		e.Open(sinks[i]).Packet(&packet.Packet{Kind: packet.KindConnect, Namespace: "/"})
	}
	<-all
	return socks, sinks
}

func newBehaviorBenchEngine(b *testing.B, cfg engine.Config, setup func(e *engine.Engine)) *engine.Engine {
	b.Helper()
	e, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	setup(e)
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// Shutdown, not Close: Close does not wait for the engine's goroutines (a handoff's fence, say),
		// which goleak would then find.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	return e
}

// BenchmarkBehaviorRoom measures messages through one behaviour room on one node: request round trips
// from server code (the hook answers at once), and messages that the room numbers and emits to its
// members (in-process sinks, every queue drained inside the timing).
func BenchmarkBehaviorRoom(b *testing.B) {
	b.Run("request", func(b *testing.B) {
		e := newBehaviorBenchEngine(b, engine.Config{}, func(e *engine.Engine) {
			e.Of("/").Define("r:", func(string) engine.Behavior { return &relay{} })
		})
		var delivered atomic.Int64
		socks, _ := benchSockets(b, e, 1, &delivered)
		if err := socks[0].Join(context.Background(), "r:1"); err != nil {
			b.Fatal(err)
		}
		room := e.Room("r:1")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := room.Request(ctx, "q"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	})
	// A socket's request on its own context, answered through a callback, as a handler passes one on
	// (Event.Context, RequestRoomFunc).
	b.Run("request-func", func(b *testing.B) {
		e := newBehaviorBenchEngine(b, engine.Config{}, func(e *engine.Engine) {
			e.Of("/").Define("r:", func(string) engine.Behavior { return &relay{} })
		})
		var delivered atomic.Int64
		socks, _ := benchSockets(b, e, 1, &delivered)
		s := socks[0]
		if err := s.Join(context.Background(), "r:1"); err != nil {
			b.Fatal(err)
		}
		answered := make(chan error, 1)
		reply := func(_ []engine.Arg, err error) { answered <- err }
		b.ReportAllocs()
		for b.Loop() {
			if err := s.RequestRoomFunc(s.Context(), "r:1", "q", reply); err != nil {
				b.Fatal(err)
			}
			if err := <-answered; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	})
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("send-emit/members=%d", n), func(b *testing.B) {
			e := newBehaviorBenchEngine(b, engine.Config{}, func(e *engine.Engine) {
				e.Of("/").Define("r:", func(string) engine.Behavior { return &relay{} }, engine.WithMaxPending(1<<20))
			})
			var delivered atomic.Int64
			socks, sinks := benchSockets(b, e, n, &delivered)
			for _, s := range socks {
				if err := s.Join(context.Background(), "r:1"); err != nil {
					b.Fatal(err)
				}
			}
			var frames [][]byte
			ctx := context.Background()
			drain := func(sent int64) {
				for delivered.Load() < sent {
					runtime.Gosched()
				}
				for _, s := range sinks {
					frames, _, _ = s.q.Take(ctx, frames)
				}
			}
			sender := socks[0]
			b.ReportAllocs()
			b.ResetTimer()
			sent := int64(0)
			for i := 1; i <= b.N; i++ {
				if err := sender.SendToRoom("r:1", "say", "hi"); err != nil {
					b.Fatal(err)
				}
				sent += int64(n)
				if i%window == 0 || i == b.N {
					drain(sent)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkBehaviorTick measures tick jitter with 1000 rooms ticking at 20 Hz on one node: how much later
// than its interval each tick came (dt − 50 ms), as percentiles over every tick of every room. One
// iteration is one tick period; run it with -benchtime=40x (two seconds).
func BenchmarkBehaviorTick(b *testing.B) {
	const (
		rooms    = 1000
		interval = 50 * time.Millisecond
	)
	var mu sync.Mutex
	var late []time.Duration
	var ticks atomic.Int64
	e := newBehaviorBenchEngine(b, engine.Config{MaxRoomsPerSocket: rooms}, func(e *engine.Engine) {
		e.Of("/").Define("t:", func(string) engine.Behavior {
			return &relay{every: interval, tick: func(dt time.Duration) {
				mu.Lock()
				late = append(late, dt-interval)
				mu.Unlock()
				ticks.Add(1)
			}}
		})
	})
	var delivered atomic.Int64
	socks, _ := benchSockets(b, e, 1, &delivered)
	names := make([]string, rooms)
	for i := range names {
		names[i] = fmt.Sprint("t:", i)
	}
	if err := socks[0].Join(context.Background(), names...); err != nil {
		b.Fatal(err)
	}
	// Rooms start ticking when they are created; wait until each has ticked once.
	for ticks.Load() < rooms {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	late = late[:0]
	mu.Unlock()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(interval)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(late)
	if len(late) == 0 {
		b.Fatal("no ticks")
	}
	pct := func(p float64) float64 { return float64(late[int(p*float64(len(late)-1))]) / 1e6 }
	b.ReportMetric(pct(0.5), "p50-late-ms")
	b.ReportMetric(pct(0.99), "p99-late-ms")
	b.ReportMetric(float64(late[len(late)-1])/1e6, "max-late-ms")
	b.ReportMetric(float64(len(late))/b.Elapsed().Seconds(), "ticks/s")
}

// OnCreate starts the room's tick when the relay has one (BenchmarkBehaviorTick).
func (r *relay) OnCreate(c *engine.RoomContext, _ engine.Arg) error {
	if r.every > 0 {
		c.SetTick(r.every)
	}
	return nil
}

// BenchmarkBehaviorIdleRoom measures the memory of an idle room with one member, behaviour and plain:
// one socket joins b.N rooms; the heap growth is divided by b.N.
func BenchmarkBehaviorIdleRoom(b *testing.B) {
	for _, kind := range []string{"plain", "behaviour"} {
		b.Run(kind, func(b *testing.B) {
			e := newBehaviorBenchEngine(b, engine.Config{MaxRoomsPerSocket: 1 << 30}, func(e *engine.Engine) {
				e.Of("/").Define("b:", func(string) engine.Behavior { return &relay{} })
			})
			var delivered atomic.Int64
			socks, _ := benchSockets(b, e, 1, &delivered)
			prefix := "p:"
			if kind == "behaviour" {
				prefix = "b:"
			}
			names := make([]string, b.N)
			for i := range names {
				names[i] = fmt.Sprint(prefix, i)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < len(names); i += 1000 {
				if err := socks[0].Join(context.Background(), names[i:min(i+1000, len(names))]...); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-bytes/room")
			runtime.KeepAlive(names)
		})
	}
}
