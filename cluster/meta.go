package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hashicorp/memberlist"
)

// newNodeID returns 8 lower-case base32 characters (40 random bits): short, URL-safe, and fresh per
// process start, so a restarted process never inherits the interest state of its previous life.
func newNodeID() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// nodeMeta is what a node gossips about itself in memberlist's node Meta (at most
// memberlist.MetaMaxSize = 512 bytes). JSON keeps it readable and lets a later version add fields.
type nodeMeta struct {
	ID      string `json:"id"`
	Remote  string `json:"remote"`
	Version uint32 `json:"v"`
}

func encodeMeta(m nodeMeta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: node metadata is %d bytes, more than memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// memberOf decodes a memberlist node's metadata into a Member.
func memberOf(n *memberlist.Node) (Member, error) {
	var m nodeMeta
	if err := json.Unmarshal(n.Meta, &m); err != nil {
		return Member{}, fmt.Errorf("bad metadata: %w", err)
	}
	if m.ID != n.Name {
		return Member{}, fmt.Errorf("metadata id %q differs from node name %q", m.ID, n.Name)
	}
	if m.Remote == "" {
		return Member{}, errors.New("metadata has no remote address")
	}
	return Member{ID: m.ID, GossipAddr: n.Address(), RemoteAddr: m.Remote, Version: m.Version}, nil
}

// delegate hands memberlist this node's metadata; the cluster uses no user gossip messages.
type delegate struct{ meta []byte }

func (d *delegate) NodeMeta(int) []byte                 { return d.meta }
func (d *delegate) NotifyMsg([]byte)                    {}
func (d *delegate) GetBroadcasts(int, int) [][]byte     { return nil }
func (d *delegate) LocalState(bool) []byte              { return nil }
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {}

// events turns memberlist's callbacks into messages to the router actor. memberlist calls them with its
// node lock held: they only decode and signal (a local actor send never blocks), and never call back
// into memberlist.
type events struct{ n *Node }

func (e *events) NotifyJoin(node *memberlist.Node)   { e.n.signalAlive(node) }
func (e *events) NotifyUpdate(node *memberlist.Node) { e.n.signalAlive(node) }

func (e *events) NotifyLeave(node *memberlist.Node) {
	if node.Name == e.n.id {
		return
	}
	e.n.system.Root.Send(e.n.routerPID, &memberDown{id: node.Name})
}

func (e *events) NotifyConflict(existing, other *memberlist.Node) {
	e.n.log.Warn("two nodes claim one node id", "id", existing.Name,
		"addr", existing.Address(), "other_addr", other.Address())
}

// signalAlive reports a joined or updated node to the router: as up when it is compatible, as down
// otherwise (a node whose update made it incompatible must stop being sent to; down is a no-op for a
// node the router never saw up).
func (n *Node) signalAlive(node *memberlist.Node) {
	if node.Name == n.id {
		return
	}
	m, err := memberOf(node)
	switch {
	case err != nil:
		n.log.Warn("ignoring gossip member", "id", node.Name, "addr", node.Address(), "err", err)
	case m.Version != ProtocolVersion:
		n.log.Warn("ignoring gossip member with another protocol version", "id", node.Name,
			"addr", node.Address(), "version", m.Version, "want", ProtocolVersion)
		err = errIncompatible
	}
	if err != nil {
		n.system.Root.Send(n.routerPID, &memberDown{id: node.Name})
		return
	}
	n.system.Root.Send(n.routerPID, &memberUp{m: m})
}

var errIncompatible = errors.New("incompatible")

// mlWriter carries memberlist's log lines ("[DEBUG] memberlist: …") into slog at the matching level.
type mlWriter struct {
	log  *slog.Logger
	auth *authLog // when set, gossip authentication failures go there (rate-limited) instead of log
}

func (w mlWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for _, l := range [...]struct {
		prefix string
		level  slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(line, l.prefix); ok {
			level, line = l.level, strings.TrimSpace(rest)
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if level > slog.LevelDebug && strings.Contains(line, "use of closed network connection") {
		// memberlist's gossip ticker can fire once more after Shutdown closed its transport.
		level = slog.LevelDebug
	}
	if w.auth != nil && gossipAuthFailure(line) {
		w.auth.fail("err", line)
		return len(p), nil
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
