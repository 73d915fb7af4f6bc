package tunnel

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

	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

const (
	// window is how many bytes a side may send ahead of the other side's reader; it is also the
	// most a tunnel buffers per direction.
	window = 1 << 20
	// chunkSize is the largest TunnelData payload.
	chunkSize = 32 << 10
	// backlog bounds the tunnels opened to this node and not yet accepted by its HTTP server.
	backlog = 128
	// headerTimeout bounds the time an opener takes to send a request's header.
	headerTimeout = 10 * time.Second
)

var (
	// errEnded is what a Write returns after the other side ended the tunnel in order.
	errEnded    = errors.New("tunnel: tunnel closed by the other node")
	errGap      = errors.New("tunnel: tunnel lost data")
	errFull     = errors.New("tunnel: tunnel overflow")
	errPeerDown = errors.New("tunnel: tunnel's node left the cluster")
	errShutdown = errors.New("tunnel: tunnels shut down")
)

// unknownTunnel is the error a node answers to data for a tunnel it does not have.
const unknownTunnel = "unknown tunnel"

type connKey struct {
	peer   string // the node at the other end
	id     uint64 // chosen by the opener
	opened bool   // this node opened it
}

const (
	stateNew = iota
	stateRunning
	stateClosed
)

// Config is what Tunnels needs from the node it runs on.
type Config struct {
	// Self is this node's id.
	Self string
	// Send queues an envelope for node to without waiting for the network (cluster.Node.Send): it
	// must keep envelopes to one node in order and may drop them (a gap resets the tunnel).
	Send func(to string, env *clusterv1.Envelope) error
	// IsPeer reports whether id is a live peer: only requests for those are relayed.
	IsPeer func(id string) bool
	// Handler serves the requests relayed to this node. Nil: tunnels opened to this node wait in an
	// internal listener (tests accept them directly).
	Handler http.Handler
	// Logger receives the tunnels' logs; nil discards them.
	Logger *slog.Logger
}

// Tunnels is one node's end of all its tunnels: the conns by key, the HTTP server that serves tunnels
// peers opened to this node, and the proxy that opens tunnels to peers. Its methods are safe for
// concurrent use; Receive and MemberDown do not block (they run on the cluster node's router).
type Tunnels struct {
	self    string
	send    func(to string, env *clusterv1.Envelope) error
	isPeer  func(id string) bool
	handler http.Handler // nil: tunnels opened to this node wait in ln for whoever calls Accept
	log     *slog.Logger

	ids atomic.Uint64
	ln  *listener
	srv *http.Server
	tr  *http.Transport

	mu    sync.Mutex // after conn.mu
	state int
	conns map[connKey]*conn
	wg    sync.WaitGroup // the HTTP server's Serve, and requests being relayed
}

// New allocates the tunnels of a node; Start starts serving them.
func New(cfg Config) *Tunnels {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tunnels{
		self: cfg.Self, send: cfg.Send, isPeer: cfg.IsPeer, handler: cfg.Handler, log: log,
		ln:    &listener{addr: nodeAddr(cfg.Self), conns: make(chan *conn, backlog), done: make(chan struct{})},
		conns: make(map[connKey]*conn),
	}
	stdLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	t.srv = &http.Server{Handler: cfg.Handler, ReadHeaderTimeout: headerTimeout, ErrorLog: stdLog}
	t.tr = &http.Transport{
		DialContext:       t.dial,
		DisableKeepAlives: true, // one request per tunnel: its end is the tunnel's end
		// Relay the bytes as they are: no added Accept-Encoding, no transparent decompression.
		DisableCompression: true,
	}
	return t
}

// Len returns how many tunnels are open, either end.
func (t *Tunnels) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Start starts serving tunnels opened to this node.
func (t *Tunnels) Start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != stateNew {
		return
	}
	t.state = stateRunning
	if t.handler != nil {
		t.wg.Go(func() { _ = t.srv.Serve(t.ln) })
	}
}

// Shutdown ends every tunnel, in order (what was written is still delivered), refuses new ones, and
// waits until the HTTP server and the requests being relayed have returned, or ctx ends.
func (t *Tunnels) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.state = stateClosed
	t.mu.Unlock()
	t.ln.Close()
	t.srv.Close() // closes the connections it has not handed over (hijacked ones are in conns)
	t.mu.Lock()
	conns := make([]*conn, 0, len(t.conns))
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
		return fmt.Errorf("tunnel: waiting for relayed requests: %w", ctx.Err())
	}
}

// Forward relays a request to node, when it is a live peer other than this node, and reports whether it
// did. The response, a WebSocket upgrade included, comes back through the tunnel; a request that could
// not be relayed is answered 502 Bad Gateway.
func (t *Tunnels) Forward(w http.ResponseWriter, r *http.Request, node string) bool {
	if node == "" || node == t.self || !t.isPeer(node) {
		return false
	}
	t.mu.Lock()
	if t.state != stateRunning {
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
func (t *Tunnels) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t.log.Debug("relaying a request to the session's node failed", "remote_addr", r.RemoteAddr, "err", err)
	w.WriteHeader(http.StatusBadGateway)
}

// dial opens a tunnel to the node named by addr's host (http.Transport's DialContext).
func (t *Tunnels) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	node, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	client, _ := ctx.Value(clientAddrKey{}).(string)
	t.mu.Lock()
	if t.state != stateRunning {
		t.mu.Unlock()
		return nil, errShutdown
	}
	c := t.newConnLocked(connKey{peer: node, id: t.ids.Add(1), opened: true}, nodeAddr(node))
	t.mu.Unlock()
	err = t.send(node, &clusterv1.Envelope{Body: &clusterv1.Envelope_TunnelOpen{TunnelOpen: &clusterv1.TunnelOpen{Id: c.key.id, RemoteAddr: client}}})
	if err != nil {
		c.fail(err, false)
		return nil, fmt.Errorf("tunnel: opening a tunnel to node %s: %w", node, err)
	}
	return c, nil
}

func (t *Tunnels) newConnLocked(key connKey, remote net.Addr) *conn {
	c := &conn{t: t, key: key, local: t.ln.addr, remote: remote, changed: make(chan struct{})}
	t.conns[key] = c
	return c
}

func (t *Tunnels) lookup(key connKey) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[key]
}

func (t *Tunnels) remove(key connKey) {
	t.mu.Lock()
	delete(t.conns, key)
	t.mu.Unlock()
}

// Receive handles a tunnel envelope (TunnelOpen, TunnelData or TunnelClose) from node from. It only
// buffers and signals: it does not block.
func (t *Tunnels) Receive(from string, env *clusterv1.Envelope) {
	switch b := env.Body.(type) {
	case *clusterv1.Envelope_TunnelOpen:
		t.accept(from, b.TunnelOpen)
	case *clusterv1.Envelope_TunnelData:
		m := b.TunnelData
		if c := t.lookup(connKey{peer: from, id: m.Id, opened: m.ToOpener}); c != nil {
			c.receive(m)
		} else if len(m.Data) > 0 {
			// Bytes that no one will read: the sender must not wait for the answer that will not come.
			t.sendClose(from, m.Id, !m.ToOpener, unknownTunnel)
		}
	case *clusterv1.Envelope_TunnelClose:
		m := b.TunnelClose
		if c := t.lookup(connKey{peer: from, id: m.Id, opened: m.ToOpener}); c != nil {
			c.remoteClose(m.Error)
		}
	}
}

// accept registers a tunnel a peer opened and hands it to the HTTP server.
func (t *Tunnels) accept(from string, m *clusterv1.TunnelOpen) {
	key := connKey{peer: from, id: m.Id}
	remote := nodeAddr(from + "/" + strconv.FormatUint(m.Id, 10))
	if m.RemoteAddr != "" {
		remote = nodeAddr(m.RemoteAddr)
	}
	t.mu.Lock()
	if t.state != stateRunning || t.conns[key] != nil {
		t.mu.Unlock()
		t.sendClose(from, m.Id, true, errShutdown.Error())
		return
	}
	c := t.newConnLocked(key, remote)
	t.mu.Unlock()
	select {
	case t.ln.conns <- c:
	default:
		t.log.Warn("tunnel backlog full: refusing a tunnel", "node", from)
		c.fail(errors.New("tunnel: tunnel backlog full"), true)
	}
}

// MemberDown resets the tunnels to a node that left the cluster.
func (t *Tunnels) MemberDown(node string) {
	t.mu.Lock()
	var down []*conn
	for k, c := range t.conns {
		if k.peer == node {
			down = append(down, c)
		}
	}
	t.mu.Unlock()
	for _, c := range down {
		c.fail(errPeerDown, false)
	}
}

func (t *Tunnels) sendClose(to string, id uint64, toOpener bool, msg string) error {
	return t.send(to, &clusterv1.Envelope{Body: &clusterv1.Envelope_TunnelClose{TunnelClose: &clusterv1.TunnelClose{Id: id, ToOpener: toOpener, Error: msg}}})
}

// conn is one end of a tunnel, a net.Conn. Reads take what the other node sent, in order; writes
// wait for credit, then send. All methods may be called concurrently; Write calls are serialised.
type conn struct {
	t             *Tunnels
	key           connKey
	local, remote net.Addr

	wmu sync.Mutex // serialises Write: offsets follow the order of Sends

	mu       sync.Mutex    // before Tunnels.mu
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

func (c *conn) toOpener() bool { return !c.key.opened }

// signalLocked wakes the blocked Read and Write calls.
func (c *conn) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Read implements net.Conn. After the other side closed in order it returns what is left, then io.EOF.
func (c *conn) Read(p []byte) (int, error) {
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
			if !c.ended && c.read-c.credited >= window/4 {
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
func (c *conn) Write(p []byte) (int, error) {
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
			return n, errEnded
		case isClosedChan(dl):
			c.mu.Unlock()
			return n, os.ErrDeadlineExceeded
		case len(p) == 0:
			c.mu.Unlock()
			return n, nil
		}
		if room := window - int(c.sent-c.acked); room > 0 {
			k := min(len(p), room, chunkSize)
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

func (c *conn) sendData(data []byte, off, credit uint64) error {
	return c.t.send(c.key.peer, &clusterv1.Envelope{Body: &clusterv1.Envelope_TunnelData{TunnelData: &clusterv1.TunnelData{
		Id: c.key.id, ToOpener: c.toOpener(), Data: data, Offset: off, Read: credit}}})
}

// Close implements net.Conn: it ends the tunnel in order; the other side reads what was sent, then
// io.EOF. It never fails.
func (c *conn) Close() error {
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
func (c *conn) fail(err error, tell bool) {
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
func (c *conn) receive(m *clusterv1.TunnelData) {
	var err error
	c.mu.Lock()
	if c.closed || c.err != nil || c.ended {
		c.mu.Unlock()
		return
	}
	changed := false
	if m.Read > c.acked {
		if m.Read > c.sent {
			err = fmt.Errorf("%w: credit for %d bytes, %d sent", errGap, m.Read, c.sent)
		}
		c.acked, changed = m.Read, true
	}
	if len(m.Data) > 0 && err == nil {
		switch {
		case m.Offset != c.received:
			err = fmt.Errorf("%w: data at offset %d, %d received", errGap, m.Offset, c.received)
		case c.in.Len()+len(m.Data) > window:
			err = errFull
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
func (c *conn) remoteClose(msg string) {
	if msg != "" {
		c.fail(fmt.Errorf("tunnel: tunnel reset by node %s: %s", c.key.peer, msg), false)
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

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
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

// nodeAddr is the address of a tunnel end: the node id, or the client address the opener saw.
type nodeAddr string

func (a nodeAddr) Network() string { return "roomio-tunnel" }
func (a nodeAddr) String() string  { return string(a) }

// listener is the net.Listener of the HTTP server that serves tunnels opened to this node.
type listener struct {
	addr  net.Addr
	conns chan *conn
	done  chan struct{}
	once  sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }
