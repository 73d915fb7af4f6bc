package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Scenario names a load shape.
type Scenario string

// The scenarios.
const (
	// Fanout: Clients join one room; the first Publishers of them emit into it.
	Fanout Scenario = "fanout"
	// ManyRooms: Clients are spread round-robin over Rooms rooms and every one of them emits into its room.
	ManyRooms Scenario = "rooms"
	// Idle: Clients connect and stay connected for Duration; what is measured is whether they connect,
	// how fast, whether they stay, and (with PIDs) what the server holds per connection. With Rooms, each
	// client joins one of them (round-robin) first; without, it joins none.
	Idle Scenario = "idle"
	// ConnectStorm: Clients connect as fast as Concurrency allows, then disconnect: the connect latency
	// distribution and the errors.
	ConnectStorm Scenario = "connect-storm"
)

// Protocol names what the tool speaks to the server.
type Protocol string

// The protocols.
const (
	// SocketIO is Socket.IO v5 over Engine.IO v4 WebSocket (transport=websocket from the start, as
	// socket.io-client with transports: ["websocket"]).
	SocketIO Protocol = "socketio"
	// SocketIOPolling is Socket.IO v5 over Engine.IO v4 HTTP long-polling, never upgraded.
	SocketIOPolling Protocol = "socketio-polling"
	// Native is roomio's native protocol (package client, protobuf frames).
	Native Protocol = "native"
)

// Config describes a run. The zero value of a field means the default it documents; URL is required.
// The chat contract (join(room) with an ack, say(room, payload) → said {room, from, payload} to the room)
// is the default; the event fields adapt the tool to a server with other names.
type Config struct {
	// URL is the server's base URL: http(s)://host:port. A path in it is kept and replaces Path. Several
	// URLs separated by commas (the nodes of a cluster) spread the clients round-robin: client i dials
	// URL number i mod n, so the first publisher dials the first.
	URL string
	// Path is the endpoint path. Zero means /socket.io/ for Socket.IO and /ws for native.
	Path     string
	Scenario Scenario // zero means Fanout
	Protocol Protocol // zero means SocketIO
	// Clients is the number of connections. Zero means 100.
	Clients int
	// Rooms is the number of rooms of ManyRooms (zero means Clients/10, at least 1) or Idle (zero means
	// none joined). Fanout uses one room.
	Rooms int
	// Publishers is how many of the clients emit. Fanout: the first Publishers clients, members of the
	// room like the others; zero means 1. ManyRooms: zero (or Clients) means every client emits into its
	// own room; fewer makes the first Publishers clients dedicated publishers that join every room and
	// emit into the rooms in turn, while the other clients are spread over the rooms and only receive.
	Publishers int
	// Rate is each publisher's emits per second. Zero means flat out: each publisher keeps Window emits
	// on their way and sends the next when one comes back to it (the chat contract delivers said to the
	// sender too), so the server sets the pace and the backlog stays bounded.
	Rate float64
	// Window is a flat-out publisher's emits in flight. Zero means 16.
	Window int
	// Messages stops each publisher after that many emits; zero means it emits until Duration ends.
	Messages int
	// Duration is how long publishers emit (Fanout, ManyRooms) or connections are held (Idle). Zero
	// means 10s.
	Duration time.Duration
	// Drain bounds the wait for outstanding deliveries after the last emit. Zero means 5s.
	Drain time.Duration
	// PayloadBytes pads each emit's payload to about this many bytes. Zero means 64.
	PayloadBytes int
	// Concurrency is how many connections are being opened at once. Zero means 100.
	Concurrency int
	// ConnectTimeout bounds one connection's dial, handshake, namespace connect and join, and the write
	// of one emit (a write that takes longer ends that publisher with an emit error). Zero means 10s.
	ConnectTimeout time.Duration
	// Namespace is the Socket.IO or native namespace. Zero means "/".
	Namespace string
	// Auth is the JSON object sent with the namespace connect (Socket.IO auth, native auth); empty sends
	// none.
	Auth string
	// RoomPrefix names the rooms: "<prefix>-<run tag>-<n>", the tag random per run so that runs never
	// share rooms. Zero means "bench".
	RoomPrefix string
	// JoinEvent is emitted with the room name and an ack before a client receives. Zero means "join";
	// "-" skips joining (a server that places sockets in rooms by itself).
	JoinEvent string
	// SayEvent is what publishers emit. Zero means "say".
	SayEvent string
	// SaidEvent is the event receivers count. Zero means "said".
	SaidEvent string
	// SayArgs is the say event's arguments, in order, comma-separated: "room" for the room name and
	// "payload" for the payload object. Zero means "room,payload".
	SayArgs string
	// Interval is the progress and timeline interval. Zero means 1s.
	Interval time.Duration
	// PIDs are server processes to sample from /proc over the measured window (CPU time, VmRSS): the
	// Result's ServerStats. Linux only; every pid must exist when the run starts.
	PIDs []int
	// Label is copied into the Result, to tell runs apart in a file of several (roomio-bench compare).
	Label string
	// Progress receives one line per interval (connected, emits/s, deliveries/s, p50/p99, errors); nil
	// writes none.
	Progress io.Writer
}

// Validation errors wrap ErrConfig.
var ErrConfig = errors.New("loadgen: invalid config")

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if c.Scenario == "" {
		c.Scenario = Fanout
	}
	if c.Protocol == "" {
		c.Protocol = SocketIO
	}
	switch c.Scenario {
	case Fanout, ManyRooms, Idle, ConnectStorm:
	default:
		return bad("unknown scenario %q (fanout, rooms, idle, connect-storm)", c.Scenario)
	}
	switch c.Protocol {
	case SocketIO, SocketIOPolling, Native:
	default:
		return bad("unknown protocol %q (socketio, socketio-polling, native)", c.Protocol)
	}
	var u *url.URL
	for i, s := range strings.Split(c.URL, ",") {
		v, err := url.Parse(s)
		if err != nil || s == "" {
			return bad("url %q: want http(s)://host:port", s)
		}
		switch v.Scheme {
		case "http", "https", "ws", "wss":
		default:
			return bad("url %q: want http(s)://host:port", s)
		}
		if v.Host == "" {
			return bad("url %q has no host", s)
		}
		if i == 0 {
			u = v
		} else if v.Path != u.Path {
			return bad("urls %q: every URL must have the same path", c.URL)
		}
	}
	if c.Path == "" && u.Path != "" && u.Path != "/" {
		c.Path = u.Path
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
		if c.Protocol == Native {
			c.Path = "/ws"
		}
	}
	if c.Clients == 0 {
		c.Clients = 100
	}
	if c.Clients < 0 {
		return bad("clients %d", c.Clients)
	}
	if c.Rooms < 0 {
		return bad("rooms %d", c.Rooms)
	}
	if c.Publishers < 0 || c.Publishers > c.Clients {
		return bad("publishers %d: between 0 and clients (%d)", c.Publishers, c.Clients)
	}
	switch c.Scenario {
	case Fanout:
		c.Rooms = 1
		if c.Publishers == 0 {
			c.Publishers = 1
		}
	case ManyRooms:
		if c.Rooms == 0 {
			c.Rooms = max(c.Clients/10, 1)
		}
		if c.Publishers == 0 {
			c.Publishers = c.Clients
		}
	case Idle:
		c.Publishers = 0
	default:
		c.Publishers, c.Rooms = 0, 0
	}
	for _, pid := range c.PIDs {
		if pid <= 0 {
			return bad("pid %d", pid)
		}
		if _, _, err := procCPUTicks(pid); err != nil {
			return bad("%v", err)
		}
	}
	if c.Window == 0 {
		c.Window = 16
	}
	if c.Rate < 0 || c.Window < 0 || c.Messages < 0 || c.Duration < 0 || c.Drain < 0 || c.PayloadBytes < 0 ||
		c.Concurrency < 0 || c.ConnectTimeout < 0 || c.Interval < 0 {
		return bad("negative rate, messages, duration, drain, payload, concurrency, timeout or interval")
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = 64
	}
	if c.Concurrency == 0 {
		c.Concurrency = 100
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Namespace == "" {
		c.Namespace = "/"
	}
	if !strings.HasPrefix(c.Namespace, "/") || strings.ContainsAny(c.Namespace, ",") {
		return bad("namespace %q: must start with / and contain no comma", c.Namespace)
	}
	if c.Auth != "" {
		var obj map[string]any
		if json.Unmarshal([]byte(c.Auth), &obj) != nil {
			return bad("auth is not a JSON object")
		}
	}
	if c.RoomPrefix == "" {
		c.RoomPrefix = "bench"
	}
	if c.JoinEvent == "" {
		c.JoinEvent = "join"
	}
	if c.SayEvent == "" {
		c.SayEvent = "say"
	}
	if c.SaidEvent == "" {
		c.SaidEvent = "said"
	}
	if c.SayArgs == "" {
		c.SayArgs = "room,payload"
	}
	hasPayload := false
	for _, a := range strings.Split(c.SayArgs, ",") {
		switch a {
		case "room":
		case "payload":
			hasPayload = true
		default:
			return bad("say-args %q: comma-separated room and payload", c.SayArgs)
		}
	}
	if !hasPayload {
		return bad("say-args %q has no payload: latency travels in it", c.SayArgs)
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	return c, nil
}

// targets returns the URLs dialled (without Engine.IO query parameters), one per URL of c.URL.
func (c Config) targets() []string {
	var out []string
	for _, s := range strings.Split(c.URL, ",") {
		out = append(out, c.target(s))
	}
	return out
}

// target returns the URL dialled for base URL s.
func (c Config) target(s string) string {
	u, _ := url.Parse(s)
	u.Path = c.Path
	u.RawQuery = ""
	switch c.Protocol {
	case Native:
		switch u.Scheme {
		case "http":
			u.Scheme = "ws"
		case "https":
			u.Scheme = "wss"
		}
	default:
		switch u.Scheme {
		case "ws":
			u.Scheme = "http"
		case "wss":
			u.Scheme = "https"
		}
	}
	return u.String()
}

func (c Config) params() Params {
	return Params{Clients: c.Clients, Rooms: c.Rooms, Publishers: c.Publishers, Rate: c.Rate,
		Window: c.Window, Messages: c.Messages, DurationSec: c.Duration.Seconds(), PayloadBytes: c.PayloadBytes,
		Concurrency: c.Concurrency, Namespace: c.Namespace, JoinEvent: c.JoinEvent, SayEvent: c.SayEvent,
		SaidEvent: c.SaidEvent, SayArgs: c.SayArgs}
}
