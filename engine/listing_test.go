package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
)

// matchRoom is a room for matchmaking tests: OnCreate copies its options' "mode" into the metadata and
// counts the rooms created; a "lock" message locks it.
type matchRoom struct {
	engine.BaseBehavior
	created *atomic.Int64
}

func (b *matchRoom) OnCreate(r *engine.RoomContext, opts engine.Arg) error {
	var o struct {
		Mode string `json:"mode"`
	}
	if opts.Data != nil {
		opts.Decode(&o)
	}
	if o.Mode == "refuse" {
		return errors.New("no such mode")
	}
	r.SetMetadata(map[string]any{"mode": o.Mode})
	b.created.Add(1)
	return nil
}

func (b *matchRoom) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	if m.Event == "lock" {
		r.Lock()
	}
	m.Reply(true)
}

// matchSetup defines "m:" rooms (three places each) named "m" and "big:" rooms (no limit), and a "find"
// handler: {behavior, filter, options} → JoinOrCreate, acked {room, created} or {error}.
func matchSetup(created *atomic.Int64) func(e *engine.Engine) {
	return func(e *engine.Engine) {
		ns := e.Of("/")
		ns.Define("m:", func(string) engine.Behavior { return &matchRoom{created: created} }, engine.WithMaxClients(3), engine.WithName("m"))
		ns.Define("big:", func(string) engine.Behavior { return &matchRoom{created: created} })
		ns.DefineFunc(func(r string) bool { return r == "fixed" }, func(string) engine.Behavior { return &matchRoom{created: created} }, engine.WithName("fixed"))
		e.OnConnection(func(s *engine.Socket) {
			s.On("find", func(ev *engine.Event) {
				var req struct {
					Behavior string         `json:"behavior"`
					Filter   map[string]any `json:"filter"`
					Options  any            `json:"options"`
				}
				if err := ev.Bind(0, &req); err != nil {
					ev.Ack(map[string]any{"error": err.Error()})
					return
				}
				room, fresh, err := s.JoinOrCreate(ev.Context(), req.Behavior, req.Filter, req.Options)
				if err != nil {
					ev.Ack(map[string]any{"error": err.Error()})
					return
				}
				ev.Ack(map[string]any{"room": room, "created": fresh})
			})
			s.On("lock", func(ev *engine.Event) {
				var room string
				ev.Bind(0, &room)
				s.RequestRoom(ev.Context(), room, "lock")
				ev.Ack(true)
			})
		})
	}
}

type found struct {
	Room    string `json:"room"`
	Created bool   `json:"created"`
	Error   string `json:"error"`
}

func find(t *testing.T, u *user, behavior string, filter, options any) found {
	t.Helper()
	args, err := u.EmitWithAck(ctxT(t), "find", map[string]any{"behavior": behavior, "filter": filter, "options": options})
	if err != nil {
		t.Error(err)
		return found{Error: err.Error()}
	}
	var f found
	if err := client.DecodeArgs(args, &f); err != nil {
		t.Error(err)
	}
	return f
}

// findAll has every user ask at once and returns the answers.
func findAll(t *testing.T, users []*user, behavior string, filter, options any) []found {
	t.Helper()
	out := make([]found, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = find(t, u, behavior, filter, options)
		}()
	}
	wg.Wait()
	return out
}

func TestJoinOrCreateFillsRooms(t *testing.T) {
	var created atomic.Int64
	h := start(t, engine.Config{}, matchSetup(&created))
	ns := h.e.Of("/")
	var users []*user
	for range 7 {
		users = append(users, h.connect("/", nil))
	}
	res := findAll(t, users, "m", map[string]string{"mode": "duel"}, map[string]string{"mode": "duel"})
	per := map[string]int{}
	for _, f := range res {
		if f.Error != "" {
			t.Fatalf("find: %s", f.Error)
		}
		per[f.Room]++
	}
	if len(per) != 3 || created.Load() != 3 {
		t.Fatalf("7 finds with 3 places a room: rooms %v, %d created; want 3", per, created.Load())
	}
	list, err := ns.Rooms(ctxT(t), "m", map[string]any{"mode": "duel"})
	if err != nil || !list.Complete || len(list.Rooms) != 3 {
		t.Fatalf("Rooms: %+v, %v", list, err)
	}
	total := 0
	for _, r := range list.Rooms {
		if r.MaxClients != 3 || r.Clients != per[r.Name] || string(r.Metadata) != `{"mode":"duel"}` {
			t.Fatalf("listed %+v, want %d members", r, per[r.Name])
		}
		total += r.Clients
	}
	if total != 7 {
		t.Fatalf("listed %d members, want 7", total)
	}
	// Another mode gets its own room; the filter keeps them apart.
	if f := find(t, h.connect("/", nil), "m", map[string]string{"mode": "ffa"}, map[string]string{"mode": "ffa"}); !f.Created {
		t.Fatalf("other mode: %+v, want a new room", f)
	}
	if list, _ := ns.Rooms(ctxT(t), "m", map[string]any{"mode": "ffa"}); len(list.Rooms) != 1 || list.Rooms[0].Clients != 1 {
		t.Fatalf("ffa rooms: %+v", list)
	}
	if list, _ := ns.Rooms(ctxT(t), "m", nil); len(list.Rooms) != 4 {
		t.Fatalf("all rooms: %+v", list)
	}
	// A locked room takes nobody: the next find opens a new room rather than fail.
	var open string
	for name, n := range per {
		if n < 3 {
			open = name
		}
	}
	var locker *user
	for i, f := range res {
		if f.Room == open {
			locker = users[i]
		}
	}
	if _, err := locker.EmitWithAck(ctxT(t), "lock", open); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the room to be listed locked", func() bool {
		l, _ := ns.RoomsJSON(ctxT(t), "m", []byte(`{"mode":"duel"}`))
		for _, r := range l.Rooms {
			if r.Name == open {
				return r.Locked && !r.Available()
			}
		}
		return false
	})
	if f := find(t, h.connect("/", nil), "m", map[string]string{"mode": "duel"}, map[string]string{"mode": "duel"}); !f.Created || f.Room == open {
		t.Fatalf("find with the open room locked: %+v", f)
	}
}

func TestRoomsBadInput(t *testing.T) {
	var created atomic.Int64
	h := start(t, engine.Config{}, matchSetup(&created))
	ns := h.e.Of("/")
	ctx := ctxT(t)
	if _, err := ns.Rooms(ctx, "nope", nil); !errors.Is(err, engine.ErrUnknownBehavior) {
		t.Fatalf("unknown behaviour: %v", err)
	}
	for _, bad := range []string{`[1]`, `{"a":`, `"x"`, `nul`} {
		if _, err := ns.RoomsJSON(ctx, "m", []byte(bad)); !errors.Is(err, engine.ErrBadFilter) {
			t.Fatalf("filter %s: %v", bad, err)
		}
	}
	if _, err := ns.Rooms(ctx, "m", map[string]any{"f": func() {}}); !errors.Is(err, engine.ErrBadFilter) {
		t.Fatalf("unmarshalable filter: %v", err)
	}
	u := h.connect("/", nil)
	if f := find(t, u, "nope", nil, nil); f.Error != engine.ErrUnknownBehavior.Error() {
		t.Fatalf("find unknown: %+v", f)
	}
	if f := find(t, u, "fixed", nil, nil); f.Error != engine.ErrNoRoomNames.Error() {
		t.Fatalf("find without names: %+v", f)
	}
	// A creation that OnCreate refuses reaches the caller.
	if f := find(t, u, "big:", nil, map[string]string{"mode": "refuse"}); f.Error != "no such mode" && f.Error == "" {
		t.Fatalf("refused create: %+v", f)
	}
	// An expired context: the listing answers with what this node has; one node has no peer to miss.
	dead, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if l, err := ns.Rooms(dead, "m", nil); err != nil || !l.Complete {
		t.Fatalf("single node, expired ctx: %+v, %v", l, err)
	}
	b, _ := json.Marshal(engine.RoomList{Rooms: []engine.RoomInfo{}, Complete: true})
	if string(b) != `{"rooms":[],"complete":true}` {
		t.Fatalf("RoomList JSON: %s", b)
	}
}
