package engine

import (
	"time"

	"github.com/roomio/roomio/actors"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Interest routing (DESIGN §5): an emit to rooms goes only to the peers that have local members of one
// of those rooms, plus the peers this node has not synced with yet.
//
// The guarantee it keeps: once Join returns on any node, an emit to that room begun afterwards on any
// reachable node reaches the socket. The first local join of a room sends an Interest add to every known
// peer and completes only when each has acknowledged (a peer acknowledges after recording it, so its
// later emits include this node); a peer that does not answer within interestTimeout is logged and no
// longer waited for. A peer that this node learns of later gets a snapshot of every local room when it
// comes up; until a peer's own snapshot has arrived, this node sends that peer every room emit. The
// local room set and each peer's view change under link.mu together with the sends, so a peer gets
// either the Interest add or a snapshot holding the room. The last local leave sends an Interest remove
// without waiting: a stale entry costs a wasted message, never a lost one.

// interestTimeout bounds how long a first join waits for one peer's acknowledgement.
const interestTimeout = 2 * time.Second

type roomKey struct{ ns, room string }

type peerInterest struct {
	synced bool                 // its snapshot has arrived
	rooms  map[roomKey]struct{} // rooms it has local members of
}

// peerLocked returns the interest record of a peer, creating an unsynced one.
func (l *link) peerLocked(id string) *peerInterest {
	p := l.peers[id]
	if p == nil {
		p = &peerInterest{rooms: make(map[roomKey]struct{})}
		l.peers[id] = p
	}
	return p
}

// localInterest is called by a namespace actor when a room gets its first local member (added, with the
// join's collector) or loses its last one.
func (l *link) localInterest(ns, room string, added bool, c *actors.Collector) {
	k := roomKey{ns, room}
	l.mu.Lock()
	defer l.mu.Unlock()
	if added {
		l.local[k] = struct{}{}
	} else {
		delete(l.local, k)
	}
	for id := range l.peers {
		msg := &clusterv1.Interest{Room: &clusterv1.Room{Namespace: ns, Room: room}, Add: added}
		if added && c != nil {
			msg.RequestId = l.registerLocked(id, c)
			p := l.pending[msg.RequestId]
			reqID, node := msg.RequestId, id
			p.timer = time.AfterFunc(interestTimeout, func() {
				if l.take(reqID) != nil {
					l.e.log.Warn("peer did not acknowledge a room interest in time", "node", node, "namespace", ns, "room", room)
					c.LegDone()
				}
			})
		}
		if err := l.node.Send(id, &clusterv1.Envelope{Body: &clusterv1.Envelope_Interest{Interest: msg}}); err != nil && msg.RequestId != 0 {
			if p := l.pending[msg.RequestId]; p != nil {
				delete(l.pending, msg.RequestId)
				p.timer.Stop()
				c.LegDone()
			}
		}
	}
}

// peerUp records a new peer as unsynced and sends it this node's snapshot.
func (l *link) peerUp(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peerLocked(id)
	snap := &clusterv1.InterestSnapshot{}
	for k := range l.local {
		snap.Rooms = append(snap.Rooms, &clusterv1.Room{Namespace: k.ns, Room: k.room})
	}
	l.node.Send(id, &clusterv1.Envelope{Body: &clusterv1.Envelope_InterestSnapshot{InterestSnapshot: snap}})
}

func (l *link) remoteSnapshot(from string, s *clusterv1.InterestSnapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peerLocked(from)
	clear(p.rooms)
	for _, r := range s.Rooms {
		p.rooms[roomKey{r.Namespace, r.Room}] = struct{}{}
	}
	p.synced = true
}

func (l *link) remoteInterest(from string, m *clusterv1.Interest) {
	l.mu.Lock()
	p := l.peerLocked(from)
	k := roomKey{m.GetRoom().GetNamespace(), m.GetRoom().GetRoom()}
	if m.Add {
		p.rooms[k] = struct{}{}
	} else {
		delete(p.rooms, k)
	}
	l.mu.Unlock()
	if m.RequestId != 0 {
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_InterestAck{InterestAck: &clusterv1.InterestAck{RequestId: m.RequestId}}})
	}
}

// targetNodes returns the peers an operation on rooms of namespace ns must reach: every peer for a
// namespace-wide operation; otherwise the owners of targeted socket ids, the peers with local members
// of a targeted room, and the peers not synced yet.
func (l *link) targetNodes(ns string, rooms []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.peers))
	for id, p := range l.peers {
		if len(rooms) == 0 || !p.synced {
			out = append(out, id)
			continue
		}
		for _, r := range rooms {
			if owner, ok := nodeOfSID(r); ok && owner == id {
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
