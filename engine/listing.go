package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/packet"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// Listing of behaviour rooms (Namespace.Rooms): each node knows the behaviour rooms whose actor it runs
// (on one node every room; in a cluster the rooms it owns) from a registry of the namespace, filled when
// a room is created and emptied when it is disposed. A room publishes its member count, limit and lock
// after every message it handles (actors.RoomStatus) and its metadata as JSON when a hook sets it, so a
// listing reads them without entering any actor. Cluster-wide, the node asks every peer for its rooms
// (ListRooms) and waits, up to a timeout, for each one's answer.

var (
	// ErrUnknownBehavior is the error of a listing or a join-or-create naming no behaviour of the
	// namespace (WithName; a Define's prefix by default).
	ErrUnknownBehavior = errors.New("engine: no behaviour of that name")
	// ErrBadFilter is the error of a listing or a join-or-create whose filter is not a JSON object.
	ErrBadFilter = errors.New("engine: the room filter must be a JSON object")
	// ErrUnknownNamespace is the error of a listing or join-or-create sent to a node that has no such
	// namespace.
	ErrUnknownNamespace = errors.New("engine: no such namespace")
	// ErrNoRoomNames is the error of a join-or-create for a behaviour that cannot name a new room: one
	// registered with DefineFunc without WithRoomNames, or whose names do not match its own definition.
	ErrNoRoomNames = errors.New("engine: the behaviour cannot name a new room")
)

// MaxListedRooms is how many rooms one node lists at most in one listing (the first in its registry's
// order, which is not sorted); past it the listing says Truncated. MaxListedMetadata bounds a room's
// metadata as listed: larger metadata is listed as none (and logged). Together they bound a node's
// answer to about 8 MiB.
const (
	MaxListedRooms    = 2000
	MaxListedMetadata = 4 << 10
)

// DefaultListTimeout bounds a cluster-wide listing whose context has no deadline: a node that has not
// answered by then is reported in RoomList.Missing.
const DefaultListTimeout = 2 * time.Second

// RoomInfo is one behaviour room in a listing.
type RoomInfo struct {
	Name string `json:"name"`
	// Node is the id of the node that owns the room (runs its hooks); "" on a single node.
	Node string `json:"node,omitempty"`
	// Metadata is the room's metadata (RoomContext.SetMetadata) as JSON; nil when it has none.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Clients is the room's member count, on every node.
	Clients int `json:"clients"`
	// MaxClients is the room's member limit; zero means none.
	MaxClients int  `json:"max_clients"`
	Locked     bool `json:"locked"`
}

// Available reports whether the room takes another member: not locked and not full.
func (r RoomInfo) Available() bool {
	return !r.Locked && (r.MaxClients <= 0 || r.Clients < r.MaxClients)
}

// RoomList is the answer of Namespace.Rooms.
type RoomList struct {
	// Rooms are sorted by name.
	Rooms []RoomInfo `json:"rooms"`
	// Complete is false when a node of the cluster did not answer in time (or left while asked): the
	// rooms it owns are missing.
	Complete bool `json:"complete"`
	// Missing names the nodes that did not answer.
	Missing []string `json:"missing_nodes,omitempty"`
	// Truncated is set when a node owns more matching rooms than MaxListedRooms: some are not listed.
	Truncated bool `json:"truncated,omitempty"`
}

// WithName names a behaviour for listings and join-or-create (Namespace.Rooms, Socket.JoinOrCreate).
// A Define's name is its prefix unless given; a DefineFunc's is "" (not listed) unless given.
func WithName(name string) BehaviorOption { return func(b *behaviorDef) { b.name = name } }

// WithRoomNames gives the names of the rooms join-or-create makes: names(id) with id 16 random
// base64url characters. Without it a Define's rooms are named prefix + id, and a DefineFunc's cannot be
// created by join-or-create (ErrNoRoomNames). The names must match the definition.
func WithRoomNames(names func(id string) string) BehaviorOption {
	return func(b *behaviorDef) { b.namer = names }
}

// behaviorNamed returns the definition named name, or nil.
func (h *nsHooks) behaviorNamed(name string) *behaviorDef {
	p := h.behaviors.Load()
	if p == nil || name == "" {
		return nil
	}
	for _, d := range *p {
		if d.name == name {
			return d
		}
	}
	return nil
}

// listedRoom is a behaviour room's entry in its namespace's registry.
type listedRoom struct {
	def    *behaviorDef
	status *actors.RoomStatus
	meta   *metaBox
}

// metaBox holds a room's metadata as JSON, written by its actor and read by listings.
type metaBox struct {
	mu   sync.Mutex
	json []byte
}

func (m *metaBox) set(b []byte) { m.mu.Lock(); m.json = b; m.mu.Unlock() }
func (m *metaBox) get() []byte  { m.mu.Lock(); defer m.mu.Unlock(); return m.json }

// setMeta encodes v for listings; a value that does not encode is listed as having none.
func (a *roomAdapter) setMeta(v any) {
	if v == nil {
		a.meta.set(nil)
		return
	}
	b, err := packet.MarshalJSON(v)
	switch {
	case err != nil:
		a.c.log.Warn("room metadata is not JSON; listed without it", "err", err)
		b = nil
	case len(b) > MaxListedMetadata:
		a.c.log.Warn("room metadata larger than MaxListedMetadata; listed without it", "bytes", len(b))
		b = nil
	}
	a.meta.set(b)
}

// listed registers a created room of n for listings; unlisted undoes it (for this adapter only: a room
// of the same name created afterwards keeps its entry).
func (a *roomAdapter) listed(name string) {
	a.ns.listed.Store(name, &listedRoom{def: a.def, status: a.status, meta: &a.meta})
}

func (a *roomAdapter) unlisted(name string) {
	if v, ok := a.ns.listed.Load(name); ok && v.(*listedRoom).status == a.status {
		a.ns.listed.CompareAndDelete(name, v)
	}
}

// filter is a parsed room filter: top-level keys and their JSON values decoded (numbers as float64).
type filter map[string]any

// parseFilter parses a JSON object; empty input is the empty filter.
func parseFilter(b []byte) (filter, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != '{' {
		return nil, ErrBadFilter
	}
	var f filter
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, ErrBadFilter
	}
	return f, nil
}

// filterOf converts a Go filter (JSON-marshalable values) to its JSON and parsed forms.
func filterOf(m map[string]any) ([]byte, filter, error) {
	if len(m) == 0 {
		return nil, nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil, errors.Join(ErrBadFilter, err)
	}
	f, err := parseFilter(b)
	return b, f, err
}

// matches reports whether metadata (JSON) is an object holding every key of f with an equal value.
func (f filter) matches(metadata []byte) bool {
	if len(f) == 0 {
		return true
	}
	var m map[string]any
	if len(metadata) == 0 || metadata[0] != '{' || json.Unmarshal(metadata, &m) != nil {
		return false
	}
	return f.within(m)
}

// within reports whether every key of f is in m with an equal value.
func (f filter) within(m map[string]any) bool {
	for k, v := range f {
		w, ok := m[k]
		if !ok || !reflect.DeepEqual(v, w) {
			return false
		}
	}
	return true
}

// localRooms lists this node's open rooms of def matching f, at most MaxListedRooms; truncated says
// there were more.
func (n *Namespace) localRooms(def *behaviorDef, f filter, node string) (out []RoomInfo, truncated bool) {
	n.listed.Range(func(k, v any) bool {
		l := v.(*listedRoom)
		if l.def != def || !l.status.Open() {
			return true
		}
		meta := l.meta.get()
		if !f.matches(meta) {
			return true
		}
		if len(out) == MaxListedRooms {
			truncated = true
			return false
		}
		out = append(out, RoomInfo{Name: k.(string), Node: node, Metadata: json.RawMessage(meta),
			Clients: l.status.Clients(), MaxClients: l.status.MaxClients(), Locked: l.status.Locked()})
		return true
	})
	return out, truncated
}

// Rooms lists the open rooms of the behaviour named behavior (WithName; a Define's prefix by default)
// whose metadata matches filter: a JSON object of which every key holds an equal value (nil or empty:
// every room). In a cluster it asks every node for the rooms it owns and waits for their answers until
// ctx ends, or DefaultListTimeout when ctx has no deadline; a node that did not answer is named in
// Missing and Complete is false (that is not an error). Errors: ErrUnknownBehavior, ErrBadFilter.
func (n *Namespace) Rooms(ctx context.Context, behavior string, filter map[string]any) (RoomList, error) {
	raw, f, err := filterOf(filter)
	if err != nil {
		return RoomList{}, err
	}
	return n.rooms(ctx, behavior, raw, f)
}

// RoomsJSON is Rooms with the filter as JSON text (an HTTP query parameter, say).
func (n *Namespace) RoomsJSON(ctx context.Context, behavior string, filterJSON []byte) (RoomList, error) {
	f, err := parseFilter(filterJSON)
	if err != nil {
		return RoomList{}, err
	}
	return n.rooms(ctx, behavior, bytes.TrimSpace(filterJSON), f)
}

func (n *Namespace) rooms(ctx context.Context, behavior string, raw []byte, f filter) (RoomList, error) {
	def := n.hooks.behaviorNamed(behavior)
	if def == nil {
		return RoomList{}, ErrUnknownBehavior
	}
	list := RoomList{Complete: true}
	l := n.e.link
	self := ""
	if l != nil {
		self = l.node.ID()
	}
	list.Rooms, list.Truncated = n.localRooms(def, f, self)
	if l != nil {
		rooms, missing, truncated := l.listRooms(ctx, n.name, behavior, raw)
		list.Truncated = list.Truncated || truncated
		list.Rooms = append(list.Rooms, rooms...)
		list.Missing = missing
		list.Complete = len(missing) == 0
	}
	// During a move a room may be listed by its old and its new owner: keep one (the one with more
	// members).
	slices.SortFunc(list.Rooms, func(a, b RoomInfo) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return b.Clients - a.Clients
	})
	list.Rooms = slices.CompactFunc(list.Rooms, func(a, b RoomInfo) bool { return a.Name == b.Name })
	if list.Rooms == nil {
		list.Rooms = []RoomInfo{}
	}
	return list, nil
}

// Calls to other nodes (listing, matchmaking) waiting for an answer.

type nodeCall struct {
	node   string
	answer func(msg any) // nil msg: the node left or could not be sent to
}

type nodeCalls struct {
	mu sync.Mutex
	m  map[uint64]*nodeCall
}

func (c *nodeCalls) add(id uint64, call *nodeCall) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[uint64]*nodeCall)
	}
	c.m[id] = call
	c.mu.Unlock()
}

func (c *nodeCalls) take(id uint64) *nodeCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := c.m[id]
	delete(c.m, id)
	return call
}

// down answers the calls waiting for node, which left, with nil.
func (c *nodeCalls) down(node string) {
	c.mu.Lock()
	var gone []*nodeCall
	for id, call := range c.m {
		if call.node == node {
			gone = append(gone, call)
			delete(c.m, id)
		}
	}
	c.mu.Unlock()
	for _, call := range gone {
		call.answer(nil)
	}
}

// listRooms asks every peer for its rooms of behavior and waits for the answers until ctx ends (or
// DefaultListTimeout). It returns the rooms and the peers that did not answer.
func (l *link) listRooms(ctx context.Context, ns, behavior string, filter []byte) (rooms []RoomInfo, missing []string, truncated bool) {
	peers := l.node.Members()
	if len(peers) == 0 {
		return nil, nil, false
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultListTimeout)
		defer cancel()
	}
	type answer struct {
		node  string
		reply *clusterv1.ListRoomsReply
	}
	ch := make(chan answer, len(peers))
	ids := make([]uint64, len(peers))
	for i, p := range peers {
		id := l.reqIDs.Add(1)
		ids[i] = id
		node := p.ID
		l.calls.add(id, &nodeCall{node: node, answer: func(msg any) {
			r, _ := msg.(*clusterv1.ListRoomsReply)
			ch <- answer{node, r}
		}})
		env := &clusterv1.Envelope{Body: &clusterv1.Envelope_ListRooms{ListRooms: &clusterv1.ListRooms{
			RequestId: id, Namespace: ns, Behavior: behavior, Filter: filter}}}
		if err := l.node.Send(node, env); err != nil {
			if c := l.calls.take(id); c != nil {
				c.answer(nil)
			}
		}
	}
	answered := make(map[string]bool, len(peers))
wait:
	for range peers {
		select {
		case a := <-ch:
			if a.reply == nil {
				continue // left, or not reachable: missing
			}
			if a.reply.Error != "" {
				// The node does not know the namespace (a dynamic one not created there) or the
				// behaviour: it owns none of its rooms.
				if a.reply.Error != ErrUnknownNamespace.Error() && a.reply.Error != ErrUnknownBehavior.Error() {
					l.e.log.Debug("room listing failed on a node", "node", a.node, "err", a.reply.Error)
					continue
				}
			}
			answered[a.node] = true
			truncated = truncated || a.reply.Truncated
			for _, r := range a.reply.Rooms {
				rooms = append(rooms, RoomInfo{Name: r.Name, Node: a.node, Metadata: json.RawMessage(r.Metadata),
					Clients: int(r.Clients), MaxClients: int(r.MaxClients), Locked: r.Locked})
			}
		case <-ctx.Done():
			break wait
		}
	}
	for _, id := range ids {
		l.calls.take(id)
	}
	for _, p := range peers {
		if !answered[p.ID] {
			missing = append(missing, p.ID)
		}
	}
	return rooms, missing, truncated
}

// remoteListRooms answers a peer's ListRooms with the rooms this node owns.
func (l *link) remoteListRooms(from string, m *clusterv1.ListRooms) {
	r := &clusterv1.ListRoomsReply{RequestId: m.RequestId}
	send := func() {
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_ListRoomsReply{ListRoomsReply: r}})
	}
	n := l.e.lookup(m.Namespace)
	if n == nil || l.e.state.Load() != stateRunning {
		r.Error = ErrUnknownNamespace.Error()
		send()
		return
	}
	def := n.hooks.behaviorNamed(m.Behavior)
	if def == nil {
		r.Error = ErrUnknownBehavior.Error()
		send()
		return
	}
	f, err := parseFilter(m.Filter)
	if err != nil {
		r.Error = err.Error()
		send()
		return
	}
	infos, truncated := n.localRooms(def, f, "")
	r.Truncated = truncated
	for _, info := range infos {
		r.Rooms = append(r.Rooms, &clusterv1.ListedRoom{Name: info.Name, Metadata: info.Metadata,
			Clients: uint32(info.Clients), MaxClients: uint32(info.MaxClients), Locked: info.Locked})
	}
	send()
}

// remoteCallReply hands a peer's answer (ListRoomsReply, MatchReply) to its waiting call.
func (l *link) remoteCallReply(id uint64, msg any) {
	if c := l.calls.take(id); c != nil {
		c.answer(msg)
	}
}
