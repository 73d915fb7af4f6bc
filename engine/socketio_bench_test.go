package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
)

// dialSocketIOReaders dials n Socket.IO clients to url over the Engine.IO WebSocket transport (no
// polling, no upgrade), connects each to the main namespace, and counts the EVENT packets they receive.
// A client answers the server's pings, as socket.io-client does.
func dialSocketIOReaders(b *testing.B, url string, n int) *wsReaders {
	b.Helper()
	r := &wsReaders{}
	b.Cleanup(func() {
		for _, ws := range r.conns {
			ws.CloseNow()
		}
		r.wg.Wait()
	})
	ctx := context.Background()
	for range n {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		r.conns = append(r.conns, ws)
		ws.SetReadLimit(1 << 24)
		if _, open, err := ws.Read(ctx); err != nil || !bytes.HasPrefix(open, []byte("0{")) {
			b.Fatalf("open packet %q: %v", open, err)
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
			b.Fatal(err)
		}
		if _, reply, err := ws.Read(ctx); err != nil || !bytes.HasPrefix(reply, []byte(`40{"sid":`)) {
			b.Fatalf("CONNECT reply %q: %v", reply, err)
		}
		r.wg.Go(func() {
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				switch {
				case bytes.HasPrefix(data, []byte("42")):
					r.received.Add(1)
				case string(data) == "2":
					ws.Write(ctx, websocket.MessageText, []byte("3"))
				}
			}
		})
	}
	return r
}

// BenchmarkFanoutSocketIO is BenchmarkFanoutWebSocket with Socket.IO clients: emit → receive over real
// loopback WebSockets through the engine and the Engine.IO/Socket.IO front-end, to be read against
// BenchmarkFanoutWebSocket and BenchmarkBareLoopWebSocket in the same run.
//
// recovery=on runs it with connection state recovery (every tick carries an offset and is recorded in
// each socket's ring); cpu-ns/delivery is the process's CPU time (getrusage) per delivery, readers
// included, to compare the two.
func BenchmarkFanoutSocketIO(b *testing.B) {
	for _, rec := range []string{"off", "on"} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("recovery=%s/members=%d", rec, n), func(b *testing.B) {
				benchFanoutSocketIO(b, n, engine.Config{Recovery: engine.RecoveryConfig{Enabled: rec == "on"}})
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchFanoutSocketIO(b *testing.B, n int, cfg engine.Config) {
	e := newBenchEngine(b, cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", e.SocketIOHandler())
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	r := dialSocketIOReaders(b, "ws"+strings.TrimPrefix(srv.URL, "http")+"/socket.io/?EIO=4&transport=websocket", n)
	waitMembers(b, e, n)
	b.ReportAllocs()
	b.ResetTimer()
	began, cpu := time.Now(), cpuTime()
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
	b.ReportMetric(float64(cpuTime()-cpu)/float64(i*int64(n)), "cpu-ns/delivery")
}
