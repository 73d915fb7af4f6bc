package engine

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/wire"
)

// session is the engine's side of one connection: its sockets, one per connected namespace.
type session struct {
	e    *Engine
	conn transport.Conn

	// Rate limits (nil when disabled), used by the reader only.
	events, bytes  *rate.Limiter
	throttledSince time.Time     // start of the current rate-limit period; zero before the first wait
	waited         time.Duration // the waits imposed in that period

	mu sync.Mutex
	// sockets holds one socket per connected namespace: a slice, as a connection rarely joins more
	// than a few namespaces (and a map of one entry is several times the size of its entry).
	sockets       []*Socket
	closed        bool
	everConnected bool
	// connectTimer closes the connection if no namespace is connected in time; nil once one is, or
	// once the session has closed (a stopped timer still holds ~0.1 KB). Set by Open, before the
	// front-end has the session.
	connectTimer *time.Timer
}

func (s *session) errorPacket(ns string, code uint32, msg string) {
	s.conn.Send(&packet.Packet{Kind: packet.KindError, Namespace: ns, Code: code, Message: msg})
}

func (s *session) socket(ns string) *Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socketLocked(ns)
}

func (s *session) socketLocked(ns string) *Socket {
	for _, sock := range s.sockets {
		if sock.ns.name == ns {
			return sock
		}
	}
	return nil
}

// Packet implements transport.Session.
func (s *session) Packet(p *packet.Packet) {
	if !s.throttle(p) {
		return
	}
	if p.Namespace == "" {
		p.Namespace = "/"
	}
	switch p.Kind {
	case packet.KindConnect:
		s.connect(p)
	case packet.KindEvent:
		s.e.ctr.eventsIn.Add(1)
		sock := s.socket(p.Namespace)
		if sock == nil {
			s.errorPacket(p.Namespace, wire.ErrCodeNotConnected, "not connected to namespace")
			return
		}
		if p.Name == "" || reserved[p.Name] {
			s.errorPacket(p.Namespace, wire.ErrCodeInvalid, "invalid or reserved event name")
			return
		}
		if p.Name == RefreshEvent && s.e.cfg.Auth.Authenticator != nil {
			sock.exec.submit(func() { sock.refresh(p) })
			return
		}
		sock.exec.submit(func() { sock.handleEvent(p) })
	case packet.KindRoomMessage:
		sock := s.socket(p.Namespace)
		if sock == nil {
			s.conn.Send(&packet.Packet{Kind: packet.KindError, Namespace: p.Namespace, Code: wire.ErrCodeNotConnected, Message: "not connected to namespace", AckID: p.AckID})
			return
		}
		sock.exec.submit(func() { sock.roomFrame(p) })
	case packet.KindAck:
		sock := s.socket(p.Namespace)
		if sock == nil {
			s.errorPacket(p.Namespace, wire.ErrCodeNotConnected, "not connected to namespace")
			return
		}
		fn := sock.takeAck(p.AckID)
		if fn == nil {
			s.errorPacket(p.Namespace, wire.ErrCodeUnknownAck, "unknown ack id")
			return
		}
		fn(argsOut(p.Args), nil)
	case packet.KindDisconnect:
		sock := s.socket(p.Namespace)
		if sock == nil {
			s.errorPacket(p.Namespace, wire.ErrCodeNotConnected, "not connected to namespace")
			return
		}
		sock.teardown(transport.ReasonClientDisconnect)
	}
}

// throttle makes the reader wait for p's tokens (Config.RateLimit). A period of CloseAfter starts at the
// first packet that has to wait; a client whose packets waited half of that period or more (one that
// sends at twice its rate or more, sustained) is closed with CloseRateLimited at its end, and throttle
// reports false. Measuring the wait, not its mere occurrence, keeps a client that sends at its rate
// (and now and then waits a token) from being closed.
func (s *session) throttle(p *packet.Packet) bool {
	if s.events == nil {
		return true
	}
	now := time.Now()
	n := min(packetBytes(p), s.bytes.Burst())
	d := max(s.events.ReserveN(now, 1).DelayFrom(now), s.bytes.ReserveN(now, n).DelayFrom(now))
	if d <= 0 {
		return true
	}
	s.e.rateLimited.Add(1)
	closeAfter := s.e.cfg.RateLimit.CloseAfter
	if s.throttledSince.IsZero() {
		s.throttledSince, s.waited = now, 0
	}
	s.waited += d
	if now.Sub(s.throttledSince) >= closeAfter {
		if s.waited >= closeAfter/2 {
			s.e.rateClosed.Add(1)
			s.e.log.Warn("client closed: rate limited", "conn", s.conn.ID(), "remote_addr", s.conn.Handshake().RemoteAddr)
			s.conn.Close(transport.CloseRateLimited, transport.ReasonRateLimited)
			return false
		}
		s.throttledSince, s.waited = now, d // a new period
	}
	// The wait is at most one reservation's worth (ByteBurst/Bytes at worst); Closed cannot come during
	// it, since the reader that would report it is the one waiting.
	time.Sleep(d)
	return true
}

func (s *session) connect(p *packet.Packet) {
	n := s.e.lookup(p.Namespace)
	if n == nil {
		s.e.ctr.connectErrors[refusedNamespace].Add(1)
		s.conn.Send(&packet.Packet{Kind: packet.KindConnectError, Namespace: p.Namespace, Message: "Invalid namespace"})
		return
	}
	sock := &Socket{
		id:   s.e.newSocketID(),
		ns:   n,
		sess: s,
		exec: newExecutor(s.e.cfg.EventQueueSize, &s.e.wg),
		auth: p.Data,
	}
	if p.PID != "" { // a native Connect's resume token and offset (Socket.IO's travel inside Auth)
		sock.presented = &presentedSession{pid: p.PID, offset: p.Offset, hasOffset: p.Offset != ""}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.socketLocked(p.Namespace) != nil {
		s.mu.Unlock()
		s.errorPacket(p.Namespace, wire.ErrCodeAlreadyConnected, "already connected to namespace")
		return
	}
	s.sockets = append(s.sockets, sock)
	s.mu.Unlock()
	sock.exec.submit(sock.connect)
}

func (s *session) remove(sock *Socket) {
	s.mu.Lock()
	if i := slices.Index(s.sockets, sock); i >= 0 {
		s.sockets = slices.Delete(s.sockets, i, i+1)
	}
	s.mu.Unlock()
}

func (s *session) connected() {
	s.mu.Lock()
	s.everConnected = true
	s.stopConnectTimerLocked()
	s.mu.Unlock()
}

// stopConnectTimerLocked stops the connect timer and lets it go. The caller holds s.mu.
func (s *session) stopConnectTimerLocked() {
	if s.connectTimer != nil {
		s.connectTimer.Stop()
		s.connectTimer = nil
	}
}

func (s *session) connectTimeout() {
	s.mu.Lock()
	expired := !s.everConnected && !s.closed
	s.mu.Unlock()
	if expired {
		s.conn.Close(transport.CloseConnectTimeout, transport.ReasonConnectTimeout)
	}
}

// Closed implements transport.Session.
func (s *session) Closed(reason string) {
	s.mu.Lock()
	s.stopConnectTimerLocked()
	s.closed = true
	socks := slices.Clone(s.sockets)
	s.mu.Unlock()
	for _, sock := range socks {
		sock.teardown(reason)
	}
	s.e.forget(s, reason)
}
