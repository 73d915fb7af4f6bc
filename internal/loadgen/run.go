package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// echoTimeout bounds a flat-out publisher's wait for one of its emits to come back to it.
const echoTimeout = 5 * time.Second

// runConfig is the Config after defaults, with what the connections share precomputed.
type runConfig struct {
	Config
	target     string
	hc         *http.Client
	saidPrefix []byte   // `["said"`
	sayPrefix  []byte   // `["say"`
	sayArgs    []string // "room" / "payload"
}

// appendSayArgs writes the say event's payload array, `["say",…]`, onto b.
func (rc *runConfig) appendSayArgs(b []byte, room string, payload []byte) []byte {
	b = append(b, rc.sayPrefix...)
	for _, a := range rc.sayArgs {
		b = append(b, ',')
		if a == "room" {
			r, _ := json.Marshal(room)
			b = append(b, r...)
		} else {
			b = append(b, payload...)
		}
	}
	return append(b, ']')
}

// benchClient is one connection of the run and what its receiving side tracks.
type benchClient struct {
	idx  int
	room int // index into runner.rooms; -1 when the scenario has none
	// everyRoom: a dedicated ManyRooms publisher, member of every room; it emits into them in turn,
	// starting at room.
	everyRoom bool
	c         conn
	// joined is set when the client is a member of its room (the join was acknowledged).
	joined bool
	// window holds a token per emit of this (flat-out) publisher not yet echoed back to it.
	window chan struct{}
	// last holds, per publisher (per publisher and room for dedicated ManyRooms publishers), the last
	// sequence number received: only the connection's receiving goroutine touches it.
	last map[int64]int64
}

// runner holds a run's state. Counters are atomics: the connections' goroutines update them while the
// progress goroutine reads them.
type runner struct {
	rc      *runConfig
	nodes   []*runConfig // rc dialling each URL of Config.URL; client i dials nodes[i mod len]
	base    time.Time    // latencies are measured on this monotonic clock
	rooms   []string
	members []atomic.Int64 // per room: clients that joined it
	clients []*benchClient

	connected, lost         atomic.Int64
	emits, deliveries, dups atomic.Int64
	expected                atomic.Int64
	errConnect, errJoin     atomic.Int64
	errEmit, errDisconnect  atomic.Int64
	lat, connLat            histogram
	cur                     atomic.Pointer[histogram] // this progress interval's latencies
	phase                   atomic.Pointer[string]
	closing                 atomic.Bool

	draining  atomic.Bool
	drained   chan struct{}
	drainOnce sync.Once

	samplesMu  sync.Mutex
	errSamples []string
}

// Run connects, runs the scenario and closes every connection it opened, then returns what it measured.
// It fails only on an invalid Config (an error wrapping ErrConfig); a server that refuses or drops
// connections shows in the Result's errors. Cancelling ctx cuts the current phase short and returns
// the partial Result with ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	targets := cfg.targets()
	rc := &runConfig{Config: cfg, target: targets[0], saidPrefix: eventPrefix(cfg.SaidEvent),
		sayPrefix: eventPrefix(cfg.SayEvent), sayArgs: strings.Split(cfg.SayArgs, ",")}
	// One HTTP transport for every connection: long-polling keeps a GET and a POST per connection.
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: 0,
		MaxIdleConnsPerHost: 2*cfg.Clients + 16, IdleConnTimeout: 30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second}
	rc.hc = &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	r := &runner{rc: rc, base: time.Now(), drained: make(chan struct{})}
	for _, t := range targets {
		node := *rc // the same settings, dialling another node
		node.target = t
		r.nodes = append(r.nodes, &node)
	}
	r.cur.Store(new(histogram))
	r.setPhase("connect")
	var tag [3]byte
	_, _ = rand.Read(tag[:])
	for i := range cfg.Rooms {
		r.rooms = append(r.rooms, fmt.Sprintf("%s-%s-%d", cfg.RoomPrefix, hex.EncodeToString(tag[:]), i))
	}
	r.members = make([]atomic.Int64, len(r.rooms))
	res := &Result{Schema: SchemaVersion, Scenario: cfg.Scenario, Protocol: cfg.Protocol, Target: strings.Join(targets, ","),
		Label: cfg.Label, Started: r.base.UTC(), Params: cfg.params()}
	var srv *serverSampler
	if len(cfg.PIDs) > 0 {
		srv = newServerSampler(cfg.PIDs)
		res.ServerStats = &srv.stats
	}

	// The progress goroutine samples every interval until the run ends.
	stopProgress := make(chan struct{})
	var timeline []Sample
	var pwg sync.WaitGroup
	pwg.Go(func() { timeline = r.progress(stopProgress) })

	t0 := time.Now()
	r.connectAll(ctx)
	res.Phases.ConnectSec = time.Since(t0).Seconds()

	t1 := time.Now()
	srv.windowStart()
	switch cfg.Scenario {
	case Fanout, ManyRooms:
		if ctx.Err() == nil {
			r.setPhase("send")
			r.publish(ctx)
			res.Phases.SendSec = time.Since(t1).Seconds()
			t2 := time.Now()
			r.setPhase("drain")
			r.drain(ctx)
			res.Phases.DrainSec = time.Since(t2).Seconds()
		}
	case Idle:
		r.setPhase("hold")
		select {
		case <-time.After(cfg.Duration):
		case <-ctx.Done():
		}
		res.Phases.SendSec = time.Since(t1).Seconds()
	}
	srv.windowEnd()

	t3 := time.Now()
	r.setPhase("close")
	r.closeAll()
	res.Phases.CloseSec = time.Since(t3).Seconds()
	close(stopProgress)
	pwg.Wait()

	r.fill(res)
	srv.fill(res)
	res.Timeline = timeline
	if res.Timeline == nil {
		res.Timeline = []Sample{}
	}
	return res, ctx.Err()
}

func (r *runner) setPhase(p string) { r.phase.Store(&p) }

// errorf counts err under kind and keeps its message as a sample.
func (r *runner) errorf(kind *atomic.Int64, format string, a ...any) {
	kind.Add(1)
	msg := fmt.Sprintf(format, a...)
	r.samplesMu.Lock()
	if len(r.errSamples) < 10 && !slices.Contains(r.errSamples, msg) {
		r.errSamples = append(r.errSamples, msg)
	}
	r.samplesMu.Unlock()
}

func (r *runner) errorCount() int64 {
	return r.errConnect.Load() + r.errJoin.Load() + r.errEmit.Load() + r.errDisconnect.Load()
}

// connectAll opens every connection, Concurrency at a time, and joins each to its room.
func (r *runner) connectAll(ctx context.Context) {
	cfg := r.rc.Config
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range cfg.Clients {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if bc := r.connectOne(ctx, i); bc != nil {
				mu.Lock()
				r.clients = append(r.clients, bc)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(r.clients, func(a, b *benchClient) int { return a.idx - b.idx })
}

func (r *runner) connectOne(ctx context.Context, i int) *benchClient {
	cfg := r.rc.Config
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	bc := &benchClient{idx: i, room: -1, last: map[int64]int64{}}
	if cfg.Rate == 0 {
		bc.window = make(chan struct{}, cfg.Window)
	}
	if len(r.rooms) > 0 {
		bc.room = i % len(r.rooms)
		if cfg.Scenario == ManyRooms && cfg.Publishers < cfg.Clients {
			// Dedicated publishers first, in every room; the receivers spread over the rooms after them.
			bc.everyRoom = i < cfg.Publishers
			if !bc.everyRoom {
				bc.room = (i - cfg.Publishers) % len(r.rooms)
			}
		}
	}
	hooks := connHooks{said: func(args []byte) { r.said(bc, args) }, ended: r.ended}
	start := time.Now()
	var c conn
	var err error
	if cfg.Protocol == Native {
		c, err = dialNative(ctx, r.nodes[i%len(r.nodes)], hooks)
	} else {
		c, err = dialSIO(ctx, r.nodes[i%len(r.nodes)], hooks)
	}
	if err != nil {
		r.errorf(&r.errConnect, "connect: %v", err)
		return nil
	}
	r.connLat.Record(time.Since(start))
	r.connected.Add(1)
	bc.c = c
	if bc.room < 0 {
		return bc
	}
	rooms := []int{bc.room}
	if bc.everyRoom {
		rooms = rooms[:0]
		for k := range r.rooms {
			rooms = append(rooms, k)
		}
	}
	for _, k := range rooms {
		if cfg.JoinEvent != "-" {
			if err := c.join(ctx, r.rooms[k]); err != nil {
				r.errorf(&r.errJoin, "join: %v", err)
				return bc // connected: it is closed with the others, but publishes nowhere
			}
		}
		r.members[k].Add(1)
	}
	bc.joined = true
	return bc
}

// ended counts a connection the server ended (or that failed) while the tool was not closing it.
func (r *runner) ended(err error) {
	if r.closing.Load() || err == errClosed {
		return
	}
	r.lost.Add(1)
	r.errorf(&r.errDisconnect, "disconnected: %v", err)
}

// said records one delivery to bc.
func (r *runner) said(bc *benchClient, args []byte) {
	pub, seq, t, ok := parseMarker(args)
	if !ok {
		return // a said event the tool did not send
	}
	d := time.Since(r.base) - time.Duration(t)
	r.lat.Record(d)
	r.cur.Load().Record(d)
	n := r.deliveries.Add(1)
	if pub == int64(bc.idx) && bc.window != nil {
		select { // an own emit came back: the next may go
		case <-bc.window:
		default:
		}
	}
	// Order holds per emitter and room: a dedicated publisher's emits into different rooms (which it
	// receives all of) may overtake each other, so its sequence is tracked per room.
	key := pub
	if cfg := &r.rc.Config; cfg.Scenario == ManyRooms && cfg.Publishers < cfg.Clients {
		key = pub*int64(len(r.rooms)) + seq%int64(len(r.rooms))
	}
	if last, seen := bc.last[key]; seen && seq <= last {
		r.dups.Add(1)
	} else {
		bc.last[key] = seq
	}
	if r.draining.Load() && n-r.dups.Load() >= r.expected.Load() {
		r.drainOnce.Do(func() { close(r.drained) })
	}
}

// publish runs the publishers until Duration ends or each has sent Messages.
func (r *runner) publish(ctx context.Context) {
	cfg := r.rc.Config
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, bc := range r.clients {
		if bc.idx >= cfg.Publishers {
			break
		}
		if !bc.joined {
			continue // the chat refuses a say from a non-member
		}
		wg.Go(func() { r.publisher(ctx, bc) })
	}
	wg.Wait()
}

func (r *runner) publisher(ctx context.Context, bc *benchClient) {
	cfg := r.rc.Config
	var interval time.Duration
	next := time.Now()
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
		// Spread the publishers' first emits over one interval rather than firing them together.
		next = next.Add(time.Duration(bc.idx) * interval / time.Duration(max(cfg.Publishers, 1)) % interval)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	buf := make([]byte, 0, cfg.PayloadBytes+64)
	for seq := 0; cfg.Messages == 0 || seq < cfg.Messages; seq++ {
		if interval > 0 {
			// Emits that fell behind go at once; the timestamp is the actual emit time, so latency is
			// measured from it (the achieved rate shows in emits/s).
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
			next = next.Add(interval)
		} else {
			// Flat out: at most Window of this publisher's emits on their way back to it.
			timer.Reset(echoTimeout)
			select {
			case bc.window <- struct{}{}:
			case <-ctx.Done():
				return
			case <-timer.C:
				r.errorf(&r.errEmit, "emit: no %s echo of an own %s within %v (a server that does not send to the sender needs -rate)",
					cfg.SaidEvent, cfg.SayEvent, echoTimeout)
				return
			}
			if !timer.Stop() {
				<-timer.C
			}
		}
		if ctx.Err() != nil {
			return
		}
		k := bc.room
		if bc.everyRoom {
			k = (bc.room + seq) % len(r.rooms)
		}
		room := r.rooms[k]
		buf = appendPayload(buf[:0], bc.idx, seq, int64(time.Since(r.base)), cfg.PayloadBytes)
		// Count what this emit should deliver before it can be delivered.
		members := r.members[k].Load()
		r.expected.Add(members)
		// The write gets its own deadline, not ctx's: a write cut short by ctx's end would close the
		// connection (coder/websocket does so) and lose what is still to be delivered to it.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ConnectTimeout)
		err := bc.c.say(wctx, room, slices.Clone(buf))
		cancel()
		if err != nil {
			r.expected.Add(-members)
			r.errorf(&r.errEmit, "emit: %v", err)
			return // the connection is gone or stuck; its loss is counted where it ended
		}
		r.emits.Add(1)
	}
}

// drain waits until every expected delivery arrived, Drain passed, or ctx ended.
func (r *runner) drain(ctx context.Context) {
	r.draining.Store(true)
	if r.deliveries.Load()-r.dups.Load() >= r.expected.Load() {
		return
	}
	t := time.NewTimer(r.rc.Drain)
	defer t.Stop()
	select {
	case <-r.drained:
	case <-t.C:
	case <-ctx.Done():
	}
}

// closeAll closes every connection, Concurrency at a time.
func (r *runner) closeAll() {
	r.closing.Store(true)
	sem := make(chan struct{}, r.rc.Concurrency)
	var wg sync.WaitGroup
	for _, bc := range r.clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			bc.c.close()
		})
	}
	wg.Wait()
}

// progress samples the counters every Interval, writes the progress line, and returns the samples when
// stop is closed.
func (r *runner) progress(stop <-chan struct{}) []Sample {
	var samples []Sample
	tick := time.NewTicker(r.rc.Interval)
	defer tick.Stop()
	last := time.Now()
	var lastEmits, lastDeliv int64
	sample := func(now time.Time) {
		h := r.cur.Swap(new(histogram))
		dt := now.Sub(last).Seconds()
		e, d := r.emits.Load(), r.deliveries.Load()
		s := Sample{TSec: round3(now.Sub(r.base).Seconds()), Phase: *r.phase.Load(),
			Connected: r.connected.Load() - r.lost.Load(), EmitsPerSec: round3(float64(e-lastEmits) / dt),
			DeliveriesSec: round3(float64(d-lastDeliv) / dt), P50Ms: h.Quantile(0.5), P99Ms: h.Quantile(0.99),
			Errors: r.errorCount()}
		last, lastEmits, lastDeliv = now, e, d
		samples = append(samples, s)
		if r.rc.Progress != nil {
			fmt.Fprintf(r.rc.Progress, "%6.1fs %-7s connected %d/%d  emits/s %.0f  deliveries/s %.0f  p50 %s  p99 %s  errors %d\n",
				s.TSec, s.Phase, s.Connected, r.rc.Clients, s.EmitsPerSec, s.DeliveriesSec, fmtMs(s.P50Ms),
				fmtMs(s.P99Ms), s.Errors)
		}
	}
	for {
		select {
		case now := <-tick.C:
			sample(now)
		case <-stop:
			// A last sample for the tail of the run, unless it is too short to give a rate.
			if now := time.Now(); now.Sub(last) > r.rc.Interval/4 {
				sample(now)
			}
			return samples
		}
	}
}

func fmtMs(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 100:
		return fmt.Sprintf("%.2fms", ms)
	default:
		return fmt.Sprintf("%.0fms", ms)
	}
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// fill writes the counters into res.
func (r *runner) fill(res *Result) {
	cfg := r.rc.Config
	c := &res.Connections
	c.Attempted = int(r.connected.Load() + r.errConnect.Load())
	c.Connected = int(r.connected.Load())
	c.Failed = int(r.errConnect.Load())
	c.Lost = int(r.lost.Load())
	if res.Phases.ConnectSec > 0 {
		c.PerSec = round3(float64(c.Connected) / res.Phases.ConnectSec)
	}
	c.ConnectLatency = r.connLat.summary()
	m := &res.Messages
	m.Emits, m.Deliveries, m.Duplicates = r.emits.Load(), r.deliveries.Load(), r.dups.Load()
	if cfg.Scenario == Fanout || cfg.Scenario == ManyRooms {
		m.Expected = r.expected.Load()
		m.Missing = max(m.Expected-(m.Deliveries-m.Duplicates), 0)
	}
	if res.Phases.SendSec > 0 {
		m.EmitsPerSec = round3(float64(m.Emits) / res.Phases.SendSec)
	}
	if t := res.Phases.SendSec + res.Phases.DrainSec; t > 0 {
		m.DeliveriesPerSec = round3(float64(m.Deliveries) / t)
	}
	res.Latency = r.lat.summary()
	res.Errors = ErrorStats{Connect: r.errConnect.Load(), Join: r.errJoin.Load(), Emit: r.errEmit.Load(),
		Disconnect: r.errDisconnect.Load(), Total: r.errorCount()}
	r.samplesMu.Lock()
	res.Errors.Samples = append([]string{}, r.errSamples...)
	r.samplesMu.Unlock()
	for _, f := range []*float64{&res.Phases.ConnectSec, &res.Phases.SendSec, &res.Phases.DrainSec, &res.Phases.CloseSec} {
		*f = round3(*f)
	}
}
