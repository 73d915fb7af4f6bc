package transport

import "sync/atomic"

// meterShards spreads a Meter's counters over this many cache lines: a connection adds to one shard
// chosen when it opens, so the writers of different connections (socket actors on other cores) rarely
// touch the same line, and counting costs an uncontended atomic add.
const meterShards = 32

// Meter counts what the connections of a front-end carry: messages and bytes in each direction and the
// volatile messages their queues dropped. It is read at scrape time (Totals). The zero Meter is ready;
// a nil *Meter and a nil *MeterShard count nothing.
type Meter struct {
	shards  [meterShards]MeterShard
	next    atomic.Uint32
	refused [numRefusals]atomic.Uint64
}

// Refusal is why a front-end refused a connection or request before any session existed (Meter.Refuse).
type Refusal uint8

// Refusals, with the names MeterTotals.Refused reports them under.
const (
	RefusedConnsPerIP     Refusal = iota // "conns_per_ip": the remote address is at its connection limit (429)
	RefusedOrigin                        // "origin": a cross-origin request not allowed (403)
	RefusedBadRequest                    // "bad_request": a malformed handshake, upgrade or Engine.IO request (400)
	RefusedUnknownSession                // "unknown_session": an Engine.IO request for a session that does not exist (any more)
	RefusedShuttingDown                  // "shutting_down": the server is shutting down (503)
	numRefusals
)

var refusalNames = [numRefusals]string{"conns_per_ip", "origin", "bad_request", "unknown_session", "shutting_down"}

// String returns the refusal's name.
func (r Refusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

// Refuse counts a refusal (nothing when m is nil).
func (m *Meter) Refuse(r Refusal) {
	if m != nil && r < numRefusals {
		m.refused[r].Add(1)
	}
}

// MeterShard is the part of a Meter one connection adds to.
type MeterShard struct {
	msgsIn, bytesIn, msgsOut, bytesOut, dropped atomic.Uint64
	_                                           [128 - 5*8]byte // one shard per pair of cache lines
}

// Shard returns the shard the next connection counts on (round robin); nil when m is nil.
func (m *Meter) Shard() *MeterShard {
	if m == nil {
		return nil
	}
	return &m.shards[m.next.Add(1)%meterShards]
}

// Received counts one message of n bytes read from a client.
func (s *MeterShard) Received(n int) {
	if s == nil {
		return
	}
	s.msgsIn.Add(1)
	s.bytesIn.Add(uint64(n))
}

// queued counts one message of n bytes accepted by an outbound queue.
func (s *MeterShard) queued(n int) {
	if s == nil {
		return
	}
	s.msgsOut.Add(1)
	s.bytesOut.Add(uint64(n))
}

func (s *MeterShard) drop() {
	if s != nil {
		s.dropped.Add(1)
	}
}

// MeterTotals are a Meter's counters summed over its shards.
type MeterTotals struct {
	// MessagesIn and BytesIn count what the connections read from clients: WebSocket messages (a native
	// frame, an Engine.IO packet) and POSTed long-polling payloads, with their sizes on the wire.
	MessagesIn, BytesIn uint64
	// MessagesOut and BytesOut count what the servers queued for clients: encoded messages (a Socket.IO
	// packet with its attachments is one message) and their bytes, protocol messages (Engine.IO pings,
	// CONNECT answers) included.
	MessagesOut, BytesOut uint64
	// Dropped counts volatile messages dropped because their connection's queue was full.
	Dropped uint64
	// Refused counts refused connections and requests by Refusal name; every name is present.
	Refused map[string]uint64
}

// Totals sums the shards.
func (m *Meter) Totals() MeterTotals {
	t := MeterTotals{Refused: make(map[string]uint64, numRefusals)}
	for r := range numRefusals {
		t.Refused[r.String()] = 0
	}
	if m == nil {
		return t
	}
	for r := range numRefusals {
		t.Refused[r.String()] = m.refused[r].Load()
	}
	for i := range m.shards {
		s := &m.shards[i]
		t.MessagesIn += s.msgsIn.Load()
		t.BytesIn += s.bytesIn.Load()
		t.MessagesOut += s.msgsOut.Load()
		t.BytesOut += s.bytesOut.Load()
		t.Dropped += s.dropped.Load()
	}
	return t
}
