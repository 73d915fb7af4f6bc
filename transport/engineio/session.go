package engineio

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
)

// Handler receives one session's messages. Its methods are called serially, never concurrently, and
// must not block for long (hand work to another goroutine): a session's next packet waits for them.
type Handler interface {
	// OnMessage handles the payload of one message packet: for text, the packet without its type digit
	// "4"; for binary, the bytes. Calls come in the order the client sent the messages. The handler may
	// keep data: the session does not reuse it.
	OnMessage(data []byte, binary bool)
	// OnClose is called once, after every OnMessage call has returned, when the session has ended. reason
	// is one of "transport close" (the client closed), "transport error", "ping timeout", "server shutting
	// down", "parse error", "slow client", or the reason given to Session.Close.
	OnClose(reason string)
}

// closeKind says how a session ends.
type closeKind int

const (
	// closeGraceful delivers what is queued, then the close packet.
	closeGraceful closeKind = iota + 1
	// closeAbort drops what is queued; a pending poll gets the close packet, a WebSocket a close frame.
	closeAbort
	// closeByClient follows the client's close packet: a pending poll ends with a noop.
	closeByClient
)

// Session is one Engine.IO session: its queue of frames to send, its heartbeat and its current transport
// (long-polling or WebSocket). Its methods are safe for concurrent use.
//
// An idle WebSocket session has one goroutine: its reader. The heartbeat runs on a timer, the writer is
// started by the push that finds the queue idle and ends when it has written everything (see wsWriter),
// and the teardown gets a goroutine once the session closes. A long-polling session has none between
// requests. Lock order: dispatchMu (held during Handler calls, which may call any Session method), then
// mu, then Server.mu; hbMu is taken alone.
type Session struct {
	id    string
	srv   *Server
	hs    transport.KeptHandshake
	queue *transport.Queue[Frame]
	// aborted (closing without delivering what is queued) sits beside queue: a delivery reads both, and
	// in a large room's fan-out each cache line of the session it touches is a miss.
	aborted atomic.Bool
	closing atomic.Bool
	meter   *transport.MeterShard // nil without Options.Meter
	// release uncounts the session from its address's connections (Options.AddrLimit), once.
	release func()

	handler    Handler
	dispatchMu sync.Mutex // serialises Handler calls
	ended      bool       // OnClose was called; guarded by dispatchMu

	closeOnce sync.Once
	gone      atomic.Bool // requests for this sid are answered "Session ID unknown"

	mu          sync.Mutex
	live        bool   // registered by Server.open: closing starts the teardown
	tr          string // current transport
	closeReason string
	closeKind   closeKind
	closeCode   websocket.StatusCode
	// Long-polling state.
	getActive  bool
	getCancel  context.CancelCauseFunc // ends the pending GET's wait, with a pollEnd cause
	getDone    chan struct{}           // closed when the pending GET has answered
	postActive bool
	// drained is made by a teardown that waits for it, and closed (see drainedDone) when a poll has
	// delivered the close packet.
	drained     chan struct{}
	drainedDone bool
	// WebSocket state.
	probing   bool          // a WebSocket is connected for an upgrade and not yet confirmed
	upgrading bool          // that WebSocket sent the probe: polls end at once, with a noop
	probeConn *probeConn    // that WebSocket's connection, once its handshake is answered
	probeStop func()        // ends that WebSocket's upgrade reads: called when the session starts closing
	step      chan struct{} // closed (and replaced) when the upgrade moves on: see stepUpgrade
	held      int           // polls waiting for the upgrade to move on
	wsDone    chan struct{} // closed when the active WebSocket's reader and writer have returned

	// Heartbeat, guarded by hbMu. The deadline follows the planned schedule, not the timer's actual
	// firing, so a request that arrives after it is refused however late the timer runs; only a POST,
	// which may carry the pong, gets the full PingTimeout from the moment a late ping went out.
	hbMu     sync.Mutex
	nextPing time.Time   // when the current cycle's ping is (or was) due
	deadline time.Time   // the pong is due by then: nextPing+PingTimeout
	pingSent time.Time   // when the current cycle's ping went out
	awaiting bool        // the ping went out and no pong came back yet
	hbTimer  *time.Timer // runs beat; stopped (and never re-armed) once the session is closing
}

// logger returns the session's logger. It is built when a session logs, which is rare (a misbehaving
// client, a timeout), rather than kept: a logger with attributes costs a few hundred bytes per session.
func (s *Session) logger() *slog.Logger {
	return s.srv.opts.Logger.With("component", "engineio", "sid", s.id)
}

// ID returns the session ID (the sid query parameter).
func (s *Session) ID() string { return s.id }

// Handshake returns the opening request's details.
func (s *Session) Handshake() transport.Handshake { return s.hs.Handshake() }

// Transport returns the current transport: "polling" or "websocket".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tr
}

// SetHandler sets the Handler that receives the session's messages. Call it from Options.OnSession.
func (s *Session) SetHandler(h Handler) { s.handler = h }

// SendFrames queues frames for the client, all of them or none (a message and its binary attachments).
// A volatile group that does not fit in the queue is dropped silently; any other group that does not fit
// closes the session with "slow client" and returns transport.ErrSlowClient. After the session started
// closing it returns transport.ErrClosed. It never blocks.
func (s *Session) SendFrames(volatile bool, frames ...Frame) error {
	return s.sendFrames(volatile, false, frames)
}

// Hold holds the session's writes until Release (transport.Queue.Hold).
func (s *Session) Hold() { s.queue.Hold() }

// Release ends a Hold (transport.Queue.Release).
func (s *Session) Release() { s.queue.Release() }

// SendFramesNow is SendFrames for the frames of a small fan-out (transport.Queue.PushGroupNow).
func (s *Session) SendFramesNow(volatile bool, frames ...Frame) error {
	return s.sendFrames(volatile, true, frames)
}

func (s *Session) sendFrames(volatile, now bool, frames []Frame) error {
	if len(frames) == 0 {
		return nil
	}
	var ok, overflow bool
	if now {
		ok, overflow = s.queue.PushGroupNow(frames, volatile)
	} else {
		ok, overflow = s.queue.PushGroup(frames, volatile)
	}
	if overflow {
		s.overflowed()
		return transport.ErrSlowClient
	}
	if !ok {
		return transport.ErrClosed
	}
	return nil
}

// SendMessage queues one message packet: text data becomes "4"+data. It is SendFrames(false, …).
func (s *Session) SendMessage(data []byte, binary bool) error {
	if !binary {
		b := make([]byte, 0, len(data)+1)
		data = append(append(b, PacketMessage), data...)
	}
	return s.SendFrames(false, Frame{Data: data, Binary: binary})
}

// Close ends the session: frames already queued are delivered, then the close packet; Handler.OnClose(reason)
// follows. It does not block.
func (s *Session) Close(reason string) {
	s.closeWith(reason, closeGraceful, transport.CloseNormal)
}

// overflowed closes the session after its queue overflowed (the queue has already refused everything).
func (s *Session) overflowed() {
	if !s.closing.Load() {
		s.logger().Warn("slow client disconnected", "remote_addr", s.hs.RemoteAddr())
	}
	s.closeWith(transport.ReasonSlowClient, closeAbort, transport.CloseSlowClient)
}

// closeWith starts closing the session; the first call wins. code is the WebSocket close code.
func (s *Session) closeWith(reason string, kind closeKind, code int) {
	s.closeOnce.Do(func() {
		if kind == closeGraceful {
			if ok, _ := s.queue.Push(Frame{Data: []byte{PacketClose}}, false); !ok {
				kind = closeAbort // the queue overflowed (or had): nothing more will be delivered
			}
		}
		s.mu.Lock()
		s.closeReason, s.closeKind, s.closeCode = reason, kind, websocket.StatusCode(code)
		s.aborted.Store(kind != closeGraceful)
		s.closing.Store(true)
		switch {
		case kind == closeAbort:
			// A pending poll ends with the close packet; later requests are refused.
			s.gone.Store(true)
			if s.getCancel != nil {
				s.getCancel(pollEndClose)
			}
		case kind == closeByClient && s.getCancel != nil:
			// A pending poll ends with a noop, as in the reference server's polling transport; it is the
			// last one. Without a pending poll, the next one gets the noop (see teardown).
			s.gone.Store(true)
			s.getCancel(pollEndNoop)
			s.markDrained()
		}
		if s.probeStop != nil {
			s.probeStop()
		}
		live := s.live
		s.mu.Unlock()
		s.queue.Shut()
		s.hbMu.Lock()
		if s.hbTimer != nil {
			s.hbTimer.Stop()
		}
		s.hbMu.Unlock()
		if live {
			go s.teardown() // Server.open counted it in the server's WaitGroup
		}
	})
}

// stepUpgrade wakes the polls that wait for the upgrade to move on. The caller holds s.mu.
func (s *Session) stepUpgrade() {
	if s.step != nil {
		close(s.step)
	}
	s.step = make(chan struct{})
}

// addressable reports whether requests may still reach the session.
func (s *Session) addressable() bool { return !s.gone.Load() }

// isClosing reports whether the session started closing.
func (s *Session) isClosing() bool { return s.closing.Load() }

// dispatch hands one message to the handler unless the session is closing.
func (s *Session) dispatch(data []byte, binary bool) {
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock()
	if s.ended || s.closing.Load() {
		return
	}
	s.handler.OnMessage(data, binary)
}

// onPong handles the client's pong: the next ping is due an interval from now.
func (s *Session) onPong() {
	s.hbMu.Lock()
	if s.awaiting {
		s.awaiting = false
		s.arm(time.Now())
		if s.hbTimer != nil && !s.isClosing() {
			s.hbTimer.Reset(s.srv.opts.PingInterval)
		}
	}
	s.hbMu.Unlock()
}

// lateDeadline is when the heartbeat gives up waiting for the pong: the planned deadline, or PingTimeout after
// the ping went out if it went out late. The caller holds hbMu.
func (s *Session) lateDeadline() time.Time {
	if d := s.pingSent.Add(s.srv.opts.PingTimeout); d.After(s.deadline) {
		return d
	}
	return s.deadline
}

// arm starts a heartbeat cycle at now: the next ping is due an interval later. The caller holds hbMu.
func (s *Session) arm(now time.Time) {
	s.nextPing = now.Add(s.srv.opts.PingInterval)
	s.deadline = s.nextPing.Add(s.srv.opts.PingTimeout)
}

// pingExpired closes the session with "ping timeout" and reports true when the pong deadline passed. The
// HTTP handlers call it on each request, so the deadline holds even when the timer fires late; mayPong
// tells that the request may carry the pong (a POST).
func (s *Session) pingExpired(mayPong bool) bool {
	s.hbMu.Lock()
	now := time.Now()
	expired := !now.Before(s.deadline) && !(mayPong && s.awaiting && now.Before(s.lateDeadline()))
	s.hbMu.Unlock()
	if expired && !s.isClosing() {
		s.logger().Debug("ping timeout (request after the deadline)")
		s.closeWith(transport.ReasonPingTimeout, closeAbort, transport.ClosePingTimeout)
		return true
	}
	return s.gone.Load()
}

// beat runs on the heartbeat timer: it sends the ping when it is due, closes the session with "ping
// timeout" when the pong is overdue, and re-arms the timer for whichever comes next. It recomputes
// everything from the schedule, so a firing that crosses a pong (which re-arms the timer too) is
// harmless.
func (s *Session) beat() {
	now := time.Now()
	s.hbMu.Lock()
	if s.isClosing() {
		s.hbMu.Unlock()
		return
	}
	deadline := s.lateDeadline()
	sendPing := false
	var wait time.Duration
	switch {
	case s.awaiting && !now.Before(deadline):
		s.hbMu.Unlock()
		s.logger().Debug("ping timeout")
		s.closeWith(transport.ReasonPingTimeout, closeAbort, transport.ClosePingTimeout)
		return
	case s.awaiting:
		wait = deadline.Sub(now)
	case !now.Before(s.nextPing):
		s.awaiting, sendPing = true, true
		s.pingSent = now
		wait = s.lateDeadline().Sub(now)
	default:
		wait = s.nextPing.Sub(now)
	}
	s.hbTimer.Reset(wait)
	s.hbMu.Unlock()
	if sendPing {
		// An overflow closes the session; the error needs no other handling here.
		_ = s.SendFrames(false, Frame{Data: []byte{PacketPing}})
	}
}

// teardown runs once the session is closing, in a goroutine of its own counted in the server's
// WaitGroup since Server.open: it waits until the transports have delivered what they should (bounded),
// removes the session and calls OnClose.
func (s *Session) teardown() {
	defer s.srv.wg.Done()
	s.mu.Lock()
	kind, tr, reason := s.closeKind, s.tr, s.closeReason
	s.mu.Unlock()
	if tr == TransportPolling && kind == closeGraceful {
		// The next poll collects the queued frames and the close packet. A live client polls again at
		// once; wait for a dead one no longer than for a pong. Shutdown waits less: the reference server
		// does not wait at all (a pending poll gets the close packet, the rest is dropped).
		wait := s.srv.opts.PingTimeout
		if reason == transport.ReasonShuttingDown {
			wait = min(wait, crossedPollGrace)
		}
		s.waitDrained(wait)
	}
	// After the client's close packet, a poll that crossed it on the wire still gets its noop (see
	// closeWith): the session stays addressable a little longer, for that poll only.
	linger := tr == TransportPolling && kind == closeByClient
	if !linger {
		s.gone.Store(true)
	}
	s.mu.Lock()
	wsDone, getDone := s.wsDone, s.getDone
	s.mu.Unlock()
	waitFor := []chan struct{}{getDone}
	if kind == closeGraceful {
		// OnClose follows the delivery. Otherwise nothing more is delivered, and OnClose need not wait
		// for the WebSocket's close handshake, which takes seconds with a client that does not answer.
		waitFor = append(waitFor, wsDone)
	}
	s.wait(waitFor...)
	if !linger {
		s.remove()
	}
	s.release() // the session no longer counts against its address
	if s.srv.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		s.logger().Debug("session closed", "reason", reason)
	}
	s.dispatchMu.Lock()
	s.ended = true
	s.handler.OnClose(reason)
	s.dispatchMu.Unlock()
	if linger {
		s.waitDrained(crossedPollGrace)
		s.gone.Store(true)
		s.remove()
	}
}

// wait waits until every non-nil channel in chans is closed, or until the session is dropped.
func (s *Session) wait(chans ...chan struct{}) {
	for _, c := range chans {
		if c != nil {
			select {
			case <-c:
			case <-s.srv.hard.Done():
			}
		}
	}
}

// crossedPollGrace is how long a session closed by the client waits for a poll that the client sent
// before its close packet but that reached the server after it (two HTTP connections do not keep order).
const crossedPollGrace = 500 * time.Millisecond

// waitDrained waits until a poll has delivered the session's last packet, for at most d.
func (s *Session) waitDrained(d time.Duration) {
	s.mu.Lock()
	if s.drainedDone {
		s.mu.Unlock()
		return
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	drained := s.drained
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
	case <-s.srv.hard.Done():
	}
}

// markDrained records that a poll delivered the session's last packet. The caller holds s.mu.
func (s *Session) markDrained() {
	if !s.drainedDone {
		s.drainedDone = true
		if s.drained != nil {
			close(s.drained)
		}
	}
}

// remove unregisters the session from its server.
func (s *Session) remove() {
	s.srv.mu.Lock()
	delete(s.srv.sessions, s.id)
	s.srv.mu.Unlock()
}
