package chatapp_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomio/roomio/examples/chat/chatapp"
	"github.com/roomio/roomio/examples/chat/chatapp/chattest"
	"github.com/roomio/roomio/transport/wire"
)

// Absence is checked without sleeping: a marker message sent afterwards along the same path (the same
// room, or the same socket id) must be the first event the socket sees. Messages along one path keep
// their order, and a room's membership changes are ordered with the messages routed through it.

var ackOK = map[string]any{"ok": true}

func TestChatJoin(t *testing.T) {
	chattest.EachFormat(t, func(t *testing.T, f wire.Format) {
		tn := serveChat(t)
		a, b, c := tn.user(f), tn.user(f), tn.user(f)

		a.MustJoin(t, "lobby", "lobby")
		b.MustJoin(t, "lobby", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})

		// The joiner is not told about itself: b's first event is c's arrival, a gets it too.
		c.MustJoin(t, "lobby", "lobby")
		b.Expect(t, "joined", map[string]any{"room": "lobby", "id": c.ID()})
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": c.ID()})

		// The ack lists every room joined, sorted, without the socket's own-id room. Joining an empty room
		// tells nobody, and joining den is not told to lobby: b and c's next event is the lobby marker.
		a.MustJoin(t, "den", "den", "lobby")
		a.MustJoin(t, "attic", "attic", "den", "lobby")
		b.MustJoin(t, "den", "den", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "den", "id": b.ID()})
		a.MustSay(t, "lobby", "marker")
		for _, u := range []*chatUser{b, c} {
			u.ExpectSaid(t, "lobby", a.ID(), "marker")
		}
	})
}

// TestChatJoinAckBounded: a socket in many rooms gets acks that list the first chatapp.MaxAckRooms rooms,
// sorted, and count them all; a leave brings the list back under the cap.
func TestChatJoinAckBounded(t *testing.T) {
	tn := serveChat(t)
	u := tn.user()
	const n = chatapp.MaxAckRooms + 50
	var all []string
	for i := range n {
		room := fmt.Sprintf("room-%03d-%s", i, strings.Repeat("x", 100)) // long names, as in the attack
		all = append(all, room)
		got := u.Call(t, "join", room)
		rooms := anyStrings(got["rooms"])
		if got["ok"] != true || got["count"] != float64(i+1) || len(rooms) != min(i+1, chatapp.MaxAckRooms) {
			t.Fatalf("join #%d acked ok %v, count %v, %d rooms; want count %d and %d rooms", i+1, got["ok"], got["count"], len(rooms), i+1, min(i+1, chatapp.MaxAckRooms))
		}
	}
	// The names sort in join order: the ack lists the first MaxAckRooms.
	got := u.Call(t, "join", all[n-1]) // already a member: the same answer
	if rooms := anyStrings(got["rooms"]); !slices.Equal(rooms, all[:chatapp.MaxAckRooms]) || got["count"] != float64(n) {
		t.Fatalf("ack lists %d rooms from %q, count %v; want the first %d of %d", len(rooms), rooms[0], got["count"], chatapp.MaxAckRooms, n)
	}
	for _, room := range all[:n-3] {
		u.Call(t, "leave", room)
	}
	u.MustCall(t, chattest.OKRooms(all[n-3:]...), "leave", "nowhere")
}

func TestChatLeave(t *testing.T) {
	chattest.EachFormat(t, func(t *testing.T, f wire.Format) {
		tn := serveChat(t)
		a, b := tn.user(f), tn.user(f)
		a.MustJoin(t, "lobby", "lobby")
		b.MustJoin(t, "den", "den")
		b.MustJoin(t, "lobby", "den", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})

		b.MustCall(t, chattest.OKRooms("den"), "leave", "lobby")
		b.MustCall(t, chattest.OKRooms(), "leave", "den")
		// Leaving a room the socket is not in is not an error.
		b.MustCall(t, chattest.OKRooms(), "leave", "nowhere")

		// b no longer hears lobby: after it joins again, the first said it gets is the second one.
		a.MustSay(t, "lobby", "first")
		a.ExpectSaid(t, "lobby", a.ID(), "first")
		b.MustJoin(t, "lobby", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})
		a.MustSay(t, "lobby", "second")
		b.ExpectSaid(t, "lobby", a.ID(), "second")

		// A member that left cannot say in the room.
		b.MustCall(t, chattest.OKRooms(), "leave", "lobby")
		b.MustCall(t, map[string]any{"ok": false, "error": "not in room"}, "say", "lobby", "gone")
	})
}

func TestChatSay(t *testing.T) {
	chattest.EachFormat(t, func(t *testing.T, f wire.Format) {
		tn := serveChat(t)
		a, b, out := tn.user(f), tn.user(f), tn.user(f)
		a.MustJoin(t, "lobby", "lobby")
		b.MustJoin(t, "lobby", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})

		// The payload is relayed as it came, to every member, sender included.
		payloads := []struct {
			send any
			want any // as decoded from the said event's JSON
		}{
			{map[string]any{"text": "hi", "n": 1, "tags": []string{"x"}}, map[string]any{"text": "hi", "n": 1.0, "tags": []any{"x"}}},
			{"plain", "plain"},
			{json.RawMessage(`null`), nil},
			{[]byte{1, 2, 3}, "AQID"}, // binary arrives base64-encoded inside the JSON object
		}
		for _, p := range payloads {
			a.MustSay(t, "lobby", p.send)
			for _, u := range []*chatUser{a, b} {
				u.ExpectSaid(t, "lobby", a.ID(), p.want)
			}
		}
		// No payload at all is null; without an ack the message is still said.
		b.MustSay(t, "lobby")
		for _, u := range []*chatUser{a, b} {
			u.ExpectSaid(t, "lobby", b.ID(), nil)
		}
		if err := b.Emit(ctxT(t), "say", "lobby", "no ack"); err != nil {
			t.Fatal(err)
		}
		for _, u := range []*chatUser{a, b} {
			u.ExpectSaid(t, "lobby", b.ID(), "no ack")
		}

		// None of it reached the non-member: once it has joined, the first said it gets is the marker.
		out.MustJoin(t, "lobby", "lobby")
		a.MustSay(t, "lobby", "marker")
		out.ExpectSaid(t, "lobby", a.ID(), "marker")
	})
}

func TestChatSayNotInRoom(t *testing.T) {
	chattest.EachFormat(t, func(t *testing.T, f wire.Format) {
		tn := serveChat(t)
		a, b, out := tn.user(f), tn.user(f), tn.user(f)
		a.MustJoin(t, "lobby", "lobby")
		b.MustJoin(t, "lobby", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})
		out.MustJoin(t, "den", "den")

		notIn := map[string]any{"ok": false, "error": "not in room"}
		out.MustCall(t, notIn, "say", "lobby", "intrusion")
		out.MustCall(t, notIn, "say", "empty-room", "echo")

		a.MustSay(t, "lobby", "marker")
		for _, u := range []*chatUser{a, b} {
			u.ExpectSaid(t, "lobby", a.ID(), "marker")
		}
	})
}

func TestChatWhisper(t *testing.T) {
	chattest.EachFormat(t, func(t *testing.T, f wire.Format) {
		tn := serveChat(t)
		a, b, c := tn.user(f), tn.user(f), tn.user(f)
		for _, u := range []*chatUser{a, b, c} {
			u.MustJoin(t, "lobby", "lobby")
		}
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": c.ID()})
		b.Expect(t, "joined", map[string]any{"room": "lobby", "id": c.ID()})

		a.MustCall(t, ackOK, "whisper", b.ID(), map[string]any{"secret": 42})
		b.Expect(t, "whispered", map[string]any{"from": a.ID(), "payload": map[string]any{"secret": 42.0}})
		if err := a.Emit(ctxT(t), "whisper", b.ID(), "no ack"); err != nil {
			t.Fatal(err)
		}
		b.Expect(t, "whispered", map[string]any{"from": a.ID(), "payload": "no ack"})

		// Only b heard it: markers whispered to a and c are the first events they get.
		b.MustCall(t, ackOK, "whisper", a.ID(), "to a")
		b.MustCall(t, ackOK, "whisper", c.ID(), "to c")
		a.Expect(t, "whispered", map[string]any{"from": b.ID(), "payload": "to a"})
		c.Expect(t, "whispered", map[string]any{"from": b.ID(), "payload": "to c"})
	})
}

func TestChatWhisperInvalid(t *testing.T) {
	tn := serveChat(t)
	a, b := tn.user(), tn.user()
	a.MustJoin(t, "lobby", "lobby")
	b.MustJoin(t, "lobby", "lobby")
	a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})

	for _, tc := range []struct {
		name string
		args []any
	}{
		{"empty id", []any{"", "x"}},
		{"no id", nil},
		{"id not a string", []any{42, "x"}},
		// A whisper goes to one socket, never to a room of the chat.
		{"room name", []any{"lobby", "to the room"}},
		{"unknown id", []any{"AAAAAAAAAAAAAAAAAAAA", "x"}},
		{"unknown id of a cluster node", []any{"abcdefgh.AAAAAAAAAAAAAAAAAAAA", "x"}},
	} {
		got := b.Call(t, "whisper", tc.args...)
		if got["ok"] != false || len(got) != 2 || !chattest.IsNonEmptyString(got["error"]) {
			t.Errorf("%s: whisper%s acked %v, want {ok:false, error:...}", tc.name, chattest.JSONString(tc.args), got)
		}
	}
	// Nothing reached a, member of lobby.
	b.MustSay(t, "lobby", "marker")
	a.ExpectSaid(t, "lobby", b.ID(), "marker")
}

func TestChatInvalidRoom(t *testing.T) {
	tn := serveChat(t)
	u, other := tn.user(), tn.user()
	bad := []struct {
		name string
		room any
	}{
		{"empty", ""},
		{"129 bytes", strings.Repeat("r", 129)},
		{"129 bytes in 43 runes", strings.Repeat("€", 43)},
		{"control character", "a\x01b"},
		{"tab", "a\tb"},
		{"newline", "lobby\n"},
		{"DEL", "a\x7fb"},
		{"non-ASCII space", "a\u00a0b"},
		{"not a string", 42},
		{"null", nil},
		{"object", map[string]string{"room": "lobby"}},
		{"own socket id", u.ID()},
		// Another socket's id room is private to it: joining it would capture its whispers.
		{"another socket's id", other.ID()},
		// In a cluster socket ids are "<node id>.<id>": the chat refuses that shape for every node's.
		{"shaped like a cluster socket id", "abcdefgh.AAAAAAAAAAAAAAAAAAAA"},
		{"shaped like a cluster socket id, long node id", strings.Repeat("n", 64) + ".A-_AAAAAAAAAAAAAAAAA"},
	}
	for _, tc := range bad {
		for _, ev := range []string{"join", "leave", "say"} {
			got := u.Call(t, ev, tc.room, "payload")
			if got["ok"] != false || len(got) != 2 || !chattest.IsNonEmptyString(got["error"]) {
				t.Errorf("%s(%s): acked %v, want {ok:false, error:...}", ev, tc.name, got)
			}
		}
	}
	for _, ev := range []string{"join", "leave", "say"} {
		got := u.Call(t, ev)
		if got["ok"] != false || len(got) != 2 || !chattest.IsNonEmptyString(got["error"]) {
			t.Errorf("%s without arguments: acked %v, want {ok:false, error:...}", ev, got)
		}
	}
	// The invalid joins left u in no room.
	u.MustCall(t, chattest.OKRooms(), "leave", "nowhere")

	// Valid edge cases: 128 bytes, 1 byte, printable non-ASCII, spaces and punctuation, dotted names that
	// are not shaped like a cluster socket id.
	good := []string{strings.Repeat("r", 128), strings.Repeat("€", 42) + "xy", "x", "café ☕ #1", "a b", `"quoted"/\`,
		"general.chat", "abcdefgh.AAAAAAAAAAAAAAAAAAA", "abcdefgh.AAAAAAAAAAAAAAAAAAAA.x", strings.Repeat("n", 65) + ".AAAAAAAAAAAAAAAAAAAA"}
	for _, room := range good {
		got := u.Call(t, "join", room)
		if got["ok"] != true || !slices.Contains(anyStrings(got["rooms"]), room) {
			t.Errorf("join(%q) acked %v, want ok with the room listed", room, got)
		}
	}
	want := slices.Clone(good)
	slices.Sort(want)
	u.MustCall(t, chattest.OKRooms(want...), "leave", "nowhere")

	// other's whispers still reach only other.
	u.MustCall(t, ackOK, "whisper", other.ID(), "private")
	other.Expect(t, "whispered", map[string]any{"from": u.ID(), "payload": "private"})
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestChatSeqAndHistory(t *testing.T) {
	chattest.EachFormat(t, func(t *testing.T, f wire.Format) {
		tn := serveChat(t)
		a, b, late := tn.user(f), tn.user(f), tn.user(f)
		if h := a.MustJoin(t, "lobby", "lobby"); len(h) != 0 {
			t.Fatalf("history of a new room = %v, want none", h)
		}
		b.MustJoin(t, "lobby", "lobby")
		a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})
		// seq starts at 1 and grows by one per message, whoever says it; the ack and the said agree.
		const total = 60
		for i := 1; i <= total; i++ {
			u := a
			if i%2 == 0 {
				u = b
			}
			if seq := u.MustSay(t, "lobby", i); seq != i {
				t.Fatalf("say %d acked seq %d", i, seq)
			}
			for _, m := range []*chatUser{a, b} {
				if seq := m.ExpectSaid(t, "lobby", u.ID(), float64(i)); seq != i {
					t.Fatalf("said %d carried seq %d", i, seq)
				}
			}
		}
		// A joiner gets the last 50 in seq order in its ack, then the next message live: no gap.
		h := late.MustJoin(t, "lobby", "lobby")
		if len(h) != 50 {
			t.Fatalf("history has %d messages, want 50", len(h))
		}
		for i, x := range h {
			m, _ := x.(map[string]any)
			if want := float64(total - 50 + 1 + i); m["seq"] != want || m["payload"] != want || m["room"] != "lobby" {
				t.Fatalf("history[%d] = %v, want seq and payload %v", i, m, want)
			}
		}
		a.MustSay(t, "lobby", "next")
		if seq := late.ExpectSaid(t, "lobby", a.ID(), "next"); seq != total+1 {
			t.Fatalf("the joiner's first live said has seq %d, want %d", seq, total+1)
		}
		// A room that empties is disposed: joined again, it starts over. The room asks to be disposed
		// after its last leave; a join that reaches it before that keeps it (and its history), so wait
		// for the disposal before joining again.
		for _, u := range []*chatUser{a, b, late} {
			u.MustCall(t, chattest.OKRooms(), "leave", "lobby")
		}
		for deadline := time.Now().Add(chattest.WaitFor); tn.eng.Stats().Rooms != 0; {
			if time.Now().After(deadline) {
				t.Fatalf("the emptied room was not disposed: %+v", tn.eng.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		if h := a.MustJoin(t, "lobby", "lobby"); len(h) != 0 {
			t.Fatalf("history of a room created again = %v, want none", h)
		}
		if seq := a.MustSay(t, "lobby", "again"); seq != 1 {
			t.Fatalf("first say in a new room acked seq %d, want 1", seq)
		}
	})
}
