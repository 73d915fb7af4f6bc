package engine_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/wire"
)

// memConn is an in-process connection that drops what it is sent, but says when its socket connected.
type memConn struct {
	id        string
	connected chan struct{}
}

func (c *memConn) ID() string                     { return c.id }
func (c *memConn) Close(int, string)              {}
func (c *memConn) Handshake() transport.Handshake { return transport.Handshake{} }
func (c *memConn) Send(p *packet.Packet) error {
	if p.Kind == packet.KindConnected {
		close(c.connected)
	}
	return nil
}

func heap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkDetachedMemory detaches 10 000 sockets (each in room "bench" and its own-id room) and reports
// the heap they hold, per socket: with empty buffers, then with full ones (MaxBuffered = 256 broadcasts
// to the room, each packet shared by all of them: the buffers hold pointers).
func BenchmarkDetachedMemory(b *testing.B) {
	const n = 10000
	for range b.N {
		e := newBenchEngine(b, engine.Config{Recovery: engine.RecoveryConfig{Enabled: true, MaxDetached: n}})
		base := heap()
		sessions := make([]transport.Session, n)
		for i := range sessions {
			c := &memConn{id: fmt.Sprint(i), connected: make(chan struct{})}
			sessions[i] = e.Open(c)
			sessions[i].Packet(&packet.Packet{Kind: packet.KindConnect, Namespace: "/"})
			<-c.connected
		}
		waitMembers(b, e, n)
		for _, s := range sessions {
			s.Closed(transport.ReasonTransportClose)
		}
		for e.RecoveryStats().Detached != n {
			time.Sleep(time.Millisecond)
		}
		sessions = nil
		empty := heap()
		for i := range 256 {
			e.To("bench").Emit("tick", i)
		}
		// Wait until every buffer holds the last tick.
		settled(b, e, "bench")
		full := heap()
		b.ReportMetric(float64(empty-base)/n, "B/detached-empty")
		b.ReportMetric(float64(full-base)/n, "B/detached-full")
		if st := e.RecoveryStats(); st.Detached != n || st.Overflowed != 0 {
			b.Fatalf("stats %+v", st)
		}
	}
}

// BenchmarkRecoverySocketIO measures a recovery over loopback: from the dial of the new connection to
// the first replayed message, for a socket that missed one message.
func BenchmarkRecoverySocketIO(b *testing.B) {
	e := newBenchEngine(b, engine.Config{Recovery: engine.RecoveryConfig{Enabled: true}})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", e.SocketIOHandler())
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		c := dialRawSIO(b, addr)
		_, sid, pid := c.connect("")
		e.To(sid).Emit("m", "warm")
		offset := lastOffset(b, c.event())
		c.ws.CloseNow()
		for e.RecoveryStats().Detached != 1 {
			time.Sleep(100 * time.Microsecond)
		}
		e.To(sid).Emit("m", i)
		settled(b, e, sid)
		b.StartTimer()
		c = dialRawSIO(b, addr)
		events, got, _ := c.connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
		b.StopTimer()
		if got != sid || len(events) != 1 {
			b.Fatalf("iteration %d not recovered: sid %q pid %q offset %q: got %q %q %+v", i, sid, pid, offset, got, events, e.RecoveryStats())
		}
		c.ws.Write(c.ctx, websocket.MessageText, []byte("41"))
		c.ws.CloseNow()
		b.StartTimer()
	}
}

// BenchmarkRecoveryNative is BenchmarkRecoverySocketIO for the native protocol: from the dial of the new
// WebSocket (Connect with resume token and offset) to the Connected, the missed event replayed before it.
func BenchmarkRecoveryNative(b *testing.B) {
	e := newBenchEngine(b, engine.Config{Recovery: engine.RecoveryConfig{Enabled: true}})
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		c := dialRawNative(b, addr)
		_, conn := c.connect("/", "", "")
		e.To(conn.SID).Emit("m", "warm")
		offset := c.next().Offset
		c.ws.CloseNow()
		for e.RecoveryStats().Detached != 1 {
			time.Sleep(100 * time.Microsecond)
		}
		e.To(conn.SID).Emit("m", i)
		settled(b, e, conn.SID)
		b.StartTimer()
		c = dialRawNative(b, addr)
		events, got := c.connect("/", conn.PID, offset)
		b.StopTimer()
		if got.SID != conn.SID || len(events) != 1 {
			b.Fatalf("iteration %d not recovered: %+v %d %+v", i, got, len(events), e.RecoveryStats())
		}
		c.ws.Write(c.ctx, websocket.MessageBinary, wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindDisconnect, Namespace: "/"}))
		c.ws.CloseNow()
		b.StartTimer()
	}
}
