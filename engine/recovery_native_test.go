package engine_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/wire"
)

// cuttableDialer gives the Go client TCP connections the test can close under it, and holds redials
// until the test lets them through.
type cuttableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dials int
	gate  chan struct{} // redials (every dial after the first) wait for it to close
}

func (d *cuttableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dials++
	gate := d.gate
	first := d.dials == 1
	d.mu.Unlock()
	if !first {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

// cut closes every connection dialed so far (no WebSocket close frame: the TCP connection just ends).
func (d *cuttableDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// nativeRecoveryClient connects a reconnecting Go client to s, in rooms a and b, with a warm-up event
// received (so that it holds an offset). It returns the client's socket, its "m" events and the dialer.
func nativeRecoveryClient(t *testing.T, s *sioServer, format wire.Format) (*client.Socket, <-chan client.Event, *cuttableDialer, chan struct{}) {
	t.Helper()
	d := &cuttableDialer{gate: make(chan struct{})}
	tr := &http.Transport{DialContext: d.dial}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.Dial(ctxT(t), "ws://"+s.addr+"/ws", client.Options{Format: format, HTTPClient: &http.Client{Transport: tr},
		Reconnect: true, ReconnectMin: 5 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sock, err := c.Connect(ctxT(t), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	reconnected := make(chan struct{}, 1)
	sock.OnReconnect(func() { reconnected <- struct{}{} })
	events := sock.Events("m", 64)
	for _, room := range []string{"a", "b"} {
		if res, err := sock.EmitWithAck(ctxT(t), "join", room); err != nil || string(res[0].Data) != "true" {
			t.Fatalf("join %s: %v %v", room, res, err)
		}
	}
	s.e.To("a").Emit("m", "warm")
	if got := nextM(t, events); got != `"warm"` {
		t.Fatalf("warm-up: %s", got)
	}
	return sock, events, d, reconnected
}

func nextM(t *testing.T, events <-chan client.Event) string {
	t.Helper()
	select {
	case ev := <-events:
		return string(ev.Args[0].Data)
	case <-time.After(waitFor):
		t.Fatal("no event")
		return ""
	}
}

// TestRecoverNativeClient: the Go client's TCP connection is closed under it while it is in two rooms;
// 20 messages go to a, b, a and b together, and its id; it redials on its own and presents its resume
// token and offset: same id, both rooms, the 20 once each and in order per target, then new messages
// flow.
func TestRecoverNativeClient(t *testing.T) {
	for _, f := range []wire.Format{wire.FormatProto, wire.FormatJSON} {
		t.Run(f.Subprotocol(), func(t *testing.T) {
			s := serveSIO(t, "127.0.0.1:0", recoveryConfig(time.Minute), recoveryApp)
			sock, events, d, reconnected := nativeRecoveryClient(t, s, f)
			id := sock.ID()
			d.cut()
			awaitRecovery(t, s.e, "the socket detached", func(st engine.RecoveryStats) bool { return st.Detached == 1 })
			for i := range 20 {
				op := []engine.BroadcastOperator{s.e.To("a"), s.e.To("b"), s.e.To("a", "b"), s.e.To(id)}[i%4]
				if err := op.Emit("m", i); err != nil {
					t.Fatal(err)
				}
			}
			s.e.To("a").Volatile().Emit("m", "volatile: not kept")
			settled(t, s.e, "a", "b", id)
			close(d.gate)
			<-reconnected
			if !sock.Recovered() || sock.ID() != id {
				t.Fatalf("recovered %v, id %q (was %q)", sock.Recovered(), sock.ID(), id)
			}
			// Every one once, in emit order per target (i % 4 names it): roomio's ordering guarantee.
			var missed []int
			for range 20 {
				n, err := strconv.Atoi(nextM(t, events))
				if err != nil {
					t.Fatal(err)
				}
				missed = append(missed, n)
			}
			for target := range 4 {
				var per []int
				for _, n := range missed {
					if n%4 == target {
						per = append(per, n)
					}
				}
				if len(per) != 5 || !slices.IsSorted(per) {
					t.Fatalf("messages to target %d: %v (all: %v)", target, per, missed)
				}
			}
			if got := slices.Sorted(slices.Values(missed)); got[0] != 0 || got[19] != 19 || len(slices.Compact(got)) != 20 {
				t.Fatalf("missed messages: %v", missed)
			}
			res, err := sock.EmitWithAck(ctxT(t), "rooms")
			if err != nil {
				t.Fatal(err)
			}
			var rooms []string
			res[0].Decode(&rooms)
			slices.Sort(rooms)
			if want := slices.Sorted(slices.Values([]string{"a", "b", id})); !slices.Equal(rooms, want) {
				t.Fatalf("rooms after recovery: %v", rooms)
			}
			s.e.To("b").Emit("m", "after")
			if got := nextM(t, events); got != `"after"` {
				t.Fatalf("after recovery (a duplicate?): %s", got)
			}
			if st := s.e.RecoveryStats(); st.Recovered != 1 || st.Detached != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRecoverNativeClientExpired: back after MaxDisconnection, the Go client gets a fresh socket: a new
// id, no rooms, Recovered false, and nothing of what was sent while it was away.
func TestRecoverNativeClientExpired(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", recoveryConfig(100*time.Millisecond), recoveryApp)
	sock, events, d, reconnected := nativeRecoveryClient(t, s, wire.FormatProto)
	id := sock.ID()
	d.cut()
	awaitRecovery(t, s.e, "the socket detached", func(st engine.RecoveryStats) bool { return st.Detached == 1 })
	s.e.To("a").Emit("m", "lost")
	awaitRecovery(t, s.e, "the session expired", func(st engine.RecoveryStats) bool { return st.Expired == 1 && st.Detached == 0 })
	close(d.gate)
	<-reconnected
	if sock.Recovered() || sock.ID() == id {
		t.Fatalf("expired session: recovered %v, id %q (was %q)", sock.Recovered(), sock.ID(), id)
	}
	res, err := sock.EmitWithAck(ctxT(t), "rooms")
	if err != nil {
		t.Fatal(err)
	}
	if string(res[0].Data) != `["`+sock.ID()+`"]` {
		t.Fatalf("rooms of the fresh socket: %s", res[0].Data)
	}
	s.e.To(sock.ID()).Emit("m", "fresh")
	if got := nextM(t, events); got != `"fresh"` {
		t.Fatalf("first event on the fresh socket: %s", got)
	}
}

// rawNative is a native-protocol connection the test drives frame by frame.
type rawNative struct {
	t       testing.TB
	ctx     context.Context
	ws      *websocket.Conn
	pending []*packet.Packet // decoded from the last frame, not returned yet
}

func dialRawNative(t testing.TB, addr string) *rawNative {
	t.Helper()
	return dialRawNativeWith(t, addr, &websocket.DialOptions{Subprotocols: []string{wire.FormatProto.Subprotocol()}})
}

func dialRawNativeWith(t testing.TB, addr string, opts *websocket.DialOptions) *rawNative {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &rawNative{t: t, ctx: ctx, ws: ws}
}

// connect sends a Connect presenting token and offset, and returns the events before the Connected,
// and the Connected.
func (c *rawNative) connect(ns, token, offset string) (events []*packet.Packet, connected *packet.Packet) {
	c.t.Helper()
	f := wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindConnect, Namespace: ns, PID: token, Offset: offset})
	if err := c.ws.Write(c.ctx, websocket.MessageBinary, f); err != nil {
		c.t.Fatal(err)
	}
	for {
		p := c.next()
		switch p.Kind {
		case packet.KindConnected:
			return events, p
		case packet.KindEvent:
			events = append(events, p)
		}
	}
}

func (c *rawNative) next() *packet.Packet {
	c.t.Helper()
	for len(c.pending) == 0 {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		msgs, err := wire.DecodeFrame(wire.FormatProto, data)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, m := range msgs {
			p, err := wire.FromMessage(m)
			if err != nil {
				c.t.Fatal(err)
			}
			c.pending = append(c.pending, p)
		}
	}
	p := c.pending[0]
	c.pending = c.pending[1:]
	return p
}

// TestRecoverNativeBadInput: a forged token, a token presented in another namespace, and a token with an
// offset the session does not hold each get a fresh socket, never the session; the first spends it.
func TestRecoverNativeBadInput(t *testing.T) {
	s := serveSIO(t, "127.0.0.1:0", recoveryConfig(time.Minute), func(e *engine.Engine) {
		recoveryApp(e)
		e.Of("/other")
	})
	victim := dialRawNative(t, s.addr)
	_, conn := victim.connect("/", "", "")
	if conn.PID == "" {
		t.Fatal("Connected without a resume token while recovery is on")
	}
	sid, token := conn.SID, conn.PID
	s.e.To(sid).Emit("m", 1)
	offset := victim.next().Offset
	if offset == "" {
		t.Fatal("recoverable event without an offset")
	}
	victim.ws.CloseNow()
	awaitRecovery(t, s.e, "the socket detached", func(st engine.RecoveryStats) bool { return st.Detached == 1 })

	for _, tc := range []struct{ name, ns, token, offset string }{
		{"forged token", "/", "AAAAAAAAAAAAAAAAAAAA", offset},
		{"another namespace", "/other", token, offset},
	} {
		events, got := dialRawNative(t, s.addr).connect(tc.ns, tc.token, tc.offset)
		if got.SID == sid || got.PID == token || len(events) != 0 {
			t.Fatalf("%s: recovered someone's session: sid %q token %q events %d", tc.name, got.SID, got.PID, len(events))
		}
	}
	// The session survived those; an unknown offset spends it.
	events, got := dialRawNative(t, s.addr).connect("/", token, "not-an-offset")
	if got.SID == sid || len(events) != 0 {
		t.Fatalf("unknown offset recovered the session: sid %q", got.SID)
	}
	events, got = dialRawNative(t, s.addr).connect("/", token, offset)
	if got.SID == sid || len(events) != 0 {
		t.Fatalf("a refused session was recovered afterwards: sid %q", got.SID)
	}
	if st := s.e.RecoveryStats(); st.Recovered != 0 || st.Detached != 0 || st.Refused < 3 {
		t.Fatalf("stats %+v", st)
	}
}
