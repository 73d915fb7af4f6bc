package chatapp

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/roomio/roomio/engine"
)

// Register installs the chat app on ns: every chat room is a behaviour room (chatRoom, room.go) and the
// event handlers join, leave, say and whisper (the package doc lists their arguments, acks and events).
// Call it once per namespace, before the engine starts, so that every socket of ns gets the handlers.
func Register(ns *engine.Namespace) {
	// Every socket is alone in the room named by its id, which is where whispers go. The chat keeps
	// those rooms private: its rooms refuse such a name at join (chatRoom.OnCreate, OnJoin), or a member
	// joining "<B's id>" would receive every whisper to B (the engine, like Socket.IO, lets any socket
	// join a room of that name). The set holds this node's connected sockets; an id is added before its
	// socket's first event is handled, so before anyone can learn it from "joined" or "said". Sockets of
	// other nodes of a cluster are not in it: names shaped like a cluster socket id are refused whoever
	// owns them (clusterSID).
	var ids sync.Map
	isSocket := func(id string) bool { _, ok := ids.Load(id); return ok }
	reserved := func(name string) bool { return isSocket(name) || clusterSID(name) }
	ns.DefineFunc(validRoom, func(room string) engine.Behavior {
		return &chatRoom{ns: ns, name: room, reserved: reserved}
	}, engine.WithName(Behaviour), engine.WithRoomNames(func(id string) string { return "chat-" + id }),
		engine.WithReplication())
	// The handlers are made once and shared by every socket (each finds its socket in the event): an
	// idle connection keeps no closures of its own but its disconnect handler's.
	join := func(ev *engine.Event) { chatJoin(ev, reserved) }
	leave := func(ev *engine.Event) { chatLeave(ev, reserved) }
	say := func(ev *engine.Event) {
		var room string
		if ev.Bind(0, &room) != nil || !validRoom(room) || reserved(room) {
			ackIf(ev, fail("invalid room name"))
			return
		}
		// The room numbers the message and sends it to its members; the sender's ack carries the number.
		p, err := json.Marshal(payload(ev, 1))
		if err != nil {
			ackIf(ev, fail(err.Error()))
			return
		}
		// Without waiting for the answer: the socket's next say goes to the room meanwhile (in order).
		err = ev.Socket.RequestRoomFunc(ev.Context(), room, "say", func(res []engine.Arg, err error) {
			switch {
			case errors.Is(err, engine.ErrNotInRoom):
				ackIf(ev, fail("not in room"))
			case err != nil:
				ackIf(ev, fail(err.Error()))
			default:
				ackIf(ev, res[0])
			}
		}, json.RawMessage(p))
		if err != nil {
			ackIf(ev, fail(err.Error()))
		}
	}
	whisper := func(ev *engine.Event) {
		var to string
		if ev.Bind(0, &to) != nil || !isSocket(to) && !remoteSocket(ns, to) {
			ackIf(ev, fail("no such socket"))
			return
		}
		ns.To(to).Emit("whispered", map[string]any{"from": ev.Socket.ID(), "payload": payload(ev, 1)})
		ackIf(ev, map[string]any{"ok": true})
	}
	ns.OnConnection(func(s *engine.Socket) {
		// Keyed to this *Socket: a socket recovered after a dropped connection (connection state
		// recovery) is a new Socket with the same id, whose connection handler may run before the old
		// one's disconnect handler; that must not forget the id.
		ids.Store(s.ID(), s)
		s.OnDisconnect(func(string) { ids.CompareAndDelete(s.ID(), s) })
		s.On("join", join)
		s.On("leave", leave)
		s.On("find", chatFind)
		s.On("say", say)
		s.On("whisper", whisper)
	})
}

// clusterSID reports whether name has the form of a socket id in a cluster: "<node id>.<20 base64url
// characters>", the node id being 1–64 characters of [A-Za-z0-9_-] (engine.newSocketID,
// cluster.Config.NodeID).
func clusterSID(name string) bool {
	node, sid, ok := strings.Cut(name, ".")
	return ok && len(node) >= 1 && len(node) <= 64 && len(sid) == 20 && base64URL(node) && base64URL(sid)
}

func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// remoteSocket reports whether id is a connected socket of ns on another node of the cluster: the
// engine routes the query to the node named in the id, one round trip, bounded to 5 s (an unknown node
// answers at once, an unreachable one counts as absent).
func remoteSocket(ns *engine.Namespace, id string) bool {
	if !clusterSID(id) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	socks, err := ns.To(id).FetchSockets(ctx)
	return err == nil && len(socks) == 1 && socks[0].ID == id
}

// chatJoin joins the room (its chatRoom decides), then asks it for the history the socket missed.
func chatJoin(ev *engine.Event, reserved func(string) bool) {
	s := ev.Socket
	var room string
	if ev.Bind(0, &room) != nil || !validRoom(room) || reserved(room) {
		ackIf(ev, fail("invalid room name"))
		return
	}
	ctx, cancel := context.WithTimeout(ev.Context(), 5*time.Second)
	defer cancel()
	if err := s.JoinRoom(ctx, room, nil); err != nil {
		var re *engine.RefusedError
		if errors.As(err, &re) {
			err = re.Err
		}
		if errors.Is(err, engine.ErrSocketRoom) {
			// The engine refuses another socket's id before the room is asked; the contract's answer
			// is the room's own.
			err = errReserved
		}
		ackIf(ev, fail(err.Error()))
		return
	}
	history, err := roomHistory(ctx, s, room)
	if err != nil {
		ackIf(ev, fail(err.Error()))
		return
	}
	ackRooms(ev, ctx, map[string]any{"ok": true, "history": history})
}

// roomHistory asks a room the socket just joined for what was said in it before (the join acks'
// "history").
func roomHistory(ctx context.Context, s *engine.Socket, room string) ([]json.RawMessage, error) {
	res, err := s.RequestRoom(ctx, room, "history")
	if err != nil {
		return nil, err
	}
	var history []json.RawMessage
	if err := res[0].Decode(&history); err != nil {
		return nil, err
	}
	return history, nil
}

func chatLeave(ev *engine.Event, reserved func(string) bool) {
	s := ev.Socket
	var room string
	if ev.Bind(0, &room) != nil || !validRoom(room) || reserved(room) {
		ackIf(ev, fail("invalid room name"))
		return
	}
	ctx, cancel := context.WithTimeout(ev.Context(), 5*time.Second)
	defer cancel()
	if err := s.Leave(ctx, room); err != nil {
		ackIf(ev, fail(err.Error()))
		return
	}
	ackRooms(ev, ctx, map[string]any{"ok": true})
}

// ackRooms acks ack with "rooms" (the socket's chat rooms, sorted, at most MaxAckRooms) and "count".
func ackRooms(ev *engine.Event, ctx context.Context, ack map[string]any) {
	s := ev.Socket
	rooms, err := s.Rooms(ctx)
	if err != nil {
		ackIf(ev, fail(err.Error()))
		return
	}
	rooms = slices.DeleteFunc(rooms, func(r string) bool { return r == s.ID() })
	if rooms == nil {
		rooms = []string{}
	}
	// The ack is bounded whatever the socket's room count (a socket may be in up to 1 000 rooms of 128
	// bytes): it lists the first MaxAckRooms and counts them all.
	count := len(rooms)
	ack["rooms"] = rooms[:min(count, MaxAckRooms)]
	ack["count"] = count
	ackIf(ev, ack)
}

// MaxAckRooms is how many rooms a join or leave ack lists at most (the first, in sorted order); its
// "count" is the socket's number of chat rooms.
const MaxAckRooms = 100

// payload returns argument i as it came (raw JSON or binary), or JSON null when absent.
func payload(ev *engine.Event, i int) any {
	if i >= len(ev.Args) {
		return nil
	}
	a := ev.Args[i]
	if a.Binary {
		return a.Data // encoding/json sends bytes as base64 inside the JSON object
	}
	return json.RawMessage(a.Data)
}

func fail(msg string) map[string]any { return map[string]any{"ok": false, "error": msg} }

func ackIf(ev *engine.Event, v any) {
	if ev.HasAck() {
		ev.Ack(v)
	}
}

// validRoom: 1–128 bytes of printable UTF-8.
func validRoom(r string) bool {
	if len(r) == 0 || len(r) > 128 || !utf8.ValidString(r) {
		return false
	}
	for _, c := range r {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
