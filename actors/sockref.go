package actors

import (
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
	rooms  map[string]struct{} // includes the socket's own id; written by the socket actor only
	closed atomic.Bool         // set when the socket starts its end: emits are no longer applied
}

// addRoom and delRoom change the room set; only the socket actor calls them.
func (k *sockRef) addRoom(r string) {
	k.mu.Lock()
	k.rooms[r] = struct{}{}
	k.mu.Unlock()
}

func (k *sockRef) delRoom(r string) {
	k.mu.Lock()
	delete(k.rooms, r)
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
			if _, ok := k.rooms[r]; ok {
				if r != d.via {
					return false
				}
				break
			}
		}
	}
	for _, r := range b.Except {
		if _, ok := k.rooms[r]; ok {
			return false
		}
	}
	return true
}

// emit applies an OpEmit delivery to the socket, on the caller's goroutine (the room or namespace actor
// fanning it out): it registers the ack first when the broadcast collects them, then queues the packet.
// Both calls are safe for concurrent use and never block (a full queue closes the connection). The
// caller holds the delivery's collector leg; emit adds none.
func (k *sockRef) emit(d *delivery) {
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
	k.outbox.Send(b.Packet) // a full queue closes the connection; the socket then stops
}
