package engine

import (
	"sync/atomic"
	"time"

	"github.com/roomio/roomio/transport"
)

// counters are the engine's hot-path counters that Stats does not hold: plain atomics added to where
// things happen and read by Counters (a metrics scrape). What the connections carry is counted by the
// front-ends on a sharded transport.Meter, so that the fan-out's per-recipient work touches no shared
// cache line.
type counters struct {
	meter         transport.Meter
	eventsIn      atomic.Uint64 // client events received
	emits         atomic.Uint64 // events emitted by the application
	ackTimeouts   atomic.Uint64
	connectErrors [numConnectRefusals]atomic.Uint64
	closes        [len(closeReasons) + 1]atomic.Uint64 // by closeReasons index; the last one is "other"
	latency       histogram                            // emit to enqueued
}

// connectRefusal is why a namespace CONNECT was answered with a connect error.
type connectRefusal uint8

const (
	refusedNamespace   connectRefusal = iota // no such namespace
	refusedAuth                              // Config.Auth refused the client, or the rooms of its identity
	refusedMiddleware                        // a connect middleware returned an error
	refusedServerError                       // the socket could not be started (the engine is stopping)
	numConnectRefusals
)

var connectRefusalNames = [numConnectRefusals]string{"invalid_namespace", "auth", "middleware", "server_error"}

// closeReasons are the reasons a connection ends with (Observer.ConnClosed), each with the close code a
// native client sees; an unknown one is counted as "other".
var closeReasons = [...]struct {
	reason string
	code   int
}{
	{transport.ReasonTransportClose, 0},
	{transport.ReasonTransportError, 0},
	{transport.ReasonPingTimeout, transport.ClosePingTimeout},
	{transport.ReasonShuttingDown, transport.CloseGoingAway},
	{transport.ReasonParseError, transport.CloseProtocolError},
	{transport.ReasonForcedClose, transport.CloseNormal},
	{transport.ReasonServerDisconnect, transport.CloseNormal},
	{transport.ReasonClientDisconnect, 0},
	{transport.ReasonSlowClient, transport.CloseSlowClient},
	{transport.ReasonTooBig, transport.CloseTooBig},
	{transport.ReasonConnectTimeout, transport.CloseConnectTimeout},
	{transport.ReasonRateLimited, transport.CloseRateLimited},
	{transport.ReasonBackpressure, transport.CloseBackpressure},
}

func (c *counters) closed(reason string) {
	i := 0
	for i < len(closeReasons) && closeReasons[i].reason != reason {
		i++
	}
	c.closes[i].Add(1)
}

// Counters are the engine's traffic counters since New, for monitoring (engine/metrics exports them to
// Prometheus). Reading them costs a few hundred atomic loads; the counting itself is a sharded or
// per-emit atomic add, never a lock.
type Counters struct {
	// EventsReceived counts the events clients sent (EVENT packets on a connected namespace).
	EventsReceived uint64
	// EventsEmitted counts the events the application emitted on this node: each Emit of a broadcast
	// operator (once per namespace it targets) and each Socket.Emit/EmitWithAck.
	EventsEmitted uint64
	// MessagesReceived and BytesReceived count what the connections read: WebSocket messages (a native
	// frame, an Engine.IO packet) and long-polling POST bodies, with their sizes on the wire.
	MessagesReceived, BytesReceived uint64
	// MessagesSent and BytesSent count the messages queued to client connections, one per recipient:
	// events delivered to sockets, acks, CONNECT answers, connect errors and Engine.IO protocol packets;
	// BytesSent is their encoded size.
	MessagesSent, BytesSent uint64
	// VolatileDropped counts volatile messages dropped because their connection's queue was full (a
	// non-volatile one closes the connection instead: ConnectionsClosed["slow client"]).
	VolatileDropped uint64
	// AckTimeouts counts EmitWithAck calls (broadcast, socket, server-side) whose context ended before
	// every expected ack arrived.
	AckTimeouts uint64
	// ConnectionsClosed counts closed connections by reason (Observer.ConnClosed's reason; "other" for
	// one not listed in CloseReasons). Every reason is present.
	ConnectionsClosed map[string]uint64
	// ConnectErrors counts namespace CONNECTs answered with a connect error, by cause: invalid_namespace,
	// auth, middleware, server_error. Every cause is present.
	ConnectErrors map[string]uint64
	// HandshakeErrors counts connections and requests the front-ends refused before any session
	// existed: conns_per_ip, origin, bad_request, unknown_session, shutting_down. Every cause is present.
	HandshakeErrors map[string]uint64
	// EmitLatency is the time from a local broadcast's Emit until every actor on this node has handled
	// it: the last recipient's message is in its connection's queue.
	EmitLatency Histogram
}

// CloseReasons lists the reasons a connection closes with, with the WebSocket close code a native
// client gets for each (0: none is sent, the peer closed or the connection broke).
func CloseReasons() map[string]int {
	m := make(map[string]int, len(closeReasons))
	for _, r := range closeReasons {
		m[r.reason] = r.code
	}
	return m
}

// Histogram is a cumulative histogram of durations.
type Histogram struct {
	// Bounds are the buckets' upper bounds, ascending; Counts[i] counts the observations <= Bounds[i],
	// so Counts is cumulative. Observations above the last bound are counted in Count only.
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Counters returns the engine's traffic counters.
func (e *Engine) Counters() Counters {
	c := &e.ctr
	m := c.meter.Totals()
	out := Counters{
		EventsReceived:    c.eventsIn.Load(),
		EventsEmitted:     c.emits.Load(),
		MessagesReceived:  m.MessagesIn,
		BytesReceived:     m.BytesIn,
		MessagesSent:      m.MessagesOut,
		BytesSent:         m.BytesOut,
		VolatileDropped:   m.Dropped,
		AckTimeouts:       c.ackTimeouts.Load(),
		ConnectionsClosed: make(map[string]uint64, len(closeReasons)+1),
		ConnectErrors:     make(map[string]uint64, numConnectRefusals),
		HandshakeErrors:   m.Refused,
		EmitLatency:       c.latency.snapshot(),
	}
	for i, r := range closeReasons {
		out.ConnectionsClosed[r.reason] = c.closes[i].Load()
	}
	out.ConnectionsClosed["other"] = c.closes[len(closeReasons)].Load()
	for i, name := range connectRefusalNames {
		out.ConnectErrors[name] = c.connectErrors[i].Load()
	}
	return out
}

// latencyBounds are the emit latency histogram's buckets: 10 µs to 2.5 s.
var latencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
}

// histogram is a fixed-bucket histogram of atomics: an observation is a bucket search over a few bounds
// and three atomic adds.
type histogram struct {
	buckets [len(latencyBounds) + 1]atomic.Uint64 // non-cumulative; the last is above every bound
	sum     atomic.Int64                          // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: latencyBounds[:], Counts: make([]uint64, len(latencyBounds))}
	var cum uint64
	for i := range latencyBounds {
		cum += h.buckets[i].Load()
		out.Counts[i] = cum
	}
	out.Count = cum + h.buckets[len(latencyBounds)].Load()
	out.Sum = time.Duration(h.sum.Load())
	return out
}

// epoch is the reference of the engine's monotonic clock readings (actors.Broadcast.Born).
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }
