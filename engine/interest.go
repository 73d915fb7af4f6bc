package engine

import (
	"time"

	"github.com/roomio/roomio/actors"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// The engine's side of interest routing (the table and its guarantee: clusterlink.Interest): the
// messages that keep peers' tables current, and the acknowledgements a first local join waits for.

// interestTimeout bounds how long a first join waits for one peer's acknowledgement.
const interestTimeout = 2 * time.Second

// localInterest is called by a namespace actor when a room gets its first local member (added, with the
// join's collector) or loses its last one.
func (l *link) localInterest(ns, room string, added bool, c *actors.Collector) {
	l.interest.SetLocal(ns, room, added, func(id string) {
		msg := &clusterv1.Interest{Room: &clusterv1.Room{Namespace: ns, Room: room}, Add: added}
		if added && c != nil {
			msg.RequestId = l.registerTimed(id, c, interestTimeout, func() {
				l.e.log.Warn("peer did not acknowledge a room interest in time", "node", id, "namespace", ns, "room", room)
			})
		}
		if err := l.node.Send(id, &clusterv1.Envelope{Body: &clusterv1.Envelope_Interest{Interest: msg}}); err != nil && msg.RequestId != 0 {
			l.settle(msg.RequestId)
		}
	})
}

// registerTimed is register for a call that ends at a timeout of its own: after timeout the leg is done
// without an answer, and onTimeout is called.
func (l *link) registerTimed(node string, c *actors.Collector, timeout time.Duration, onTimeout func()) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.registerLocked(node, c)
	l.pending[id].timer = time.AfterFunc(timeout, func() {
		if l.take(id) != nil {
			onTimeout()
			c.LegDone()
		}
	})
	return id
}

// peerUp records a new peer as unsynced and sends it this node's snapshot.
func (l *link) peerUp(id string) {
	l.interest.PeerUp(id, func(snap *clusterv1.InterestSnapshot) {
		l.node.Send(id, &clusterv1.Envelope{Body: &clusterv1.Envelope_InterestSnapshot{InterestSnapshot: snap}})
	})
}

func (l *link) remoteInterest(from string, m *clusterv1.Interest) {
	l.interest.Update(from, m)
	if m.RequestId != 0 {
		// The operations that looked up the peers before the update queue their envelopes first.
		if f := l.beforeRoutesWait.Load(); f != nil {
			(*f)()
		}
		l.routes.Lock()
		l.routes.Unlock() // nothing to do under it: taking it was the wait
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_InterestAck{InterestAck: &clusterv1.InterestAck{RequestId: m.RequestId}}})
	}
}
