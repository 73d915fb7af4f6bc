package engine_test

import (
	"bytes"
	"strings"
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

// bystander is a socket in room "r" that must keep being served while another client misbehaves.
func bystanderOK(t *testing.T, h *harness, by *user, tag string) {
	t.Helper()
	h.e.To("r").Emit("still-here", tag)
	ev := by.next(t)
	var got string
	if ev.Name != "still-here" || ev.Decode(&got) != nil || got != tag {
		t.Fatalf("bystander got %q %v after %s", ev.Name, ev.Args, tag)
	}
}

func TestBadInputClosesWithDocumentedCode(t *testing.T) {
	h := start(t, engine.Config{MaxMessageSize: 4096}, nil)
	by := h.connect("/", nil)
	h.join(by, "r")
	for _, tc := range []struct {
		name   string
		format wire.Format
		typ    websocket.MessageType
		frame  []byte
		code   int
	}{
		{"malformed protobuf", wire.FormatProto, websocket.MessageBinary, []byte{0x0a, 0xff, 0xff, 0x01}, transport.CloseProtocolError},
		{"malformed json", wire.FormatJSON, websocket.MessageText, []byte(`{"messages":[{"event":`), transport.CloseProtocolError},
		{"empty frame", wire.FormatProto, websocket.MessageBinary, nil, transport.CloseProtocolError},
		{"invalid utf-8 in json mapping", wire.FormatJSON, websocket.MessageText, []byte("{\"messages\":[{\"event\":{\"name\":\"\xff\"}}]}"), transport.CloseInvalidPayload},
		{"text frame on proto", wire.FormatProto, websocket.MessageText, []byte(`{}`), transport.CloseUnsupportedData},
		{"over the size limit", wire.FormatProto, websocket.MessageBinary, bytes.Repeat([]byte{0}, 5000), transport.CloseTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial(client.Options{Format: tc.format})
			if _, err := c.Connect(ctxT(t), "/", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteRaw(ctxT(t), tc.typ, tc.frame); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			case <-time.After(waitFor):
				t.Fatal("connection not closed")
			}
			if code := client.CloseCode(c.Err()); code != tc.code {
				t.Fatalf("close code %d (%v), want %d", code, c.Err(), tc.code)
			}
			bystanderOK(t, h, by, tc.name)
		})
	}
}

func TestBadInputAnsweredWithErrorPacket(t *testing.T) {
	h := start(t, engine.Config{}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.On("ping", func(ev *engine.Event) { ev.Ack("pong") })
		})
	})
	by := h.connect("/", nil)
	h.join(by, "r")

	unknownKind := protowire.AppendTag(nil, 1, protowire.BytesType) // Frame.messages
	msg := protowire.AppendTag(nil, 99, protowire.VarintType)       // a kind from the future
	msg = protowire.AppendVarint(msg, 1)
	unknownKind = protowire.AppendBytes(unknownKind, msg)

	event := func(ns, name string, args ...packet.Arg) []byte {
		return wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindEvent, Namespace: ns, Name: name, Args: args})
	}
	for _, tc := range []struct {
		name    string
		connect bool
		frame   []byte
		code    uint32
	}{
		{"unknown message kind", true, unknownKind, wire.ErrCodeUnknownKind},
		{"event before connect", false, event("/", "ping"), wire.ErrCodeNotConnected},
		{"ack for an unknown id", true, wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 424242}), wire.ErrCodeUnknownAck},
		{"argument that is not JSON", true, wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "ping", Args: []packet.Arg{{Data: []byte("{nope")}}}), wire.ErrCodeInvalid},
		{"reserved event name", true, event("/", "disconnect"), wire.ErrCodeInvalid},
		{"server-only kind from a client", true, wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindConnected, Namespace: "/", SID: "x"}), wire.ErrCodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial(client.Options{})
			codes := make(chan uint32, 4)
			c.OnError(func(ns string, code uint32, msg string) { codes <- code })
			if tc.connect {
				if _, err := c.Connect(ctxT(t), "/", nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.WriteRaw(ctxT(t), websocket.MessageBinary, tc.frame); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-codes:
				if code != tc.code {
					t.Fatalf("error code %d, want %d", code, tc.code)
				}
			case <-time.After(waitFor):
				t.Fatal("no error packet")
			}
			// The connection is still served.
			s, err := c.Connect(ctxT(t), "/other-check", nil)
			if err == nil || !strings.Contains(err.Error(), "Invalid namespace") {
				t.Fatalf("follow-up connect: %v %v", s, err)
			}
			bystanderOK(t, h, by, tc.name)
		})
	}
}

func TestSlowClientIsDisconnectedOthersGetEverything(t *testing.T) {
	reasons := make(chan string, 1)
	h := start(t, engine.Config{WriteQueueBytes: 64 << 10}, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.OnDisconnect(func(r string) {
				if r == "slow client" {
					select {
					case reasons <- s.ID():
					default:
						t.Errorf("a second socket was disconnected as slow: %s", s.ID())
					}
				}
			})
		})
	})
	fast := h.connect("/", nil)
	h.join(fast, "r")

	// The slow client is a raw WebSocket that connects, joins, and then never reads again.
	ws, _, err := websocket.Dial(ctxT(t), h.url, &websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctxT(t), websocket.MessageBinary, wire.EncodeFrame(wire.FormatProto, &packet.Packet{Kind: packet.KindConnect, Namespace: "/"}))
	_, data, err := ws.Read(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := wire.DecodeFrame(wire.FormatProto, data)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := wire.FromMessage(msgs[0])
	if p.Kind != packet.KindConnected {
		t.Fatalf("got %v, want connected", p.Kind)
	}
	if err := h.server(p.SID).Join(ctxT(t), "r"); err != nil {
		t.Fatal(err)
	}
	// 2000 × 16 KiB: far beyond the 64 KiB queue plus what the kernel buffers on loopback.
	payload := strings.Repeat("x", 16<<10)
	const n = 2000
	// The emitter paces itself on the fast member (a burst faster than any network would overflow every
	// queue, which is the policy working, not this test's subject).
	for i := range n {
		h.e.To("r").Emit("big", i, payload)
		ev := fast.next(t)
		var got int
		if err := ev.Decode(&got); err != nil || got != i {
			t.Fatalf("fast member: message %d is %d (%v)", i, got, err)
		}
	}
	select {
	case id := <-reasons:
		if id != p.SID {
			t.Fatalf("disconnected %s, want the slow socket %s", id, p.SID)
		}
	case <-time.After(waitFor):
		t.Fatal("slow client was not disconnected")
	}
}
