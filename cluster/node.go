package cluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

const (
	defaultLeaveTimeout = 5 * time.Second
	minJoinRetry        = 100 * time.Millisecond
	maxJoinRetry        = 5 * time.Second
)

// nodeState is where a Node is in its life. It only moves forward, in this order (Left is skipped
// unless Leave is called; Starting and Running are skipped when Shutdown comes first):
//
//	New → Starting → Running → Left → Closing → Closed
type nodeState int

const (
	stateNew      nodeState = iota // allocated; nothing started
	stateStarting                  // Start is starting the listener, the router and memberlist
	stateRunning                   // started: peers come and go, Send works
	stateLeft                      // Leave announced (or is announcing) the departure; Send still works
	stateClosing                   // Shutdown began: Send fails with ErrClosed, no new peer is created
	stateClosed                    // everything the node started has stopped
)

// Node is this process's member of the cluster. Create it with New, then Start it; Shutdown ends it.
// All methods are safe for concurrent use.
type Node struct {
	cfg    Config
	h      Handler
	id     string
	log    *slog.Logger
	system *actor.ActorSystem
	token  string // stream auth token; empty without Config.Key
	stamp  []byte // Envelope fields from and version, appended to every encoded envelope

	// ctx parents every peer; cancelled at the end of Shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node starts (stream server, peers, their readers)

	// Set while starting, before any peer, event or stream exists; read-only afterwards.
	ml        *memberlist.Memberlist
	srv       *server
	routerPID *actor.PID

	// mu is the node's one lock. It is never held while calling memberlist, gRPC or the Handler.
	mu    sync.RWMutex
	state nodeState
	self  Member
	peers map[string]*peer
	// leaving is closed when the memberlist Leave that Leave started has returned: memberlist must not
	// be shut down during a Leave. Nil until Leave; set with state Left.
	leaving chan struct{}
	quit    chan struct{} // closed on entering Closing; interrupts Start's join loop
	done    chan struct{} // closed on entering Closed

	rs    routerState // owned by the router actor
	inbox *inbox      // bounds envelopes between the stream server and the router

	sent, received, dropped, rejected atomic.Uint64

	// Authentication failures: counted in authFailures, logged rate-limited per kind.
	authFailures           atomic.Uint64
	streamAuth, gossipAuth *authLog
}

// New validates cfg and allocates a node; it starts nothing. h receives membership changes and envelopes
// (see Handler) and must not be nil.
func New(cfg Config, h Handler) (*Node, error) {
	if h == nil {
		return nil, errors.New("cluster: nil Handler")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id := c.NodeID
	if id == "" {
		id = newNodeID()
	}
	n := &Node{
		cfg:    c,
		h:      h,
		id:     id,
		log:    c.Logger.With("component", "cluster", "node", id),
		system: c.System,
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		peers:  make(map[string]*peer),
		rs:     routerState{members: make(map[string]Member), gone: make(map[string]time.Time)},
		inbox:  newInbox(c.InboundQueue),
	}
	if c.Key != nil {
		n.token = authToken(c.Key)
	}
	n.streamAuth = &authLog{log: n.log, msg: "refused an unauthenticated stream", total: &n.authFailures}
	n.gossipAuth = &authLog{log: n.log.With("component", "memberlist"), msg: "gossip authentication failed", total: &n.authFailures}
	// Protobuf keeps the last value of a repeated scalar field, so appending from and version to the
	// caller's encoding stamps them without writing to the caller's message.
	n.stamp = protowire.AppendTag(n.stamp, 1, protowire.BytesType)
	n.stamp = protowire.AppendString(n.stamp, id)
	n.stamp = protowire.AppendTag(n.stamp, 2, protowire.VarintType)
	n.stamp = protowire.AppendVarint(n.stamp, ProtocolVersion)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// ID returns the node id.
func (n *Node) ID() string { return n.id }

// Self describes this node as peers see it; the addresses are known once Start has returned (ports
// chosen by the system included).
func (n *Node) Self() Member {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.self
}

// Members returns the live compatible peers, excluding this node, sorted by id: the peers reported by
// MemberUp and not yet by MemberDown (the set changes just before the Handler is called, so inside
// MemberUp(m) it already holds m).
func (n *Node) Members() []Member {
	n.mu.RLock()
	out := make([]Member, 0, len(n.peers))
	for _, p := range n.peers {
		out = append(out, p.m)
	}
	n.mu.RUnlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Received: n.received.Load(), Dropped: n.dropped.Load(), Rejected: n.rejected.Load(),
		AuthFailures: n.authFailures.Load()}
}

// PeerStats are the counters of one live peer since it joined (a peer that leaves takes its counters with
// it; the node's Stats keep the totals). Sent, Received and Dropped count envelopes as Stats does;
// Queued is what its queue holds now (queued and being written); Connected reports an open stream to it.
type PeerStats struct {
	ID                      string
	Sent, Received, Dropped uint64
	Queued                  int
	Connected               bool
}

// PeerStats returns the counters of every live peer, sorted by id.
func (n *Node) PeerStats() []PeerStats {
	n.mu.RLock()
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		peers = append(peers, p)
	}
	n.mu.RUnlock()
	out := make([]PeerStats, 0, len(peers))
	for _, p := range peers {
		p.mu.Lock()
		q, conn := len(p.q)+p.inflight, p.connected
		p.mu.Unlock()
		out = append(out, PeerStats{ID: p.m.ID, Sent: p.sent.Load(), Received: p.received.Load(), Dropped: p.dropped.Load(),
			Queued: q, Connected: conn})
	}
	slices.SortFunc(out, func(a, b PeerStats) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Start starts the node-to-node stream listener, the router actor (registered as RouterName in
// Config.System) and memberlist, then joins Config.Seeds, retrying with backoff. It returns once this
// node has joined another node (at once when no seed names another node), or with an error when ctx
// ends first (one join attempt can outlast ctx by memberlist's TCP timeout, 10 s) or Shutdown is
// called. After an error the node is closed.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	switch n.state {
	case stateNew:
		n.state = stateStarting
	case stateClosing, stateClosed:
		n.mu.Unlock()
		return ErrClosed
	default:
		n.mu.Unlock()
		return errors.New("cluster: Start called twice")
	}
	n.mu.Unlock()
	err := n.setup()
	n.mu.Lock()
	if err == nil && n.state == stateClosing {
		err = ErrClosed // Shutdown came during setup and left the teardown to Start
	}
	if err != nil {
		if n.state == stateStarting {
			n.enterClosingLocked()
		}
		n.mu.Unlock()
		n.teardown(context.Background(), false, false)
		n.enterClosed()
		return err
	}
	n.state = stateRunning
	n.mu.Unlock()
	n.log.Info("cluster node started", "gossip_addr", n.self.GossipAddr, "remote_addr", n.self.RemoteAddr)

	if err := n.join(ctx); err != nil {
		_ = n.shutdown(context.Background(), false)
		return err
	}
	return nil
}

// setup starts the listener, the router, the stream server and memberlist. On error the caller tears
// down whatever was started.
func (n *Node) setup() error {
	ln, err := net.Listen("tcp", n.cfg.RemoteAddr)
	if err != nil {
		return fmt.Errorf("cluster: listen for peers: %w", err)
	}
	remoteAddr, err := n.remoteAdvertise(ln.Addr().(*net.TCPAddr))
	if err != nil {
		ln.Close()
		return err
	}
	meta, err := encodeMeta(nodeMeta{ID: n.id, Remote: remoteAddr, Version: ProtocolVersion})
	if err != nil {
		ln.Close()
		return err
	}
	n.mu.Lock()
	n.self = Member{ID: n.id, RemoteAddr: remoteAddr, Version: ProtocolVersion}
	n.mu.Unlock()

	pid, err := n.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &router{n: n} }), RouterName)
	if err != nil {
		ln.Close()
		return fmt.Errorf("cluster: spawn %s: %w", RouterName, err)
	}
	n.routerPID = pid

	installGRPCLogger(n.cfg.Logger)
	n.srv = newServer(n)
	n.wg.Go(func() { _ = n.srv.g.Serve(ln) })

	ml, err := memberlist.Create(n.memberlistConfig(meta))
	if err != nil {
		return fmt.Errorf("cluster: start gossip on %s: %w", n.cfg.GossipAddr, err)
	}
	n.ml = ml
	n.mu.Lock()
	n.self.GossipAddr = ml.LocalNode().Address()
	n.mu.Unlock()
	return nil
}

// remoteAdvertise is the address peers dial: Config.AdvertiseRemote, else the bound address, else (bound
// to all interfaces) the gossip advertise host or a private address of this host, as memberlist does.
func (n *Node) remoteAdvertise(addr *net.TCPAddr) (string, error) {
	if n.cfg.AdvertiseRemote != "" {
		return n.cfg.AdvertiseRemote, nil
	}
	if !addr.IP.IsUnspecified() {
		return addr.String(), nil
	}
	var host string
	if n.cfg.AdvertiseGossip != "" {
		host, _, _ = splitHostPort(n.cfg.AdvertiseGossip)
	} else {
		ip, err := sockaddr.GetPrivateIP()
		if err != nil || ip == "" {
			return "", fmt.Errorf("cluster: RemoteAddr %s listens on all interfaces and no private address was found: set AdvertiseRemote", n.cfg.RemoteAddr)
		}
		host = ip
	}
	return net.JoinHostPort(host, strconv.Itoa(addr.Port)), nil
}

func (n *Node) memberlistConfig(meta []byte) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.id
	host, port, _ := splitHostPort(n.cfg.GossipAddr)
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = host, port
	if n.cfg.AdvertiseGossip != "" {
		mc.AdvertiseAddr, mc.AdvertisePort, _ = splitHostPort(n.cfg.AdvertiseGossip)
	}
	if pi := n.cfg.ProbeInterval; pi > 0 {
		mc.ProbeInterval = pi
		mc.ProbeTimeout = pi / 2
		mc.GossipInterval = max(pi/5, 10*time.Millisecond)
	}
	if n.cfg.Key != nil {
		mc.SecretKey = n.cfg.Key // memberlist builds its Keyring from it; GossipVerify* stay on
	}
	mc.Delegate = &delegate{meta: meta}
	mc.Events = &events{n: n}
	mc.Conflict = &events{n: n}
	mc.Logger = log.New(mlWriter{log: n.cfg.Logger.With("component", "memberlist", "node", n.id), auth: n.gossipAuth}, "", 0)
	return mc
}

// join joins the seeds that are not this node, retrying with backoff until memberlist knows another node.
func (n *Node) join(ctx context.Context) error {
	var seeds []string
	own := []string{n.cfg.GossipAddr, n.cfg.AdvertiseGossip, n.Self().GossipAddr}
	for _, s := range n.cfg.Seeds {
		if !slices.Contains(own, s) {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil
	}
	retry := minJoinRetry
	for {
		_, err := n.ml.Join(seeds)
		if n.ml.NumMembers() > 1 {
			n.log.Info("joined the cluster", "seeds", seeds, "members", n.ml.NumMembers())
			return nil
		}
		// Warn: a node that cannot join (seeds down, a wrong key) would otherwise wait silently.
		n.log.Warn("join failed, retrying", "seeds", seeds, "err", err, "retry_in", retry)
		t := time.NewTimer(retry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster: join %v: %w", seeds, errors.Join(ctx.Err(), err))
		case <-n.quit:
			t.Stop()
			return ErrClosed
		}
		retry = min(2*retry, maxJoinRetry)
	}
}

// Send queues env for the node with id to and returns without waiting for the network. The envelope is
// encoded before Send returns (env is neither kept nor modified; the sender's id and ProtocolVersion
// are stamped on the encoding), so the caller may reuse it. Envelopes to one peer are written in Send
// order over one stream; delivery is at most once. Send fails with ErrUnknownNode when to is not a live
// compatible member, ErrQueueFull when the peer's queue is full (the envelope is dropped and counted),
// ErrNoBody, ErrTooLarge, or ErrClosed once Shutdown has begun.
func (n *Node) Send(to string, env *clusterv1.Envelope) error {
	p, err := n.peer(to)
	if err != nil {
		return err
	}
	b, err := n.encode(env)
	if err != nil {
		return err
	}
	return p.enqueue(b)
}

// SendMany is Send to each node of to, encoding env once. It returns the errors of the nodes it could
// not queue for, joined, each naming its node.
func (n *Node) SendMany(to []string, env *clusterv1.Envelope) error {
	b, err := n.encode(env)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range to {
		p, err := n.peer(id)
		if err == nil {
			err = p.enqueue(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (n *Node) peer(id string) (*peer, error) {
	n.mu.RLock()
	p, closing := n.peers[id], n.state >= stateClosing
	n.mu.RUnlock()
	if closing {
		return nil, ErrClosed
	}
	if p == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	return p, nil
}

func (n *Node) encode(env *clusterv1.Envelope) ([]byte, error) {
	if env.GetBody() == nil {
		return nil, ErrNoBody
	}
	size := proto.Size(env)
	if size+len(n.stamp) > MaxEnvelopeSize {
		return nil, ErrTooLarge
	}
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, size+len(n.stamp)), env)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode envelope: %w", err)
	}
	return append(b, n.stamp...), nil
}

// Leave announces this node's departure to the cluster (peers report MemberDown at once) and returns once
// the announcement went out, or when ctx ends (5 s when ctx has no deadline). The node keeps running
// until Shutdown; peers reject what it sends after they processed the departure. Leave twice is a no-op
// (the second call waits for the first).
func (n *Node) Leave(ctx context.Context) error {
	n.mu.Lock()
	switch n.state {
	case stateNew, stateStarting:
		n.mu.Unlock()
		return errors.New("cluster: Leave before Start")
	case stateClosing, stateClosed:
		n.mu.Unlock()
		return ErrClosed
	case stateLeft:
		leaving := n.leaving
		n.mu.Unlock()
		select {
		case <-leaving:
		case <-ctx.Done():
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("cluster: leave: %w", err)
	}
	n.state = stateLeft
	leaving := make(chan struct{})
	n.leaving = leaving
	n.mu.Unlock()
	defer close(leaving)
	return n.leaveGossip(ctx)
}

// leaveGossip runs memberlist's Leave, bounded by ctx's deadline or defaultLeaveTimeout. The caller
// makes sure it runs at most once and never after memberlist's Shutdown.
func (n *Node) leaveGossip(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	timeout := defaultLeaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := n.ml.Leave(timeout); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	n.log.Info("left the cluster")
	return nil
}

// Shutdown stops the node gracefully: Send starts failing with ErrClosed, queued envelopes are written
// while peers still count this node a member (until ctx ends), the node leaves the gossip (unless Leave
// did), memberlist stops, peers are asked to close their streams (up to 2 s), the router actor processes
// what it already received and stops, and Shutdown returns once every goroutine the node started has
// finished. It returns ctx's error when ctx ended before the graceful steps completed (everything is
// stopped anyway). Shutdown is idempotent; a concurrent call waits for the first.
func (n *Node) Shutdown(ctx context.Context) error {
	return n.shutdown(ctx, true)
}

func (n *Node) shutdown(ctx context.Context, graceful bool) error {
	n.mu.Lock()
	prev := n.state
	switch prev {
	case stateNew:
		n.enterClosingLocked()
		n.mu.Unlock()
		n.enterClosed()
		return nil
	case stateStarting:
		// Start tears down what it started once its setup returns.
		n.enterClosingLocked()
		fallthrough
	case stateClosing, stateClosed:
		n.mu.Unlock()
		select {
		case <-n.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.enterClosingLocked()
	n.mu.Unlock()
	// Leave the gossip only from Running: after Leave the departure is announced already.
	err := n.teardown(ctx, graceful, graceful && prev == stateRunning)
	n.enterClosed()
	n.log.Info("cluster node stopped")
	return err
}

// enterClosingLocked moves the node to Closing: Send fails from now on, and Start's join loop stops.
func (n *Node) enterClosingLocked() {
	n.state = stateClosing
	close(n.quit)
}

// enterClosed moves the node from Closing to Closed once everything has stopped.
func (n *Node) enterClosed() {
	n.mu.Lock()
	n.state = stateClosed
	n.mu.Unlock()
	close(n.done)
}

// teardown stops whatever setup started, in order (the node is Closing, so Send fails already): drain
// the peer queues (graceful), leave the gossip (leave), stop gossip, stop the stream server, stop the
// router, stop the peers, wait for every goroutine.
func (n *Node) teardown(ctx context.Context, graceful, leave bool) error {
	var errs []error
	n.mu.RLock()
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		peers = append(peers, p)
	}
	leaving := n.leaving
	n.mu.RUnlock()
	if graceful {
		drained := make([]<-chan struct{}, len(peers))
		for i, p := range peers {
			drained[i] = p.drain()
		}
		for _, d := range drained {
			select {
			case <-d:
			case <-ctx.Done():
			}
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: drain peer queues: %w", err))
		} else if leave {
			if err := n.leaveGossip(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if leaving != nil {
		<-leaving // memberlist's Leave after (or during) its Shutdown panics
	}
	if n.ml != nil {
		if err := n.ml.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: stop gossip: %w", err))
		}
	}
	if n.srv != nil {
		n.srv.stop(ctx, graceful)
	}
	if n.routerPID != nil {
		// No stream or memberlist callback can send to the router any more.
		_ = n.system.Root.PoisonFuture(n.routerPID).Wait()
	}
	n.cancel()
	n.mu.Lock()
	for _, p := range n.peers {
		p.stop()
	}
	clear(n.peers)
	n.mu.Unlock()
	n.wg.Wait()
	return errors.Join(errs...)
}
