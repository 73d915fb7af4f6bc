package actors

import (
	"sync"

	"github.com/roomio/roomio/internal/packet"
)

// Result is one answer gathered by a Collector: an ack's arguments, or a fetched socket. The engine reads
// them once the Collector is done, and adds those that come from other nodes.
type Result struct {
	SID  string
	Args []packet.Arg
	Err  error
	Info *SocketInfo
}

// Collector tracks one fan-out: how many delivery legs are still travelling and how many answers are
// expected. It is done when no leg is left and every expected answer arrived. Safe for concurrent use.
//
// A leg is one message in flight that carries the collector. Whoever sends such a message adds a leg
// first (AddLegs), and whoever processes it settles the leg (LegDone) after adding the legs of the
// messages it sent on. The count therefore never reaches zero while something is still on its way, and
// when it does, every socket that will answer has called Expect. The engine creates a Collector for
// every operation that waits (acks, fetches, joins, leaves, the shutdown flush); its cluster link adds a
// leg per peer node and settles it when that node answers.
type Collector struct {
	mu       sync.Mutex
	legs     int
	expected int
	from     []Handle // sockets whose ack is expected
	results  []Result
	err      error
	done     chan struct{}
	finished bool
}

// NewCollector returns a collector holding one leg, the initiator's; the initiator hands it over with
// the first message and the receiver settles it with LegDone.
func NewCollector() *Collector {
	return &Collector{legs: 1, done: make(chan struct{})}
}

// AddLegs records n more messages in flight that will each end with LegDone.
func (c *Collector) AddLegs(n int) {
	c.mu.Lock()
	c.legs += n
	c.mu.Unlock()
}

// LegDone settles one leg.
func (c *Collector) LegDone() {
	c.mu.Lock()
	c.legs--
	c.check()
	c.mu.Unlock()
}

// Expect records that one more answer will come (call before the leg's LegDone); h, when not nil, is
// the socket whose ack is awaited, reported by Expecting.
func (c *Collector) Expect(h Handle) {
	c.mu.Lock()
	c.expected++
	if h != nil {
		c.from = append(c.from, h)
	}
	c.mu.Unlock()
}

// Expecting returns the sockets an ack was expected from.
func (c *Collector) Expecting() []Handle {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Handle(nil), c.from...)
}

// Add records an answer.
func (c *Collector) Add(r Result) {
	c.mu.Lock()
	if !c.finished {
		c.results = append(c.results, r)
		c.check()
	}
	c.mu.Unlock()
}

// Fail records err (the first one wins); the collector still completes normally.
func (c *Collector) Fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Collector) check() {
	if !c.finished && c.legs <= 0 && len(c.results) >= c.expected {
		c.finished = true
		close(c.done)
	}
}

// Done is closed when the fan-out is complete.
func (c *Collector) Done() <-chan struct{} { return c.done }

// Snapshot returns the answers so far, how many were expected, and the recorded error. After Snapshot
// further answers are still accepted until Done.
func (c *Collector) Snapshot() (results []Result, expected int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Result(nil), c.results...), c.expected, c.err
}

// Pending reports whether legs are still travelling (the expected count is not final yet). The engine
// uses it to tell a timed-out fan-out that was still spreading from one that was waiting for acks.
func (c *Collector) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.legs > 0
}
