package engine_test

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/engine"
)

// pending returns the bytes waiting in the client's socket, unread.
func (c *rawSIO) pending() int32 {
	c.t.Helper()
	rc, err := c.tcp.(syscall.Conn).SyscallConn()
	if err != nil {
		c.t.Fatal(err)
	}
	var n int32 // TIOCINQ (FIONREAD) writes an int
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		c.t.Fatalf("TIOCINQ: %v %v", err, errno)
	}
	return n
}

// TestRoomHookHoldsAskersWrites: while a room hook handles a member's ask, what it sends that member is
// held until the hook returns, so that its emit to the room and its answer go out together; the other
// members' copies are written at once. With recovery on, the socket's outbox is its recovery lifeline,
// which holds its connection the same way.
func TestRoomHookHoldsAskersWrites(t *testing.T) {
	t.Run("recovery=off", func(t *testing.T) { testHoldAskersWrites(t, engine.Config{}) })
	t.Run("recovery=on", func(t *testing.T) {
		testHoldAskersWrites(t, engine.Config{Recovery: engine.RecoveryConfig{Enabled: true}})
	})
}

func testHoldAskersWrites(t *testing.T, cfg engine.Config) {
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
	a, b := dialRawSIO(t, srv.addr), dialRawSIO(t, srv.addr)
	for _, c := range []*rawSIO{a, b} {
		c.connect("")
		c.send(`421["join",{"room":"hold:1"}]`)
		if m := c.read(); m != `431[{"ok":true}]` {
			t.Fatalf("join: %q", m)
		}
	}

	a.send(`422["say"]`)
	<-emitted
	// The room's emit has returned: b's copy was written then (a member's, at once), a's is held.
	if m := b.read(); !strings.HasPrefix(m, `42["said","say"`) {
		t.Fatalf("b read %q, want the said event", m)
	}
	if n := a.pending(); n != 0 {
		t.Fatalf("%d bytes reached the asker while the hook still ran", n)
	}
	release()
	if m := a.read(); !strings.HasPrefix(m, `42["said","say"`) {
		t.Fatalf("a read %q, want the said event first", m)
	}
	if m := a.read(); m != `432["ok"]` {
		t.Fatalf("a read %q, want the answer", m)
	}
}

// send writes one Engine.IO message.
func (c *rawSIO) send(m string) {
	c.t.Helper()
	if err := c.ws.Write(c.ctx, websocket.MessageText, []byte(m)); err != nil {
		c.t.Fatal(err)
	}
}
