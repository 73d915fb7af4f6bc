package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/native"
	"github.com/roomio/roomio/transport/socketio"
)

// Config configures an Engine. The zero Config works; each field documents its default. New copies it,
// so later changes by the caller have no effect.
type Config struct {
	// Logger receives the engine's logs, protoactor's included. Nil means silent.
	Logger *slog.Logger
	// MaxMessageSize is the largest frame a client may send; a larger one closes its connection with
	// close code 1009. Zero means 1 MiB.
	MaxMessageSize int64
	// MaxRoomsPerSocket limits how many rooms one socket can be in, besides its own-id room. Join returns
	// ErrTooManyRooms beyond it. Zero means 1000.
	MaxRoomsPerSocket int
	// ConnectTimeout closes a connection (close code 4003) that has not connected a namespace in time.
	// Zero means 45s (Socket.IO's default).
	ConnectTimeout time.Duration
	// PingInterval is the time between heartbeats. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long a client has to answer a ping before it is dropped (close code 4001).
	// Zero means 20s. New refuses a PingTimeout of 4×PingInterval or more (after defaults are applied):
	// a dead client would then hold its connection for several heartbeats.
	PingTimeout time.Duration
	// WriteQueueBytes bounds each connection's outbound queue. When it is full, volatile messages are
	// dropped and any other message disconnects the client (close code 4002). Zero means 1 MiB.
	WriteQueueBytes int
	// EventQueueSize bounds how many received events may wait for a socket's handlers. When it is full the
	// connection's reader waits, so a fast sender is slowed by TCP rather than buffered. The queue grows
	// as events wait and is released when drained, so the bound costs an idle socket nothing. Zero means
	// 128.
	EventQueueSize int
	// MaxBroadcastsInFlight and MaxBroadcastBytesInFlight bound the broadcasts the node's actors hold at
	// once: those emitted and not yet processed by every namespace, room and socket actor they travel
	// through, by count and by the bytes of their packets. While either is spent, no client event handler
	// starts (the socket's next event waits), so a client whose handlers emit faster than the node fans
	// out has its reader stopped, and TCP slows it down, instead of the shared actors' mailboxes growing.
	// Emits never wait: server code that emits outside handlers is not slowed (docs/guarantees.md). Zero
	// means 4096 broadcasts and 64 MiB.
	MaxBroadcastsInFlight     int
	MaxBroadcastBytesInFlight int64
	// BackpressureTimeout is how long a client event may wait for room in the broadcast budget; after it
	// the connection is closed with close code 4005 ("backpressure timeout"). Zero means 30s.
	BackpressureTimeout time.Duration
	// RateLimit bounds what each connection may send (events and bytes per second).
	RateLimit RateLimit
	// MaxConnsPerIP bounds the connections (native WebSockets and Socket.IO sessions together) one remote
	// IP address may hold open; a handshake beyond it is answered 429 Too Many Requests. The address is
	// the TCP peer's (http.Request.RemoteAddr): behind a reverse proxy every client shares the proxy's, so
	// raise or disable the limit there. Zero means 100; negative means no limit.
	MaxConnsPerIP int
	// MaxRooms bounds how many rooms the node's namespaces hold together (rooms with local members; a
	// socket's own-id room is not one). A Join that would create a room beyond it fails with
	// ErrRoomLimit. Zero means 100 000; negative means no limit.
	MaxRooms int
	// MaxFrameMessages is the most messages one native frame may hold; a frame with more closes the
	// connection with close code 1009 before any of its messages is handled. Zero means 1024.
	MaxFrameMessages int
	// HandshakeHeaderBytes bounds the request header bytes a connection keeps for its Handshake (names
	// and values, in name order; what does not fit is dropped). Zero means 8 KiB.
	HandshakeHeaderBytes int
	// AllowedOrigins lists the hosts (path.Match patterns, e.g. "*.example.com") whose pages may open a
	// WebSocket from another origin. Same-origin requests and requests without Origin (non-browser
	// clients) are always allowed; others are refused with 403. "*" allows any origin.
	AllowedOrigins []string
	// SocketIO configures the Socket.IO endpoint (SocketIOHandler).
	SocketIO SocketIOConfig
	// Cluster makes the engine a node of a cluster. The zero value is a single node.
	Cluster ClusterConfig
	// Auth authenticates connects and authorizes joins (tokens, hooks). The zero value authenticates
	// nothing.
	Auth AuthConfig
	// Recovery turns on connection state recovery (recovery.go). The zero value is off.
	Recovery RecoveryConfig
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 1 << 20
	}
	if c.MaxRoomsPerSocket <= 0 {
		c.MaxRoomsPerSocket = 1000
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.WriteQueueBytes <= 0 {
		c.WriteQueueBytes = 1 << 20
	}
	if c.EventQueueSize <= 0 {
		c.EventQueueSize = 128
	}
	if c.MaxBroadcastsInFlight <= 0 {
		c.MaxBroadcastsInFlight = 4096
	}
	if c.MaxBroadcastBytesInFlight <= 0 {
		c.MaxBroadcastBytesInFlight = 64 << 20
	}
	if c.BackpressureTimeout <= 0 {
		c.BackpressureTimeout = 30 * time.Second
	}
	c.RateLimit = c.RateLimit.withDefaults(c.MaxMessageSize)
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 100
	}
	if c.MaxRooms == 0 {
		c.MaxRooms = 100_000
	}
	if c.MaxFrameMessages <= 0 {
		c.MaxFrameMessages = 1024
	}
	if c.HandshakeHeaderBytes <= 0 {
		c.HandshakeHeaderBytes = 8 << 10
	}
	c.AllowedOrigins = append([]string(nil), c.AllowedOrigins...)
	return c
}

// RateLimit configures the token buckets each connection's packets (events, acks, connects,
// disconnects) pass through. When a bucket is empty the connection's reader waits for it, so a fast
// client is slowed by TCP. A client whose reader waited half of a CloseAfter period or more (one that
// keeps sending at twice its rate or more) is closed at the end of that period with close code 4004
// ("rate limited"). The defaults suit a public chat; set Disabled for none.
type RateLimit struct {
	// Disabled turns the rate limit off.
	Disabled bool
	// Events is the sustained packets per second, Burst how many may come at once. Zero means 50/s and a
	// burst of 100.
	Events float64
	Burst  int
	// Bytes is the sustained bytes per second (arguments, names and auth of the packets), ByteBurst how
	// many may come at once. Zero means 256 KiB/s and a burst of MaxMessageSize (a burst below
	// MaxMessageSize is raised to it, so that one message of the largest size always passes).
	Bytes     float64
	ByteBurst int
	// CloseAfter is the period over which a client's waits are measured: from its first wait, a client
	// that has waited CloseAfter/2 or more by the end of the period is closed. Zero means 10s.
	CloseAfter time.Duration
}

func (r RateLimit) withDefaults(maxMessage int64) RateLimit {
	if r.Events <= 0 {
		r.Events = 50
	}
	if r.Burst <= 0 {
		r.Burst = 100
	}
	if r.Bytes <= 0 {
		r.Bytes = 256 << 10
	}
	if int64(r.ByteBurst) < maxMessage {
		r.ByteBurst = int(maxMessage)
	}
	if r.CloseAfter <= 0 {
		r.CloseAfter = 10 * time.Second
	}
	return r
}

// leaveBudget bounds the graceful leave of the cluster in Shutdown.
const leaveBudget = 2 * time.Second

// actorStopBudget bounds the wait for the actors to stop at the end of Shutdown.
const actorStopBudget = time.Second

const (
	stateNew int32 = iota
	stateRunning
	stateClosed
)

// Engine is a roomio server: namespaces of sockets and rooms, served over WebSockets. Create it with New,
// mount Handler, call Start, and stop it with Shutdown. All methods are safe for concurrent use.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	system *actor.ActorSystem
	live   actors.Live
	native *native.Server
	sio    *socketio.Server
	link   *link     // nil on a single node
	rec    *recovery // nil when connection state recovery is off

	state  atomic.Int32
	ackIDs atomic.Uint64
	// observers holds the Observers (Observe), copied on write under mu; read without locking.
	observers atomic.Pointer[[]Observer]
	// conns counts open client connections; polling counts those of them on Engine.IO long-polling
	// at open (Stats).
	conns     atomic.Int64
	hookDrops atomic.Uint64 // room and server-side events dropped at a full hook queue

	flow        *flow
	addrs       *transport.AddrLimit
	rooms       actors.RoomLimit
	rateLimited atomic.Int64 // packets a rate limit delayed
	rateClosed  atomic.Int64 // connections closed for staying over their rate limit
	bpClosed    atomic.Int64 // connections closed by BackpressureTimeout
	ctr         counters     // traffic counters (Counters)

	mu       sync.RWMutex
	nsps     map[string]*Namespace
	dynamic  []*Namespace // parents of dynamic namespaces, in registration order
	sessions map[*session]struct{}

	wg workers // executors and timers' work
}

// New returns an engine for cfg. It allocates only; Start begins serving.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if cfg.PingTimeout >= cfg.PingInterval*4 {
		return nil, fmt.Errorf("engine: PingTimeout %v is out of proportion to PingInterval %v", cfg.PingTimeout, cfg.PingInterval)
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		nsps:     make(map[string]*Namespace),
		sessions: make(map[*session]struct{}),
		flow:     newFlow(cfg.MaxBroadcastsInFlight, cfg.MaxBroadcastBytesInFlight),
		addrs:    &transport.AddrLimit{Max: cfg.MaxConnsPerIP},
	}
	e.rooms.Max = int64(cfg.MaxRooms)
	e.flow.latency = &e.ctr.latency
	e.system = actors.NewSystem(cfg.Logger)
	e.live.Workers = actors.NewWorkers()
	e.wg.pool = e.live.Workers
	e.rec = newRecovery(e, cfg.Recovery)
	e.native = native.NewServer(native.Options{
		Acceptor:         (*acceptor)(e),
		MaxFrameMessages: cfg.MaxFrameMessages,
		HeaderBytes:      cfg.HandshakeHeaderBytes,
		AddrLimit:        e.addrs,
		Meter:            &e.ctr.meter,
		MaxMessageSize:   cfg.MaxMessageSize,
		QueueBytes:       cfg.WriteQueueBytes,
		PingInterval:     cfg.PingInterval,
		PingTimeout:      cfg.PingTimeout,
		OriginPatterns:   cfg.AllowedOrigins,
		Logger:           cfg.Logger.With("component", "native"),
	})
	e.sio = e.newSocketIO()
	if err := e.newLink(); err != nil {
		return nil, err
	}
	e.Of("/")
	return e, nil
}

// Start starts serving. Handler answers 503 before Start and after Shutdown. With Config.Cluster set it
// first joins the cluster (blocking until it has joined a seed, or ctx ends).
func (e *Engine) Start(ctx context.Context) error {
	if e.state.Load() != stateNew {
		return ErrClosed
	}
	if err := e.startCluster(ctx); err != nil {
		return fmt.Errorf("engine: joining the cluster: %w", err)
	}
	if !e.state.CompareAndSwap(stateNew, stateRunning) {
		return ErrClosed
	}
	e.log.Info("engine started", "node", e.NodeID())
	return nil
}

// NodeID returns this node's id in the cluster ("" on a single node).
func (e *Engine) NodeID() string {
	if e.link == nil {
		return ""
	}
	return e.link.node.ID()
}

// Handler returns the native protocol's WebSocket endpoint. Mount it where clients connect (the node
// binary uses /ws).
func (e *Engine) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.state.Load() != stateRunning {
			http.Error(w, "roomio engine not running", http.StatusServiceUnavailable)
			return
		}
		e.native.ServeHTTP(w, r)
	})
}

// Shutdown stops accepting connections, closes every connection with close code 1001 ("going away")
// after its queued messages are written, runs the disconnect handlers, stops every actor, and waits for
// all of it or for ctx (the final stop of the actors, which no client can delay, gets up to a second
// more). It is idempotent; later calls return ErrClosed.
//
// An application that serves Handler from its own http.Server calls Shutdown first and then the
// server's Shutdown: the WebSocket connections are hijacked, so the http.Server does not wait for them,
// and the engine is what drains and closes them.
func (e *Engine) Shutdown(ctx context.Context) error {
	if e.state.Swap(stateClosed) == stateClosed {
		return ErrClosed
	}
	// Leave the cluster first: peers stop routing to this node at once instead of after failure detection.
	var tunnelErr error
	if e.link != nil {
		// Hand the behaviour rooms this node runs to their next owners while the peers still route to
		// this node (what reaches a room after its handoff is relayed to its new owner).
		e.handOff(ctx)
		// memberlist's Leave waits until the leave has been gossiped, which never happens when every
		// other node is leaving at the same time (a whole-cluster stop): give it a budget of its own.
		lctx, cancel := context.WithTimeout(ctx, leaveBudget)
		if lerr := e.link.node.Leave(lctx); lerr != nil {
			e.log.Warn("leaving the cluster", "err", lerr)
		}
		cancel()
		// Peers drop this node's tunnels once it has left: end them now, and with them the sessions
		// and the relayed requests they carry.
		tunnelErr = e.link.tunnels.Shutdown(ctx)
	}
	// Let what was emitted before Shutdown reach the connections' queues, which are written out before
	// the connections close.
	e.mu.RLock()
	var flush []*Namespace
	for _, n := range e.nsps {
		flush = append(flush, n)
	}
	e.mu.RUnlock()
	for _, n := range flush {
		c := actors.NewCollector()
		e.system.Root.Send(n.pid, &actors.Broadcast{Op: actors.OpFlush, Collector: c})
		select {
		case <-c.Done():
		case <-ctx.Done():
		}
	}
	// Both front-ends drain and close their connections at once.
	sioErr := make(chan error, 1)
	go func() { sioErr <- e.sio.Shutdown(ctx) }()
	err := errors.Join(e.native.Shutdown(ctx), <-sioErr, tunnelErr)
	e.rec.shutdown() // after the connections: none is detached any more (the engine is not running)
	done := e.wg.close()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("engine: waiting for handlers: %w", ctx.Err()))
	}
	e.mu.RLock()
	var nss []*Namespace
	for _, n := range e.nsps {
		nss = append(nss, n)
	}
	e.mu.RUnlock()
	for _, n := range nss {
		// Stopping a namespace actor stops its children (rooms, sockets) first.
		e.system.Root.Poison(n.pid)
	}
	// Stopping the actors depends on no client, and takes microseconds; it gets actorStopBudget even when
	// ctx has ended (Close), so that no actor outlives the engine.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), actorStopBudget)
	defer cancel()
	for _, n := range nss {
		select {
		case <-n.stopped:
		case <-stopCtx.Done():
			err = errors.Join(err, fmt.Errorf("engine: stopping namespace %s: %w", n.name, stopCtx.Err()))
		}
	}
	if e.link != nil {
		if cerr := e.link.node.Shutdown(ctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	e.system.Shutdown()
	e.live.Workers.Stop()
	e.log.Info("engine stopped")
	return err
}

// Close stops the engine immediately: connections are dropped without draining.
func (e *Engine) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Stats counts the engine's live actors, client connections on this node, and what its limits did.
type Stats struct {
	Namespaces int64 `json:"namespaces"`
	Rooms      int64 `json:"rooms"`
	Sockets    int64 `json:"sockets"`
	// Connections counts open client connections (native and Socket.IO); one connection carries a
	// socket per namespace it connected.
	Connections int64 `json:"connections"`
	// BroadcastsInFlight and BroadcastBytesInFlight are the broadcasts the actors hold now (see
	// Config.MaxBroadcastsInFlight).
	BroadcastsInFlight     int64 `json:"broadcasts_in_flight"`
	BroadcastBytesInFlight int64 `json:"broadcast_bytes_in_flight"`
	// BackpressureWaits counts client events that waited for room in the broadcast budget;
	// BackpressureClosed the connections closed after BackpressureTimeout.
	BackpressureWaits  int64 `json:"backpressure_waits"`
	BackpressureClosed int64 `json:"backpressure_closed"`
	// RateLimited counts client packets a rate limit delayed; RateLimitClosed the connections closed for
	// staying over it (close code 4004).
	RateLimited     int64 `json:"rate_limited"`
	RateLimitClosed int64 `json:"rate_limit_closed"`
}

// Idle reports whether nothing is left running: no actor, no open connection, no broadcast in flight.
// The limits' counters are not considered. After Shutdown, Stats().Idle() is true.
func (s Stats) Idle() bool {
	return s.Namespaces == 0 && s.Rooms == 0 && s.Sockets == 0 && s.Connections == 0 &&
		s.BroadcastsInFlight == 0 && s.BroadcastBytesInFlight == 0
}

// Stats returns how many namespace, room and socket actors are running, how many client connections
// are open, and the counters of the limits.
func (e *Engine) Stats() Stats {
	return Stats{
		Namespaces:             e.live.Namespaces.Load(),
		Rooms:                  e.live.Rooms.Load(),
		Sockets:                e.live.Sockets.Load(),
		Connections:            e.conns.Load(),
		BroadcastsInFlight:     e.flow.count.Load(),
		BroadcastBytesInFlight: e.flow.bytes.Load(),
		BackpressureWaits:      e.flow.waits.Load(),
		BackpressureClosed:     e.bpClosed.Load(),
		RateLimited:            e.rateLimited.Load(),
		RateLimitClosed:        e.rateClosed.Load(),
	}
}

// PollingConnections returns how many open Socket.IO connections are on HTTP long-polling now (not yet
// upgraded to WebSocket, or not allowed to). It visits every connection: O(connections), for monitoring,
// not for a hot path.
func (e *Engine) PollingConnections() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for s := range e.sessions {
		if connTransport(s) == TransportPolling {
			n++
		}
	}
	return n
}

// ConnectionsByTransport returns how many client connections are open on each transport
// (TransportNative, TransportWebSocket, TransportPolling; every key is present). Like PollingConnections
// it visits every connection.
func (e *Engine) ConnectionsByTransport() map[string]int {
	out := map[string]int{TransportNative: 0, TransportWebSocket: 0, TransportPolling: 0}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for s := range e.sessions {
		out[connTransport(s)]++
	}
	return out
}

// hookQueue bounds the room hook events (OnCreateRoom and friends) and server-side events waiting for a
// namespace's hook goroutine. The actors and the cluster router hand events over without waiting: past
// this bound an event is dropped and counted, rather than stalling the namespace.
const hookQueue = 1024

// offerHook queues fn on n's hook executor, or drops and counts it when the queue is full.
func (e *Engine) offerHook(n *Namespace, fn func()) {
	if n.hookExec.offer(fn) {
		return
	}
	if d := e.hookDrops.Add(1); d&(d-1) == 0 { // log the 1st, 2nd, 4th, 8th… drop: a slow hook must not flood the log too
		e.log.Warn("room hook queue full: event dropped", "namespace", n.name, "dropped_total", d)
	}
}

// DroppedHookEvents returns how many room hook events (OnCreateRoom, OnDeleteRoom, OnJoinRoom,
// OnLeaveRoom) and server-side events were dropped because a namespace's hooks had fallen hookQueue
// (1024) events behind: hooks that block for long lose events instead of stalling the namespace.
func (e *Engine) DroppedHookEvents() uint64 { return e.hookDrops.Load() }

// Of returns the namespace called name, creating it on first use. Names start with "/"; "" means "/".
func (e *Engine) Of(name string) *Namespace {
	if name == "" {
		name = "/"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := e.nsps[name]; n != nil {
		return n
	}
	return e.newNamespaceLocked(name, nil)
}

// OfFunc registers a dynamic namespace: a client connecting to an unknown namespace whose name match
// accepts gets a new child namespace that runs the parent's middleware and connection handlers. Emits on
// the parent reach every child. Parents are tried in registration order.
func (e *Engine) OfFunc(match func(name string) bool) *Namespace {
	n := &Namespace{e: e, name: "", match: match}
	n.hooks = &nsHooks{}
	e.mu.Lock()
	e.dynamic = append(e.dynamic, n)
	e.mu.Unlock()
	return n
}

// OfPattern is OfFunc with a regular expression matched against the whole name.
func (e *Engine) OfPattern(re *regexp.Regexp) *Namespace {
	return e.OfFunc(func(name string) bool {
		loc := re.FindStringIndex(name)
		return loc != nil && loc[0] == 0 && loc[1] == len(name)
	})
}

// lookup returns the namespace for a client's connect: an existing one, or a new child of a matching
// dynamic parent; nil when none.
func (e *Engine) lookup(name string) *Namespace {
	e.mu.RLock()
	n := e.nsps[name]
	e.mu.RUnlock()
	if n != nil {
		return n
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := e.nsps[name]; n != nil {
		return n
	}
	for _, p := range e.dynamic {
		if p.match(name) {
			c := e.newNamespaceLocked(name, p)
			p.mu.Lock()
			p.children = append(p.children, c)
			p.mu.Unlock()
			return c
		}
	}
	return nil
}

func (e *Engine) newNamespaceLocked(name string, parent *Namespace) *Namespace {
	n := &Namespace{e: e, name: name, parent: parent}
	n.hooks = &nsHooks{}
	if parent != nil {
		n.hooks = parent.hooks
	}
	n.hookExec = newExecutor(hookQueue, &e.wg)
	n.stopped = make(chan struct{})
	n.pid = e.system.Root.Spawn(actors.NamespaceProps(n.actorHooks(), &e.live))
	e.nsps[name] = n
	return n
}

// acceptor is the engine as the transport front-ends see it (transport.Acceptor); a distinct type keeps
// Open out of Engine's API.
type acceptor Engine

// Open starts one session per connection.
func (a *acceptor) Open(c transport.Conn) transport.Session {
	e := (*Engine)(a)
	s := &session{e: e, conn: c}
	if rl := e.cfg.RateLimit; !rl.Disabled {
		s.events = rate.NewLimiter(rate.Limit(rl.Events), rl.Burst)
		s.bytes = rate.NewLimiter(rate.Limit(rl.Bytes), rl.ByteBurst)
	}
	e.mu.Lock()
	e.sessions[s] = struct{}{}
	e.mu.Unlock()
	e.conns.Add(1)
	if obs := e.observing(); len(obs) > 0 {
		tr := connTransport(s)
		for _, o := range obs {
			if o.ConnOpened != nil {
				o.ConnOpened(tr)
			}
		}
	}
	// Before the front-end has the session: nothing else reads the timer yet.
	s.connectTimer = time.AfterFunc(e.cfg.ConnectTimeout, s.connectTimeout)
	return s
}

// forget drops a closed session, once.
func (e *Engine) forget(s *session, reason string) {
	e.mu.Lock()
	_, ok := e.sessions[s]
	delete(e.sessions, s)
	e.mu.Unlock()
	if !ok {
		return
	}
	e.conns.Add(-1)
	e.ctr.closed(reason)
	if obs := e.observing(); len(obs) > 0 {
		tr := connTransport(s)
		for _, o := range obs {
			if o.ConnClosed != nil {
				o.ConnClosed(tr, reason)
			}
		}
	}
}

func newSID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Lookup returns the existing namespace called name ("" means "/"), or nil. Unlike Of it never creates
// one.
func (e *Engine) Lookup(name string) *Namespace {
	if name == "" {
		name = "/"
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.nsps[name]
}
