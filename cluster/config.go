package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// ProtocolVersion is the cluster protocol version this package speaks. It travels in every Envelope and in
// the node metadata; peers announcing another version are ignored (never reported, never sent to).
const ProtocolVersion = 1

// MaxEnvelopeSize is the largest encoded Envelope Send accepts; larger ones fail with ErrTooLarge.
const MaxEnvelopeSize = 16 << 20

const (
	// RouterName is the name the node router actor is registered under in Config.System; peers address
	// their Envelopes to it.
	RouterName = "roomio-router"

	defaultGossipAddr = "0.0.0.0:7946"
	defaultRemoteAddr = "0.0.0.0:7947"
	defaultPeerQueue  = 65536
	defaultInbound    = 65536
	maxNodeIDLen      = 64
)

// Errors returned by Node.
var (
	// ErrUnknownNode is returned by Send for a node that is not a live compatible member.
	ErrUnknownNode = errors.New("cluster: unknown node")
	// ErrClosed is returned after Shutdown has begun (or after a failed Start).
	ErrClosed = errors.New("cluster: closed")
	// ErrQueueFull is returned by Send when the peer's outbound queue holds Config.PeerQueue envelopes;
	// the envelope is dropped and counted in Stats.Dropped.
	ErrQueueFull = errors.New("cluster: peer queue full")
	// ErrTooLarge is returned by Send for an envelope larger than MaxEnvelopeSize.
	ErrTooLarge = errors.New("cluster: envelope too large")
	// ErrNoBody is returned by Send for an envelope without a body; receivers would reject it.
	ErrNoBody = errors.New("cluster: envelope has no body")
)

// Config configures a Node. The zero value of every field except System is usable.
type Config struct {
	// NodeID names this node in the cluster and prefixes the ids of its sockets. Empty (recommended): a
	// fresh random id of 8 lower-case base32 characters per process start, so a restarted process is a
	// new node. Otherwise 1–64 characters from [A-Za-z0-9_-], unique in the cluster.
	NodeID string
	// GossipAddr is the memberlist bind address (TCP and UDP), host:port. Port 0 picks a free port
	// (see Node.Self). Empty means 0.0.0.0:7946.
	GossipAddr string
	// AdvertiseGossip is the ip:port peers use to reach GossipAddr. Empty: memberlist's choice (the bound
	// address, or a private address of this host when bound to all interfaces).
	AdvertiseGossip string
	// RemoteAddr is the bind address of the node-to-node gRPC listener (protoactor's remote protocol),
	// host:port. Port 0 picks a free port. Empty means 0.0.0.0:7947.
	RemoteAddr string
	// AdvertiseRemote is the host:port peers dial to reach RemoteAddr. Empty: the bound address, or, when
	// bound to all interfaces, the host of AdvertiseGossip or else a private address of this host.
	AdvertiseRemote string
	// Seeds are gossip addresses (host:port) of nodes to join. Start retries with backoff until it has
	// joined one of them or its ctx ends. Addresses equal to this node's own gossip address are skipped;
	// empty Seeds start a new cluster.
	Seeds []string
	// Key, when set (16, 24 or 32 bytes), encrypts and authenticates gossip (memberlist SecretKey) and
	// authenticates node-to-node streams (a token derived from Key in the gRPC metadata): a process
	// without the key can neither join nor inject an Envelope. Remote traffic is authenticated, not
	// encrypted. Nil: no authentication — anything that reaches the ports is trusted.
	Key []byte
	// Logger receives the node's logs, memberlist's and gRPC's (see the package documentation for the
	// process-global gRPC logger). Nil: silent.
	Logger *slog.Logger
	// PeerQueue bounds each peer's outbound queue, in envelopes (queued plus being written). When it is
	// full, Send drops the envelope, counts it and returns ErrQueueFull. Zero means 65536.
	PeerQueue int
	// InboundQueue bounds the envelopes received from peers and not yet handled by the router (the
	// router's mailbox). When it is full, reading from peers' streams pauses: HTTP/2 flow control stops
	// their senders, whose PeerQueue then fills and drops. Zero means 65536.
	InboundQueue int
	// ProbeInterval is memberlist's failure-probe interval; the probe timeout is half of it and the gossip
	// interval a fifth. A crashed node is declared dead after roughly 5–6 intervals. Zero: memberlist's
	// LAN defaults (1 s probes, 500 ms timeout, 200 ms gossip).
	ProbeInterval time.Duration
	// System is the actor system the node router actor runs in (the engine's). Required.
	System *actor.ActorSystem
}

// Member is a node of the cluster as the metadata it gossips describes it.
type Member struct {
	ID         string // node id (Config.NodeID)
	GossipAddr string // memberlist address, ip:port
	RemoteAddr string // node-to-node stream address, host:port
	Version    uint32 // cluster protocol version
}

// Handler receives what the node router sees. All three methods are called on the router actor, one at a
// time, in the order of its mailbox, so membership changes and envelopes are totally ordered. They must
// not block: the router also carries every later envelope and membership change (a slow Handler makes
// peers' streams pause, see Config.InboundQueue). They may call Node.Send but not Node.Leave or
// Node.Shutdown. A panic in a method is recovered and logged; the router keeps running.
type Handler interface {
	// Receive is called for every accepted Envelope, in arrival order per sender. from is the sender as
	// last reported by MemberUp; an envelope can arrive before the sender's MemberUp (gossip may lag
	// the stream), and then from carries only ID and Version. No Envelope from a node is delivered after
	// its MemberDown unless a new MemberUp for it came first.
	Receive(from Member, env *clusterv1.Envelope)
	// MemberUp reports a compatible peer that joined (also each peer found while starting).
	MemberUp(m Member)
	// MemberDown reports a peer that left or was declared dead.
	MemberDown(m Member)
}

// Stats are counters since New. Sent counts envelopes written to a peer's stream (not acknowledged),
// Received envelopes delivered to Handler.Receive, Dropped envelopes discarded on the sending side (queue
// full, lost with a broken stream, or still queued when the peer went down or the node shut down), and
// Rejected incoming envelopes or streams refused: unauthenticated, undecodable, of an unknown type or
// body kind, of another protocol version, or from a node after its MemberDown. AuthFailures counts
// authentication failures: streams refused for a missing or wrong key (also counted in Rejected) and
// gossip messages or connections refused by memberlist's keyring (no key decrypts them, plaintext while
// a key is set, encrypted while none is). They are logged at Warn, at most one line per kind (stream,
// gossip) every 10 s, each line carrying the failures left unlogged since the previous one.
type Stats struct {
	Sent, Received, Dropped, Rejected uint64
	AuthFailures                      uint64
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.System == nil {
		return c, errors.New("cluster: Config.System is required")
	}
	switch len(c.Key) {
	case 0, 16, 24, 32:
	default:
		return c, fmt.Errorf("cluster: Config.Key must be 16, 24 or 32 bytes, not %d", len(c.Key))
	}
	if c.Key != nil {
		c.Key = append([]byte(nil), c.Key...)
	}
	if c.NodeID != "" && !validNodeID(c.NodeID) {
		return c, fmt.Errorf("cluster: Config.NodeID %q: want 1-%d characters from [A-Za-z0-9_-]", c.NodeID, maxNodeIDLen)
	}
	if c.PeerQueue < 0 {
		return c, fmt.Errorf("cluster: Config.PeerQueue %d is negative", c.PeerQueue)
	}
	if c.PeerQueue == 0 {
		c.PeerQueue = defaultPeerQueue
	}
	if c.InboundQueue < 0 {
		return c, fmt.Errorf("cluster: Config.InboundQueue %d is negative", c.InboundQueue)
	}
	if c.InboundQueue == 0 {
		c.InboundQueue = defaultInbound
	}
	if c.ProbeInterval < 0 {
		return c, fmt.Errorf("cluster: Config.ProbeInterval %v is negative", c.ProbeInterval)
	}
	if c.GossipAddr == "" {
		c.GossipAddr = defaultGossipAddr
	}
	if c.RemoteAddr == "" {
		c.RemoteAddr = defaultRemoteAddr
	}
	if _, _, err := splitHostPort(c.GossipAddr); err != nil {
		return c, fmt.Errorf("cluster: Config.GossipAddr: %w", err)
	}
	if _, _, err := splitHostPort(c.RemoteAddr); err != nil {
		return c, fmt.Errorf("cluster: Config.RemoteAddr: %w", err)
	}
	if c.AdvertiseGossip != "" {
		// memberlist wants an IP here, not a name.
		host, _, err := splitHostPort(c.AdvertiseGossip)
		if err != nil {
			return c, fmt.Errorf("cluster: Config.AdvertiseGossip: %w", err)
		}
		if net.ParseIP(host) == nil {
			return c, fmt.Errorf("cluster: Config.AdvertiseGossip %q: host must be an IP address", c.AdvertiseGossip)
		}
	}
	if c.AdvertiseRemote != "" {
		if _, port, err := splitHostPort(c.AdvertiseRemote); err != nil || port == 0 {
			return c, fmt.Errorf("cluster: Config.AdvertiseRemote %q: want host:port with a non-zero port", c.AdvertiseRemote)
		}
	}
	c.Seeds = append([]string(nil), c.Seeds...)
	for _, s := range c.Seeds {
		if _, _, err := splitHostPort(s); err != nil {
			return c, fmt.Errorf("cluster: Config.Seeds: %w", err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, int(port), nil
}

func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > maxNodeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
