package engine_test

import (
	"encoding/json"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/wire"
)

// unread returns the bytes waiting in conn's socket, not read yet.
func unread(t testing.TB, conn net.Conn) int32 {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int32 // TIOCINQ (FIONREAD) writes an int
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		t.Fatalf("TIOCINQ: %v %v", err, errno)
	}
	return n
}

// holdClient is one member of the room in TestRoomHookHoldsAskersWrites, in either protocol.
type holdClient interface {
	join(room string) // joins with the "join" event and waits for its ack
	say()             // emits "say" asking for an ack (id 2)
	said() string     // the next event, which must be "said": its first argument
	ack() string      // the next packet, which must be the ack of id 2: its first argument
	tcp() net.Conn    // the connection under the client's WebSocket
}

// TestRoomHookHoldsAskersWrites: while a room hook handles a member's ask, what it sends that member is
// held until the hook returns, so that its emit to the room and its answer go out together; the other
// members' copies are written at once. With recovery on, the socket's outbox is its recovery lifeline,
// which holds its connection the same way; both front-ends' connections hold.
func TestRoomHookHoldsAskersWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  engine.Config
		dial func(t *testing.T, addr string) holdClient
	}{
		{"socketio/recovery=off", engine.Config{}, dialHoldSIO},
		{"socketio/recovery=on", recoveryConfig(0), dialHoldSIO},
		{"native/recovery=on", recoveryConfig(0), dialHoldNative},
	} {
		t.Run(tc.name, func(t *testing.T) { testHoldAskersWrites(t, tc.cfg, tc.dial) })
	}
}

func testHoldAskersWrites(t *testing.T, cfg engine.Config, dial func(*testing.T, string) holdClient) {
	emitted, proceed := make(chan struct{}), make(chan struct{})
	srv := serveSIO(t, "127.0.0.1:0", cfg, func(e *engine.Engine) {
		e.Of("/").Define("hold:", func(string) engine.Behavior {
			return &recorder{log: make(chan string, 100), onMsg: func(r *engine.RoomContext, m *engine.RoomMessage) {
				r.Emit("said", m.Event)
				emitted <- struct{}{}
				<-proceed
				m.Reply("ok")
			}}
		})
		joinHandlers(e)
		e.OnConnection(func(s *engine.Socket) {
			s.On("say", func(ev *engine.Event) {
				err := s.RequestRoomFunc(ev.Context(), "hold:1", "say", func(res []engine.Arg, err error) {
					if err != nil {
						ev.Ack(err.Error())
						return
					}
					ev.Ack(res[0])
				})
				if err != nil {
					ev.Ack(err.Error())
				}
			})
		})
	})
	release := sync.OnceFunc(func() { close(proceed) })
	t.Cleanup(release) // before the server's shutdown, which waits for the hook
	a, b := dial(t, srv.addr), dial(t, srv.addr)
	a.join("hold:1")
	b.join("hold:1")

	a.say()
	<-emitted
	// The room's emit has returned: b's copy was written then (a member's, at once), a's is held.
	if got := b.said(); got != `"say"` {
		t.Fatalf("b's said carries %s", got)
	}
	if n := unread(t, a.tcp()); n != 0 {
		t.Fatalf("%d bytes reached the asker while the hook still ran", n)
	}
	release()
	if got := a.said(); got != `"say"` {
		t.Fatalf("a's said carries %s", got)
	}
	if got := a.ack(); got != `"ok"` {
		t.Fatalf("a's ack carries %s", got)
	}
}

// holdSIO is a holdClient over Socket.IO.
type holdSIO struct{ *rawSIO }

func dialHoldSIO(t *testing.T, addr string) holdClient {
	c := holdSIO{dialRawSIO(t, addr)}
	c.connect("")
	return c
}

func (c holdSIO) tcp() net.Conn { return c.rawSIO.tcp }

func (c holdSIO) join(room string) {
	c.t.Helper()
	c.send(`421["join",{"room":"` + room + `"}]`)
	if m := c.read(); m != `431[{"ok":true}]` {
		c.t.Fatalf("join: %q", m)
	}
}

func (c holdSIO) say() { c.send(`422["say"]`) }

func (c holdSIO) said() string {
	c.t.Helper()
	m := c.read()
	var args []json.RawMessage
	if !strings.HasPrefix(m, `42["said",`) || json.Unmarshal([]byte(m[2:]), &args) != nil {
		c.t.Fatalf("read %q, want the said event", m)
	}
	return string(args[1])
}

func (c holdSIO) ack() string {
	c.t.Helper()
	m := c.read()
	var args []json.RawMessage
	if !strings.HasPrefix(m, `432[`) || json.Unmarshal([]byte(m[3:]), &args) != nil || len(args) != 1 {
		c.t.Fatalf("read %q, want the ack of the say", m)
	}
	return string(args[0])
}

// send writes one Engine.IO message.
func (c holdSIO) send(m string) {
	c.t.Helper()
	if err := c.ws.Write(c.ctx, websocket.MessageText, []byte(m)); err != nil {
		c.t.Fatal(err)
	}
}

// holdNative is a holdClient over the native protocol.
type holdNative struct {
	*rawNative
	conn net.Conn
}

func dialHoldNative(t *testing.T, addr string) holdClient {
	c := &holdNative{}
	c.rawNative = dialRawNativeWith(t, addr, dialCapture(&c.conn, wire.FormatProto.Subprotocol()))
	c.connect("/", "", "")
	return c
}

func (c *holdNative) tcp() net.Conn { return c.conn }

func (c *holdNative) send(p *packet.Packet) {
	c.t.Helper()
	if err := c.ws.Write(c.ctx, websocket.MessageBinary, wire.EncodeFrame(wire.FormatProto, p)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *holdNative) join(room string) {
	c.t.Helper()
	c.send(&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "join", AckID: 1,
		Args: []packet.Arg{{Data: []byte(`{"room":"` + room + `"}`)}}})
	if p := c.next(); p.Kind != packet.KindAck || p.AckID != 1 || len(p.Args) != 1 || string(p.Args[0].Data) != `{"ok":true}` {
		c.t.Fatalf("join: %+v", p)
	}
}

func (c *holdNative) say() {
	c.send(&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "say", AckID: 2})
}

func (c *holdNative) said() string {
	c.t.Helper()
	p := c.next()
	if p.Kind != packet.KindEvent || p.Name != "said" || len(p.Args) == 0 {
		c.t.Fatalf("read %+v, want the said event", p)
	}
	return string(p.Args[0].Data)
}

func (c *holdNative) ack() string {
	c.t.Helper()
	p := c.next()
	if p.Kind != packet.KindAck || p.AckID != 2 || len(p.Args) != 1 {
		c.t.Fatalf("read %+v, want the ack of the say", p)
	}
	return string(p.Args[0].Data)
}
