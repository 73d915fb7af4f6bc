package clusterlink

import (
	"slices"
	"sync"

	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Interest routing: an emit to rooms goes only to the peers that have local members of one of those
// rooms, plus the peers this node has not synced with yet.
//
// The guarantee it keeps: once Join returns on any node, an emit to that room begun afterwards on any
// reachable node reaches the socket. The first local join of a room sends an Interest add to every
// known peer and completes only when each has acknowledged (a peer acknowledges after recording it, so
// its later emits include this node); a peer that does not answer in time is no longer waited for. A
// peer that this node learns of later gets a snapshot of every local room when it comes up; until a
// peer's own snapshot has arrived, this node sends that peer every room emit. The local room set and
// each peer's view change under Interest's lock together with the sends, so a peer gets either the
// Interest add or a snapshot holding the room. The last local leave sends an Interest remove without
// waiting: a stale entry costs a wasted message, never a lost one.

type roomKey struct{ ns, room string }

type peerInterest struct {
	synced bool                 // its snapshot has arrived
	rooms  map[roomKey]struct{} // rooms it has local members of
}

// Interest is one node's interest table: the rooms with local members, and for each live peer the rooms
// it has local members of. Its zero value is not ready: use NewInterest. Safe for concurrent use.
type Interest struct {
	mu    sync.Mutex
	local map[roomKey]struct{}     // rooms with local members
	peers map[string]*peerInterest // live peers by node id
}

// NewInterest returns an empty table.
func NewInterest() *Interest {
	return &Interest{local: make(map[roomKey]struct{}), peers: make(map[string]*peerInterest)}
}

// peerLocked returns the record of a peer, creating an unsynced one.
func (t *Interest) peerLocked(id string) *peerInterest {
	p := t.peers[id]
	if p == nil {
		p = &peerInterest{rooms: make(map[roomKey]struct{})}
		t.peers[id] = p
	}
	return p
}

// SetLocal records that room of namespace ns got its first local member (added) or lost its last one,
// then calls tell for every known peer, under the table's lock: tell sends that peer the Interest
// message, so no snapshot can pass it.
func (t *Interest) SetLocal(ns, room string, added bool, tell func(peer string)) {
	k := roomKey{ns, room}
	t.mu.Lock()
	defer t.mu.Unlock()
	if added {
		t.local[k] = struct{}{}
	} else {
		delete(t.local, k)
	}
	for id := range t.peers {
		tell(id)
	}
}

// PeerUp records a new peer as unsynced and calls send, under the table's lock, with the snapshot of
// this node's rooms that the peer must get.
func (t *Interest) PeerUp(id string, send func(*clusterv1.InterestSnapshot)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peerLocked(id)
	snap := &clusterv1.InterestSnapshot{}
	for k := range t.local {
		snap.Rooms = append(snap.Rooms, &clusterv1.Room{Namespace: k.ns, Room: k.room})
	}
	send(snap)
}

// PeerDown forgets a peer that left.
func (t *Interest) PeerDown(id string) {
	t.mu.Lock()
	delete(t.peers, id)
	t.mu.Unlock()
}

// Snapshot replaces what peer from has local members of with its snapshot; the peer is synced from now on.
func (t *Interest) Snapshot(from string, s *clusterv1.InterestSnapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(from)
	clear(p.rooms)
	for _, r := range s.Rooms {
		p.rooms[roomKey{r.Namespace, r.Room}] = struct{}{}
	}
	p.synced = true
}

// Update applies a peer's Interest add or remove.
func (t *Interest) Update(from string, m *clusterv1.Interest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(from)
	k := roomKey{m.GetRoom().GetNamespace(), m.GetRoom().GetRoom()}
	if m.Add {
		p.rooms[k] = struct{}{}
	} else {
		delete(p.rooms, k)
	}
}

// Targets returns the peers an operation on rooms of namespace ns must reach: every peer for a
// namespace-wide operation (no rooms); otherwise the owners of targeted socket ids (see NodeOfSID), the
// peers with local members of a targeted room, and the peers not synced yet.
func (t *Interest) Targets(ns string, rooms []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.peers))
	for id, p := range t.peers {
		if len(rooms) == 0 || !p.synced {
			out = append(out, id)
			continue
		}
		for _, r := range rooms {
			if owner, ok := NodeOfSID(r); ok && owner == id {
				out = append(out, id)
				break
			}
			if _, ok := p.rooms[roomKey{ns, r}]; ok {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// Unsynced returns, of the peers named, those whose snapshot has not arrived yet (or that this table
// has not heard of: their MemberUp is still on its way), sorted.
func (t *Interest) Unsynced(peers []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, id := range peers {
		if p := t.peers[id]; p == nil || !p.synced {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
