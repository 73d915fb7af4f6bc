package engine

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
)

// RecoveryConfig configures connection state recovery (Socket.IO 4.6's connectionStateRecovery): a
// socket whose connection drops without the client asking for it stays in its rooms for a while,
// detached, keeping what is sent to it; a client that reconnects within that time with the private
// session id and the offset of the last packet it saw gets the same socket id, rooms and data back,
// and every packet it missed, before the connect reply.
//
// Socket.IO clients present the session in their CONNECT's auth ({"pid","offset"}), native clients in
// their Connect's resume token and offset (docs/protocol.md). The zero value is off.
type RecoveryConfig struct {
	// Enabled turns recovery on: connect replies carry a private session id ("pid"), and every event
	// sent without an ack and not volatile carries an offset (Socket.IO: as its last argument).
	Enabled bool
	// MaxDisconnection is how long a detached socket waits for its client. Zero means 2 minutes.
	MaxDisconnection time.Duration
	// RunMiddlewares runs the connect middlewares (Use) for a recovered socket too. By default they are
	// skipped, as in Socket.IO (skipMiddlewares: true): the socket was admitted before.
	RunMiddlewares bool
	// MaxBuffered bounds the packets kept per socket: the last ones sent while connected (those a dying
	// connection may not have delivered) and, separately, those sent to it while detached. A detached
	// socket past the bound is dropped (RecoveryStats.Overflowed) and its client gets a fresh socket.
	// Zero means 256.
	MaxBuffered int
	// MaxDetached bounds the detached sockets of the engine; a socket losing its connection when the
	// bound is reached is disconnected for good (RecoveryStats.Full). Zero means 10000.
	MaxDetached int
}

func (c RecoveryConfig) withDefaults() RecoveryConfig {
	if c.MaxDisconnection <= 0 {
		c.MaxDisconnection = 2 * time.Minute
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 256
	}
	if c.MaxDetached <= 0 {
		c.MaxDetached = 10000
	}
	return c
}

// RecoveryStats counts connection state recovery on this node since the engine started.
type RecoveryStats struct {
	Detached   int64 `json:"detached"`   // sockets detached now, waiting for their client
	Recovered  int64 `json:"recovered"`  // sockets recovered by their client
	Refused    int64 `json:"refused"`    // recovery attempts answered with a fresh socket
	Expired    int64 `json:"expired"`    // detached sockets dropped after MaxDisconnection
	Overflowed int64 `json:"overflowed"` // detached sockets dropped because their buffer was full
	Full       int64 `json:"full"`       // sockets not detached because MaxDetached was reached
	HandedOver int64 `json:"handedOver"` // detached sockets handed over to another node, whose client reconnected there
}

// RecoveryStats returns the recovery counters; all zero when recovery is off.
func (e *Engine) RecoveryStats() RecoveryStats {
	r := e.rec
	if r == nil {
		return RecoveryStats{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Detached = int64(len(r.detached))
	return st
}

// recoverable lists the disconnect reasons after which a socket is kept for its client: the ones the
// client did not ask for, as in Socket.IO.
var recoverable = map[string]bool{
	transport.ReasonTransportClose: true,
	transport.ReasonTransportError: true,
	transport.ReasonPingTimeout:    true,
	transport.ReasonShuttingDown:   true,
	transport.ReasonForcedClose:    true,
	"forced close":                 true,
}

// recovery is the engine's registry of detached sockets (nil when recovery is off).
type recovery struct {
	e   *Engine
	cfg RecoveryConfig
	seq atomic.Uint64 // the last offset handed out

	mu       sync.Mutex
	detached map[string]*lifeline // by private session id
	stats    RecoveryStats
	closed   bool
}

func newRecovery(e *Engine, cfg RecoveryConfig) *recovery {
	if !cfg.Enabled {
		return nil
	}
	r := &recovery{e: e, cfg: cfg.withDefaults(), detached: make(map[string]*lifeline)}
	// Offsets start at a random point: an offset names a packet within one socket's log only, and a
	// random start keeps two nodes' offsets apart in a log that moved between them.
	var b [8]byte
	rand.Read(b[:])
	r.seq.Store(binary.LittleEndian.Uint64(b[:]) >> 24)
	return r
}

// stamp gives p an offset when it is recoverable: an event without an ack that is not volatile.
func (r *recovery) stamp(p *packet.Packet) {
	if r != nil && p.Kind == packet.KindEvent && p.AckID == 0 && !p.Volatile {
		p.Offset = strconv.FormatUint(r.seq.Add(1), 36)
	}
}

// lifeline is the part of a socket that outlives its connection when recovery is on: its ids, its actor,
// and the log of recoverable packets. The socket's actor sees it as its Outbox and its Handle, so every
// packet for the socket passes here, whether a connection is attached or not.
type lifeline struct {
	r   *recovery
	ns  *Namespace
	id  string
	pid string // private session id

	mu   sync.Mutex
	sock *Socket // the attached socket; nil while detached
	// conn is sock's connection (sock.sess.conn), nil while detached: a fan-out's send reads it here,
	// where it would otherwise follow two more pointers, each a cache miss in a large room.
	conn  transport.Conn
	actor *actor.PID // set once the socket actor exists
	// While attached, log is a ring of the last MaxBuffered recoverable packets sent (next is the
	// oldest's index once it is full); while detached it is in order, the first attachedN of them sent
	// before the detach. complete means no packet ever fell out of the ring.
	log        []*packet.Packet
	next       int
	attachedN  int
	complete   bool
	dropped    bool
	detachedAt time.Time
	timer      *time.Timer
	data       any // the detached socket's data
	// given is set for a socket another node handed over (recovery_cluster.go), nil otherwise.
	given *handedOver
}

// handedOver holds, until until, the offsets of the packets another node handed over with a socket: a
// copy of one of them may still reach this node afterwards, and is dropped.
type handedOver struct {
	offsets map[string]struct{}
	until   time.Time
}

// newLifeline returns the lifeline of a new socket s (not yet connected: attached, without an actor).
func (r *recovery) newLifeline(ns *Namespace, id string, s *Socket) *lifeline {
	return &lifeline{r: r, ns: ns, id: id, pid: r.newPID(), sock: s, conn: s.sess.conn, complete: true}
}

// setActor records the socket actor, once spawned: from then on the socket can be detached.
func (l *lifeline) setActor(pid *actor.PID) {
	l.mu.Lock()
	l.actor = pid
	if l.dropped { // dropped before its actor was known (a handover's buffer overflowed)
		l.closeActorLocked()
	}
	l.mu.Unlock()
}

// closeActorLocked tells the lifeline's actor to leave its rooms and stop. l.mu is held.
func (l *lifeline) closeActorLocked() {
	if l.actor != nil {
		l.r.e.system.Root.Send(l.actor, &actors.CloseSocket{})
		l.r.e.releaseSID(l.ns.name, l.id)
	}
}

// lifePID returns the private session id the connect reply carries; "" when recovery is off.
func (s *Socket) lifePID() string {
	if s.life == nil {
		return ""
	}
	return s.life.pid
}

// abandon drops a claimed lifeline that s will not take after all (refused by a middleware, or its
// connection closed while it connected).
func (l *lifeline) abandon(s *Socket) {
	l.mu.Lock()
	if l.sock == nil || l.sock == s {
		l.sock, l.conn = nil, nil
		l.dropLocked(nil)
	}
	l.mu.Unlock()
}

// resume connects s, which claimed its lifeline, as the recovered socket: the replay and the connect
// reply, then the connection handlers. It reports false when the lifeline was dropped meanwhile.
//
// The socket's lock is held from before the replay until the socket is connected: the client may have
// its connect reply, and close its connection, before resume returns, and the teardown that follows
// (which takes the lock) must find the socket connected, so that it detaches it again for the client
// rather than dropping it.
func (s *Socket) resume(hs []func(*Socket), from int) bool {
	l := s.life
	s.mu.Lock()
	if s.state.Load() != sockConnecting {
		s.mu.Unlock()
		l.abandon(s) // the connection went away while connecting
		return true
	}
	data, ok := l.resume(s, from)
	if !ok {
		s.mu.Unlock()
		return false
	}
	s.state.Store(sockConnected) // teardown, the only other writer, waits for s.mu
	s.pid = l.actor
	s.data = data
	s.mu.Unlock()
	s.sess.connected()
	s.connected(hs)
	return true
}

// Send implements actors.Outbox: to the attached connection (recorded in the ring when recoverable), or
// into the buffer while detached. Holding mu while sending orders every packet after a replay; Conn.Send
// does not block and never calls back into the session.
func (l *lifeline) Send(p *packet.Packet) error { return l.send(p, false) }

// SendNow implements actors.Outbox's variant for a small fan-out (transport.NowSender).
func (l *lifeline) SendNow(p *packet.Packet) error { return l.send(p, true) }

func (l *lifeline) send(p *packet.Packet, now bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.given != nil && p.Offset != "" {
		if time.Now().After(l.given.until) {
			l.given = nil
		} else if _, dup := l.given.offsets[p.Offset]; dup {
			return nil
		}
	}
	if l.sock == nil {
		if l.dropped || p.Offset == "" {
			return nil // not recoverable: lost, as for a disconnected socket
		}
		if len(l.log)-l.attachedN >= l.r.cfg.MaxBuffered {
			l.dropLocked(func(st *RecoveryStats) { st.Overflowed++ })
			return nil
		}
		l.log = append(l.log, p)
		return nil
	}
	if p.Offset != "" {
		l.record(p)
	}
	conn := l.conn
	if now {
		if ns, ok := conn.(transport.NowSender); ok {
			return ns.SendNow(p)
		}
	}
	return conn.Send(p)
}

// record adds p to the ring of sent packets.
func (l *lifeline) record(p *packet.Packet) {
	max := l.r.cfg.MaxBuffered
	if len(l.log) < max {
		l.log = append(l.log, p)
		return
	}
	l.log[l.next] = p
	l.next = (l.next + 1) % max
	l.complete = false
}

// ExpectAck implements actors.Handle.
func (l *lifeline) ExpectAck(id uint64, fn func([]packet.Arg, error)) {
	l.mu.Lock()
	s := l.sock
	l.mu.Unlock()
	if s == nil {
		fn(nil, ErrDisconnected)
		return
	}
	(*actorHandle)(s).ExpectAck(id, fn)
}

// CancelAck implements actors.Handle.
func (l *lifeline) CancelAck(id uint64) {
	if s := l.attached(); s != nil {
		s.cancelAck(id)
	}
}

// ForceDisconnect implements actors.Handle: a detached socket is dropped.
func (l *lifeline) ForceDisconnect(close bool) {
	if s := l.attached(); s != nil {
		s.Disconnect(close)
		return
	}
	l.mu.Lock()
	if l.sock == nil {
		l.dropLocked(nil)
	}
	l.mu.Unlock()
}

// attachedConn returns the attached socket's connection; nil while detached.
func (l *lifeline) attachedConn() transport.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

func (l *lifeline) attached() *Socket {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sock
}

// localSocket returns the socket behind a SocketInfo.Ref of this node; nil for a detached one, which
// FetchSockets does not report (its client is away, as in Socket.IO).
func localSocket(ref any) *Socket {
	switch h := ref.(type) {
	case *actorHandle:
		return h.socket()
	case *lifeline:
		return h.attached()
	}
	return nil
}

// detach keeps s's actor for its client when reason allows it and there is room; it reports whether it
// did, in which case the caller must not close the actor. s.mu is held.
func (l *lifeline) detach(s *Socket, reason string) bool {
	r := l.r
	if !recoverable[reason] || r.e.state.Load() != stateRunning {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sock != s || l.actor == nil {
		return false
	}
	r.mu.Lock()
	if r.closed || len(r.detached) >= r.cfg.MaxDetached {
		if !r.closed {
			r.stats.Full++
		}
		r.mu.Unlock()
		return false
	}
	r.detached[l.pid] = l
	r.mu.Unlock()
	l.sock, l.conn = nil, nil
	l.data = s.data
	l.detachedAt = time.Now()
	// The ring, oldest first, becomes the start of the buffer.
	if len(l.log) == r.cfg.MaxBuffered && l.next > 0 {
		l.log = append(append(make([]*packet.Packet, 0, len(l.log)), l.log[l.next:]...), l.log[:l.next]...)
	}
	l.next = 0
	l.attachedN = len(l.log)
	l.timer = time.AfterFunc(r.cfg.MaxDisconnection, l.expire)
	return true
}

func (l *lifeline) expire() {
	l.mu.Lock()
	if l.sock == nil {
		l.dropLocked(func(st *RecoveryStats) { st.Expired++ })
	}
	l.mu.Unlock()
}

// dropLocked ends a detached socket for good: its actor leaves its rooms and stops. l.mu is held.
func (l *lifeline) dropLocked(count func(*RecoveryStats)) {
	if l.dropped {
		return
	}
	l.dropped = true
	l.log = nil
	if l.timer != nil {
		l.timer.Stop()
	}
	r := l.r
	r.mu.Lock()
	if r.detached[l.pid] == l {
		delete(r.detached, l.pid)
	}
	if count != nil {
		count(&r.stats)
	}
	r.mu.Unlock()
	l.closeActorLocked()
}

// parse reads the session a Socket.IO client presents in its CONNECT payload ({"pid", "offset"}); false
// when it presents none (a malformed offset is counted as refused).
func (r *recovery) parse(auth []byte) (presentedSession, bool) {
	var ps presentedSession
	if len(auth) == 0 {
		return ps, false
	}
	var m struct {
		PID    json.RawMessage `json:"pid"`
		Offset json.RawMessage `json:"offset"`
	}
	if json.Unmarshal(auth, &m) != nil || len(m.PID) == 0 || m.PID[0] != '"' {
		return ps, false
	}
	if json.Unmarshal(m.PID, &ps.pid) != nil || ps.pid == "" {
		return ps, false
	}
	ps.hasOffset = len(m.Offset) > 0 && string(m.Offset) != "null"
	if ps.hasOffset && (m.Offset[0] != '"' || json.Unmarshal(m.Offset, &ps.offset) != nil) {
		r.refused()
		return ps, false
	}
	return ps, true
}

// presentedSession is the session a connecting client presents: its private session id and, when it
// received a recoverable packet, the offset of the last one.
type presentedSession struct {
	pid       string
	offset    string
	hasOffset bool
}

// claimSession looks for the session a connecting client presents in this node's registry. It returns
// the detached lifeline and the index in its log from which to replay, or nil: unknown, expired,
// another namespace's, or an offset the log does not hold. A found session is taken out of the registry
// at once, so only one of two clients presenting it can have it; when the offset does not fit, it is
// dropped.
func (r *recovery) claimSession(ns *Namespace, ps presentedSession) (*lifeline, int) {
	pid, offset, hasOffset := ps.pid, ps.offset, ps.hasOffset
	r.mu.Lock()
	l := r.detached[pid]
	if l == nil || l.ns != ns {
		r.stats.Refused++
		r.mu.Unlock()
		return nil, 0
	}
	delete(r.detached, pid)
	r.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped {
		r.refused()
		return nil, 0
	}
	if time.Since(l.detachedAt) > r.cfg.MaxDisconnection {
		l.dropLocked(func(st *RecoveryStats) { st.Expired++; st.Refused++ })
		return nil, 0
	}
	from := -1
	switch {
	case hasOffset:
		for i := len(l.log) - 1; i >= 0; i-- {
			if l.log[i].Offset == offset {
				from = i + 1
				break
			}
		}
	case l.complete:
		// A client that saw no recoverable packet at all: everything, if nothing fell out of the ring.
		// (The reference server refuses a session without an offset.)
		from = 0
	}
	if from < 0 {
		l.dropLocked(func(st *RecoveryStats) { st.Refused++ })
		return nil, 0
	}
	l.timer.Stop()
	return l, from
}

func (r *recovery) refused() {
	r.mu.Lock()
	r.stats.Refused++
	r.mu.Unlock()
}

// resume attaches a claimed lifeline to s, which runs its connect in its executor: the missed packets
// (log[from:] and whatever arrived since the claim), then the connect reply, go out before any new
// packet. It returns the socket's data. It reports false when the session was dropped meanwhile (its
// buffer overflowed): the caller connects s as a fresh socket.
func (l *lifeline) resume(s *Socket, from int) (any, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped {
		return nil, false
	}
	conn := s.sess.conn
	for _, p := range l.log[from:] {
		conn.Send(p)
	}
	conn.Send(&packet.Packet{Kind: packet.KindConnected, Namespace: s.ns.name, SID: l.id, PID: l.pid})
	// Everything that was in the log may still be asked for by a client that loses this connection
	// too: keep the newest MaxBuffered as the ring.
	max := l.r.cfg.MaxBuffered
	if n := len(l.log); n > max {
		l.log = append(make([]*packet.Packet, 0, max), l.log[n-max:]...)
		l.complete = false
	}
	l.next, l.attachedN = 0, 0
	l.sock, l.conn = s, conn
	data := l.data
	l.data = nil
	r := l.r
	r.mu.Lock()
	r.stats.Recovered++
	r.mu.Unlock()
	return data, true
}

// shutdown drops every detached socket; later disconnects are not kept.
func (r *recovery) shutdown() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	ls := make([]*lifeline, 0, len(r.detached))
	for _, l := range r.detached {
		ls = append(ls, l)
	}
	r.mu.Unlock()
	if lk := r.e.link; lk != nil {
		// Sessions claimed by another node and not taken yet (recovery_cluster.go).
		lk.mu.Lock()
		for k, h := range lk.handovers {
			h.timer.Stop()
			ls = append(ls, h.l)
			delete(lk.handovers, k)
		}
		lk.mu.Unlock()
	}
	for _, l := range ls {
		l.mu.Lock()
		l.dropLocked(nil)
		l.mu.Unlock()
	}
}
