package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Join-or-create (Socket.JoinOrCreate, Colyseus' joinOrCreate). Which room a socket should join is
// decided by one matchmaker per behaviour in the whole cluster: the node that owns the key
// "\x00match:" + behaviour name of the namespace by the rooms' rendezvous rule (so every node sends
// there, and it changes only when that node comes or goes). The matchmaker takes the requests one batch
// at a time: it lists the behaviour's rooms cluster-wide once per batch, then gives each request, in
// order, the fullest open room whose metadata matches its filter and has a free place, counting the
// places it gave in this batch; when there is none, a fresh name, which it remembers with the filter that
// asked for it (and counts its places) until a listing shows the room. Since one goroutine of one node
// makes every decision, two requests never both get a fresh name for the same need: a room is created
// only when every room the matchmaker knows to match is full or locked. The socket then joins the room
// as any join; a join that the room refuses as full, locked or closing (the listing counted members a
// moment before) asks the matchmaker again, up to matchAttempts times.

// matchAttempts bounds how often JoinOrCreate asks the matchmaker again after a full or locked room.
const matchAttempts = 10

// pendingForget is how long the matchmaker remembers a name it gave that no listing showed yet (its
// first join is still on its way, or failed).
const pendingForget = 10 * time.Second

// JoinOrCreate joins the socket to a room of the behaviour named behavior (WithName; a Define's prefix
// by default) whose metadata matches filter (as in Namespace.Rooms) and that takes another member,
// or, when there is none, to a new room with a fresh name (WithRoomNames): Colyseus' joinOrCreate.
// options go to the join (and to OnCreate when this join creates the room). It returns the room's name
// and whether the name was fresh. In a cluster, one node decides for the whole behaviour, so two
// sockets on different nodes asking at once never create two rooms where one would do (docs/behaviors.md).
//
// Errors: ErrUnknownBehavior, ErrBadFilter, ErrNoRoomNames; a *RefusedError when the chosen room's hooks
// refused the join (ErrRoomFull or ErrRoomLocked only when several attempts in a row met a room filled
// meanwhile); ErrRoomUnavailable when the matchmaker's node cannot be reached; ctx's error wrapped in
// ErrTimeout when ctx ends; ErrClosed once the matchmaker's engine is shutting down.
func (s *Socket) JoinOrCreate(ctx context.Context, behavior string, filter map[string]any, options any) (room string, created bool, err error) {
	n := s.ns
	def := n.hooks.behaviorNamed(behavior)
	if def == nil {
		return "", false, ErrUnknownBehavior
	}
	if !def.canName() {
		return "", false, ErrNoRoomNames
	}
	raw, _, err := filterOf(filter)
	if err != nil {
		return "", false, err
	}
	var last error
	for range matchAttempts {
		room, created, err = n.matchRoom(ctx, behavior, raw)
		if err != nil {
			return "", false, err
		}
		err = s.JoinRoom(ctx, room, options)
		if err == nil {
			return room, created, nil
		}
		if !errors.Is(err, ErrRoomFull) && !errors.Is(err, ErrRoomLocked) && !errors.Is(err, ErrRoomClosed) {
			return "", false, err
		}
		last = err
	}
	return "", false, last
}

// canName reports whether join-or-create can name a new room of d.
func (d *behaviorDef) canName() bool { return d.namer != nil || d.match == nil && d.prefix != "" }

// newName returns a fresh room name for d.
func (d *behaviorDef) newName() (string, error) {
	var b [12]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	name := d.prefix + id
	if d.namer != nil {
		name = d.namer(id)
	}
	if !d.matches(name) {
		return "", ErrNoRoomNames
	}
	return name, nil
}

// matchRoom asks the behaviour's matchmaker for a room (this node's, or over the cluster).
func (n *Namespace) matchRoom(ctx context.Context, behavior string, filter []byte) (string, bool, error) {
	type result struct {
		room    string
		created bool
		err     error
	}
	ch := make(chan result, 1)
	done := func(room string, created bool, err error) { ch <- result{room, created, err} }
	l := n.e.link
	if l == nil {
		n.matcher(behavior).ask(filter, done)
	} else if node, local := l.owner(n.name, "\x00match:"+behavior); local {
		n.matcher(behavior).ask(filter, done)
	} else {
		id := l.reqIDs.Add(1)
		l.calls.add(id, &nodeCall{node: node, answer: func(msg any) {
			r, _ := msg.(*clusterv1.MatchReply)
			switch {
			case r == nil:
				done("", false, ErrRoomUnavailable)
			case r.Error != "":
				done("", false, matchError(r.Error))
			default:
				done(r.Room, r.Created, nil)
			}
		}})
		env := &clusterv1.Envelope{Body: &clusterv1.Envelope_MatchRequest{MatchRequest: &clusterv1.MatchRequest{
			RequestId: id, Namespace: n.name, Behavior: behavior, Filter: filter}}}
		if err := l.node.Send(node, env); err != nil {
			if c := l.calls.take(id); c != nil {
				return "", false, fmt.Errorf("%w: %v", ErrRoomUnavailable, err)
			}
		}
		defer l.calls.take(id)
	}
	select {
	case r := <-ch:
		return r.room, r.created, r.err
	case <-ctx.Done():
		return "", false, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// matchError turns a matchmaker's error text back into the engine's error.
func matchError(msg string) error {
	for _, e := range []error{ErrUnknownBehavior, ErrBadFilter, ErrUnknownNamespace, ErrNoRoomNames, ErrClosed} {
		if e.Error() == msg {
			return e
		}
	}
	return errors.New(msg)
}

// remoteMatch answers a peer's MatchRequest: this node is the behaviour's matchmaker.
func (l *link) remoteMatch(from string, m *clusterv1.MatchRequest) {
	reply := func(room string, created bool, err error) {
		r := &clusterv1.MatchReply{RequestId: m.RequestId, Room: room, Created: created}
		if err != nil {
			r.Error = err.Error()
		}
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_MatchReply{MatchReply: r}})
	}
	n := l.e.lookup(m.Namespace)
	if n == nil || l.e.state.Load() != stateRunning {
		reply("", false, ErrUnknownNamespace)
		return
	}
	if def := n.hooks.behaviorNamed(m.Behavior); def == nil {
		reply("", false, ErrUnknownBehavior)
		return
	}
	if _, err := parseFilter(m.Filter); err != nil {
		reply("", false, err)
		return
	}
	n.matcher(m.Behavior).ask(m.Filter, reply)
}

// matcher returns n's matchmaker of behavior, making it on first use.
func (n *Namespace) matcher(behavior string) *matchmaker {
	if v, ok := n.matchers.Load(behavior); ok {
		return v.(*matchmaker)
	}
	v, _ := n.matchers.LoadOrStore(behavior, &matchmaker{n: n, behavior: behavior, pending: make(map[string]*pendingRoom)})
	return v.(*matchmaker)
}

// matchmaker decides the join-or-creates of one behaviour of one namespace, one batch at a time, on a
// goroutine that exists while requests wait (counted in the engine's workers, so Shutdown waits for it;
// once Shutdown began, requests fail with ErrClosed).
type matchmaker struct {
	n        *Namespace
	behavior string

	mu      sync.Mutex
	queue   []*matchAsk
	running bool

	pending map[string]*pendingRoom // owned by the running goroutine
}

type matchAsk struct {
	filter []byte
	done   func(room string, created bool, err error)
}

// pendingRoom is a fresh name the matchmaker gave, not listed yet.
type pendingRoom struct {
	filter   filter
	assigned int
	at       time.Time
}

func (m *matchmaker) ask(filter []byte, done func(string, bool, error)) {
	m.mu.Lock()
	m.queue = append(m.queue, &matchAsk{filter: filter, done: done})
	start := !m.running
	if start && !m.n.e.wg.add() {
		// The engine is shutting down: no goroutine starts; refuse what waits.
		queued := m.queue
		m.queue = nil
		m.mu.Unlock()
		for _, a := range queued {
			a.done("", false, ErrClosed)
		}
		return
	}
	m.running = true
	m.mu.Unlock()
	if start {
		go m.run()
	}
}

func (m *matchmaker) run() {
	defer m.n.e.wg.done()
	for {
		m.mu.Lock()
		batch := m.queue
		m.queue = nil
		if len(batch) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		m.decide(batch)
	}
}

// decide answers one batch from one cluster-wide listing.
func (m *matchmaker) decide(batch []*matchAsk) {
	def := m.n.hooks.behaviorNamed(m.behavior)
	if def == nil {
		for _, a := range batch {
			a.done("", false, ErrUnknownBehavior)
		}
		return
	}
	list, err := m.n.rooms(context.Background(), m.behavior, nil, nil)
	if err != nil {
		for _, a := range batch {
			a.done("", false, err)
		}
		return
	}
	type cand struct {
		RoomInfo
		meta filter
	}
	rooms := make([]*cand, 0, len(list.Rooms))
	listed := make(map[string]bool, len(list.Rooms))
	for _, r := range list.Rooms {
		listed[r.Name] = true
		c := &cand{RoomInfo: r}
		if len(r.Metadata) > 0 && r.Metadata[0] == '{' {
			parsed, _ := parseFilter(r.Metadata)
			c.meta = parsed
		}
		rooms = append(rooms, c)
	}
	now := time.Now()
	for name, p := range m.pending {
		if listed[name] || now.Sub(p.at) > pendingForget {
			delete(m.pending, name)
		}
	}
	for _, a := range batch {
		f, err := parseFilter(a.filter)
		if err != nil {
			a.done("", false, err)
			continue
		}
		// The fullest listed room that matches and has a place (rooms fill before new ones open).
		var best *cand
		for _, c := range rooms {
			if !c.Available() || !f.within(c.meta) {
				continue
			}
			if best == nil || c.Clients > best.Clients {
				best = c
			}
		}
		if best != nil {
			best.Clients++
			a.done(best.Name, false, nil)
			continue
		}
		// A name given before that no listing shows yet, asked for with a filter this one is within.
		var names []string
		for name, p := range m.pending {
			if (def.maxClients <= 0 || p.assigned < def.maxClients) && f.within(p.filter) {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			slices.Sort(names)
			m.pending[names[0]].assigned++
			a.done(names[0], false, nil)
			continue
		}
		name, err := def.newName()
		if err != nil {
			a.done("", false, err)
			continue
		}
		if f == nil {
			f = filter{}
		}
		m.pending[name] = &pendingRoom{filter: f, assigned: 1, at: now}
		a.done(name, true, nil)
	}
}
