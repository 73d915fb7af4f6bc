//go:build unix

package native_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport/native"
	"github.com/roomio/roomio/transport/wire"
)

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoundTrip measures one event and its echo over one connection, client and server in this
// process, each round trip waiting for the previous one: every message reaches an idle connection, so
// the server's reader parks and is resumed once per message (package transport/netpoll). It reports the
// process's CPU per round trip, the client's included.
func BenchmarkRoundTrip(b *testing.B) {
	acc := &testAcceptor{echo: true, opened: make(chan *testSession, 1)}
	srv := native.NewServer(native.Options{Acceptor: acc})
	hs := httptest.NewServer(srv)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	}()
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	sess := <-acc.opened
	frame := wire.EncodeFrame(wire.FormatProto, event("rt", `"x"`))
	start := cpuTime()
	for b.Loop() {
		if err := ws.Write(ctx, websocket.MessageBinary, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			b.Fatal(err)
		}
		<-sess.packets
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
