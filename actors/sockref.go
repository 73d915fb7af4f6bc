package actors

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/internal/packet"
)

// sockRef is what a socket shares with the actors that fan out to it: its outbox and handle, and its
// room set, so that a room or namespace actor applies an emit to the socket on its own goroutine instead
// of waking the socket's actor once per message. The socket actor stays the only writer of the room set
// (under mu) and keeps every other operation (join, leave, fetch, disconnect); fan-outs read the set
// under mu's read lock, and only for the emits that need it (a union or an except).
type sockRef struct {
	sid    string
	pid    *actor.PID
	outbox Outbox
	handle Handle

	mu     sync.RWMutex
	rooms  roomSet     // includes the socket's own id; written by the socket actor only
	closed atomic.Bool // set when the socket starts its end (unless it drains): emits are no longer applied
}

// addRoom and delRoom change the room set; only the socket actor calls them.
func (k *sockRef) addRoom(r string) {
	k.mu.Lock()
	k.rooms.add(r)
	k.mu.Unlock()
}

func (k *sockRef) delRoom(r string) {
	k.mu.Lock()
	k.rooms.del(r)
	k.mu.Unlock()
}

// accepts is the socket's filter. A broadcast to several rooms travels through each of their actors, so
// a socket in more than one of them is offered it several times: it takes only the copy that came
// through the first target room (in Broadcast.Rooms order) it is a member of, and so reaches the client
// once. Except-rooms are exact because the socket's own room set decides, not a room actor's view of its
// members. Safe on any goroutine.
func (k *sockRef) accepts(d *delivery) bool {
	b := d.b
	if len(b.Rooms) <= 1 && len(b.Except) == 0 {
		return true // the common case reads no shared state
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(b.Rooms) > 1 {
		for _, r := range b.Rooms {
			if k.rooms.has(r) {
				if r != d.via {
					return false
				}
				break
			}
		}
	}
	for _, r := range b.Except {
		if k.rooms.has(r) {
			return false
		}
	}
	return true
}

// emit applies an OpEmit delivery to the socket, on the caller's goroutine (the room or namespace actor
// fanning it out): it registers the ack first when the broadcast collects them, then queues the packet.
// Both calls are safe for concurrent use and never block (a full queue closes the connection). The
// caller holds the delivery's collector leg; emit adds none. now is set by a fan-out of at most
// SmallFanout sockets: the packet goes out through the outbox's SendNow (nowOutbox).
func (k *sockRef) emit(d *delivery, now bool) {
	if k.closed.Load() || !k.accepts(d) {
		return
	}
	b := d.b
	if c := b.Collector; c != nil {
		// Register the ack before the packet can reach the client.
		c.Expect(k.handle)
		sid := k.sid
		k.handle.ExpectAck(b.Packet.AckID, func(args []packet.Arg, err error) {
			c.Add(Result{SID: sid, Args: args, Err: err})
		})
	}
	// A full queue closes the connection; the socket then stops.
	if now {
		if o, ok := k.outbox.(nowOutbox); ok {
			o.SendNow(b.Packet)
			return
		}
	}
	k.outbox.Send(b.Packet)
}

// smallRoomSet is the size up to which a roomSet is a slice: most sockets are in their own-id room and a
// few others, where a slice costs a fraction of a map's memory and is searched as fast.
const smallRoomSet = 8

// roomSet is a socket's set of rooms: a slice while it has at most smallRoomSet rooms, a map beyond
// (kept once made). Not safe for concurrent use: sockRef guards it.
type roomSet struct {
	small []string
	big   map[string]struct{}
}

func newRoomSet(own string) roomSet { return roomSet{small: []string{own}} }

func (s *roomSet) has(r string) bool {
	if s.big != nil {
		_, ok := s.big[r]
		return ok
	}
	return slices.Contains(s.small, r)
}

func (s *roomSet) add(r string) {
	if s.big != nil {
		s.big[r] = struct{}{}
		return
	}
	if slices.Contains(s.small, r) {
		return
	}
	if len(s.small) < smallRoomSet {
		s.small = append(s.small, r)
		return
	}
	s.big = make(map[string]struct{}, 2*smallRoomSet)
	for _, x := range s.small {
		s.big[x] = struct{}{}
	}
	s.big[r] = struct{}{}
	s.small = nil
}

func (s *roomSet) del(r string) {
	if s.big != nil {
		delete(s.big, r)
		return
	}
	if i := slices.Index(s.small, r); i >= 0 {
		last := len(s.small) - 1
		s.small[i] = s.small[last]
		s.small[last] = ""
		s.small = s.small[:last]
	}
}

func (s *roomSet) len() int {
	if s.big != nil {
		return len(s.big)
	}
	return len(s.small)
}

// list returns the rooms, unordered, in a new slice.
func (s *roomSet) list() []string {
	if s.big == nil {
		return slices.Clone(s.small)
	}
	out := make([]string, 0, len(s.big))
	for r := range s.big {
		out = append(out, r)
	}
	return out
}
