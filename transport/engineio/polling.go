package engineio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/roomio/roomio/transport"
)

// pollEndError is the cause with which a pending poll is ended early: it answers with its packet alone
// when nothing is queued.
type pollEndError struct{ packet byte }

func (e *pollEndError) Error() string { return "engineio: poll ended with packet " + string(e.packet) }

var (
	pollEndClose = &pollEndError{PacketClose} // the session was closed by the server
	pollEndNoop  = &pollEndError{PacketNoop}  // an upgrade is under way, or the client closed the session
	errDropped   = errors.New("engineio: session dropped")
)

// handshakePolling opens a long-polling session: the response is the open packet alone.
func (srv *Server) handshakePolling(w http.ResponseWriter, r *http.Request, adm *admission) {
	s := srv.newSession(r, TransportPolling, adm)
	srv.open(s)
	s.writePayload(w, srv.openPacket(s, srv.upgradesAllowed()))
}

// poll serves a GET: it waits until frames are queued, then answers with all of them.
func (s *Session) poll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	// A poll that arrives during an upgrade waits until the WebSocket's reader has taken what the client
	// sent before this poll (see probeConn): the upgrade packet, if the client sent it first.
	for s.probing && !s.getActive && !s.probeConn.caughtUp() && r.Context().Err() == nil {
		step := s.step
		s.held++
		s.mu.Unlock()
		select {
		case <-step:
		case <-r.Context().Done():
		}
		s.mu.Lock()
		s.held--
	}
	switch {
	case s.tr != TransportPolling:
		// After an upgrade: refused, and the session goes on over its WebSocket (reference verify()).
		s.mu.Unlock()
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	case s.drainedDone || s.closeKind == closeAbort:
		s.mu.Unlock()
		s.srv.failHTTP(w, http.StatusBadRequest, codeUnknownSID)
		return
	case s.getActive:
		// "a client MUST NOT have more than one active GET request. Should it happen, the server MUST
		// return an HTTP 400 error status and close the session." The pending poll gets the close packet.
		s.mu.Unlock()
		s.logger().Warn("overlapping polls", "remote_addr", r.RemoteAddr)
		s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	s.getActive, s.getCancel, s.getDone = true, cancel, done
	if s.upgrading {
		// Answer at once so the client can pause polling and finish the upgrade ("Upgrade").
		cancel(pollEndNoop)
	}
	s.mu.Unlock()
	stop := context.AfterFunc(s.srv.hard, func() { cancel(errDropped) })
	defer stop()

	frames, shut, _ := s.queue.Take(ctx, nil)
	if shut {
		s.overflowed() // unless closeWith already shut the queue, it overflowed
	}
	// Whether the client gave up its poll is decided here, before the answer: once it is written, the
	// client may read it and close its connection (every Node.js client without keep-alive does), which
	// ends r.Context() too, although nothing was lost.
	abandoned := r.Context().Err() != nil
	s.mu.Lock()
	s.getActive, s.getCancel = false, nil
	kind := s.closeKind
	s.mu.Unlock()

	var end *pollEndError
	switch {
	case kind == closeAbort:
		// Whatever is queued is dropped; the client learns that the session is over.
		s.writePayload(w, []byte{PacketClose})
	case kind == closeByClient:
		// This poll was pending when the client's close packet came, or crossed it on the wire.
		s.mu.Lock()
		s.markDrained()
		s.mu.Unlock()
		s.writePayload(w, []byte{PacketNoop})
	case len(frames) > 0:
		s.writePayload(w, AppendPayload(nil, frames))
		// Not only when kind is closeGraceful: closeWith queues the close packet before it sets kind.
		if isCloseDelivered(frames) {
			s.mu.Lock()
			s.markDrained()
			s.mu.Unlock()
		}
	case kind == closeGraceful:
		// The queue is empty and shut: an earlier poll delivered the close packet.
		s.srv.failHTTP(w, http.StatusBadRequest, codeUnknownSID)
	case errors.As(context.Cause(ctx), &end):
		s.writePayload(w, []byte{end.packet})
	}
	if h := s.srv.afterPollAnswer.Load(); h != nil {
		(*h)(r)
	}
	if kind == 0 && abandoned {
		// The client gave up its poll before the answer (and what it took is lost): the reference server
		// treats that as a transport error ("poll connection closed prematurely").
		s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
	}
}

// isCloseDelivered reports whether frames hold a close packet: once the client has it, the session is
// over for it.
func isCloseDelivered(frames []Frame) bool {
	for _, f := range frames {
		if !f.Binary && len(f.Data) == 1 && f.Data[0] == PacketClose {
			return true
		}
	}
	return false
}

// writePayload answers a poll (or the handshake) with payload, within WriteTimeout.
func (s *Session) writePayload(w http.ResponseWriter, payload []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(payload)))
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(s.srv.opts.WriteTimeout))
	w.WriteHeader(http.StatusOK)
	w.Write(payload)
	rc.Flush()
	// net/http keeps a deadline set by a handler for the connection's next requests.
	rc.SetWriteDeadline(time.Time{})
}

// post serves a POST: it handles the packets of the body in order, before answering "ok", so that the
// replies they cause are queued by the time the client polls again.
func (s *Session) post(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch {
	case s.tr != TransportPolling:
		s.mu.Unlock()
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	case s.closeKind != 0 && s.closeKind != closeGraceful:
		s.mu.Unlock()
		s.srv.failHTTP(w, http.StatusBadRequest, codeUnknownSID)
		return
	case s.postActive:
		// "a client MUST NOT have more than one active POST request. Should it happen, the server MUST
		// return an HTTP 400 error status and close the session."
		s.mu.Unlock()
		s.logger().Warn("overlapping posts", "remote_addr", r.RemoteAddr)
		s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	s.postActive = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.mu.Unlock()
	}()

	max := s.srv.opts.MaxPayload
	if r.ContentLength > max {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		// Engine.IO v4 payloads are text: binary packets travel as base64.
		s.logger().Warn("binary POST body", "remote_addr", r.RemoteAddr)
		s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	s.meter.Received(len(body))
	frames, err := DecodePayload(body)
	for _, f := range frames {
		if !s.handlePacket(f) {
			break
		}
	}
	if err != nil {
		s.logger().Warn("bad payload", "remote_addr", r.RemoteAddr, "err", err)
		s.closeWith(transport.ReasonParseError, closeAbort, transport.CloseProtocolError)
		s.srv.failHTTP(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8") // text/html as the reference (engine.io GH-43)
	w.Header().Set("Content-Length", "2")
	w.Write([]byte("ok"))
}

// handlePacket handles one packet from the client (on either transport) and reports whether the next
// packet should be handled.
func (s *Session) handlePacket(f Frame) bool {
	if f.Binary {
		s.dispatch(f.Data, true)
		return true
	}
	switch f.Data[0] {
	case PacketMessage:
		s.dispatch(f.Data[1:], false)
	case PacketPong:
		s.onPong()
	case PacketClose:
		s.closeWith(transport.ReasonTransportClose, closeByClient, transport.CloseNormal)
		return false
	case PacketPing:
		// In v4 only the server pings; a probe ping belongs to an upgrading WebSocket (see upgrade).
		s.logger().Warn("ping from client")
		s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
		return false
	default:
		// open, upgrade and noop carry nothing for an established session.
	}
	return true
}
