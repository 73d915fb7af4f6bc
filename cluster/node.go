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

const (
	stateNew = iota
	stateStarted
	stateClosed
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
	quit   chan struct{}  // closed when Shutdown begins; interrupts Start's join loop
	done   chan struct{}  // closed when Shutdown has finished

	life  sync.Mutex // guards state
	state int

	leaveMu sync.Mutex // serialises Leave and memberlist's shutdown (Leave after Shutdown panics)
	left    bool
	mlDown  bool

	// Set while starting, before any peer, event or stream exists; read-only afterwards.
	ml        *memberlist.Memberlist
	srv       *server
	routerPID *actor.PID

	mu      sync.RWMutex // guards self, peers, closing
	self    Member
	peers   map[string]*peer
	closing bool

	rs    routerState // owned by the router actor
	inbox *inbox      // bounds envelopes between the stream server and the router

	sent, received, dropped, rejected atomic.Uint64
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
	return Stats{Sent: n.sent.Load(), Received: n.received.Load(), Dropped: n.dropped.Load(), Rejected: n.rejected.Load()}
}

// Start starts the node-to-node stream listener, the router actor (registered as RouterName in
// Config.System) and memberlist, then joins Config.Seeds, retrying with backoff. It returns once this
// node has joined another node (at once when no seed names another node), or with an error when ctx
// ends first (one join attempt can outlast ctx by memberlist's TCP timeout, 10 s) or Shutdown is
// called. After an error the node is closed.
func (n *Node) Start(ctx context.Context) error {
	n.life.Lock()
	switch n.state {
	case stateStarted:
		n.life.Unlock()
		return errors.New("cluster: Start called twice")
	case stateClosed:
		n.life.Unlock()
		return ErrClosed
	}
	if err := n.setup(); err != nil {
		n.state = stateClosed
		n.life.Unlock()
		n.teardown(context.Background(), false)
		close(n.done)
		return err
	}
	n.state = stateStarted
	n.life.Unlock()
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
	mc.Logger = log.New(mlWriter{log: n.cfg.Logger.With("component", "memberlist", "node", n.id)}, "", 0)
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
	p, closing := n.peers[id], n.closing
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
// until Shutdown; peers reject what it sends after they processed the departure. Leave twice is a no-op.
func (n *Node) Leave(ctx context.Context) error {
	n.life.Lock()
	state := n.state
	n.life.Unlock()
	switch state {
	case stateNew:
		return errors.New("cluster: Leave before Start")
	case stateClosed:
		return ErrClosed
	}
	return n.leave(ctx)
}

func (n *Node) leave(ctx context.Context) error {
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	if n.left || n.mlDown || n.ml == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	timeout := defaultLeaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	n.left = true
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
	n.life.Lock()
	switch n.state {
	case stateNew:
		n.state = stateClosed
		close(n.done)
		n.life.Unlock()
		return nil
	case stateClosed:
		n.life.Unlock()
		select {
		case <-n.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.state = stateClosed
	n.life.Unlock()
	close(n.quit)
	err := n.teardown(ctx, graceful)
	close(n.done)
	n.log.Info("cluster node stopped")
	return err
}

// teardown stops whatever setup started, in order: stop accepting sends, drain, leave, stop gossip, stop
// the stream server, stop the router, stop the peers, wait for every goroutine.
func (n *Node) teardown(ctx context.Context, graceful bool) error {
	var errs []error
	n.mu.Lock()
	n.closing = true
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		peers = append(peers, p)
	}
	n.mu.Unlock()
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
		} else if err := n.leave(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	n.leaveMu.Lock()
	n.mlDown = true
	n.leaveMu.Unlock()
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
