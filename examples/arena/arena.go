package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/roomio/roomio/engine"
)

// The arena's rules. Positions are in arena units; the page scales them to its canvas.
const (
	maxPlayers = 4                     // joins beyond it are refused ("arena is full")
	tickEvery  = 50 * time.Millisecond // 20 Hz: the game loop and the state it sends
	width      = 480.0
	height     = 320.0
	speed      = 160.0 // units per second at full input
	radius     = 12.0
)

var colors = []string{"#e4572e", "#17bebb", "#ffc914", "#76b041", "#9b5de5", "#f15bb5"}

// player is one member's state. The room owns it: only the arena's hooks touch it.
type player struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Color  string  `json:"color"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Score  int     `json:"score"`
	dx, dy float64 // the latest input, each in [-1, 1]
}

// arena is the behaviour of one "arena:<name>" room: up to maxPlayers players move their dot with the
// arrow keys and collect the coin; 20 times a second the room moves everyone and sends the state to all.
// Its hooks run in the room's actor, one at a time: no locks.
type arena struct {
	engine.BaseBehavior
	players map[string]*player
	coin    [2]float64
	tick    int64
}

func newArena(string) engine.Behavior { return &arena{players: make(map[string]*player)} }

// OnCreate sets the limit and starts the game loop.
func (a *arena) OnCreate(r *engine.RoomContext, _ engine.Arg) error {
	r.SetMaxClients(maxPlayers)
	r.SetTick(tickEvery)
	a.coin = [2]float64{width / 2, height / 2}
	return nil
}

// OnJoin checks the player's name (options {"name": "..."}), unique in the arena.
func (a *arena) OnJoin(r *engine.RoomContext, j *engine.Joiner) error {
	var opts struct {
		Name string `json:"name"`
	}
	if j.Options.Data != nil {
		if err := j.Options.Decode(&opts); err != nil {
			return errors.New("bad join options")
		}
	}
	name := strings.TrimSpace(opts.Name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 24 {
		return errors.New("pick a name of 1 to 24 characters")
	}
	for _, p := range a.players {
		if p.Name == name {
			return fmt.Errorf("the name %q is taken in this arena", name)
		}
	}
	a.players[j.ID] = &player{ID: j.ID, Name: name, Color: colors[len(a.players)%len(colors)],
		X: radius + rand.Float64()*(width-2*radius), Y: radius + rand.Float64()*(height-2*radius)}
	return nil
}

func (a *arena) OnLeave(r *engine.RoomContext, id string, _ engine.LeaveReason) {
	delete(a.players, id)
}

// OnMessage takes a player's input: "input" {dx, dy}, each clamped to [-1, 1].
func (a *arena) OnMessage(r *engine.RoomContext, m *engine.RoomMessage) {
	p := a.players[m.From]
	if p == nil || m.Event != "input" {
		m.Reply(map[string]any{"ok": false})
		return
	}
	var in struct{ DX, DY float64 }
	if m.Bind(0, &in) != nil {
		m.Reply(map[string]any{"ok": false})
		return
	}
	p.dx, p.dy = clamp(in.DX, -1, 1), clamp(in.DY, -1, 1)
	m.Reply(map[string]any{"ok": true})
}

// OnTick moves every player by its input over dt (the real time since the last tick), scores the coin,
// and sends the state.
func (a *arena) OnTick(r *engine.RoomContext, dt time.Duration) {
	a.tick++
	s := dt.Seconds()
	for _, p := range a.players {
		p.X = clamp(p.X+p.dx*speed*s, radius, width-radius)
		p.Y = clamp(p.Y+p.dy*speed*s, radius, height-radius)
		if math.Hypot(p.X-a.coin[0], p.Y-a.coin[1]) < 2*radius {
			p.Score++
			a.coin = [2]float64{radius + rand.Float64()*(width-2*radius), radius + rand.Float64()*(height-2*radius)}
		}
	}
	players := make([]*player, 0, len(a.players))
	for _, p := range a.players {
		players = append(players, p)
	}
	slices.SortFunc(players, func(x, y *player) int { return cmp.Compare(x.Name, y.Name) })
	r.Emit("state", map[string]any{"tick": a.tick, "players": players, "coin": a.coin,
		"arena": map[string]any{"width": width, "height": height, "max": maxPlayers}})
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

// register installs the arena on ns: the behaviour for "arena:*" rooms, and the "join"/"leave" events
// the page sends (a client asks; the server joins it). Inputs need no handler: the page sends them
// straight to the room (roomEmit, the native protocol's room message).
func register(ns *engine.Namespace) {
	// WithMaxClients tells the matchmaker (quick play) how many places a new arena has before it exists.
	ns.Define("arena:", newArena, engine.WithMaxClients(maxPlayers))
	ns.OnConnection(func(s *engine.Socket) {
		s.On("join", func(ev *engine.Event) {
			var req struct {
				Arena string `json:"arena"`
				Name  string `json:"name"`
			}
			if ev.Bind(0, &req) != nil || len(req.Arena) > 64 {
				ev.Ack(map[string]any{"ok": false, "error": "say which arena to join"})
				return
			}
			ctx, cancel := context.WithTimeout(ev.Context(), 5*time.Second)
			defer cancel()
			room := "arena:" + req.Arena
			var err error
			if req.Arena == "" {
				// Quick play: the fullest arena with a free place, or a new one (join-or-create; in a
				// cluster one node decides, so players asking at once fill one arena before the next).
				room, _, err = s.JoinOrCreate(ctx, "arena:", nil, map[string]string{"name": req.Name})
			} else {
				err = s.JoinRoom(ctx, room, map[string]string{"name": req.Name})
			}
			var re *engine.RefusedError
			switch {
			case errors.Is(err, engine.ErrRoomFull):
				ev.Ack(map[string]any{"ok": false, "error": fmt.Sprintf("this arena is full (%d players)", maxPlayers)})
			case errors.As(err, &re):
				ev.Ack(map[string]any{"ok": false, "error": re.Err.Error()})
			case err != nil:
				ev.Ack(map[string]any{"ok": false, "error": err.Error()})
			default:
				ev.Ack(map[string]any{"ok": true, "room": room, "id": s.ID()})
			}
		})
		s.On("leave", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			if strings.HasPrefix(room, "arena:") {
				s.Leave(ev.Context(), room)
			}
			ev.Ack(map[string]any{"ok": true})
		})
	})
}
