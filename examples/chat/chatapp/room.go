package chatapp

import (
	"encoding/json"
	"errors"

	"github.com/roomio/roomio/engine"
)

// historySize is how many said messages a room keeps for those who join later.
const historySize = 50

var errReserved = errors.New("invalid room name")

// chatRoom is a chat room's behaviour: it refuses names that would capture whispers, numbers what is
// said in it, and keeps the last historySize messages for those who join. Its hooks run in the room's
// actor, one at a time, so its fields need no lock. In a cluster it is replicated (Register defines it
// WithReplication): its seq and history move with the room when its node changes, and survive the
// loss of that node (Snapshot, Restore).
type chatRoom struct {
	engine.BaseBehavior
	ns       *engine.Namespace
	name     string
	reserved func(string) bool

	seq     int64
	history []json.RawMessage // the last said objects, oldest first
	// missed holds, for a socket whose join was just accepted, the history as it was then: everything
	// said later reaches the socket as a said event, so together nothing is missing and nothing doubled.
	// The join handler takes it at once ("history"); a leave drops it.
	missed map[string][]json.RawMessage
}

// OnCreate refuses a room named like a socket: a member would receive that socket's whispers.
func (c *chatRoom) OnCreate(r *engine.RoomContext, opts engine.Arg) error {
	if c.reserved(c.name) {
		return errReserved
	}
	setTopic(r, opts)
	return nil
}

// OnJoin refuses the whisper rooms (a socket that connected after the room was created may own the
// name), keeps the joiner's history and tells the other members.
func (c *chatRoom) OnJoin(r *engine.RoomContext, j *engine.Joiner) error {
	if c.reserved(c.name) {
		return errReserved
	}
	if c.missed == nil {
		c.missed = make(map[string][]json.RawMessage)
	}
	c.missed[j.ID] = append([]json.RawMessage{}, c.history...)
	// Through the room's context: it reaches the members on every node, after what the room emitted
	// before, and (replicated) once the join is safe on the replica node. The joiner is not told.
	r.EmitExcept(j.ID, "joined", map[string]any{"room": c.name, "id": j.ID})
	return nil
}

// chatState is what a chat room carries to another node.
type chatState struct {
	Seq     int64             `json:"seq"`
	History []json.RawMessage `json:"history"`
}

// Snapshot implements engine.Snapshotter: the seq and the history (the joiners' pending histories are
// not kept; a joiner that asks after a move gets the whole history).
func (c *chatRoom) Snapshot(*engine.RoomContext) ([]byte, error) {
	return json.Marshal(chatState{Seq: c.seq, History: c.history})
}

// Restore implements engine.Snapshotter.
func (c *chatRoom) Restore(_ *engine.RoomContext, state []byte) error {
	var s chatState
	if err := json.Unmarshal(state, &s); err != nil {
		return err
	}
	if len(s.History) > historySize {
		s.History = s.History[len(s.History)-historySize:]
	}
	c.seq, c.history = s.Seq, s.History
	return nil
}

func (c *chatRoom) OnLeave(r *engine.RoomContext, id string, _ engine.LeaveReason) {
	delete(c.missed, id)
}

func (c *chatRoom) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	switch m.Event {
	case "say":
		c.seq++
		var p json.RawMessage
		if m.Bind(0, &p) != nil {
			p = json.RawMessage("null")
		}
		said, err := json.Marshal(saidEvent{From: m.From, Payload: p, Room: c.name, Seq: c.seq})
		if err != nil {
			m.Reply(map[string]any{"ok": false, "error": err.Error()})
			return
		}
		if len(c.history) == historySize {
			c.history = append(c.history[:0], c.history[1:]...)
		}
		c.history = append(c.history, said)
		r.Emit("said", json.RawMessage(said))
		m.Reply(sayAck{OK: true, Seq: c.seq})
	case "history":
		h, ok := c.missed[m.From]
		if !ok {
			h = c.history // asked again, or by a member that was already in
		}
		delete(c.missed, m.From)
		if h == nil {
			h = []json.RawMessage{}
		}
		m.Reply(h)
	}
}

// saidEvent is the said event's object; sayAck is the say's ack when the room took it. Structs rather
// than maps: encoding/json writes them without sorting keys or boxing values, once per say. Their keys
// are in the order a map's would be written (sorted).
type saidEvent struct {
	From    string          `json:"from"`
	Payload json.RawMessage `json:"payload"`
	Room    string          `json:"room"`
	Seq     int64           `json:"seq"`
}

type sayAck struct {
	OK  bool  `json:"ok"`
	Seq int64 `json:"seq"`
}
