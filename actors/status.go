package actors

import "sync/atomic"

// RoomStatus is what a behaviour room shows outside its actor, for listings: the room publishes it after
// every message it handles (a few atomic stores), and any goroutine may read it. The values are those of
// the last message handled, so a reader may see a join that has been decided but not a hook still
// running.
type RoomStatus struct {
	clients    atomic.Int32
	maxClients atomic.Int32
	locked     atomic.Bool
	open       atomic.Bool // created and not being disposed
}

// Clients returns how many members the room has.
func (s *RoomStatus) Clients() int { return int(s.clients.Load()) }

// MaxClients returns the room's member limit (zero: none).
func (s *RoomStatus) MaxClients() int { return int(s.maxClients.Load()) }

// Locked reports whether the room is locked.
func (s *RoomStatus) Locked() bool { return s.locked.Load() }

// Open reports whether the room was created and is not being disposed: whether it takes joins.
func (s *RoomStatus) Open() bool { return s.open.Load() }

func (s *RoomStatus) publish(r *Room) {
	s.clients.Store(int32(len(r.members.list)))
	s.maxClients.Store(int32(r.maxClients))
	s.locked.Store(r.locked)
	s.open.Store(r.created && !r.closing && !r.stopped)
}
