package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// BenchmarkIdleConns opens n idle connections to an httptest server of the engine and reports what
// each costs the process: live heap (after GC) plus goroutine stacks, and goroutines. Socket.IO
// connections are on the Engine.IO WebSocket transport and connected to the main namespace, 10 to a
// room (the compare script's idle scenario); native ones are upgraded WebSockets with no namespace.
//
// The clients are raw TCP connections that did the handshake by hand and then read nothing, so the
// figures are the server's, plus a client socket each (a few hundred bytes). Run it with
// -benchtime=1x: the measurement is done once, whatever b.N. With ROOMIO_IDLE_HEAPPROFILE=path it writes
// the heap profile with the connections open to path.socketio and path.native (run with
// -memprofilerate=512 for a fine sample).
func BenchmarkIdleConns(b *testing.B) {
	for _, proto := range []string{"socketio", "native"} {
		for _, n := range []int{2000} {
			b.Run(fmt.Sprintf("proto=%s/conns=%d", proto, n), func(b *testing.B) {
				benchIdleConns(b, proto, n)
			})
		}
	}
}

func benchIdleConns(b *testing.B, proto string, n int) {
	e, err := engine.New(engine.Config{MaxConnsPerIP: -1})
	if err != nil {
		b.Fatal(err)
	}
	var connected atomic.Int64
	var seq atomic.Int64
	e.OnConnection(func(s *engine.Socket) {
		s.Join(context.Background(), "idle-"+strconv.FormatInt(seq.Add(1)%int64(max(n/10, 1)), 10))
		connected.Add(1)
	})
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", e.SocketIOHandler())
	mux.Handle("/ws", e.Handler())
	srv := httptest.NewServer(mux)
	addr := srv.Listener.Addr().String()
	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		e.Close()
		srv.Close()
	})

	before := memAndGoroutines()
	for range n {
		var c net.Conn
		if proto == "socketio" {
			c = dialIdleSocketIO(b, addr)
		} else {
			c = dialIdleNative(b, addr)
		}
		conns = append(conns, c)
	}
	if proto == "socketio" {
		deadline := time.Now().Add(30 * time.Second)
		for connected.Load() < int64(n) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d sockets connected", connected.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	after := memAndGoroutines()
	if path := os.Getenv("ROOMIO_IDLE_HEAPPROFILE"); path != "" {
		// The heap with the connections open (-memprofile is written after they are closed).
		f, err := os.Create(path + "." + proto)
		if err != nil {
			b.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/conn")
	b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/conn")
	b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(n), "B/conn")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/conn")
	b.ReportMetric(float64(after.rss-before.rss)/float64(n), "rss-B/conn")
}

type memSample struct {
	heap, stack uint64
	rss         int64
	goroutines  int
}

// memAndGoroutines samples the live heap after two collections (the second frees what the first's
// finalizers released), the goroutine stacks and the goroutine count, once both have settled.
func memAndGoroutines() memSample {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, rss: vmRSS(), goroutines: runtime.NumGoroutine()}
}

// vmRSS returns the process's resident set in bytes (/proc/self/status; 0 where it is missing). It
// counts the clients' side of the connections too, and whatever garbage the collector has not returned.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// dialIdleSocketIO opens an Engine.IO WebSocket by hand, reads the open packet, connects the main
// namespace and reads the CONNECT reply; the connection then stays idle.
func dialIdleSocketIO(b *testing.B, addr string) net.Conn {
	b.Helper()
	c, br := rawUpgrade(b, addr, "/socket.io/?EIO=4&transport=websocket", "")
	if open := readServerFrame(b, br); !bytes.HasPrefix(open, []byte("0{")) {
		b.Fatalf("open packet %q", open)
	}
	writeClientFrame(b, c, []byte("40"))
	if reply := readServerFrame(b, br); !bytes.HasPrefix(reply, []byte(`40{"sid":`)) {
		b.Fatalf("CONNECT reply %q", reply)
	}
	return c
}

// dialIdleNative upgrades a native-protocol WebSocket (JSON subprotocol) by hand; it stays idle.
func dialIdleNative(b *testing.B, addr string) net.Conn {
	b.Helper()
	c, _ := rawUpgrade(b, addr, "/ws", "roomio.v1.json")
	return c
}

// rawUpgrade sends a WebSocket upgrade request over a plain TCP connection and reads the 101 answer.
func rawUpgrade(b *testing.B, addr, path, subprotocol string) (net.Conn, *bufio.Reader) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if subprotocol != "" {
		req += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade answered %s", resp.Status)
	}
	return c, br
}

// readServerFrame reads one unmasked, unfragmented server frame with a payload under 64 KiB.
func readServerFrame(b *testing.B, br *bufio.Reader) []byte {
	b.Helper()
	var h [4]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		b.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		if _, err := io.ReadFull(br, h[2:4]); err != nil {
			b.Fatal(err)
		}
		n = int(h[2])<<8 | int(h[3])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// writeClientFrame writes p as one masked text frame (payload under 126 bytes).
func writeClientFrame(b *testing.B, c net.Conn, p []byte) {
	b.Helper()
	key := [4]byte{1, 2, 3, 4}
	f := append([]byte{0x81, 0x80 | byte(len(p))}, key[:]...)
	for i, x := range p {
		f = append(f, x^key[i%4])
	}
	if _, err := c.Write(f); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDelivery measures the write path per delivery over real loopback WebSockets, Socket.IO and
// native, with up to `inflight` emits in flight to one room of 100 members (1: each emit is delivered
// everywhere before the next, as below saturation; 16: a burst queues several frames per connection):
// write syscalls per delivery (the process's syscw in /proc/self/io; the clients only read), CPU per
// delivery (readers included) and allocations per emit.
func BenchmarkDelivery(b *testing.B) {
	for _, proto := range []string{"socketio", "native"} {
		for _, inflight := range []int64{1, 16} {
			b.Run(fmt.Sprintf("proto=%s/members=100/inflight=%d", proto, inflight), func(b *testing.B) {
				const n = 100
				e := newBenchEngine(b)
				mux := http.NewServeMux()
				mux.Handle("/socket.io/", e.SocketIOHandler())
				mux.Handle("/ws", e.Handler())
				srv := httptest.NewServer(mux)
				b.Cleanup(srv.Close)
				ws := "ws" + srv.URL[len("http"):]
				var r *wsReaders
				if proto == "socketio" {
					r = dialSocketIOReaders(b, ws+"/socket.io/?EIO=4&transport=websocket", n)
				} else {
					r = dialReaders(b, ws+"/ws", n, true)
				}
				waitMembers(b, e, n)
				b.ReportAllocs()
				b.ResetTimer()
				cpu, writes := cpuTime(), syscw()
				var i int64
				for i = 1; i <= int64(b.N); i++ {
					e.To("bench").Emit("tick", 1)
					if i >= inflight {
						r.await((i - inflight + 1) * n)
					}
				}
				r.await(int64(b.N) * n)
				deliveries := float64(int64(b.N) * n)
				b.ReportMetric(float64(syscw()-writes)/deliveries, "writes/delivery")
				b.ReportMetric(float64(cpuTime()-cpu)/deliveries, "cpu-ns/delivery")
			})
		}
	}
}

// syscw returns the process's write syscalls so far (/proc/self/io; 0 where it is missing).
func syscw() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkEventRoundTrip measures a client event that the server's handler acknowledges, one at a time
// over one native connection (the Go client in the same process): the reader, the socket's executor and
// the handler run once per event, each finding the one before it done. CPU per round trip covers
// both ends.
func BenchmarkEventRoundTrip(b *testing.B) {
	e := newBenchEngine(b, engine.Config{RateLimit: engine.RateLimit{Disabled: true}})
	e.OnConnection(func(s *engine.Socket) {
		s.On("echo", func(ev *engine.Event) { ev.Ack("ok") })
	})
	srv := httptest.NewServer(e.Handler())
	b.Cleanup(srv.Close)
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	s, err := c.Connect(ctx, "/", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := s.EmitWithAck(ctx, "echo", 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}
