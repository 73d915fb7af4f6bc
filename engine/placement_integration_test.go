//go:build integration

package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// seqRoom numbers what is said in it: the chat's contract in a dozen lines. created reports the node
// whose actor created it.
type seqRoom struct {
	engine.BaseBehavior
	node    string
	created chan<- string
	seq     int
}

func (b *seqRoom) OnCreate(r *engine.RoomContext, opts engine.Arg) error {
	b.created <- b.node
	return nil
}

func (b *seqRoom) OnJoin(r *engine.RoomContext, j *engine.Joiner) error {
	var o string
	if j.Options.Data != nil && j.Options.Decode(&o) == nil && o == "bad" {
		return errors.New("bad options")
	}
	return nil
}

func (b *seqRoom) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	b.seq++
	var p any
	m.Bind(0, &p)
	r.Emit("said", map[string]any{"seq": b.seq, "from": m.From, "payload": p})
	m.Reply(b.seq)
}

// placedSetup defines seq rooms and the handlers a client uses: join {room, opts} and say {room,
// payload}, each acked with the result.
func placedSetup(created chan string) func(e *engine.Engine) {
	return func(e *engine.Engine) {
		e.Of("/").Define("seq:", func(string) engine.Behavior {
			return &seqRoom{node: e.NodeID(), created: created}
		})
		joinHandlers(e)
		roomSayHandler(e, func(res json.RawMessage) any { return map[string]any{"seq": res} })
	}
}

// roomSayHandler handles say {room, payload}: the room's "say", acked with answer(the room's reply) or
// {"error"}.
func roomSayHandler(e *engine.Engine, answer func(json.RawMessage) any) {
	e.OnConnection(func(s *engine.Socket) {
		s.On("say", func(ev *engine.Event) {
			var req struct {
				Room    string `json:"room"`
				Payload any    `json:"payload"`
			}
			ev.Bind(0, &req)
			res, err := s.RequestRoom(ev.Context(), req.Room, "say", req.Payload)
			if err != nil {
				ev.Ack(map[string]any{"error": err.Error()})
				return
			}
			ev.Ack(answer(json.RawMessage(res[0].Data)))
		})
	})
}

// placedRoomName returns a seq room that node hs[0] does not own.
func placedRoomName(t *testing.T, hs []*harness) string {
	t.Helper()
	for i := range 100 {
		room := fmt.Sprintf("seq:%d", i)
		owner := hs[0].e.Of("/").NodeOf(room)
		same := true
		for _, h := range hs {
			same = same && h.e.Of("/").NodeOf(room) == owner
		}
		if same && owner != hs[0].e.NodeID() {
			return room
		}
	}
	t.Fatal("no room owned by another node")
	return ""
}

type saidEv struct {
	Seq     int    `json:"seq"`
	From    string `json:"from"`
	Payload int    `json:"payload"`
}

// TestClusterPlacedRoomTotalOrder: one owner for a behaviour room with members on three nodes; senders
// on every node say concurrently; every member receives every message once, numbered 1, 2, 3… with no
// gap, which is one total order.
func TestClusterPlacedRoomTotalOrder(t *testing.T) {
	created := make(chan string, 100)
	hs := startNodes(t, 3, placedSetup(created))
	room := placedRoomName(t, hs)
	owner := hs[0].e.Of("/").NodeOf(room)

	var members []*user
	for _, h := range hs { // the first joiner is on node 0, which does not own the room
		for range 2 {
			u := h.connect("/", nil)
			if msg := askJoin(t, u, room, nil); msg != "" {
				t.Fatalf("join: %s", msg)
			}
			members = append(members, u)
		}
	}
	if got := <-created; got != owner {
		t.Fatalf("room created on %s, want its owner %s", got, owner)
	}
	// A refusal by the owner reaches a joiner on another node with the behaviour's text.
	if msg := askJoin(t, hs[0].connect("/", nil), room, "bad"); msg != "bad options" {
		t.Fatalf("refused join answered %q", msg)
	}
	// A socket that is not a member may not talk to the room, from any node.
	outsider := hs[1].connect("/", nil)
	if res := say(t, outsider, room, 0); res["error"] != engine.ErrNotInRoom.Error() {
		t.Fatalf("outsider's say: %v", res)
	}

	const perSender = 40
	senders := []*user{members[0], members[2], members[4]} // one per node
	var wg sync.WaitGroup
	acks := make([][]int, len(senders))
	for i, s := range senders {
		wg.Go(func() {
			for k := range perSender {
				res, err := trySay(t, s, room, i*1000+k)
				if err != nil {
					t.Error(err)
					return
				}
				if seq, ok := res["seq"].(float64); ok {
					acks[i] = append(acks[i], int(seq))
				} else {
					t.Errorf("say: %v", res)
					return
				}
			}
		})
	}
	wg.Wait()
	total := perSender * len(senders)
	var first []saidEv
	for mi, u := range members {
		var got []saidEv
		for len(got) < total {
			ev := u.next(t)
			if ev.Name != "said" {
				continue
			}
			var s saidEv
			if err := ev.Decode(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		for i, s := range got {
			if s.Seq != i+1 {
				t.Fatalf("member %d: said #%d has seq %d", mi, i, s.Seq)
			}
		}
		if first == nil {
			first = got
		} else {
			for i := range got {
				if got[i] != first[i] {
					t.Fatalf("member %d: said #%d = %+v, member 0 got %+v", mi, i, got[i], first[i])
				}
			}
		}
	}
	// Each sender's messages are in its order, and its acks are their seqs.
	for i := range senders {
		k := 0
		for _, s := range first {
			if s.Payload/1000 == i && s.From == senders[i].ID() {
				if s.Payload%1000 != k || acks[i][k] != s.Seq {
					t.Fatalf("sender %d: message %d carried %d, acked %d, seq %d", i, k, s.Payload, acks[i][k], s.Seq)
				}
				k++
			}
		}
		if k != perSender {
			t.Fatalf("sender %d: %d messages seen", i, k)
		}
	}
	select {
	case n := <-created:
		t.Fatalf("the room was created a second time, on %s", n)
	default:
	}
}

// say asks the server to say payload in room and returns the ack.
func say(t *testing.T, u *user, room string, payload int) map[string]any {
	t.Helper()
	res, err := trySay(t, u, room, payload)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func trySay(t *testing.T, u *user, room string, payload int) (map[string]any, error) {
	args, err := u.EmitWithAck(ctxT(t), "say", map[string]any{"room": room, "payload": payload})
	if err != nil {
		return nil, err
	}
	var res map[string]any
	return res, client.DecodeArgs(args, &res)
}

// TestClusterRequestRoomFunc: a socket on one node passes requests to a room another node owns without
// waiting for them; they reach the room in the order sent (numbered 1, 2, 3… there) and the answers
// come back once each, in that order.
func TestClusterRequestRoomFunc(t *testing.T) {
	hs := startNodes(t, 2, placedSetup(make(chan string, 100)))
	room := placedRoomName(t, hs)
	u := hs[0].connect("/", nil)
	if msg := askJoin(t, u, room, nil); msg != "" {
		t.Fatalf("join: %s", msg)
	}
	s := hs[0].server(u.ID())
	const n = 300
	type answer struct {
		seq int
		err error
	}
	answers := make(chan answer, n)
	for i := range n {
		err := s.RequestRoomFunc(ctxT(t), room, "say", func(args []engine.Arg, err error) {
			var seq int
			if err == nil {
				err = args[0].Decode(&seq)
			}
			answers <- answer{seq, err}
		}, i)
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if a := <-answers; a.err != nil || a.seq != i+1 {
			t.Fatalf("answer %d = seq %d, %v", i, a.seq, a.err)
		}
	}
	// The members' said events carry the same order.
	for i := range n {
		var s saidEv
		for {
			ev := u.next(t)
			if ev.Name == "said" {
				if err := ev.Decode(&s); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		if s.Seq != i+1 || s.Payload != i {
			t.Fatalf("said #%d = %+v", i, s)
		}
	}
}
