package loadgen

import "time"

// SchemaVersion names the layout of [Result] in its JSON form ("schema" field). It changes when a field
// is removed or changes meaning; new fields may appear without a change.
const SchemaVersion = "roomio-bench/v1"

// Result is what a run measured. Its JSON form (the tags below) is the -json output of roomio-bench;
// docs/benchmarks.md describes it. Durations are seconds, latencies milliseconds.
type Result struct {
	Schema   string    `json:"schema"`          // SchemaVersion
	Scenario Scenario  `json:"scenario"`        // fanout, rooms, idle or connect-storm
	Protocol Protocol  `json:"protocol"`        // socketio, socketio-polling or native
	Target   string    `json:"target"`          // the URL dialled
	Label    string    `json:"label,omitempty"` // Config.Label
	Started  time.Time `json:"started"`
	Params   Params    `json:"params"`
	// Phases gives how long each phase took: connecting (and joining), sending, waiting for the last
	// deliveries, closing.
	Phases      Phases          `json:"phases"`
	Connections ConnectionStats `json:"connections"`
	Messages    MessageStats    `json:"messages"`
	// Latency is the time from a publisher's emit (a timestamp in the payload) to a receiver's receipt,
	// over every delivery.
	Latency  LatencyStats `json:"latency"`
	Errors   ErrorStats   `json:"errors"`
	Timeline []Sample     `json:"timeline"` // one sample per progress interval
	// ServerStats (nil without Config.PIDs) is the server's CPU and memory over the measured window; its
	// fields are at the top level of the JSON form (server_cpu_us_per_delivery, …).
	*ServerStats
}

// Params are the settings the run used, after defaults.
type Params struct {
	Clients      int     `json:"clients"`
	Rooms        int     `json:"rooms"`
	Publishers   int     `json:"publishers"`
	Rate         float64 `json:"rate"`     // emits/s per publisher; 0: flat out, Window in flight
	Window       int     `json:"window"`   // flat out: emits in flight per publisher
	Messages     int     `json:"messages"` // per publisher; 0: until the duration ends
	DurationSec  float64 `json:"duration_sec"`
	PayloadBytes int     `json:"payload_bytes"`
	Concurrency  int     `json:"concurrency"`
	Namespace    string  `json:"namespace"`
	JoinEvent    string  `json:"join_event"`
	SayEvent     string  `json:"say_event"`
	SaidEvent    string  `json:"said_event"`
	SayArgs      string  `json:"say_args"`
}

// Phases are the durations of the run's phases, in seconds.
type Phases struct {
	ConnectSec float64 `json:"connect_sec"`
	SendSec    float64 `json:"send_sec"`
	DrainSec   float64 `json:"drain_sec"`
	CloseSec   float64 `json:"close_sec"`
}

// ConnectionStats counts connections. ConnectLatency is the time from the start of the dial to the
// server's namespace connect answer (Socket.IO CONNECT, native Connected), joins not included.
type ConnectionStats struct {
	Attempted      int          `json:"attempted"`
	Connected      int          `json:"connected"`
	Failed         int          `json:"failed"`
	Lost           int          `json:"lost"`            // connections the server ended before the tool closed them
	PerSec         float64      `json:"per_sec"`         // connected / connect phase
	ConnectLatency LatencyStats `json:"connect_latency"` // one value per successful connection
}

// MessageStats counts emits and deliveries. In fanout and rooms every receiver joined its room before the
// first emit, so Expected (the sum over successful emits of the members of the emit's room, the sender
// included as the chat contract has it) is what an exactly-once server delivers: Missing is
// Expected − (Deliveries − Duplicates) when positive. Duplicates counts deliveries whose sequence number
// was not above the last one the receiver had from the same publisher (a repeat or a reordering).
type MessageStats struct {
	Emits            int64   `json:"emits"`
	Deliveries       int64   `json:"deliveries"`
	Expected         int64   `json:"expected"`
	Duplicates       int64   `json:"duplicates"`
	Missing          int64   `json:"missing"`
	EmitsPerSec      float64 `json:"emits_per_sec"`      // over the send phase
	DeliveriesPerSec float64 `json:"deliveries_per_sec"` // deliveries over send + drain
}

// LatencyStats summarise a histogram. Buckets lists the non-empty buckets in increasing order; a bucket
// counts the values v with FromMs ≤ v < ToMs (buckets are at most ~3 % wide, so quantiles are exact to
// that).
type LatencyStats struct {
	Count   uint64   `json:"count"`
	MinMs   float64  `json:"min_ms"`
	MeanMs  float64  `json:"mean_ms"`
	P50Ms   float64  `json:"p50_ms"`
	P90Ms   float64  `json:"p90_ms"`
	P99Ms   float64  `json:"p99_ms"`
	P999Ms  float64  `json:"p999_ms"`
	MaxMs   float64  `json:"max_ms"`
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one histogram bucket.
type Bucket struct {
	FromMs float64 `json:"from_ms"`
	ToMs   float64 `json:"to_ms"`
	Count  uint64  `json:"count"`
}

// ErrorStats counts errors by kind, with the first few messages as samples.
type ErrorStats struct {
	Total      int64    `json:"total"`
	Connect    int64    `json:"connect"`    // dial, handshake or namespace connect failed or timed out
	Join       int64    `json:"join"`       // join not acknowledged, or acknowledged {"ok":false}
	Emit       int64    `json:"emit"`       // an emit could not be written
	Disconnect int64    `json:"disconnect"` // the server ended a connection the tool had not closed
	Samples    []string `json:"samples"`    // up to 10 distinct messages
}

// Sample is the state at the end of one progress interval.
type Sample struct {
	TSec          float64 `json:"t_sec"` // since the start of the run
	Phase         string  `json:"phase"` // connect, send, drain or close
	Connected     int64   `json:"connected"`
	EmitsPerSec   float64 `json:"emits_per_sec"`
	DeliveriesSec float64 `json:"deliveries_per_sec"`
	P50Ms         float64 `json:"p50_ms"` // deliveries of this interval only
	P99Ms         float64 `json:"p99_ms"`
	Errors        int64   `json:"errors"` // total so far
}
