package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/cluster"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// No sticky sessions: every request after an Engine.IO handshake names its session (sid), and a cluster
// node's sids start with its node id, so a request that a load balancer sent to another node is relayed
// to the session's node. The relay is a tunnel, a byte stream over the cluster between the node where
// the request arrived (the opener) and the session's node (the acceptor):
//
//   - On the opener, Options.Forward of the Engine.IO server hands the request to an
//     httputil.ReverseProxy whose Transport dials tunnels instead of TCP (one tunnel per request, closed
//     after the response), so the request goes out as HTTP/1.1 with its headers, body and Host, and a
//     WebSocket upgrade is relayed by ReverseProxy's upgrade support.
//   - On the acceptor, each tunnel is a net.Conn that a tunnelListener gives to an http.Server serving
//     the engine's Socket.IO handler, which therefore serves it exactly as a direct connection (coder/
//     websocket hijacks it for an upgrade).
//
// The cluster delivers envelopes in order per pair of nodes, at most once, and drops them when a peer's
// queue is full. A tunnel therefore numbers its bytes (a gap resets it), treats a failed Send as a reset,
// and sends only what the other side has room for (credit-based flow control, tunnelWindow bytes ahead
// of the reader): a slow reader slows the writer, as TCP would, instead of filling the cluster's queues.

const (
	// tunnelWindow is how many bytes a side may send ahead of the other side's reader; it is also the
	// most a tunnel buffers per direction.
	tunnelWindow = 1 << 20
	// tunnelChunk is the largest TunnelData payload.
	tunnelChunk = 32 << 10
	// tunnelBacklog bounds the tunnels opened to this node and not yet accepted by its HTTP server.
	tunnelBacklog = 128
	// tunnelHeaderTimeout bounds the time an opener takes to send a request's header.
	tunnelHeaderTimeout = 10 * time.Second
)

var (
	// errTunnelEnded is what a Write returns after the other side ended the tunnel in order.
	errTunnelEnded = errors.New("engine: tunnel closed by the other node")
	errTunnelGap   = errors.New("engine: tunnel lost data")
	errTunnelFull  = errors.New("engine: tunnel overflow")
	errTunnelDown  = errors.New("engine: tunnel's node left the cluster")
	errTunnelShut  = errors.New("engine: tunnels shut down")
)

// unknownTunnel is the error a node answers to data for a tunnel it does not have.
const unknownTunnel = "unknown tunnel"

// forwardSocketIO implements engineio.Options.Forward: a request for a session of another live node is
// relayed to it.
func (e *Engine) forwardSocketIO(w http.ResponseWriter, r *http.Request, sid string) bool {
	if e.link == nil {
		return false
	}
	return e.link.tunnels.forward(w, r, sid)
}

// newTunnels allocates the tunnels of a cluster node; link.tunnels.start starts serving them.
func (e *Engine) newTunnels(node *cluster.Node) *tunnels {
	isPeer := func(id string) bool {
		for _, m := range node.Members() {
			if m.ID == id {
				return true
			}
		}
		return false
	}
	return newTunnels(node.ID(), node.Send, isPeer, e.SocketIOHandler(), e.log.With("component", "tunnel"))
}

type tunnelKey struct {
	peer   string // the node at the other end
	id     uint64 // chosen by the opener
	opened bool   // this node opened it
}

const (
	tunnelsNew = iota
	tunnelsRunning
	tunnelsClosed
)

// tunnels is one node's end of all its tunnels: the conns by key, the HTTP server that serves tunnels
// peers opened to this node, and the proxy that opens tunnels to peers. Its methods are safe for
// concurrent use; receive and memberDown run on the node router and do not block.
type tunnels struct {
	self    string
	send    func(to string, env *clusterv1.Envelope) error
	isPeer  func(id string) bool
	handler http.Handler // nil: tunnels opened to this node wait in ln for whoever calls Accept
	log     *slog.Logger

	ids atomic.Uint64
	ln  *tunnelListener
	srv *http.Server
	tr  *http.Transport

	mu    sync.Mutex // after tunnelConn.mu
	state int
	conns map[tunnelKey]*tunnelConn
	wg    sync.WaitGroup // the HTTP server's Serve, and requests being relayed
}

func newTunnels(self string, send func(string, *clusterv1.Envelope) error, isPeer func(string) bool, handler http.Handler, log *slog.Logger) *tunnels {
	t := &tunnels{
		self: self, send: send, isPeer: isPeer, handler: handler, log: log,
		ln:    &tunnelListener{addr: tunnelAddr(self), conns: make(chan *tunnelConn, tunnelBacklog), done: make(chan struct{})},
		conns: make(map[tunnelKey]*tunnelConn),
	}
	stdLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	t.srv = &http.Server{Handler: handler, ReadHeaderTimeout: tunnelHeaderTimeout, ErrorLog: stdLog}
	t.tr = &http.Transport{
		DialContext:       t.dial,
		DisableKeepAlives: true, // one request per tunnel: its end is the tunnel's end
		// Relay the bytes as they are: no added Accept-Encoding, no transparent decompression.
		DisableCompression: true,
	}
	return t
}

// start starts serving tunnels opened to this node.
func (t *tunnels) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != tunnelsNew {
		return
	}
	t.state = tunnelsRunning
	if t.handler != nil {
		t.wg.Go(func() { _ = t.srv.Serve(t.ln) })
	}
}

// shutdown ends every tunnel, in order (what was written is still delivered), refuses new ones, and
// waits until the HTTP server and the requests being relayed have returned, or ctx ends.
func (t *tunnels) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.state = tunnelsClosed
	t.mu.Unlock()
	t.ln.Close()
	t.srv.Close() // closes the connections it has not handed over (hijacked ones are in conns)
	t.mu.Lock()
	conns := make([]*tunnelConn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	t.tr.CloseIdleConnections()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine: waiting for relayed requests: %w", ctx.Err())
	}
}

// forward relays a request for session sid to the node named in sid, when it is a live peer, and
// reports whether it did (Options.Forward).
func (t *tunnels) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	node, ok := nodeOfSID(sid)
	if !ok || node == t.self || !t.isPeer(node) {
		return false
	}
	t.mu.Lock()
	if t.state != tunnelsRunning {
		t.mu.Unlock()
		return false
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = node // dial reads the node id back from the address
			// The session's node sees the request as the client (or its proxy) sent it: Rewrite starts
			// without these headers.
			for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:    t.tr,
		ErrorLog:     t.srv.ErrorLog,
		ErrorHandler: t.proxyError,
	}
	rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, r.RemoteAddr)))
	return true
}

type clientAddrKey struct{}

// proxyError answers a request that could not be relayed (no response came through the tunnel).
func (t *tunnels) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t.log.Debug("relaying a request to the session's node failed", "remote_addr", r.RemoteAddr, "err", err)
	w.WriteHeader(http.StatusBadGateway)
}

// dial opens a tunnel to the node named by addr's host (http.Transport's DialContext).
func (t *tunnels) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	node, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	client, _ := ctx.Value(clientAddrKey{}).(string)
	t.mu.Lock()
	if t.state != tunnelsRunning {
		t.mu.Unlock()
		return nil, errTunnelShut
	}
	c := t.newConnLocked(tunnelKey{peer: node, id: t.ids.Add(1), opened: true}, tunnelAddr(node))
	t.mu.Unlock()
	err = t.send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_TunnelOpen{TunnelOpen: &clusterv1.TunnelOpen{Id: c.key.id, RemoteAddr: client}}})
	if err != nil {
		c.fail(err, false)
		return nil, fmt.Errorf("engine: opening a tunnel to node %s: %w", node, err)
	}
	return c, nil
}

func (t *tunnels) newConnLocked(key tunnelKey, remote net.Addr) *tunnelConn {
	c := &tunnelConn{t: t, key: key, local: t.ln.addr, remote: remote, changed: make(chan struct{})}
	t.conns[key] = c
	return c
}

func (t *tunnels) lookup(key tunnelKey) *tunnelConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[key]
}

func (t *tunnels) remove(key tunnelKey) {
	t.mu.Lock()
	delete(t.conns, key)
	t.mu.Unlock()
}

// receive handles a tunnel envelope from node from. It runs on the node router: it only buffers and
// signals.
func (t *tunnels) receive(from string, env *clusterv1.Envelope) {
	switch b := env.Body.(type) {
	case *clusterv1.Envelope_TunnelOpen:
		t.accept(from, b.TunnelOpen)
	case *clusterv1.Envelope_TunnelData:
		m := b.TunnelData
		if c := t.lookup(tunnelKey{peer: from, id: m.Id, opened: m.ToOpener}); c != nil {
			c.receive(m)
		} else if len(m.Data) > 0 {
			// Bytes that no one will read: the sender must not wait for the answer that will not come.
			t.sendClose(from, m.Id, !m.ToOpener, unknownTunnel)
		}
	case *clusterv1.Envelope_TunnelClose:
		m := b.TunnelClose
		if c := t.lookup(tunnelKey{peer: from, id: m.Id, opened: m.ToOpener}); c != nil {
			c.remoteClose(m.Error)
		}
	}
}

// accept registers a tunnel a peer opened and hands it to the HTTP server.
func (t *tunnels) accept(from string, m *clusterv1.TunnelOpen) {
	key := tunnelKey{peer: from, id: m.Id}
	remote := tunnelAddr(from + "/" + strconv.FormatUint(m.Id, 10))
	if m.RemoteAddr != "" {
		remote = tunnelAddr(m.RemoteAddr)
	}
	t.mu.Lock()
	if t.state != tunnelsRunning || t.conns[key] != nil {
		t.mu.Unlock()
		t.sendClose(from, m.Id, true, errTunnelShut.Error())
		return
	}
	c := t.newConnLocked(key, remote)
	t.mu.Unlock()
	select {
	case t.ln.conns <- c:
	default:
		t.log.Warn("tunnel backlog full: refusing a tunnel", "node", from)
		c.fail(errors.New("engine: tunnel backlog full"), true)
	}
}

// memberDown resets the tunnels to a node that left.
func (t *tunnels) memberDown(node string) {
	t.mu.Lock()
	var down []*tunnelConn
	for k, c := range t.conns {
		if k.peer == node {
			down = append(down, c)
		}
	}
	t.mu.Unlock()
	for _, c := range down {
		c.fail(errTunnelDown, false)
	}
}

func (t *tunnels) sendClose(to string, id uint64, toOpener bool, msg string) error {
	return t.send(to, &clusterv1.Envelope{Body: &clusterv1.Envelope_TunnelClose{TunnelClose: &clusterv1.TunnelClose{Id: id, ToOpener: toOpener, Error: msg}}})
}

// tunnelConn is one end of a tunnel, a net.Conn. Reads take what the other node sent, in order; writes
// wait for credit, then send. All methods may be called concurrently; Write calls are serialised.
type tunnelConn struct {
	t             *tunnels
	key           tunnelKey
	local, remote net.Addr

	wmu sync.Mutex // serialises Write: offsets follow the order of Sends

	mu       sync.Mutex    // before tunnels.mu
	changed  chan struct{} // closed and replaced when a blocked Read or Write may proceed
	in       bytes.Buffer  // received and not yet read
	received uint64        // bytes received: the offset the next TunnelData must have
	read     uint64        // bytes Read returned
	credited uint64        // read, as last told to the other side
	sent     uint64        // bytes sent
	acked    uint64        // bytes the other side has read (its last credit)
	closed   bool          // Close was called
	ended    bool          // the other side closed in order
	err      error         // the tunnel was reset
	rd, wd   deadline
}

func (c *tunnelConn) toOpener() bool { return !c.key.opened }

// signalLocked wakes the blocked Read and Write calls.
func (c *tunnelConn) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Read implements net.Conn. After the other side closed in order it returns what is left, then io.EOF.
func (c *tunnelConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		dl := c.rd.wait()
		switch {
		case c.closed:
			c.mu.Unlock()
			return 0, net.ErrClosed
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return 0, err
		case isClosedChan(dl):
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		case c.in.Len() > 0:
			n, _ := c.in.Read(p)
			c.read += uint64(n)
			// Credit is sent when a quarter of the window was read since the last credit, so that a
			// writer blocked on a full window always gets some.
			var credit uint64
			if !c.ended && c.read-c.credited >= tunnelWindow/4 {
				c.credited, credit = c.read, c.read
			}
			c.mu.Unlock()
			if credit != 0 {
				if err := c.sendData(nil, 0, credit); err != nil {
					c.fail(err, true)
				}
			}
			return n, nil
		case c.ended:
			c.mu.Unlock()
			return 0, io.EOF
		case len(p) == 0:
			c.mu.Unlock()
			return 0, nil
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-dl:
		}
	}
}

// Write implements net.Conn: it returns once all of p is sent, or with the error that stopped it.
func (c *tunnelConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		if n > 0 && len(p) == 0 {
			return n, nil
		}
		c.mu.Lock()
		dl := c.wd.wait()
		switch {
		case c.closed:
			c.mu.Unlock()
			return n, net.ErrClosed
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return n, err
		case c.ended:
			c.mu.Unlock()
			return n, errTunnelEnded
		case isClosedChan(dl):
			c.mu.Unlock()
			return n, os.ErrDeadlineExceeded
		case len(p) == 0:
			c.mu.Unlock()
			return n, nil
		}
		if room := tunnelWindow - int(c.sent-c.acked); room > 0 {
			k := min(len(p), room, tunnelChunk)
			off := c.sent
			c.sent += uint64(k)
			var credit uint64
			if c.read > c.credited {
				c.credited, credit = c.read, c.read
			}
			c.mu.Unlock()
			// Send encodes before it returns: p is not kept.
			if err := c.sendData(p[:k], off, credit); err != nil {
				c.fail(err, true)
				return n, err
			}
			n += k
			p = p[k:]
			continue
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-dl:
		}
	}
}

func (c *tunnelConn) sendData(data []byte, off, credit uint64) error {
	return c.t.send(c.key.peer, &clusterv1.Envelope{Body: &clusterv1.Envelope_TunnelData{TunnelData: &clusterv1.TunnelData{
		Id: c.key.id, ToOpener: c.toOpener(), Data: data, Offset: off, Read: credit}}})
}

// Close implements net.Conn: it ends the tunnel in order; the other side reads what was sent, then
// io.EOF. It never fails.
func (c *tunnelConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	tell := c.err == nil && !c.ended
	c.in.Reset()
	c.signalLocked()
	c.t.remove(c.key) // lock order: c.mu, then t.mu
	c.mu.Unlock()
	c.rd.set(time.Time{})
	c.wd.set(time.Time{})
	if tell {
		// A failure leaves the other side to its deadlines, or to the answer to its next data.
		_ = c.t.sendClose(c.key.peer, c.key.id, c.toOpener(), "")
	}
	return nil
}

// fail resets the tunnel with err: every call on it fails with err from now on. tell says whether to
// tell the other side.
func (c *tunnelConn) fail(err error, tell bool) {
	c.mu.Lock()
	if c.closed || c.err != nil {
		c.mu.Unlock()
		return
	}
	tell = tell && !c.ended
	c.err = err
	c.in.Reset()
	c.signalLocked()
	c.t.remove(c.key)
	c.mu.Unlock()
	c.t.log.Debug("tunnel reset", "node", c.key.peer, "tunnel", c.key.id, "err", err)
	if tell {
		_ = c.t.sendClose(c.key.peer, c.key.id, c.toOpener(), err.Error())
	}
}

// receive takes a TunnelData from the other side (on the node router).
func (c *tunnelConn) receive(m *clusterv1.TunnelData) {
	var err error
	c.mu.Lock()
	if c.closed || c.err != nil || c.ended {
		c.mu.Unlock()
		return
	}
	changed := false
	if m.Read > c.acked {
		if m.Read > c.sent {
			err = fmt.Errorf("%w: credit for %d bytes, %d sent", errTunnelGap, m.Read, c.sent)
		}
		c.acked, changed = m.Read, true
	}
	if len(m.Data) > 0 && err == nil {
		switch {
		case m.Offset != c.received:
			err = fmt.Errorf("%w: data at offset %d, %d received", errTunnelGap, m.Offset, c.received)
		case c.in.Len()+len(m.Data) > tunnelWindow:
			err = errTunnelFull
		default:
			c.in.Write(m.Data)
			c.received += uint64(len(m.Data))
			changed = true
		}
	}
	if changed {
		c.signalLocked()
	}
	c.mu.Unlock()
	if err != nil {
		c.fail(err, true)
	}
}

// remoteClose takes the other side's TunnelClose: an orderly end without msg, a reset with one.
func (c *tunnelConn) remoteClose(msg string) {
	if msg != "" {
		c.fail(fmt.Errorf("engine: tunnel reset by node %s: %s", c.key.peer, msg), false)
		return
	}
	c.mu.Lock()
	if c.closed || c.err != nil || c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.signalLocked()
	c.t.remove(c.key)
	c.mu.Unlock()
}

func (c *tunnelConn) LocalAddr() net.Addr  { return c.local }
func (c *tunnelConn) RemoteAddr() net.Addr { return c.remote }

func (c *tunnelConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *tunnelConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

func (c *tunnelConn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}

// deadline is a read or write deadline: a channel closed when it passes (net.Pipe's pipeDeadline).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // nil until first set or wait
}

func (d *deadline) chanLocked() chan struct{} {
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

// set sets the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cancel := d.chanLocked()
	if d.timer != nil && !d.timer.Stop() {
		<-cancel // the timer fired: wait until its function has closed cancel
	}
	d.timer = nil
	closed := isClosedChan(cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			cancel = make(chan struct{})
			d.cancel = cancel
		}
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(cancel)
	}
}

// wait returns a channel that is closed when the deadline passes.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chanLocked()
}

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// tunnelAddr is the address of a tunnel end: the node id, or the client address the opener saw.
type tunnelAddr string

func (a tunnelAddr) Network() string { return "roomio-tunnel" }
func (a tunnelAddr) String() string  { return string(a) }

// tunnelListener is the net.Listener of the HTTP server that serves tunnels opened to this node.
type tunnelListener struct {
	addr  net.Addr
	conns chan *tunnelConn
	done  chan struct{}
	once  sync.Once
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tunnelListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *tunnelListener) Addr() net.Addr { return l.addr }
