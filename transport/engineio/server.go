package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/netpoll"
)

// Transport names, as in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// CORS configures the Cross-Origin Resource Sharing headers of the long-polling requests.
type CORS struct {
	// AllowOrigins lists the origins (scheme://host[:port]) allowed to call the server from a browser.
	// "*" allows any. A request whose Origin matches gets it echoed in Access-Control-Allow-Origin ("*"
	// when any origin is allowed and credentials are not).
	AllowOrigins []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true (cookies, HTTP authentication).
	AllowCredentials bool
}

// Options configures a Server. Zero values are replaced by the defaults named on each field.
type Options struct {
	// PingInterval is the time between server pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong before closing the session with
	// "ping timeout". Zero means 20s.
	PingTimeout time.Duration
	// MaxPayload is the largest POST body (larger ones are answered 413) and the largest WebSocket
	// message (larger ones close the session) a client may send; it is announced as maxPayload in the
	// open packet. Zero means 1 000 000 bytes (the reference server's maxHttpBufferSize).
	MaxPayload int64
	// Transports lists the transports clients may use. Nil means {"polling", "websocket"};
	// {"websocket"} makes a WebSocket-only server (polling requests are answered 400, code 0).
	Transports []string
	// DisableUpgrades refuses upgrades from long-polling to WebSocket; the open packet then announces none.
	DisableUpgrades bool
	// QueueBytes bounds each session's outbound queue (see transport.Queue): a volatile frame that does
	// not fit is dropped; any other closes the session with "slow client". Zero means 1 MiB.
	QueueBytes int
	// CORS adds CORS headers to every HTTP response and answers OPTIONS preflight requests. Nil adds none.
	CORS *CORS
	// OriginPatterns lists the cross-origin hosts allowed to open a WebSocket, as coder/websocket's
	// AcceptOptions.OriginPatterns: same-origin requests and requests without an Origin header are always
	// allowed, other origins are refused with 403. "*" allows every origin. Long-polling requests are
	// checked the same way, except that origins allowed by CORS are accepted too; a refused one gets 403
	// {"code":4,"message":"Forbidden"}.
	OriginPatterns []string
	// WriteTimeout bounds one write to a client (a WebSocket message or a poll response); a client that
	// does not take it in time is disconnected. Zero means 10s.
	WriteTimeout time.Duration
	// UpgradeTimeout bounds an upgrade, from the WebSocket handshake to the client's upgrade packet; an
	// upgrade that takes longer is abandoned (the session stays on long-polling). Zero means 10s.
	UpgradeTimeout time.Duration
	// HeaderBytes bounds the request header bytes a session keeps for its Handshake (see
	// transport.KeepHandshake). Zero means transport.DefaultHeaderBytes (8 KiB).
	HeaderBytes int
	// AddrLimit, when set, counts each session against its remote IP address from its handshake until it
	// ends; a handshake (polling or WebSocket) from an address at its limit is answered 429 Too Many
	// Requests.
	AddrLimit *transport.AddrLimit
	// Meter, when set, counts the sessions' messages and bytes and the refused requests.
	Meter *transport.Meter
	// Logger receives warnings about misbehaving clients. Nil discards.
	Logger *slog.Logger
	// OnSession is called once per new session, synchronously, before the open packet is sent to the
	// client. It must call s.SetHandler before returning and must not block. Required.
	OnSession func(s *Session)
	// NewSID returns the ID of a new session. It must return a fresh, unguessable, URL-safe string on
	// every call and be safe for concurrent use. Nil means 20 random base64url characters. A server
	// behind a load balancer without sticky sessions puts the owner's name in it (see Forward).
	NewSID func() string
	// Forward is called for a request (other than OPTIONS) whose sid names no session of this server,
	// before any check of the request, typically to relay it to the server that owns the session. It
	// returns true when it has answered the request (w and r are then done with); otherwise the request
	// is served as usual, which answers 400 {"code":1,"message":"Session ID unknown"}. It must be safe
	// for concurrent use. Nil forwards nothing.
	Forward func(w http.ResponseWriter, r *http.Request, sid string) bool
}

func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1_000_000
	}
	if o.Transports == nil {
		o.Transports = []string{TransportPolling, TransportWebSocket}
	}
	o.Transports = slices.Clone(o.Transports)
	o.OriginPatterns = slices.Clone(o.OriginPatterns)
	if o.CORS != nil {
		c := *o.CORS
		c.AllowOrigins = slices.Clone(c.AllowOrigins)
		o.CORS = &c
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NewSID == nil {
		o.NewSID = newID
	}
	return o
}

// Server is an Engine.IO v4 endpoint: an http.Handler serving HTTP long-polling and WebSocket sessions,
// including upgrades from the first to the second. Create it with NewServer, mount it at any path (the
// protocol's default is /engine.io/; Socket.IO uses /socket.io/), stop it with Shutdown. Its methods are
// safe for concurrent use.
type Server struct {
	opts Options

	// hard ends when Shutdown's deadline passes (drop): every session is dropped at once, their waits
	// end and drop closes their WebSockets (sockets). Sessions have no context of their own: one per
	// session kept a cancelCtx for the session's whole life.
	hard       context.Context
	cancelHard context.CancelFunc

	mu       sync.Mutex
	closing  bool
	sessions map[string]*Session // every session not yet torn down, addressable or not
	// sockets are the running WebSockets' connections, which a hard drop closes (closeOnDrop): a set
	// entry each instead of a context.AfterFunc registration (~0.15 KB per connection).
	sockets map[*transport.BatchConn]struct{}
	// wg counts the sessions (open to teardown), request handlers, WebSockets (accept to end), writers
	// and the poller.
	wg sync.WaitGroup
	// poller holds the idle WebSockets, which have no reader goroutine (package transport/netpoll).
	poller *netpoll.Poller

	// afterPollAnswer, when set (by tests only), runs once a poll has written its answer, before its
	// handler decides anything else: a test holds the handler there to reproduce a slow server.
	afterPollAnswer atomic.Pointer[func(*http.Request)]
	// beforeProbeRead, when set (by tests only), runs before each read of an upgrading WebSocket's
	// connection: a test holds the reader there to reproduce a slow server.
	beforeProbeRead atomic.Pointer[func()]
}

// NewServer returns a Server for opts. It panics when opts.OnSession is nil.
func NewServer(opts Options) *Server {
	if opts.OnSession == nil {
		panic("engineio: Options.OnSession is required")
	}
	srv := &Server{opts: opts.withDefaults(), sessions: make(map[string]*Session),
		sockets: make(map[*transport.BatchConn]struct{})}
	srv.hard, srv.cancelHard = context.WithCancel(context.Background())
	srv.poller = netpoll.New(srv.wg.Go, transport.QuietBeforePark)
	return srv
}

// NumSessions returns the number of sessions not yet ended.
func (srv *Server) NumSessions() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// Shutdown stops accepting sessions (new handshakes get HTTP 503), closes every session with "server
// shutting down" after its queued frames are delivered (a long-polling session at its next poll, a
// WebSocket with close code 1001), and waits until every session has ended and every goroutine the
// server started has returned. When ctx ends first, it drops the remaining sessions without delivering
// their frames, waits for their goroutines and returns ctx.Err(). It is idempotent.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing = true
	ss := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		ss = append(ss, s)
	}
	srv.mu.Unlock()
	for _, s := range ss {
		s.closeWith(transport.ReasonShuttingDown, closeGraceful, transport.CloseGoingAway)
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.drop()
		<-done
		return ctx.Err()
	}
}

// drop ends the hard-shutdown context and closes every running WebSocket's connection.
func (srv *Server) drop() {
	srv.cancelHard()
	srv.mu.Lock()
	socks := make([]*transport.BatchConn, 0, len(srv.sockets))
	for c := range srv.sockets {
		socks = append(socks, c)
	}
	srv.mu.Unlock()
	for _, c := range socks {
		c.Close()
	}
}

// closeOnDrop has c closed when the server drops its sessions (Shutdown's deadline), at once if it has
// already; forget undoes it. Either drop sees c in the set or closeOnDrop sees the context ended: both
// look under srv.mu, drop after ending the context.
func (srv *Server) closeOnDrop(c *transport.BatchConn) {
	srv.mu.Lock()
	dropped := srv.hard.Err() != nil
	if !dropped {
		srv.sockets[c] = struct{}{}
	}
	srv.mu.Unlock()
	if dropped {
		c.Close()
	}
}

func (srv *Server) forget(c *transport.BatchConn) {
	srv.mu.Lock()
	delete(srv.sockets, c)
	srv.mu.Unlock()
}

// Error codes of the JSON body of a 400 or 403 answer, as the reference server sends them.
const (
	codeUnknownTransport   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var errorMessages = [...]string{
	codeUnknownTransport:   "Transport unknown",
	codeUnknownSID:         "Session ID unknown",
	codeBadHandshakeMethod: "Bad handshake method",
	codeBadRequest:         "Bad request",
	codeForbidden:          "Forbidden",
	codeUnsupportedVersion: "Unsupported protocol version",
}

// ServeHTTP serves one Engine.IO request: a handshake, a poll (GET), a POST of packets, or a WebSocket
// (new, or an upgrade of a long-polling session).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if srv.forward(w, r, q.Get("sid")) {
		return
	}
	if srv.opts.CORS != nil {
		srv.setCORS(w, r)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	tr := q.Get("transport")
	if srv.opts.Logger.Enabled(r.Context(), slog.LevelDebug) {
		srv.opts.Logger.Debug("request", "component", "engineio", "method", r.Method, "transport", tr, "sid", q.Get("sid"), "remote_addr", r.RemoteAddr)
	}
	isWS := tr == TransportWebSocket && isUpgrade(r)
	fail := srv.failHTTP
	if isUpgrade(r) {
		fail = srv.failUpgrade
	}
	// The checks follow the reference server's verify(): transport, protocol version, then session.
	if !slices.Contains(srv.opts.Transports, tr) {
		fail(w, http.StatusBadRequest, codeUnknownTransport)
		return
	}
	if q.Get("EIO") != "4" {
		fail(w, http.StatusBadRequest, codeUnsupportedVersion)
		return
	}
	if tr == TransportWebSocket && !isWS {
		fail(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	if !isWS && !srv.originAllowed(r) {
		fail(w, http.StatusForbidden, codeForbidden)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			fail(w, http.StatusBadRequest, codeBadHandshakeMethod)
			return
		}
		srv.mu.Lock()
		if srv.closing {
			srv.mu.Unlock()
			srv.opts.Meter.Refuse(transport.RefusedShuttingDown)
			http.Error(w, "server shutting down", http.StatusServiceUnavailable)
			return
		}
		srv.wg.Add(1)
		srv.mu.Unlock()
		defer srv.wg.Done()
		release, ok := srv.opts.AddrLimit.Acquire(r.RemoteAddr)
		if !ok {
			srv.opts.Meter.Refuse(transport.RefusedConnsPerIP)
			http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
			return
		}
		// The session releases its count when it ends; a handshake that made none releases it here.
		adm := &admission{release: release}
		defer adm.drop()
		if isWS {
			srv.serveWebSocket(w, r, nil, adm)
		} else {
			srv.handshakePolling(w, r, adm)
		}
		return
	}

	srv.mu.Lock()
	s := srv.sessions[sid]
	if s != nil && s.addressable() {
		// The session holds the WaitGroup above zero until its teardown, so this Add cannot race with
		// Shutdown's Wait.
		srv.wg.Add(1)
	} else {
		s = nil
	}
	srv.mu.Unlock()
	if s == nil {
		fail(w, http.StatusBadRequest, codeUnknownSID)
		return
	}
	defer srv.wg.Done()
	if s.pingExpired(r.Method == http.MethodPost) || (isWS && s.isClosing()) {
		fail(w, http.StatusBadRequest, codeUnknownSID)
		return
	}
	switch {
	case isWS:
		srv.serveWebSocket(w, r, s, nil)
	case r.Method == http.MethodGet:
		s.poll(w, r)
	case r.Method == http.MethodPost:
		s.post(w, r)
	default:
		fail(w, http.StatusBadRequest, codeBadRequest)
	}
}

// forward hands a request for a session this server does not know to Options.Forward, and reports
// whether Forward answered it. It runs before every other check (CORS headers included), so that the
// server that owns the session answers exactly as to a request sent to it directly. Preflight requests
// need no session and are answered here.
func (srv *Server) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	if srv.opts.Forward == nil || sid == "" || r.Method == http.MethodOptions {
		return false
	}
	srv.mu.Lock()
	_, known := srv.sessions[sid]
	srv.mu.Unlock()
	return !known && srv.opts.Forward(w, r, sid)
}

// failHTTP answers a long-polling request with the reference server's JSON error body.
func (srv *Server) failHTTP(w http.ResponseWriter, status, code int) {
	srv.refuse(code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"code":` + strconv.Itoa(code) + `,"message":"` + errorMessages[code] + `"}`))
}

// failUpgrade answers a WebSocket handshake that is refused before the upgrade: a plain 400 (or 403) with
// the message as text, as the reference server's abortUpgrade does.
func (srv *Server) failUpgrade(w http.ResponseWriter, status, code int) {
	srv.refuse(code)
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	w.Write([]byte(errorMessages[code]))
}

// refuse counts an error answer on Options.Meter.
func (srv *Server) refuse(code int) {
	switch code {
	case codeForbidden:
		srv.opts.Meter.Refuse(transport.RefusedOrigin)
	case codeUnknownSID:
		srv.opts.Meter.Refuse(transport.RefusedUnknownSession)
	default:
		srv.opts.Meter.Refuse(transport.RefusedBadRequest)
	}
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// setCORS adds the CORS response headers for r's Origin.
func (srv *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	c := srv.opts.CORS
	h := w.Header()
	origin := r.Header.Get("Origin")
	switch {
	case slices.Contains(c.AllowOrigins, "*") && (origin == "" || !c.AllowCredentials):
		h.Set("Access-Control-Allow-Origin", "*")
	case origin != "" && (slices.Contains(c.AllowOrigins, "*") || slices.Contains(c.AllowOrigins, origin)):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	default:
		return
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// originAllowed applies OriginPatterns (and CORS.AllowOrigins) to a long-polling request, with the rules
// coder/websocket applies to a WebSocket handshake.
func (srv *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if c := srv.opts.CORS; c != nil && (slices.Contains(c.AllowOrigins, "*") || slices.Contains(c.AllowOrigins, origin)) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range srv.opts.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// admission is a handshake's count against its address (Options.AddrLimit): a session created by the
// handshake takes it over and releases it when it ends; otherwise drop releases it.
type admission struct {
	release func()
	taken   bool
}

func (a *admission) drop() {
	if !a.taken {
		a.release()
	}
}

// newSession creates a session for r on transport tr; it is not registered yet. It takes over adm.
func (srv *Server) newSession(r *http.Request, tr string, adm *admission) *Session {
	adm.taken = true
	s := &Session{
		id:      srv.opts.NewSID(),
		srv:     srv,
		tr:      tr,
		queue:   transport.NewQueueOf(srv.opts.QueueBytes, Frame.size),
		meter:   srv.opts.Meter.Shard(),
		release: adm.release,
		hs:      transport.KeepHandshake(r, srv.opts.HeaderBytes),
	}
	s.queue.SetMeter(s.meter)
	s.arm(time.Now())
	return s
}

// open calls OnSession, registers s and starts its heartbeat. A session opened while the server shuts down
// is closed at once (Shutdown may not have seen it), so its handler still gets OnClose. The caller holds a
// WaitGroup count, so the Add cannot race with Shutdown's Wait.
func (srv *Server) open(s *Session) {
	srv.opts.OnSession(s)
	if s.handler == nil {
		panic("engineio: OnSession did not call SetHandler")
	}
	srv.mu.Lock()
	closing := srv.closing
	srv.sessions[s.id] = s
	srv.wg.Add(1) // released by the session's teardown
	srv.mu.Unlock()
	s.hbMu.Lock()
	s.hbTimer = time.AfterFunc(srv.opts.PingInterval, s.beat)
	s.hbMu.Unlock()
	s.mu.Lock()
	s.live = true
	closed := s.closeKind != 0
	s.mu.Unlock()
	if closed {
		// Closed from OnSession: closeWith found it not live yet and left the teardown to us.
		s.hbTimer.Stop()
		go s.teardown()
	}
	if closing {
		s.closeWith(transport.ReasonShuttingDown, closeGraceful, transport.CloseGoingAway)
	}
}

// openPacket returns the open packet announcing s's parameters. Its JSON has the reference server's key
// order.
func (srv *Server) openPacket(s *Session, upgrades bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, PacketOpen)
	b = append(b, `{"sid":"`...)
	b = append(b, s.id...)
	b = append(b, `","upgrades":[`...)
	if upgrades {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, srv.opts.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, srv.opts.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, srv.opts.MaxPayload, 10)
	b = append(b, '}')
	return b
}

// upgradesAllowed reports whether long-polling sessions may upgrade to WebSocket.
func (srv *Server) upgradesAllowed() bool {
	return !srv.opts.DisableUpgrades && slices.Contains(srv.opts.Transports, TransportWebSocket)
}

// newID returns a session ID: 15 random bytes, base64url (20 characters, as the reference server's).
func newID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
