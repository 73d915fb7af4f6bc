package cluster

import (
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// goneTTL is how long the router remembers a departed node to reject its late envelopes. Node ids are
// fresh per process start, so a remembered id comes back only through memberlist refuting a false
// death (which reports MemberUp again and clears the entry).
const goneTTL = 5 * time.Minute

// Router mailbox messages besides *clusterv1.Envelope (sent by the stream server).
type (
	memberUp   struct{ m Member }
	memberDown struct{ id string }
)

// routerState is owned by the router actor (only its Receive touches it). It lives in the Node, not in
// the actor value, so it survives an actor restart.
type routerState struct {
	members map[string]Member    // compatible live peers, as reported to the Handler
	gone    map[string]time.Time // departed peers → when
}

// router is the node router actor: one mailbox for membership changes and incoming envelopes.
type router struct{ n *Node }

func (r *router) Receive(c actor.Context) {
	n := r.n
	switch m := c.Message().(type) {
	case *clusterv1.Envelope:
		n.onEnvelope(m)
	case *memberUp:
		n.onMemberUp(m.m)
	case *memberDown:
		n.onMemberDown(m.id)
	}
}

func (n *Node) onEnvelope(env *clusterv1.Envelope) {
	defer n.inbox.release()
	rs := &n.rs
	if _, ok := rs.gone[env.From]; ok {
		n.rejected.Add(1)
		n.log.Debug("rejected an envelope from a departed node", "from", env.From)
		return
	}
	from, ok := rs.members[env.From]
	if !ok {
		// The stream was authenticated (or the cluster has no key); gossip about the sender may lag.
		from = Member{ID: env.From, Version: env.Version}
	}
	n.received.Add(1)
	n.mu.RLock()
	p := n.peers[env.From]
	n.mu.RUnlock()
	if p != nil {
		p.received.Add(1)
	}
	n.call("Receive", func() { n.h.Receive(from, env) })
}

func (n *Node) onMemberUp(m Member) {
	rs := &n.rs
	if old, ok := rs.members[m.ID]; ok {
		if old == m {
			return
		}
		// Same id, new addresses: the old incarnation is gone as far as streams are concerned.
		n.onMemberDown(m.ID)
	}
	delete(rs.gone, m.ID)
	rs.members[m.ID] = m
	n.mu.Lock()
	if n.state < stateClosing {
		p := newPeer(n, m)
		n.peers[m.ID] = p
		n.wg.Go(p.run)
	}
	n.mu.Unlock()
	n.log.Info("member up", "peer", m.ID, "gossip_addr", m.GossipAddr, "remote_addr", m.RemoteAddr)
	n.call("MemberUp", func() { n.h.MemberUp(m) })
}

func (n *Node) onMemberDown(id string) {
	rs := &n.rs
	m, ok := rs.members[id]
	if !ok {
		return
	}
	delete(rs.members, id)
	n.mu.Lock()
	p := n.peers[id]
	delete(n.peers, id)
	n.mu.Unlock()
	if p != nil {
		p.stop() // its goroutines finish on their own; Shutdown waits for them
	}
	now := time.Now()
	for gid, t := range rs.gone {
		if now.Sub(t) > goneTTL {
			delete(rs.gone, gid)
		}
	}
	rs.gone[id] = now
	n.log.Info("member down", "peer", id)
	n.call("MemberDown", func() { n.h.MemberDown(m) })
}

// call runs a Handler method, recovering a panic so that the router (and with it the node) keeps
// working; protoactor would otherwise restart the actor and stop it for good after 10 failures.
func (n *Node) call(method string, f func()) {
	defer func() {
		if v := recover(); v != nil {
			n.log.Error("cluster handler panicked", "method", method, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	f()
}
