package metrics

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomio/roomio/engine"
)

// Collector is a prometheus.Collector for one engine (NewCollector).
type Collector struct {
	e *engine.Engine

	connects, joins, leaves atomic.Uint64
	mu                      sync.Mutex
	disconnects             map[string]uint64 // by reason
}

// NewCollector returns a Collector reading e, and registers on e the Observer that counts socket
// connects and disconnects and room joins and leaves from now on. Call it once per engine.
func NewCollector(e *engine.Engine) *Collector {
	c := &Collector{e: e, disconnects: make(map[string]uint64)}
	e.Observe(engine.Observer{
		SocketConnected: func(*engine.Socket) { c.connects.Add(1) },
		SocketDisconnected: func(_ *engine.Socket, reason string) {
			c.mu.Lock()
			c.disconnects[reason]++
			c.mu.Unlock()
		},
		RoomJoined: func(_, _, _ string) { c.joins.Add(1) },
		RoomLeft:   func(_, _, _ string) { c.leaves.Add(1) },
	})
	return c
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("roomio_"+name, help, labels, nil)
}

var (
	dNamespaces   = desc("namespaces", "Namespace actors running on this node.")
	dRooms        = desc("rooms", "Room actors running on this node (rooms with at least one local member).")
	dSockets      = desc("sockets", "Socket actors running on this node (connected sockets, and detached ones kept for recovery).")
	dNsSockets    = desc("namespace_sockets", "Sockets of this node connected to a namespace.", "namespace")
	dConnections  = desc("connections", "Open client connections, by transport (native, websocket, polling).", "transport")
	dInFlight     = desc("broadcasts_in_flight", "Broadcasts the node's actors hold now (the backpressure budget's count).")
	dInFlightB    = desc("broadcast_bytes_in_flight", "Packet bytes of the broadcasts the node's actors hold now.")
	dReady        = desc("ready", "1 when the node is ready for traffic (GET /readyz answers 200), else 0.")
	dConnects     = desc("socket_connects_total", "Sockets that connected a namespace.")
	dDisconnects  = desc("socket_disconnects_total", "Sockets that disconnected, by reason.", "reason")
	dJoins        = desc("room_joins_total", "Room joins by sockets (own-id rooms excluded).")
	dLeaves       = desc("room_leaves_total", "Room leaves by sockets, disconnects included.")
	dEventsIn     = desc("events_received_total", "Events clients sent.")
	dEventsOut    = desc("events_emitted_total", "Events the application emitted: broadcast emits (once per namespace) and socket emits.")
	dMsgsIn       = desc("messages_received_total", "Messages read from client connections (WebSocket messages, long-polling POST bodies).")
	dBytesIn      = desc("received_bytes_total", "Bytes read from client connections.")
	dMsgsOut      = desc("messages_sent_total", "Messages queued to client connections, one per recipient (deliveries, acks, protocol packets).")
	dBytesOut     = desc("sent_bytes_total", "Bytes queued to client connections.")
	dDropped      = desc("volatile_dropped_total", "Volatile messages dropped at a full connection queue.")
	dClosed       = desc("connections_closed_total", "Closed client connections, by reason and the close code a native client gets (0: none).", "reason", "code")
	dConnectErr   = desc("connect_errors_total", "Namespace CONNECTs answered with a connect error, by cause.", "reason")
	dHandshakeErr = desc("handshake_errors_total", "Connections and requests refused before a session existed, by cause.", "reason")
	dAckTimeouts  = desc("ack_timeouts_total", "EmitWithAck calls whose context ended before every ack arrived.")
	dBPWaits      = desc("backpressure_waits_total", "Client events that waited for room in the broadcast budget.")
	dBPClosed     = desc("backpressure_closed_total", "Connections closed after waiting BackpressureTimeout (close code 4005).")
	dRateLimited  = desc("rate_limited_total", "Client packets a rate limit delayed.")
	dRateClosed   = desc("rate_limit_closed_total", "Connections closed for staying over their rate limit (close code 4004).")
	dHookDrops    = desc("hook_events_dropped_total", "Room hook, observer and server-side events dropped at a full namespace hook queue.")
	dDetached     = desc("recovery_detached_sockets", "Sockets detached now, waiting for their client to recover them.")
	dRecovery     = desc("recovery_total", "Connection state recovery outcomes, by outcome.", "outcome")
	dLatency      = desc("emit_latency_seconds", "Time from a local broadcast's Emit until every actor on this node has handled it (the last recipient's message is queued).")
	dMembers      = desc("cluster_members", "Live cluster members, this node included (0 on a single node).")
	dEnvelopes    = desc("cluster_envelopes_total", "Cluster envelopes of this node: sent, received, dropped (sending side), rejected (receiving side).", "direction")
	dPeerEnv      = desc("cluster_peer_envelopes_total", "Cluster envelopes exchanged with one live peer since it joined: sent, received, dropped.", "peer", "direction")
	dPeerQueued   = desc("cluster_peer_queued", "Envelopes queued for a peer now.", "peer")
	dPeerConn     = desc("cluster_peer_connected", "1 while a stream to the peer is open.", "peer")
	dPeerSynced   = desc("cluster_peer_interest_synced", "1 once the peer's interest snapshot has arrived.", "peer")
	dUnsynced     = desc("cluster_interest_unsynced_peers", "Live peers whose interest snapshot has not arrived yet.")
)

var all = []*prometheus.Desc{dNamespaces, dRooms, dSockets, dNsSockets, dConnections, dInFlight, dInFlightB, dReady,
	dConnects, dDisconnects, dJoins, dLeaves, dEventsIn, dEventsOut, dMsgsIn, dBytesIn, dMsgsOut, dBytesOut, dDropped,
	dClosed, dConnectErr, dHandshakeErr, dAckTimeouts, dBPWaits, dBPClosed, dRateLimited, dRateClosed, dHookDrops,
	dDetached, dRecovery, dLatency, dMembers, dEnvelopes, dPeerEnv, dPeerQueued, dPeerConn, dPeerSynced, dUnsynced}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	st := e.Stats()
	gauge(dNamespaces, float64(st.Namespaces))
	gauge(dRooms, float64(st.Rooms))
	gauge(dSockets, float64(st.Sockets))
	for _, n := range e.Namespaces() {
		gauge(dNsSockets, float64(n.SocketCount()), n.Name())
	}
	for tr, v := range e.ConnectionsByTransport() {
		gauge(dConnections, float64(v), tr)
	}
	gauge(dInFlight, float64(st.BroadcastsInFlight))
	gauge(dInFlightB, float64(st.BroadcastBytesInFlight))
	ready := 0.0
	if err := e.Readiness(); err == nil {
		ready = 1
	}
	gauge(dReady, ready)
	counter(dBPWaits, uint64(st.BackpressureWaits))
	counter(dBPClosed, uint64(st.BackpressureClosed))
	counter(dRateLimited, uint64(st.RateLimited))
	counter(dRateClosed, uint64(st.RateLimitClosed))
	counter(dHookDrops, e.DroppedHookEvents())

	counter(dConnects, c.connects.Load())
	counter(dJoins, c.joins.Load())
	counter(dLeaves, c.leaves.Load())
	c.mu.Lock()
	for reason, v := range c.disconnects {
		counter(dDisconnects, v, reason)
	}
	c.mu.Unlock()

	k := e.Counters()
	counter(dEventsIn, k.EventsReceived)
	counter(dEventsOut, k.EventsEmitted)
	counter(dMsgsIn, k.MessagesReceived)
	counter(dBytesIn, k.BytesReceived)
	counter(dMsgsOut, k.MessagesSent)
	counter(dBytesOut, k.BytesSent)
	counter(dDropped, k.VolatileDropped)
	counter(dAckTimeouts, k.AckTimeouts)
	codes := engine.CloseReasons()
	for reason, v := range k.ConnectionsClosed {
		counter(dClosed, v, reason, strconv.Itoa(codes[reason]))
	}
	for reason, v := range k.ConnectErrors {
		counter(dConnectErr, v, reason)
	}
	for reason, v := range k.HandshakeErrors {
		counter(dHandshakeErr, v, reason)
	}
	h := k.EmitLatency
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b.Seconds()] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(dLatency, h.Count, h.Sum.Seconds(), buckets)

	rs := e.RecoveryStats()
	gauge(dDetached, float64(rs.Detached))
	counter(dRecovery, uint64(rs.Recovered), "recovered")
	counter(dRecovery, uint64(rs.Refused), "refused")
	counter(dRecovery, uint64(rs.Expired), "expired")
	counter(dRecovery, uint64(rs.Overflowed), "overflowed")
	counter(dRecovery, uint64(rs.Full), "full")

	gauge(dMembers, float64(len(e.ClusterMembers())))
	sent, received, dropped, rejected := e.ClusterStats()
	counter(dEnvelopes, sent, "sent")
	counter(dEnvelopes, received, "received")
	counter(dEnvelopes, dropped, "dropped")
	counter(dEnvelopes, rejected, "rejected")
	peers := e.ClusterPeers()
	sort.Slice(peers, func(i, j int) bool { return peers[i].ID < peers[j].ID })
	unsynced := 0
	for _, p := range peers {
		counter(dPeerEnv, p.Sent, p.ID, "sent")
		counter(dPeerEnv, p.Received, p.ID, "received")
		counter(dPeerEnv, p.Dropped, p.ID, "dropped")
		gauge(dPeerQueued, float64(p.Queued), p.ID)
		gauge(dPeerConn, b2f(p.Connected), p.ID)
		gauge(dPeerSynced, b2f(p.Synced), p.ID)
		if !p.Synced {
			unsynced++
		}
	}
	gauge(dUnsynced, float64(unsynced))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
