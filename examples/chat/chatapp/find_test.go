package chatapp_test

import (
	"strings"
	"testing"

	"github.com/roomio/roomio/examples/chat/chatapp"
)

// TestChatFind: find joins or creates a room by topic: the first on a topic creates "chat-…", the
// next joins it and sees its history; another topic gets another room; a room joined by name is found
// by an empty topic only; bad topics are refused in the ack.
func TestChatFind(t *testing.T) {
	tn := serveChat(t)
	a, b, c := tn.user(), tn.user(), tn.user()

	first := a.Call(t, "find", map[string]string{"topic": "go"})
	room, _ := first["room"].(string)
	if first["ok"] != true || first["created"] != true || !strings.HasPrefix(room, "chat-") || len(room) != len("chat-")+16 {
		t.Fatalf("first find: %v", first)
	}
	a.MustSay(t, room, "hello")
	a.ExpectSaid(t, room, a.ID(), "hello")
	second := b.Call(t, "find", map[string]string{"topic": "go"})
	if second["room"] != room || second["created"] != false || second["count"] != float64(1) {
		t.Fatalf("second find: %v", second)
	}
	if h, _ := second["history"].([]any); len(h) != 1 {
		t.Fatalf("second find's history: %v", second["history"])
	}
	if other := c.Call(t, "find", map[string]string{"topic": "rust"}); other["room"] == room || other["created"] != true {
		t.Fatalf("other topic: %v", other)
	}

	d := tn.user()
	d.MustJoin(t, "lobby", "lobby")
	if got := tn.user().Call(t, "find", nil); got["ok"] != true || got["created"] != false {
		t.Fatalf("find with no topic: %v", got) // any room: the fullest
	}

	many := map[string]string{}
	for i := range chatapp.MaxTopicKeys + 1 {
		many[string(rune('a'+i))] = "x"
	}
	for _, bad := range []any{"go", []string{"x"}, map[string]any{"n": 1}, many,
		map[string]string{"": "x"}, map[string]string{"k": strings.Repeat("v", chatapp.MaxTopicBytes+1)}} {
		if got := d.Call(t, "find", bad); got["ok"] != false || got["error"] == "" {
			t.Fatalf("find %v: %v", bad, got)
		}
	}
}
