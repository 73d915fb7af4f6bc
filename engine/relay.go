package engine

import (
	"net/http"

	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/tunnel"
	"github.com/roomio/roomio/internal/clusterlink"
)

// No sticky sessions: in a cluster every session id starts with its node's id (see newSocketID), and
// a request that a load balancer sent to another node is relayed to the session's node through a
// tunnel over the cluster (package cluster/tunnel).

// forwardSocketIO implements engineio.Options.Forward: a request for a session of another live node is
// relayed to it.
func (e *Engine) forwardSocketIO(w http.ResponseWriter, r *http.Request, sid string) bool {
	if e.link == nil {
		return false
	}
	node, ok := clusterlink.NodeOfSID(sid)
	if !ok {
		return false
	}
	return e.link.tunnels.Forward(w, r, node)
}

// newTunnels allocates the tunnels of a cluster node; startCluster starts serving them, with the
// engine's Socket.IO handler.
func (e *Engine) newTunnels(node *cluster.Node) *tunnel.Tunnels {
	isPeer := func(id string) bool {
		for _, m := range node.Members() {
			if m.ID == id {
				return true
			}
		}
		return false
	}
	return tunnel.New(tunnel.Config{
		Self: node.ID(), Send: node.Send, IsPeer: isPeer,
		Handler: e.SocketIOHandler(), Logger: e.log.With("component", "tunnel"),
	})
}
