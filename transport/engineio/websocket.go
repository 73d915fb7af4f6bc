package engineio

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/netpoll"
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
	uw := &transport.UpgradeWriter{ResponseWriter: w, WriteTimeout: srv.opts.WriteTimeout}
	if probing {
		uw.Wrap = func(c net.Conn) net.Conn { return s.watchUpgrade(c) }
	}
	ws, err := websocket.Accept(uw, r, opts)
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
			s.logger().Warn("second websocket for a session refused")
			ws.Close(websocket.StatusPolicyViolation, "session already upgraded or upgrading")
			return
		}
		// The connection runs on a goroutine of its own, so that the request's goroutine, with net/http's
		// connection state, request and buffers, ends here (see runWebSocket).
		srv.wg.Go(func() { s.upgrade(ws, uw) })
		return
	}
	s = srv.newSession(r, TransportWebSocket, adm)
	s.wsDone = make(chan struct{})
	// The open packet goes first; frames the handler sends from OnSession follow it.
	s.queue.Push(Frame{Data: srv.openPacket(s, false)}, false)
	srv.open(s)
	srv.wg.Go(func() { s.runWebSocket(ws, uw, uw.Carried > 0, nil) })
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
func (s *Session) upgrade(ws *websocket.Conn, uw *transport.UpgradeWriter) {
	waitPoll, ok := s.probe(ws)
	s.endUpgrade(ok)
	if !ok {
		ws.Close(websocket.StatusPolicyViolation, "upgrade failed")
		return
	}
	if s.srv.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		s.logger().Debug("upgraded to websocket")
	}
	s.runWebSocket(ws, uw, false, waitPoll) // the probe's reads took any bytes carried over
}

// probe reads the upgrade's packets. On success the session's transport is ws, and waitPoll (when not
// nil) is closed once the poll that was pending has answered: the writer must not start before.
func (s *Session) probe(ws *websocket.Conn) (waitPoll chan struct{}, ok bool) {
	// The upgrade is abandoned when it takes too long or the session closes meanwhile (probeStop).
	ctx, cancel := context.WithTimeout(s.srv.hard, s.srv.opts.UpgradeTimeout)
	defer cancel()
	s.mu.Lock()
	if s.closeKind != 0 {
		s.mu.Unlock()
		return nil, false
	}
	s.probeStop = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.probeStop = nil
		s.mu.Unlock()
	}()
	for {
		typ, data, err := transport.ReadMessage(ctx, ws)
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

// runWebSocket serves ws (over uw's connection) as the session's transport: this goroutine becomes its
// first reader (wsReader); a writer (wsWriter) runs whenever the queue has something to write. It
// returns when the reader parks the connection or has ended it. carried: bytes the client sent with
// its request wait ahead of the connection's buffered reader (transport.UpgradeWriter.Carried).
//
// The reader runs on a goroutine started for it rather than on the request's: an idle connection then
// holds no net/http state (the request, its headers, the server's connection and buffers), and no
// goroutine at all once its reader has parked it.
func (s *Session) runWebSocket(ws *websocket.Conn, uw *transport.UpgradeWriter, carried bool, waitPoll chan struct{}) {
	bc := uw.Conn
	// The connection is counted in the server's WaitGroup until its reader's end path (end) has run.
	s.srv.wg.Add(1)
	r := &wsReader{s: s, ws: ws, br: uw.Reader, carried: carried}
	r.resumeFn = r.resume
	// Every close of the socket (BatchConn.Close) takes the connection out of the poller first, and
	// resumes its reader if it is parked.
	if pc := s.srv.poller.Register(bc.RawConn(), bc, r.resumeFn, r.idle); pc != nil {
		pc.OnPark(transport.ReleaseWhileParked(r.br, bc))
		if bc.OnClose(pc.Close) {
			r.pc = pc
		} else {
			pc.Close() // already closed: read until the read fails
		}
	}
	w := &wsWriter{s: s, ws: ws, bc: bc, pc: r.pc}
	w.done.Add(1)
	r.w = w
	w.runDone = func() {
		defer s.srv.wg.Done()
		w.run()
	}
	if bc.CanTryWrite() {
		s.queue.SetInline(w)
	}
	if waitPoll == nil {
		s.queue.SetDrain(w.start)
	} else {
		// The poll that was pending when the upgrade completed still takes from the queue: the writer must
		// not start before it has answered. A dropped session ends that poll at once.
		s.srv.wg.Go(func() {
			select {
			case <-waitPoll:
			case <-s.srv.hard.Done():
			}
			s.queue.SetDrain(w.start)
		})
	}
	// Reads take no context (a context with a Done channel costs a timer registration per read): a
	// dropped session's socket is closed instead, which fails the pending read (or resumes the parked
	// reader, whose read fails).
	s.srv.closeOnDrop(bc)
	if r.park() {
		return // nothing to read yet
	}
	r.resume()
}

// wsReader reads a WebSocket session's connection. It runs only while there is something to read: once
// it has taken every byte that came off the socket (br holds none, and no carried bytes wait ahead of
// it), it parks the connection in the server's poller (pc) and its goroutine returns; the poller starts
// it again (resume) on a worker goroutine when the socket is readable or closed. pc is nil when the
// connection cannot park (no descriptor: TLS): the reader then blocks in its reads. Its fields are owned
// by whichever goroutine runs it (one at a time: the poller hands it over).
type wsReader struct {
	s        *Session
	ws       *websocket.Conn
	w        *wsWriter
	br       *bufio.Reader
	pc       *netpoll.Conn
	carried  bool
	resumeFn func() // resume, built once: starting the reader allocates nothing
}

// park parks the connection when the reader has taken every byte that came off the socket (idle); it
// reports whether it did (the caller's goroutine must then return without touching the connection).
func (r *wsReader) park() bool { return r.pc != nil && r.pc.Park() }

// idle reports whether the reader has taken every byte that came off the socket. netpoll.Conn.Park calls
// it under its lock: the writer's close handshake, which reads the connection too, starts only after
// netpoll.Conn.Close.
func (r *wsReader) idle() bool { return !r.carried && r.br.Buffered() == 0 }

// resume runs the reader, which reads at once (the socket is readable, or closed), until it parks the
// connection (the goroutine returns) or sees its end (this goroutine runs the end path).
func (r *wsReader) resume() {
	if r.s.readLoop(r) {
		r.end()
	}
}

// end runs once the reader has ended: the session is closing and its queue is shut, so the writer runs
// (or is about to) and ends by closing the connection; end waits for it, marks the WebSocket done and
// releases the connection's count in the server's WaitGroup.
func (r *wsReader) end() {
	s := r.s
	s.srv.forget(r.w.bc)
	r.w.done.Wait()
	r.ws.CloseNow()
	if r.pc != nil {
		r.pc.Close() // done by the socket's close already; here for a connection that never closed it
	}
	s.mu.Lock()
	done := s.wsDone
	s.mu.Unlock()
	close(done)
	s.srv.wg.Done()
}

// readLoop reads the client's packets until the connection parks (it returns false: the goroutine must
// return without touching the connection) or ends (true). After each message it parks the connection
// when every byte that came off the socket has been taken; a frame that arrives in pieces is read
// whole, the read waiting for the rest.
func (s *Session) readLoop(r *wsReader) (ended bool) {
	for first := true; ; first = false {
		if !first && r.park() {
			return false
		}
		typ, data, err := transport.ReadMessage(context.Background(), r.ws)
		r.carried = false // the first read took them (they fit in br's buffer)
		if err != nil {
			if s.isClosing() {
				return true
			}
			reason, code := transport.ReasonTransportError, transport.CloseProtocolError
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				s.logger().Warn("message too big", "err", err)
				code = transport.CloseTooBig
			case websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF):
				reason, code = transport.ReasonTransportClose, transport.CloseNormal
			}
			s.closeWith(reason, closeAbort, code)
			return true
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
			s.logger().Warn("bad packet", "packet", transport.CloseReason(string(data)))
			s.closeWith(transport.ReasonParseError, closeAbort, transport.CloseProtocolError)
			continue
		}
		s.handlePacket(Frame{Data: data})
	}
}

// wsWriter writes a WebSocket session's queue. It is started (start) by the push or close that finds the
// queue idle, writes everything queued, and returns as soon as the queue is empty: an idle connection
// has no writer goroutine. Once the queue is shut it closes the connection and marks done (a WaitGroup
// of one, lighter than a channel kept for the connection's life); it is not started again after that.
type wsWriter struct {
	s    *Session
	ws   *websocket.Conn
	bc   *transport.BatchConn
	pc   *netpoll.Conn // the connection's registration in the poller (nil: none)
	done sync.WaitGroup
	// runDone is run, counted in the server's WaitGroup: built once, so that starting the writer
	// allocates nothing (a go statement of a func value without arguments needs no closure).
	runDone func()
}

// start starts the writer (transport.Queue.SetDrain). The connection holds the server's WaitGroup above
// zero until its reader's end path, which waits for the writer's done, so this Add cannot race
// with Shutdown's Wait.
func (w *wsWriter) start() {
	w.s.srv.wg.Add(1)
	go w.runDone()
}

// writeBatch writes frames, one WebSocket message each, in one write to the socket (or one per
// transport.MaxBatchBytes). The messages are framed by BatchConn.WriteMessage: coder/websocket's Write
// would take two locks, a select and a copy through its buffer per message.
func (w *wsWriter) writeBatch(frames []Frame) error {
	w.bc.Cork()
	for _, f := range frames {
		if w.s.aborted.Load() {
			break // what is queued is dropped
		}
		w.bc.WriteMessage(f.Binary, f.Data)
		if w.bc.Buffered() >= transport.MaxBatchBytes {
			if err := w.bc.Uncork(); err != nil {
				return err
			}
			w.bc.Cork()
		}
	}
	return w.bc.Uncork()
}

// WriteInline is the queue's inline writer (transport.Queue.SetInline): the push that finds the
// connection idle frames what is queued and writes it itself with one non-blocking write, without
// starting the writer or setting a deadline. It declines (takes nothing) when the connection is busy (a
// control frame being written) or closing; what the socket does not take is left pending in the
// BatchConn, and the writer, started then, sends it first under the deadline.
func (w *wsWriter) WriteInline(frames []Frame) (n int, flushed bool) {
	if w.s.aborted.Load() || !w.bc.TryCork() {
		return 0, true
	}
	for _, f := range frames {
		if n > 0 && w.bc.Buffered() >= transport.MaxBatchBytes {
			break
		}
		w.bc.WriteMessage(f.Binary, f.Data)
		n++
	}
	flushed, _ = w.bc.TryUncork() // an error is reported again by the writer's Flush
	return n, flushed
}

// fail ends the writer for good after a failed write: the connection is broken.
func (w *wsWriter) fail() {
	w.s.closeWith(transport.ReasonTransportError, closeAbort, transport.CloseProtocolError)
	w.ws.CloseNow()
	w.done.Done()
}

// run writes batches until the queue is empty (the writer ends) or shut (it closes the connection).
// Each batch goes to the client in one write (BatchConn), with one deadline (WriteTimeout) and no
// context or timer per message.
func (w *wsWriter) run() {
	s := w.s
	// What an inline write left pending goes first (nothing to do otherwise).
	if err := w.bc.Flush(); err != nil {
		w.fail()
		return
	}
	var frames []Frame
	for {
		var shut, idle bool
		frames, shut, idle = s.queue.Next(frames)
		if idle {
			return
		}
		if !s.aborted.Load() && len(frames) > 0 {
			if err := w.writeBatch(frames); err != nil {
				w.fail()
				return
			}
		}
		clear(frames) // drop references to the senders' bytes
		if !shut {
			// Let the producers that share this P push before the queue is looked at again: a writer that
			// finds it empty at once ends, and the next push pays a write and a start of its own. Measured
			// (BenchmarkDelivery, 16 emits in flight): fewer, larger batches and less CPU per delivery.
			runtime.Gosched()
		}
		if shut {
			s.overflowed() // unless closeWith already shut the queue, it overflowed
			s.mu.Lock()
			code, reason := s.closeCode, s.closeReason
			s.mu.Unlock()
			// coder/websocket allows 5s for the close frame and 5s more for the answer: a client that does
			// not read gets WriteTimeout, like any write. Closing the socket ends the handshake and the reader.
			timer := time.AfterFunc(s.srv.opts.WriteTimeout, func() { w.bc.Close() })
			if w.pc != nil {
				// The close handshake reads the client's answer on this goroutine: the reader must not
				// look at the buffers meanwhile, nor stay parked. It reads on until the socket closes.
				w.pc.Close()
			}
			w.ws.Close(code, transport.CloseReason(reason))
			timer.Stop()
			w.done.Done()
			return
		}
	}
}
