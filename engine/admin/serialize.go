package admin

import (
	"encoding/json"
	"net"
	"strings"
	"time"

	"github.com/roomio/roomio/engine"
)

// socketJSON is a socket as the UI lists it (the Node side's serialize).
type socketJSON struct {
	ID string `json:"id"`
	// ClientID groups the sockets of one connection in the UI's clients page: the first 12 characters
	// of the connection id, as on the Node side (the whole Engine.IO session id would let an admin
	// page's reader act as the client).
	ClientID  string          `json:"clientId"`
	Transport string          `json:"transport"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake handshakeJSON   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

// handshakeJSON is Socket.IO's socket.handshake without auth.
type handshakeJSON struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// serializeLocal describes a socket that just connected: it is in its own-id room only (the room_joined
// events that follow add the others).
func serializeLocal(s *engine.Socket) socketJSON {
	return socketJSON{
		ID:        s.ID(),
		ClientID:  clientID(s.ConnectionID()),
		Transport: s.Transport(),
		Nsp:       s.Namespace().Name(),
		Data:      dataJSON(s.Data()),
		Handshake: handshake(s.Handshake()),
		Rooms:     []string{s.ID()},
	}
}

// serializeFetched describes a socket FetchSockets found; local is the socket itself when it is on this
// node and was seen connecting, which gives its live transport and its connection.
func serializeFetched(r *engine.RemoteSocket, local *engine.Socket) socketJSON {
	j := socketJSON{
		ID:        r.ID,
		Nsp:       r.Namespace,
		Data:      dataJSON(r.Data),
		Handshake: handshake(r.Handshake),
		Rooms:     append([]string{}, r.Rooms...),
	}
	if local != nil {
		j.ClientID, j.Transport = clientID(local.ConnectionID()), local.Transport()
		return j
	}
	// Another node's socket: its opening request tells the transport it started on; its connection id
	// is not known here, so it is a client of its own.
	j.ClientID = clientID(r.ID)
	j.Transport = engine.TransportNative
	if r.Handshake.Query.Has("EIO") {
		j.Transport = r.Handshake.Query.Get("transport")
	}
	return j
}

func clientID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// dataJSON is socket.data as JSON; the UI expects an object, so a value that does not marshal is {}.
func dataJSON(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func handshake(h engine.Handshake) handshakeJSON {
	j := handshakeJSON{
		Headers: make(map[string]string, len(h.Headers)),
		Query:   make(map[string]string, len(h.Query)),
		Issued:  h.Time.UnixMilli(),
		Secure:  h.Secure,
		Time:    h.Time.Format("Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"),
		URL:     h.URL,
	}
	// Node's header names are lower case, and repeated headers are joined with ", ".
	for k, v := range h.Headers {
		j.Headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	for k, v := range h.Query {
		if len(v) > 0 {
			j.Query[k] = v[len(v)-1]
		}
	}
	// The Node side shows the address a proxy reports, else the peer's IP.
	switch {
	case j.Headers["cf-connecting-ip"] != "":
		j.Address = j.Headers["cf-connecting-ip"]
	case j.Headers["x-forwarded-for"] != "":
		j.Address = j.Headers["x-forwarded-for"]
	default:
		j.Address = h.RemoteAddr
		if host, _, err := net.SplitHostPort(h.RemoteAddr); err == nil {
			j.Address = host
		}
	}
	_, j.XDomain = h.Headers["Origin"]
	return j
}

// eventArgs is event_received's args: the event name followed by its arguments (a binary argument as
// "<n bytes>").
func eventArgs(ev *engine.Event) json.RawMessage {
	var b strings.Builder
	b.WriteByte('[')
	name, _ := json.Marshal(ev.Name)
	b.Write(name)
	for _, arg := range ev.Args {
		b.WriteByte(',')
		if arg.Binary {
			desc, _ := json.Marshal(arg.String())
			b.Write(desc)
		} else {
			b.Write(arg.Data)
		}
	}
	b.WriteByte(']')
	return json.RawMessage(b.String())
}

// timestamp is a JavaScript Date as JSON.stringify writes it.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
