package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/tunnel"
	"github.com/roomio/roomio/internal/clusterlink"
	"github.com/roomio/roomio/internal/packet"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
	"github.com/roomio/roomio/transport"
)

// ClusterConfig makes the engine one node of a cluster: membership by gossip (memberlist),
// delivery over node-to-node gRPC streams that speak protoactor remote's wire protocol (package cluster
// explains why it does not run protoactor's remote runtime). An empty GossipAddr means a single node: no listener, no gossip.
type ClusterConfig struct {
	// GossipAddr is the host:port memberlist binds to (and advertises, unless AdvertiseGossip is set).
	GossipAddr      string
	AdvertiseGossip string
	// RemoteAddr is the host:port protoactor remote binds to (and advertises, unless AdvertiseRemote).
	RemoteAddr      string
	AdvertiseRemote string
	// Seeds are gossip addresses of nodes to join.
	Seeds []string
	// Key (16, 24 or 32 bytes) encrypts gossip and authenticates remote connections; nodes need the same.
	Key []byte
	// ProbeInterval is memberlist's failure-probe interval: a crashed node is declared dead after roughly
	// 5–6 intervals. Zero means memberlist's LAN default (1 s: about 6 s to detect a crash).
	ProbeInterval time.Duration
	// NodeID names this node (1–64 characters of [A-Za-z0-9_-], unique among the live nodes); empty: a
	// generated one. It prefixes this node's socket ids and decides which behaviour rooms it owns.
	NodeID string
}

// remoteTimeout is how long a peer waits for its local answers: it replies a margin (a tenth of the
// time left, at most 100 ms) before the caller's deadline, so its partial answers reach the caller in
// time and only a peer that really cannot answer is reported as silent.
func remoteTimeout(deadline time.Time) time.Duration {
	left := time.Until(deadline)
	return max(left-min(left/10, 100*time.Millisecond), time.Millisecond)
}

// defaultRemoteTimeout bounds a cluster-wide call whose ctx has no deadline.
const defaultRemoteTimeout = 30 * time.Second

// link is the engine's side of the cluster: the node, and the calls waiting for other nodes' replies.
type link struct {
	e    *Engine
	node *cluster.Node

	reqIDs  atomic.Uint64
	mu      sync.Mutex              // after interest's lock
	pending map[uint64]*pendingCall // request id → call
	// interest says which peers a room operation must reach (interest.go); changed only from the node
	// router's callbacks and the namespace actors' room creation and deletion.
	interest *clusterlink.Interest
	// routes is held for reading by an operation from its look-up of interest to the queueing of its
	// envelopes (route), and for writing by a peer's interest update before it is acknowledged
	// (remoteInterest): an operation that looked up the peers before the update is on its streams
	// before the acknowledgement, and so before anything the peer does once acknowledged (a recovery
	// handover's barrier counts on it: recovery_cluster.go).
	routes sync.RWMutex
	// afterTargets and beforeRoutesWait, when set (by tests only), run in route between the look-up and
	// the queueing, and in remoteInterest before it waits for the operations in flight.
	afterTargets, beforeRoutesWait atomic.Pointer[func()]

	tunnels *tunnel.Tunnels // requests relayed to the node of their session (relay.go)

	roomCalls map[uint64]*roomCall // room messages waiting for their owner's answer (placement.go); under mu
	order     roomOrder            // a node's asks to a placed room keep their order across a move (roomorder.go)

	calls nodeCalls // listings and matchmaking waiting for a peer's answer (listing.go, matchmaking.go)
	// Connection state recovery across nodes (recovery_cluster.go), under mu: the handover steps this
	// node waits for as taker, and the sessions it handed out as giver until their RecoveryTake.
	recCalls  map[uint64]*recCall
	handovers map[handoverKey]*handover
	// Handoff and replication (handoff.go), under mu.
	store  map[string]*actors.RoomState // copies of placed rooms (replicas, handoff pushes), by stateKey
	pulls  map[uint64]*pull
	pushes map[string][]push
	// answers waiting for a peer to come up (whenUp), and their count
	deferred  map[string][]func()
	ndeferred int
	// up: the peers reported up and not down; heard: peers that sent room work before they were
	// reported up (a pull waits for them too)
	up    map[string]bool
	heard map[string]bool
}

type pendingCall struct {
	node  string
	c     *actors.Collector
	timer *time.Timer // for calls that end at a timeout of their own (interest acks)
}

// newLink allocates the cluster node when Config.Cluster asks for one; Start starts it.
func (e *Engine) newLink() error {
	cc := e.cfg.Cluster
	if cc.GossipAddr == "" {
		return nil
	}
	l := &link{e: e, pending: make(map[uint64]*pendingCall), interest: clusterlink.NewInterest(), roomCalls: make(map[uint64]*roomCall),
		recCalls: make(map[uint64]*recCall), handovers: make(map[handoverKey]*handover),
		store: make(map[string]*actors.RoomState), pulls: make(map[uint64]*pull), pushes: make(map[string][]push),
		deferred: make(map[string][]func()), up: make(map[string]bool), heard: make(map[string]bool)}
	node, err := cluster.New(cluster.Config{
		GossipAddr: cc.GossipAddr, AdvertiseGossip: cc.AdvertiseGossip,
		RemoteAddr: cc.RemoteAddr, AdvertiseRemote: cc.AdvertiseRemote,
		Seeds: cc.Seeds, Key: cc.Key, ProbeInterval: cc.ProbeInterval, NodeID: cc.NodeID, Logger: e.log, System: e.system,
	}, l)
	if err != nil {
		return err
	}
	l.node = node
	l.tunnels = e.newTunnels(node)
	e.link = l
	e.rec.seedNode(node.ID())
	return nil
}

func (e *Engine) startCluster(ctx context.Context) error {
	if e.link == nil {
		return nil
	}
	if err := e.link.node.Start(ctx); err != nil {
		return err
	}
	e.link.tunnels.Start()
	return nil
}

// route forwards b to the peers an operation on rooms of namespace ns must reach (targetNodes), under
// routes (see link.routes).
func (l *link) route(ns string, rooms []string, b *actors.Broadcast, deadline time.Time) {
	l.routes.RLock()
	defer l.routes.RUnlock()
	nodes := l.targetNodes(ns, rooms)
	if f := l.afterTargets.Load(); f != nil {
		(*f)()
	}
	l.forward(nodes, ns, b, deadline)
}

// forward sends a broadcast to peers. With a collector, each peer is one more leg of it, settled by the
// peer's reply or by the peer leaving; the legs are added before the caller's local send, so the
// collector cannot complete early.
func (l *link) forward(nodes []string, ns string, b *actors.Broadcast, deadline time.Time) {
	for _, id := range nodes {
		msg := clusterlink.BroadcastToWire(ns, b)
		if b.Collector != nil {
			msg.RequestId = l.register(id, b.Collector)
			msg.TimeoutMs = remoteTimeout(deadline).Milliseconds()
		}
		if err := l.node.Send(id, &clusterv1.Envelope{Body: &clusterv1.Envelope_Broadcast{Broadcast: msg}}); err != nil && b.Collector != nil {
			l.settle(msg.RequestId)
		}
	}
}

func (l *link) register(node string, c *actors.Collector) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.registerLocked(node, c)
}

func (l *link) registerLocked(node string, c *actors.Collector) uint64 {
	id := l.reqIDs.Add(1)
	c.AddLegs(1)
	l.pending[id] = &pendingCall{node: node, c: c}
	return id
}

// settle ends a pending call without an answer (the peer is gone or unreachable).
func (l *link) settle(id uint64) {
	if p := l.take(id); p != nil {
		p.c.LegDone()
	}
}

// abandon forgets the calls of collector c still waiting for a node (the caller timed out) and returns
// those nodes.
func (l *link) abandon(c *actors.Collector) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var nodes []string
	for id, p := range l.pending {
		if p.c == c {
			nodes = append(nodes, p.node)
			delete(l.pending, id)
			if p.timer != nil {
				p.timer.Stop()
			}
		}
	}
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

// take removes and returns a pending call.
func (l *link) take(id uint64) *pendingCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending[id]
	delete(l.pending, id)
	if p != nil && p.timer != nil {
		p.timer.Stop()
	}
	return p
}

// Receive implements cluster.Handler. It runs on the node router and must not block.
func (l *link) Receive(from cluster.Member, env *clusterv1.Envelope) {
	switch b := env.Body.(type) {
	case *clusterv1.Envelope_Broadcast:
		l.remoteBroadcast(from.ID, b.Broadcast)
	case *clusterv1.Envelope_BroadcastReply:
		l.reply(b.BroadcastReply)
	case *clusterv1.Envelope_Interest:
		l.remoteInterest(from.ID, b.Interest)
	case *clusterv1.Envelope_InterestAck:
		l.settle(b.InterestAck.RequestId)
	case *clusterv1.Envelope_InterestSnapshot:
		l.interest.Snapshot(from.ID, b.InterestSnapshot)
	case *clusterv1.Envelope_ServerEvent:
		l.remoteServerEvent(from.ID, b.ServerEvent)
	case *clusterv1.Envelope_ServerEventAck:
		l.serverEventAck(from.ID, b.ServerEventAck)
	case *clusterv1.Envelope_RoomJoin:
		l.heardFrom(from.ID)
		l.remoteRoomJoin(from.ID, b.RoomJoin)
	case *clusterv1.Envelope_RoomJoinReply:
		l.remoteRoomJoinReply(b.RoomJoinReply)
	case *clusterv1.Envelope_RoomLeave:
		l.remoteRoomLeave(b.RoomLeave)
	case *clusterv1.Envelope_RoomMessage:
		l.heardFrom(from.ID)
		l.remoteRoomMessage(from.ID, b.RoomMessage)
	case *clusterv1.Envelope_RoomMessageReply:
		l.remoteRoomMessageReply(b.RoomMessageReply)
	case *clusterv1.Envelope_RoomStateRequest:
		l.remoteStateRequest(from.ID, b.RoomStateRequest)
	case *clusterv1.Envelope_RoomState:
		l.remoteRoomState(from.ID, b.RoomState)
	case *clusterv1.Envelope_RoomStateAck:
		l.remoteStateAck(from.ID, b.RoomStateAck)
	case *clusterv1.Envelope_RoomRelay:
		l.heardFrom(from.ID)
		l.remoteRelay(from.ID, b.RoomRelay)
	case *clusterv1.Envelope_RoomRelayJoinReply:
		l.remoteRelayJoinReply(b.RoomRelayJoinReply)
	case *clusterv1.Envelope_TunnelOpen, *clusterv1.Envelope_TunnelData, *clusterv1.Envelope_TunnelClose:
		l.tunnels.Receive(from.ID, env)
	case *clusterv1.Envelope_ListRooms:
		// It reads every room's status: off the node router, counted for Shutdown (a stopping engine
		// does not answer; the asker counts it missing).
		if l.e.wg.add() {
			go func() {
				defer l.e.wg.done()
				l.remoteListRooms(from.ID, b.ListRooms)
			}()
		}
	case *clusterv1.Envelope_ListRoomsReply:
		l.remoteCallReply(b.ListRoomsReply.RequestId, b.ListRoomsReply)
	case *clusterv1.Envelope_MatchRequest:
		l.remoteMatch(from.ID, b.MatchRequest)
	case *clusterv1.Envelope_MatchReply:
		l.remoteCallReply(b.MatchReply.RequestId, b.MatchReply)
	case *clusterv1.Envelope_RecoveryClaim:
		l.remoteRecoveryClaim(from.ID, b.RecoveryClaim)
	case *clusterv1.Envelope_RecoveryState:
		l.recoveryAnswer(from.ID, b.RecoveryState.RequestId, b.RecoveryState)
	case *clusterv1.Envelope_RecoveryTake:
		l.remoteRecoveryTake(from.ID, b.RecoveryTake)
	case *clusterv1.Envelope_RecoveryBuffer:
		l.recoveryAnswer(from.ID, b.RecoveryBuffer.RequestId, b.RecoveryBuffer)
	}
}

// MemberUp implements cluster.Handler.
func (l *link) MemberUp(m cluster.Member) {
	l.e.log.Info("node joined", "node", m.ID, "remote_addr", m.RemoteAddr)
	l.mu.Lock()
	l.up[m.ID] = true
	delete(l.heard, m.ID)
	l.mu.Unlock()
	l.peerUp(m.ID)
	l.membersChanged()
	l.peerUpHandoff(m.ID)
}

// MemberDown implements cluster.Handler: calls waiting for that node end without its answer.
func (l *link) MemberDown(m cluster.Member) {
	l.e.log.Info("node left", "node", m.ID)
	l.mu.Lock()
	delete(l.up, m.ID)
	delete(l.heard, m.ID)
	l.mu.Unlock()
	l.tunnels.MemberDown(m.ID)
	l.interest.PeerDown(m.ID)
	l.mu.Lock()
	var gone []uint64
	for id, p := range l.pending {
		if p.node == m.ID {
			gone = append(gone, id)
		}
	}
	l.mu.Unlock()
	for _, id := range gone {
		l.settle(id)
	}
	l.membersChanged()
	l.roomCallsDown(m.ID)
	l.calls.down(m.ID)
	l.recoveryCallsDown(m.ID)
	l.handoffDown(m.ID)
}

func (l *link) reply(r *clusterv1.BroadcastReply) {
	p := l.take(r.RequestId)
	if p == nil {
		return // answered after the caller's timeout, or twice
	}
	for range r.Expected {
		p.c.Expect(nil)
	}
	for _, a := range r.Acks {
		args, _ := clusterlink.ArgsFromWire(a.Args)
		var err error
		if a.Error != "" {
			err = remoteError(a.Error)
		}
		p.c.Add(actors.Result{SID: a.Sid, Args: args, Err: err})
	}
	for _, s := range r.Sockets {
		p.c.Expect(nil)
		p.c.Add(actors.Result{SID: s.Sid, Info: &actors.SocketInfo{SID: s.Sid, Rooms: s.Rooms, Ref: &remoteRef{l: l, node: p.node, info: s}}})
	}
	if r.Error != "" {
		p.c.Fail(remoteError(r.Error))
	}
	p.c.LegDone()
}

func remoteError(msg string) error {
	switch msg {
	case ErrDisconnected.Error():
		return ErrDisconnected
	case ErrTooManyRooms.Error():
		return ErrTooManyRooms
	}
	return errors.New(msg)
}

// remoteBroadcast applies a peer's broadcast to the local sockets of its namespace, and answers it when
// asked, once the local fan-out completed or at the peer's deadline.
func (l *link) remoteBroadcast(from string, m *clusterv1.Broadcast) {
	e := l.e
	n := e.Lookup(m.Namespace)
	if n == nil || n.pid == nil || e.state.Load() != stateRunning {
		if m.RequestId != 0 {
			l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_BroadcastReply{BroadcastReply: &clusterv1.BroadcastReply{RequestId: m.RequestId}}})
		}
		return
	}
	b, err := clusterlink.BroadcastFromWire(m)
	if err != nil {
		e.log.Warn("bad broadcast from peer", "node", from, "err", err)
		return
	}
	if m.RequestId == 0 {
		if b.Op == actors.OpEmit && b.Packet.Offset == "" {
			// The emitting node's offset (recovery), which every node uses for this emit, is missing
			// when recovery is off there: this node's then.
			e.rec.stamp(b.Packet)
		} else if e.rec == nil && b.Packet != nil {
			b.Packet.Offset = "" // recovery is off here: no offsets on this node's connections
		}
		e.system.Root.Send(n.pid, b)
		return
	}
	if b.Op == actors.OpEmit {
		b.Packet.AckID = e.ackIDs.Add(1) // acks are matched per socket: use this node's id space
		b.Packet.Offset = ""             // an emit with an ack is not recoverable
	}
	if !e.wg.add() {
		return // shutting down: the caller's node sees this node leave instead
	}
	c := actors.NewCollector()
	b.Collector = c
	e.system.Root.Send(n.pid, b)
	timeout := time.Duration(m.TimeoutMs) * time.Millisecond
	go func() {
		defer e.wg.done()
		t := time.NewTimer(timeout)
		defer t.Stop()
		timedOut := false
		select {
		case <-c.Done():
		case <-t.C:
			timedOut = true
		}
		if b.Op == actors.OpEmit {
			for _, h := range c.Expecting() {
				h.CancelAck(b.Packet.AckID)
			}
		}
		res, expected, cerr := c.Snapshot()
		r := &clusterv1.BroadcastReply{RequestId: m.RequestId, TimedOut: timedOut}
		if cerr != nil {
			r.Error = cerr.Error()
		}
		for _, x := range res {
			if x.Info != nil {
				if w := socketInfoToWire(m.Namespace, x.Info); w != nil {
					r.Sockets = append(r.Sockets, w)
				}
				continue
			}
			a := &clusterv1.AckReply{Sid: x.SID, Args: clusterlink.ArgsToWire(x.Args)}
			if x.Err != nil {
				a.Error = x.Err.Error()
			}
			r.Acks = append(r.Acks, a)
		}
		if b.Op == actors.OpEmit {
			r.Expected = uint32(expected)
		}
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_BroadcastReply{BroadcastReply: r}})
	}()
}

// remoteRef is a socket on another node, as FetchSockets found it: the node that holds it and the
// snapshot that node sent. Operations on it are broadcasts to that one socket id, sent to that node. It
// reaches FetchSockets as the Ref of an actors.SocketInfo that link.reply adds to the fetch's collector.
type remoteRef struct {
	l    *link
	node string
	info *clusterv1.SocketInfo
}

// call sends one operation to the remote socket and waits for its node's answer.
func (r *remoteRef) call(ctx context.Context, op actors.Op, p *packet.Packet, rooms []string, close bool) error {
	c := actors.NewCollector()
	b := &actors.Broadcast{Rooms: []string{r.info.Sid}, Op: op, Packet: p, OpRooms: rooms, Close: close, Collector: c}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultRemoteTimeout)
	}
	r.l.forward([]string{r.node}, r.info.Namespace, b, deadline)
	c.LegDone() // the initiator's leg: nothing is sent locally
	select {
	case <-c.Done():
		_, _, err := c.Snapshot()
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())
	}
}

// newSocketID returns a fresh socket id; in a cluster it names this node (clusterlink.QualifySID).
func (e *Engine) newSocketID() string {
	if e.link != nil {
		return clusterlink.QualifySID(e.link.node.ID(), newSID())
	}
	return newSID()
}

// targetNodes returns the peers an operation on rooms of namespace ns must reach (Interest.Targets).
func (l *link) targetNodes(ns string, rooms []string) []string { return l.interest.Targets(ns, rooms) }

// Conversions between the engine's own types and the cluster protocol; the rest is in clusterlink.

func socketInfoToWire(ns string, info *actors.SocketInfo) *clusterv1.SocketInfo {
	s := localSocket(info.Ref)
	if s == nil {
		return nil // detached (recovery): not reported, as on this node
	}
	hs := s.Handshake()
	w := &clusterv1.SocketInfo{Sid: info.SID, Namespace: ns, Rooms: info.Rooms, UserId: s.UserID(), Handshake: &clusterv1.Handshake{
		Auth: hs.Auth, RemoteAddr: hs.RemoteAddr, Url: hs.URL, Secure: hs.Secure, TimeUnixMs: hs.Time.UnixMilli(),
		Query: flatten(hs.Query), Headers: flatten(hs.Headers),
	}}
	if d := s.Data(); d != nil {
		w.DataJson, _ = json.Marshal(d)
	}
	return w
}

func flatten[M ~map[string][]string](m M) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = strings.Join(v, ", ")
	}
	return out
}

func handshakeFromWire(h *clusterv1.Handshake) Handshake {
	q := url.Values{}
	for k, v := range h.GetQuery() {
		q.Set(k, v)
	}
	hd := http.Header{}
	for k, v := range h.GetHeaders() {
		hd.Set(k, v)
	}
	return Handshake{Auth: h.GetAuth(), Handshake: transport.Handshake{Query: q, Headers: hd, RemoteAddr: h.GetRemoteAddr(),
		URL: h.GetUrl(), Secure: h.GetSecure(), Time: time.UnixMilli(h.GetTimeUnixMs())}}
}

// ClusterMember describes one node of the cluster.
type ClusterMember struct {
	ID         string `json:"id"`
	GossipAddr string `json:"gossip_addr"`
	RemoteAddr string `json:"remote_addr"`
	Self       bool   `json:"self"`
}

// ClusterMembers returns the live nodes of the cluster, this one first; nil on a single node.
func (e *Engine) ClusterMembers() []ClusterMember {
	if e.link == nil {
		return nil
	}
	self := e.link.node.Self()
	out := []ClusterMember{{ID: self.ID, GossipAddr: self.GossipAddr, RemoteAddr: self.RemoteAddr, Self: true}}
	for _, m := range e.link.node.Members() {
		out = append(out, ClusterMember{ID: m.ID, GossipAddr: m.GossipAddr, RemoteAddr: m.RemoteAddr})
	}
	return out
}

// ClusterStats returns the cluster traffic counters of this node (zero on a single node): envelopes
// sent, received, dropped at full peer queues, and rejected.
func (e *Engine) ClusterStats() (sent, received, dropped, rejected uint64) {
	if e.link == nil {
		return 0, 0, 0, 0
	}
	s := e.link.node.Stats()
	return s.Sent, s.Received, s.Dropped, s.Rejected
}

// ClusterPeer is this node's traffic with one live peer (Engine.ClusterPeers).
type ClusterPeer struct {
	ID string `json:"id"`
	// Sent, Received and Dropped count envelopes since the peer joined, as ClusterStats counts them.
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	Dropped  uint64 `json:"dropped"`
	// Queued is what this node's queue for the peer holds now; Connected reports an open stream to it.
	Queued    int  `json:"queued"`
	Connected bool `json:"connected"`
	// Synced reports that the peer's interest snapshot has arrived (Readiness waits for every peer's).
	Synced bool `json:"synced"`
}

// ClusterPeers returns the live peers' counters, sorted by id; nil on a single node.
func (e *Engine) ClusterPeers() []ClusterPeer {
	if e.link == nil {
		return nil
	}
	ps := e.link.node.PeerStats()
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	unsynced := e.link.interest.Unsynced(ids)
	out := make([]ClusterPeer, len(ps))
	for i, p := range ps {
		out[i] = ClusterPeer{ID: p.ID, Sent: p.Sent, Received: p.Received, Dropped: p.Dropped, Queued: p.Queued,
			Connected: p.Connected, Synced: !slices.Contains(unsynced, p.ID)}
	}
	return out
}
