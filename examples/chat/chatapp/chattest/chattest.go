// Package chattest drives the chat app (package chatapp) over the native protocol in tests: a User is a
// client socket that records every event it receives, in order, and calls the app's events with acks.
// It is shared by the chat app's own tests and the node's (cmd/roomio).
//
// It imports the Go client and the native codec only; it must not import the engine.
package chattest

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/transport/wire"
)

// WaitFor bounds every wait for an event or an ack.
const WaitFor = 10 * time.Second

// Formats are the native protocol's wire formats; chat behaviour is checked over each.
var Formats = []struct {
	Name   string
	Format wire.Format
}{{"proto", wire.FormatProto}, {"json", wire.FormatJSON}}

// EachFormat runs fn as a subtest once per wire format.
func EachFormat(t *testing.T, fn func(t *testing.T, f wire.Format)) {
	for _, tc := range Formats {
		t.Run(tc.Name, func(t *testing.T) { fn(t, tc.Format) })
	}
}

// Ctx returns a context that ends after WaitFor or with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	t.Cleanup(cancel)
	return ctx
}

// User is a client connected to namespace "/" that records every event it receives, in order.
type User struct {
	*client.Socket
	rec chan client.Event
}

// Connect dials wsURL in format f and connects namespace "/". It returns the client too: the caller
// closes it (test harnesses close their clients after shutting the server down, as a SIGTERM would).
func Connect(t testing.TB, wsURL string, f wire.Format) (*User, *client.Client) {
	t.Helper()
	c, err := client.Dial(Ctx(t), wsURL, client.Options{Format: f})
	if err != nil {
		t.Fatal(err)
	}
	u := &User{rec: make(chan client.Event, 1000)}
	s, err := c.Connect(Ctx(t), "/", nil, client.WithSetup(func(s *client.Socket) {
		s.OnAny(func(ev string, args []client.Arg, ack client.AckFunc) {
			u.rec <- client.Event{Name: ev, Args: args, Ack: ack}
		})
	}))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	u.Socket = s
	return u, c
}

// Next returns the next event u received.
func (u *User) Next(t testing.TB) client.Event {
	t.Helper()
	select {
	case ev := <-u.rec:
		return ev
	case <-time.After(WaitFor):
		t.Fatalf("user %s: no event arrived", u.ID())
		return client.Event{}
	}
}

// Expect asserts that u's next event is name with exactly one argument, want (compared as decoded JSON).
func (u *User) Expect(t testing.TB, name string, want map[string]any) {
	t.Helper()
	ev := u.Next(t)
	if ev.Name != name || len(ev.Args) != 1 {
		t.Fatalf("user %s: got event %q %s, want %q %v", u.ID(), ev.Name, ArgsString(ev.Args), name, want)
	}
	if got := DecodeObject(t, ev.Args[0]); !reflect.DeepEqual(got, want) {
		t.Fatalf("user %s: %q carried %v, want %v", u.ID(), name, got, want)
	}
}

// Call emits event with args, asking for an ack, and returns the ack's single argument, decoded.
func (u *User) Call(t testing.TB, event string, args ...any) map[string]any {
	t.Helper()
	res, err := u.EmitWithAck(Ctx(t), event, args...)
	if err != nil {
		t.Fatalf("user %s: %s: %v", u.ID(), event, err)
	}
	if len(res) != 1 {
		t.Fatalf("user %s: %s acked with %d arguments %s, want 1", u.ID(), event, len(res), ArgsString(res))
	}
	return DecodeObject(t, res[0])
}

// MustCall is Call asserting that the ack equals want.
func (u *User) MustCall(t testing.TB, want map[string]any, event string, args ...any) {
	t.Helper()
	if got := u.Call(t, event, args...); !reflect.DeepEqual(got, want) {
		t.Fatalf("user %s: %s%s acked %v, want %v", u.ID(), event, JSONString(args), got, want)
	}
}

// MustJoin joins room and asserts the ack: ok, the socket's rooms (sorted) equal to rooms, and a
// history list, which it returns (the said objects the room kept, oldest first).
func (u *User) MustJoin(t testing.TB, room any, rooms ...string) []any {
	t.Helper()
	got := u.Call(t, "join", room)
	history, ok := got["history"].([]any)
	if !ok {
		t.Fatalf("user %s: join(%v) acked %v, want a history list", u.ID(), room, got)
	}
	delete(got, "history")
	if want := OKRooms(rooms...); !reflect.DeepEqual(got, want) {
		t.Fatalf("user %s: join(%v) acked %v, want %v with a history", u.ID(), room, got, want)
	}
	return history
}

// MustSay says payload in room, asserts the ack {"ok":true,"seq":N} and returns N.
func (u *User) MustSay(t testing.TB, room string, payload ...any) int {
	t.Helper()
	got := u.Call(t, "say", append([]any{room}, payload...)...)
	seq, ok := got["seq"].(float64)
	if got["ok"] != true || !ok || seq < 1 || len(got) != 2 {
		t.Fatalf("user %s: say(%s) acked %v, want {ok:true, seq:N}", u.ID(), room, got)
	}
	return int(seq)
}

// ExpectSaid asserts that u's next event is said {"room","from","payload","seq"} with those room, from
// and payload (compared as decoded JSON) and returns its seq.
func (u *User) ExpectSaid(t testing.TB, room, from string, payload any) int {
	t.Helper()
	ev := u.Next(t)
	if ev.Name != "said" || len(ev.Args) != 1 {
		t.Fatalf("user %s: got event %q %s, want said", u.ID(), ev.Name, ArgsString(ev.Args))
	}
	got := DecodeObject(t, ev.Args[0])
	seq, ok := got["seq"].(float64)
	delete(got, "seq")
	want := map[string]any{"room": room, "from": from, "payload": payload}
	if !ok || seq < 1 || !reflect.DeepEqual(got, want) {
		t.Fatalf("user %s: said carried %v (seq %v), want %v with a seq", u.ID(), got, seq, want)
	}
	return int(seq)
}

// OKRooms is the chat app's ack to a join or leave that left the socket in rooms.
func OKRooms(rooms ...string) map[string]any {
	rs := make([]any, len(rooms))
	for i, r := range rooms {
		rs[i] = r
	}
	return map[string]any{"ok": true, "rooms": rs, "count": float64(len(rooms))}
}

// DecodeObject decodes a JSON-object argument, failing the test otherwise.
func DecodeObject(t testing.TB, a client.Arg) map[string]any {
	t.Helper()
	if a.Binary {
		t.Fatalf("binary argument %x, want a JSON object", a.Data)
	}
	var m map[string]any
	if err := json.Unmarshal(a.Data, &m); err != nil || m == nil {
		t.Fatalf("argument %s is not a JSON object: %v", a.Data, err)
	}
	return m
}

// ArgsString renders arguments for a failure message.
func ArgsString(args []client.Arg) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		if a.Binary {
			b.WriteString("<binary>")
		} else {
			b.Write(a.Data)
		}
	}
	return "[" + b.String() + "]"
}

// JSONString renders v as JSON for a failure message.
func JSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// IsNonEmptyString reports whether v is a non-empty string.
func IsNonEmptyString(v any) bool {
	s, ok := v.(string)
	return ok && s != ""
}
