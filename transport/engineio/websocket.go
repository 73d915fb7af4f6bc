package engineio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
)

// serveWebSocket accepts a WebSocket and runs it: as a new session when s is nil, otherwise as an upgrade
// of the long-polling session s.
// adm is the new session's address count (nil for an upgrade).
func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, s *Session, adm *admission) {
	if s != nil && !srv.upgradesAllowed() {
		srv.failUpgrade(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	opts := &websocket.AcceptOptions{}
	for _, p := range srv.opts.OriginPatterns {
		if p == "*" {
			opts.InsecureSkipVerify = true
		}
	}
	if !opts.InsecureSkipVerify {
		opts.OriginPatterns = srv.opts.OriginPatterns
	}
	// An upgrade starts before the handshake is answered, so that a poll the client sends once its
	// WebSocket is open finds the upgrade under way.
	probing := s != nil && s.beginUpgrade()
	if probing {
		w = &upgradeWriter{ResponseWriter: w, s: s}
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		// Accept has answered (403 for a refused origin, 400/426 for a bad handshake).
		srv.opts.Logger.Warn("websocket upgrade refused", "component", "engineio", "remote_addr", r.RemoteAddr, "err", err)
		if probing {
			s.endUpgrade(false)
		}
		return
	}
	ws.SetReadLimit(srv.opts.MaxPayload)
	if s != nil {
		if !probing {
			// "A client MUST NOT open more than one WebSocket connection per session. Should it happen,
			// the server MUST close the WebSocket connection." Like the reference server, accept it, then
			// close it.
			s.log.Warn("second websocket for a session refused")
			ws.Close(websocket.StatusPolicyViolation, "session already upgraded or upgrading")
			return
		}
		s.upgrade(ws)
		return
	}
	s = srv.newSession(r, TransportWebSocket, adm)
	s.wsDone = make(chan struct{})
	// The open packet goes first; frames the handler sends from OnSession follow it.
	s.queue.Push(Frame{Data: srv.openPacket(s, false)}, false)
	srv.open(s)
	s.runWebSocket(ws, nil)
}

// beginUpgrade marks s as upgrading; it reports false when s cannot upgrade: it is not on long-polling
// (it upgraded already), another WebSocket is upgrading it, or it is closing.
func (s *Session) beginUpgrade() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr != TransportPolling || s.probing || s.closeKind != 0 {
		return false
	}
	s.probing, s.probeConn = true, nil
	s.stepUpgrade()
	return true
}

// endUpgrade ends what beginUpgrade started; when the upgrade failed, the session stays on long-polling.
func (s *Session) endUpgrade(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		s.probing, s.upgrading = false, false
	}
	s.probeConn.stopWatching()
	s.probeConn = nil
	s.stepUpgrade()
}

// upgrade runs the upgrade of s to ws ("Upgrade"): the client probes with "2probe", the server answers
// "3probe" and ends the pending poll with a noop, the client confirms with "5". Until then the session
// stays on long-polling; an upgrade that fails leaves it there. beginUpgrade was called.
func (s *Session) upgrade(ws *websocket.Conn) {
	waitPoll, ok := s.probe(ws)
	s.endUpgrade(ok)
	if !ok {
		ws.Close(websocket.StatusPolicyViolation, "upgrade failed")
		return
	}
	s.log.Debug("upgraded to websocket")
	s.runWebSocket(ws, waitPoll)
}

// probe reads the upgrade's packets. On success the session's transport is ws, and waitPoll (when not
// nil) is closed once the poll that was pending has answered: the writer must not start before.
func (s *Session) probe(ws *websocket.Conn) (waitPoll chan struct{}, ok bool) {
	// The upgrade is abandoned when it takes too long or the session closes meanwhile (closeCtx).
	ctx, cancel := context.WithTimeout(s.closeCtx, s.srv.opts.UpgradeTimeout)
	defer cancel()
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return nil, false
		}
		switch {
		case typ == websocket.MessageText && string(data) == "2probe":
			wctx, wcancel := context.WithTimeout(ctx, s.srv.opts.WriteTimeout)
			err := ws.Write(wctx, websocket.MessageText, []byte("3probe"))
			wcancel()
			if err != nil {
				return nil, false
			}
			s.mu.Lock()
			s.upgrading = true
			s.stepUpgrade()
			if s.getCancel != nil {
				s.getCancel(pollEndNoop)
			}
			s.mu.Unlock()
		case typ == websocket.MessageText && string(data) == "5":
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.closeKind != 0 {
				return nil, false
			}
			s.tr, s.probing, s.upgrading = TransportWebSocket, false, false
			s.wsDone = make(chan struct{})
			if s.getActive {
				waitPoll = s.getDone
				s.getCancel(pollEndNoop)
			}
			return waitPoll, true
		default:
			// Anything else during an upgrade aborts it, as in the reference server.
			return nil, false
		}
	}
}

// runWebSocket serves ws as the session's transport: this goroutine reads, a second one writes. It
// returns when both have ended.
func (s *Session) runWebSocket(ws *websocket.Conn, waitPoll chan struct{}) {
	// Cancelling readCtx makes a pending Read drop the connection; the writer uses it to bound the
	// close handshake, which otherwise waits up to 10s for a peer that does not answer.
	readCtx, cancelRead := context.WithCancel(s.ctx)
	defer cancelRead()
	writerDone := make(chan struct{})
	s.srv.wg.Go(func() {
		defer close(writerDone)
		if waitPoll != nil {
			select {
			case <-waitPoll:
			case <-s.ctx.Done():
				return
			}
		}
		s.writeLoop(ws, cancelRead)
	})
	s.readLoop(readCtx, ws)
	<-writerDone
	ws.CloseNow()
	s.mu.Lock()
	done := s.wsDone
	s.mu.Unlock()
	close(done)
}

// readLoop reads the client's packets until the connection ends.
func (s *Session) readLoop(ctx context.Context, ws *websocket.Conn) {
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			if s.isClosing() {
				return
			}
			reason, code := transport.ReasonTransportError, transport.CloseProtocolError
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				s.log.Warn("message too big", "err", err)
				code = transport.CloseTooBig
			case websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF):
				reason, code = transport.ReasonTransportClose, transport.CloseNormal
			}
			s.closeWith(reason, closeAbort, code)
			return
		}
		s.meter.Received(len(data))
		if s.isClosing() {
			continue // drain the peer until the close handshake ends
		}
		if typ == websocket.MessageBinary {
			s.dispatch(data, true)
			continue
		}
		if !validText(data) {
			s.log.Warn("bad packet", "packet", transport.CloseReason(string(data)))
			s.closeWith(transport.ReasonParseError, closeAbort, transport.CloseProtocolError)
			continue
		}
		s.handlePacket(Frame{Data: data})
	}
}

// writeLoop drains the session's queue into ws, one message per frame, and closes ws once the session
// closes.
func (s *Session) writeLoop(ws *websocket.Conn, cancelRead context.CancelFunc) {
	var frames []Frame
	for {
		var shut bool
		var err error
		frames, shut, err = s.queue.Take(s.ctx, frames)
		if err != nil {
			return // dropped: the reader's Read fails on the same context
		}
		// One deadline for the batch (at most the queue's bound of bytes), not one per message: a
		// context per message was most of this writer's allocations in the fan-out profile.
		wctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.WriteTimeout)
		for _, f := range frames {
			if s.aborted.Load() {
				break // what is queued is dropped
			}
			typ := websocket.MessageText
			if f.Binary {
				typ = websocket.MessageBinary
			}
			if err = ws.Write(wctx, typ, f.Data); err != nil {
				cancel()
				s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
				ws.CloseNow()
				return
			}
		}
		cancel()
		clear(frames) // drop references to the senders' bytes
		frames = frames[:0]
		if shut {
			s.overflowed() // unless closeWith already shut the queue, it overflowed
			s.mu.Lock()
			code, reason := s.closeCode, s.closeReason
			s.mu.Unlock()
			timer := time.AfterFunc(s.srv.opts.WriteTimeout, cancelRead)
			ws.Close(code, transport.CloseReason(reason))
			timer.Stop()
			return
		}
	}
}
