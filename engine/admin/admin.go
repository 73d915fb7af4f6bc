package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/roomio/roomio/engine"
)

// Config configures Instrument. Authentication must be chosen explicitly: Username and PasswordHash, or
// NoAuth (as the Node side requires auth to be set or explicitly false).
type Config struct {
	// Namespace is the admin namespace the UI connects to. Empty means "/admin".
	Namespace string
	// Username and PasswordHash are the basic-auth credentials the UI's connection form asks for.
	// PasswordHash is a bcrypt hash of the password (for example `htpasswd -nbBC 10 "" secret | cut -d:
	// -f2`, or bcryptjs's hash as in the Node side's documentation); a plain password is refused.
	Username     string
	PasswordHash string
	// NoAuth lets anyone who reaches the node connect the admin namespace. Use it only behind another
	// gate.
	NoAuth bool
	// ReadOnly refuses the UI's actions (join, leave, disconnect, emit): the UI then shows no action
	// buttons.
	ReadOnly bool
	// Production is the Node side's mode "production": only server statistics are sent, no socket list
	// and no per-socket events, and the UI shows only its dashboard and servers pages.
	Production bool
	// ServerID names this node in the UI's servers page. Empty means the host name, followed by
	// "#<node id>" in a cluster (nodes on one host must not share an id).
	ServerID string
	// StatsInterval is the time between two server_stats events. Zero means 2s (the Node side's).
	StatsInterval time.Duration
	// Logger receives the admin's logs. Nil means silent.
	Logger *slog.Logger
}

// Feature names of the "config" event: what the UI may show and do.
const (
	featureEmit        = "EMIT"
	featureJoin        = "JOIN"
	featureLeave       = "LEAVE"
	featureDisconnect  = "DISCONNECT"
	featureMJoin       = "MJOIN"
	featureMLeave      = "MLEAVE"
	featureMDisconnect = "MDISCONNECT"
	featureAggregated  = "AGGREGATED_EVENTS"
	featureAllEvents   = "ALL_EVENTS"
)

// Limits on what clients can make the admin hold.
const (
	// maxSessions bounds the stored session ids (one per successful login); the oldest goes first.
	maxSessions = 1024
	// sessionTTL is how long a session id stays valid (the Node RedisStore's default).
	sessionTTL = 24 * time.Hour
	// maxAggregated bounds the aggregated connection events kept between two server_stats.
	maxAggregated = 4096
	// concurrentBcrypt bounds the password checks running at once: each costs tens of milliseconds of
	// CPU, and anyone can ask for one.
	concurrentBcrypt = 2
	// actionTimeout bounds a join, leave or disconnect action of the UI (cluster-wide operations).
	actionTimeout = 10 * time.Second
)

// ErrInvalidCredentials is the connect error a client gets for wrong or missing credentials; its text
// is the one the UI recognises.
var ErrInvalidCredentials = errors.New("invalid credentials")

// errReadOnly answers an action in read-only mode.
var errReadOnly = errors.New("admin: read-only mode")

var processStart = time.Now()

// Admin is the admin namespace of one engine. All methods are safe for concurrent use.
type Admin struct {
	e        *engine.Engine
	cfg      Config
	ns       *engine.Namespace
	log      *slog.Logger
	features []string
	serverID string
	hostname string
	hash     []byte
	bcrypt   chan struct{}

	mu       sync.Mutex
	sessions map[string]time.Time        // session id → expiry
	pending  map[*engine.Socket]string   // admin sockets that logged in, until they get their session id
	polling  map[*engine.Socket]struct{} // local sockets on long-polling: checked for an upgrade each tick
	local    map[sockKey]*engine.Socket  // this node's sockets (not in production mode), for all_sockets
	agg      map[aggKey]int

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type sockKey struct{ nsp, id string }

type aggKey struct {
	ts        int64 // milliseconds, on a whole second
	typ, user string
}

// Instrument serves the admin namespace on e and starts the stats ticker. Call it before e.Start; call
// Close after e's Shutdown.
func Instrument(e *engine.Engine, cfg Config) (*Admin, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "/admin"
	}
	if !strings.HasPrefix(cfg.Namespace, "/") {
		return nil, fmt.Errorf("admin: namespace %q does not start with /", cfg.Namespace)
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Admin{
		e:        e,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "admin"),
		bcrypt:   make(chan struct{}, concurrentBcrypt),
		sessions: make(map[string]time.Time),
		pending:  make(map[*engine.Socket]string),
		polling:  make(map[*engine.Socket]struct{}),
		local:    make(map[sockKey]*engine.Socket),
		agg:      make(map[aggKey]int),
	}
	switch {
	case cfg.NoAuth && (cfg.Username != "" || cfg.PasswordHash != ""):
		return nil, errors.New("admin: NoAuth with credentials")
	case cfg.NoAuth:
	case cfg.Username == "" || cfg.PasswordHash == "":
		return nil, errors.New("admin: set Username and PasswordHash (a bcrypt hash), or NoAuth")
	default:
		if _, err := bcrypt.Cost([]byte(cfg.PasswordHash)); err != nil {
			return nil, fmt.Errorf("admin: PasswordHash must be a bcrypt hash: %w", err)
		}
		a.hash = []byte(cfg.PasswordHash)
	}
	a.hostname, _ = os.Hostname()
	a.serverID = cfg.ServerID
	if a.serverID == "" {
		a.serverID = a.hostname
		if id := e.NodeID(); id != "" {
			a.serverID += "#" + id
		}
	}
	if !cfg.ReadOnly {
		a.features = []string{featureEmit, featureJoin, featureLeave, featureDisconnect, featureMJoin, featureMLeave, featureMDisconnect}
	}
	a.features = append(a.features, featureAggregated)
	if !cfg.Production {
		a.features = append(a.features, featureAllEvents)
	}

	a.ns = e.Of(cfg.Namespace)
	a.ns.Use(a.authenticate)
	a.ns.OnConnection(a.onAdmin)
	e.Observe(a.observer())

	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	a.wg.Go(func() { a.tick(ctx) })
	return a, nil
}

// Close stops the stats ticker and waits for it. The admin namespace stays registered; its events stop
// being useful, so close the engine first.
func (a *Admin) Close() {
	a.stop()
	a.wg.Wait()
}

// authenticate is the admin namespace's middleware: a valid session id, or the right user name and
// password.
func (a *Admin) authenticate(s *engine.Socket) error {
	if a.hash == nil {
		return nil
	}
	var auth struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		SessionID string `json:"sessionId"`
	}
	if raw := s.Handshake().Auth; len(raw) > 0 {
		json.Unmarshal(raw, &auth) // a malformed payload is missing credentials
	}
	now := time.Now()
	a.mu.Lock()
	exp, ok := a.sessions[auth.SessionID]
	a.mu.Unlock()
	if auth.SessionID != "" && ok && now.Before(exp) {
		return nil
	}
	userOK := subtle.ConstantTimeCompare([]byte(auth.Username), []byte(a.cfg.Username)) == 1
	// The hash is compared even for a wrong user name, so the answer's timing does not tell which.
	select {
	case a.bcrypt <- struct{}{}:
	case <-s.Context().Done():
		return ErrInvalidCredentials
	}
	err := bcrypt.CompareHashAndPassword(a.hash, []byte(auth.Password))
	<-a.bcrypt
	if !userOK || err != nil {
		a.log.Warn("admin login refused", "remote_addr", s.Handshake().RemoteAddr)
		return ErrInvalidCredentials
	}
	sid := randomID()
	a.mu.Lock()
	a.saveSessionLocked(sid, now)
	a.pending[s] = sid
	a.mu.Unlock()
	return nil
}

func (a *Admin) saveSessionLocked(sid string, now time.Time) {
	for id, exp := range a.sessions {
		if !now.Before(exp) {
			delete(a.sessions, id)
		}
	}
	for len(a.sessions) >= maxSessions {
		oldest, first := "", time.Time{}
		for id, exp := range a.sessions {
			if oldest == "" || exp.Before(first) {
				oldest, first = id, exp
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[sid] = now.Add(sessionTTL)
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// onAdmin runs for every admin socket: the session id, the config, the socket list, the first stats,
// and the actions.
func (a *Admin) onAdmin(s *engine.Socket) {
	a.mu.Lock()
	sid, ok := a.pending[s]
	delete(a.pending, s)
	a.mu.Unlock()
	if ok {
		s.Emit("session", sid)
	}
	s.Emit("config", map[string]any{"supportedFeatures": a.features})
	if !a.cfg.Production {
		ctx, cancel := context.WithTimeout(s.Context(), actionTimeout)
		list := a.allSockets(ctx)
		cancel()
		s.Emit("all_sockets", list)
	}
	s.Emit("server_stats", a.stats(false))

	for _, name := range []string{"emit", "join", "leave", "_disconnect"} {
		s.On(name, func(ev *engine.Event) {
			err := a.action(ev)
			if err != nil {
				a.log.Warn("admin action refused", "action", name, "err", err)
				ev.Ack(map[string]string{"error": err.Error()})
				return
			}
			ev.Ack()
		})
	}
}

// action carries out one of the UI's actions. The client's ack (roomio's addition: the UI sends none)
// comes once it is done, or with {"error": …}.
func (a *Admin) action(ev *engine.Event) error {
	if a.cfg.ReadOnly {
		return errReadOnly
	}
	str := func(i int) (string, error) {
		var v *string
		if i < len(ev.Args) {
			if err := ev.Bind(i, &v); err != nil {
				return "", fmt.Errorf("argument %d: %w", i, err)
			}
		}
		if v == nil {
			return "", nil
		}
		return *v, nil
	}
	nsName, err := str(0)
	if err != nil {
		return err
	}
	n := a.e.Lookup(nsName)
	if n == nil {
		return fmt.Errorf("unknown namespace %q", nsName)
	}
	ctx, cancel := context.WithTimeout(ev.Context(), actionTimeout)
	defer cancel()
	switch ev.Name {
	case "emit": // (nsp, filter, event, ...args)
		filter, err := str(1)
		if err != nil {
			return err
		}
		name, err := str(2)
		if err != nil {
			return err
		}
		op := n.Except() // every socket
		if filter != "" {
			op = n.To(filter)
		}
		args := make([]any, 0, len(ev.Args))
		for i := 3; i < len(ev.Args); i++ {
			args = append(args, ev.Args[i])
		}
		return op.Emit(name, args...)
	case "join", "leave": // (nsp, room, filter)
		room, err := str(1)
		if err != nil {
			return err
		}
		filter, err := str(2)
		if err != nil {
			return err
		}
		op := n.Except()
		if filter != "" {
			op = n.To(filter)
		}
		if ev.Name == "join" {
			return op.SocketsJoin(ctx, room)
		}
		return op.SocketsLeave(ctx, room)
	default: // _disconnect (nsp, close, filter)
		var closeConn bool
		if len(ev.Args) > 1 {
			if err := ev.Bind(1, &closeConn); err != nil {
				return fmt.Errorf("argument 1: %w", err)
			}
		}
		filter, err := str(2)
		if err != nil {
			return err
		}
		op := n.Except()
		if filter != "" {
			op = n.To(filter)
		}
		return op.DisconnectSockets(ctx, closeConn)
	}
}

// observer returns the engine observer that turns lifecycle events into the UI's live events.
func (a *Admin) observer() engine.Observer {
	o := engine.Observer{
		ConnOpened: func(string) { a.aggregate("rawConnection", "") },
		ConnClosed: func(_, reason string) { a.aggregate("rawDisconnection", reason) },
	}
	// The polling set is kept in production mode too: it costs one entry per polling socket.
	o.SocketConnected = func(s *engine.Socket) {
		nsp := s.Namespace().Name()
		a.mu.Lock()
		if s.Transport() == engine.TransportPolling {
			a.polling[s] = struct{}{}
		}
		if !a.cfg.Production {
			a.local[sockKey{nsp, s.ID()}] = s
		}
		a.mu.Unlock()
		if a.cfg.Production {
			return
		}
		if nsp != a.cfg.Namespace {
			s.OnAny(func(ev *engine.Event) {
				a.ns.Emit("event_received", nsp, s.ID(), eventArgs(ev), timestamp(time.Now()))
			})
		}
		a.ns.Emit("socket_connected", serializeLocal(s), timestamp(time.Now()))
	}
	o.SocketDisconnected = func(s *engine.Socket, reason string) {
		a.mu.Lock()
		delete(a.polling, s)
		delete(a.local, sockKey{s.Namespace().Name(), s.ID()})
		a.mu.Unlock()
		if !a.cfg.Production {
			a.ns.Emit("socket_disconnected", s.Namespace().Name(), s.ID(), reason, timestamp(time.Now()))
		}
	}
	if !a.cfg.Production {
		o.RoomJoined = func(ns, room, id string) { a.ns.Emit("room_joined", ns, room, id, timestamp(time.Now())) }
		o.RoomLeft = func(ns, room, id string) { a.ns.Emit("room_left", ns, room, id, timestamp(time.Now())) }
	}
	return o
}

// aggregate counts one connection event for the next server_stats, per second as the Node side does.
func (a *Admin) aggregate(typ, sub string) {
	k := aggKey{ts: time.Now().Truncate(time.Second).UnixMilli(), typ: typ, user: sub}
	a.mu.Lock()
	if _, ok := a.agg[k]; ok || len(a.agg) < maxAggregated {
		a.agg[k]++
	}
	a.mu.Unlock()
}

// tick emits server_stats every StatsInterval to every admin socket (of every node, in a cluster, as
// the Node side's emit does through its adapter), and socket_updated for sockets that upgraded.
func (a *Admin) tick(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.ns.Emit("server_stats", a.stats(true))
		var upgraded []*engine.Socket
		a.mu.Lock()
		for s := range a.polling {
			if s.Transport() != engine.TransportPolling {
				upgraded = append(upgraded, s)
				delete(a.polling, s)
			}
		}
		a.mu.Unlock()
		if a.cfg.Production {
			continue
		}
		for _, s := range upgraded {
			a.ns.Emit("socket_updated", map[string]string{"id": s.ID(), "nsp": s.Namespace().Name(), "transport": s.Transport()})
		}
	}
}

type aggregated struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

type nsStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

type serverStats struct {
	ServerID            string       `json:"serverId"`
	Hostname            string       `json:"hostname"`
	PID                 int          `json:"pid"`
	Uptime              float64      `json:"uptime"`
	ClientsCount        int64        `json:"clientsCount"`
	PollingClientsCount int          `json:"pollingClientsCount"`
	AggregatedEvents    []aggregated `json:"aggregatedEvents"`
	Namespaces          []nsStats    `json:"namespaces"`
}

// stats returns this node's server_stats; with takeEvents, the aggregated events since the last call
// (which are then forgotten).
func (a *Admin) stats(takeEvents bool) serverStats {
	st := serverStats{
		ServerID:            a.serverID,
		Hostname:            a.hostname,
		PID:                 os.Getpid(),
		Uptime:              time.Since(processStart).Seconds(),
		ClientsCount:        a.e.Stats().Connections,
		PollingClientsCount: a.e.PollingConnections(),
		AggregatedEvents:    []aggregated{},
		Namespaces:          []nsStats{},
	}
	if takeEvents {
		a.mu.Lock()
		for k, c := range a.agg {
			st.AggregatedEvents = append(st.AggregatedEvents, aggregated{Timestamp: k.ts, Type: k.typ, SubType: k.user, Count: c})
		}
		clear(a.agg)
		a.mu.Unlock()
	}
	for _, n := range a.e.Namespaces() {
		st.Namespaces = append(st.Namespaces, nsStats{Name: n.Name(), SocketsCount: n.SocketCount()})
	}
	return st
}

// allSockets lists the sockets of every namespace of the cluster, for all_sockets. A namespace whose
// listing fails or times out contributes what arrived.
func (a *Admin) allSockets(ctx context.Context) []socketJSON {
	out := []socketJSON{}
	for _, n := range a.e.Namespaces() {
		socks, err := n.FetchSockets(ctx)
		if err != nil {
			a.log.Warn("listing sockets", "namespace", n.Name(), "err", err)
		}
		for _, r := range socks {
			a.mu.Lock()
			s := a.local[sockKey{r.Namespace, r.ID}]
			a.mu.Unlock()
			out = append(out, serializeFetched(r, s))
		}
	}
	return out
}
