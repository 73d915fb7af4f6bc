package netpoll

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Poller watches the parked connections of one server; see the package documentation. The zero value
// is not usable: create it with New.
type Poller struct {
	start   func(func())  // starts the poller's goroutine and the workers
	quiet   time.Duration // how long Park waits for more bytes before it parks (zero: it parks at once)
	maxIdle int32         // how many workers may wait for a connection to resume
	idle    atomic.Int32  // workers waiting

	mu    sync.Mutex
	n     int         // registered connections: the goroutine and the workers run while n > 0
	ep    *epoll      // the instance in use, nil while n == 0
	work  chan func() // idle workers wait here for a resume; closed with ep
	slots []*Conn     // by token index; nil: free
	free  []uint32
	seq   uint32 // the last generation given out: a token names one registration, never a later one
}

// New returns a Poller that starts its goroutine with start (a server passes its WaitGroup's Go, so
// that its Shutdown waits for the goroutine too); nil means a plain go statement. Nothing is started
// before the first Register. quiet is how long a connection must stay quiet before Park parks it
// (zero: Park parks an idle connection at once); see Conn.Park.
func New(start func(func()), quiet time.Duration) *Poller {
	if start == nil {
		start = func(f func()) { go f() }
	}
	return &Poller{start: start, quiet: quiet, maxIdle: int32(max(2, 2*runtime.GOMAXPROCS(0)))}
}

// ReadDeadliner sets a connection's read deadline (net.Conn's SetReadDeadline): Park's quiet wait is
// bounded by it.
type ReadDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// Conn states.
const (
	running uint8 = iota // a reader goroutine owns the connection
	parked               // no goroutine: armed in epoll, waiting for readability
	closed               // Close was called
)

// Conn is one connection registered with a Poller.
type Conn struct {
	p      *Poller
	rc     syscall.RawConn
	rd     ReadDeadliner // nil: no quiet wait
	resume func()
	idle   func() bool
	parked func(bool) // nil, or set by OnPark
	idx    uint32
	gen    uint32
	ep     *epoll      // valid while registered (the poller keeps it open while n > 0)
	work   chan func() // the poller's work channel, open while registered

	mu     sync.Mutex
	state  uint8
	added  bool // the descriptor is in ep's set (EPOLL_CTL_ADD done, no DEL since)
	failed bool // epoll refused the descriptor: the reader blocks in its reads from then on

	// ctl is the function RawConn.Control runs for epoll_ctl, built once (a closure passed to Control
	// would be allocated per park); op and err are its argument and result, guarded by mu.
	ctl    func(fd uintptr)
	op     int
	ctlErr error

	// peek is the function RawConn.Read runs for the quiet wait, built once; woke and one are its state,
	// owned by the reader.
	peek func(fd uintptr) bool
	woke bool
	one  [1]byte
}

// Register prepares the connection whose descriptor is rc: Park will park it when idle reports true
// (the reader's buffers hold no unread byte) and, with a quiet period (New), no byte came for that
// long; rd sets the connection's read deadline, which bounds that wait (nil: Park parks an idle
// connection at once). The poller calls resume on a worker goroutine when a
// parked connection becomes readable (or Close on a parked one). idle runs under the Conn's lock, so
// that nothing that calls Close first (a close handshake that reads the connection itself) can read the
// buffers while idle looks at them. It returns nil when the connection cannot be parked (rc is nil, or
// no poller on this OS): its reader then blocks in its reads. The caller must eventually call Close on
// a non-nil Conn, before the socket closes where it can (an idempotent Close on the connection's end
// path covers the rest).
func (p *Poller) Register(rc syscall.RawConn, rd ReadDeadliner, resume func(), idle func() bool) *Conn {
	if rc == nil || !supported {
		return nil
	}
	c := &Conn{p: p, rc: rc, resume: resume, idle: idle}
	c.ctl = c.control
	if p.quiet > 0 && rd != nil {
		c.rd = rd
		c.peek = c.peekFD
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == nil {
		ep, err := newEpoll()
		if err != nil {
			return nil
		}
		p.ep = ep
		p.work = make(chan func())
		p.start(func() { p.run(ep) })
	}
	if k := len(p.free); k > 0 {
		c.idx = p.free[k-1]
		p.free = p.free[:k-1]
	} else {
		c.idx = uint32(len(p.slots))
		p.slots = append(p.slots, nil)
	}
	p.slots[c.idx] = c
	p.seq++
	c.gen = p.seq
	c.ep, c.work = p.ep, p.work
	p.n++
	return c
}

// Park parks the connection if it is idle (Register's idle reports true) and stays quiet: with a quiet
// period (New), Park first waits up to that long for the socket to become readable, and reports false
// as soon as it does (the caller reads on, on the same goroutine: a connection that keeps talking is
// read without a hand-over through the poller). A parked connection is armed in the poller, and Park
// reports true: the caller's goroutine must then return without touching the connection (resume runs
// when it becomes readable, or when Close is called, possibly before Park has returned). It reports
// false when the connection is not idle (the caller reads on), or cannot be parked: Close was called
// (the caller reads on; its read fails once the socket is closed). Only the goroutine that owns the
// connection (the reader) may call it.
func (c *Conn) Park() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.parkable() {
		return false
	}
	if c.rd != nil {
		// The deadline is set under the lock, so that Close, which clears it under the lock, always
		// comes after: a close handshake's reads never run under it. The wait runs without the lock:
		// Close may run meanwhile (the socket's close ends the wait; a close handshake's read waits
		// for the bytes that end it).
		if c.rd.SetReadDeadline(time.Now().Add(c.p.quiet)) != nil {
			return false // the socket is closing: let the read find it
		}
		c.mu.Unlock()
		readable := c.readable()
		c.mu.Lock()
		if readable || !c.parkable() {
			return false
		}
	}
	c.op = opMod
	if !c.added {
		c.op = opAdd
	}
	c.ctlErr = nil
	if err := c.rc.Control(c.ctl); err != nil {
		return false // the socket is closing
	}
	if c.ctlErr != nil {
		c.failed = true // not worth a failing system call per message
		return false
	}
	c.added = true
	c.state = parked
	if c.parked != nil {
		c.parked(true)
	}
	return true
}

// OnPark sets f, which the poller calls under the Conn's lock: with true when the connection parks (its
// reader's goroutine is about to return), with false when it stops being parked (it became readable, or
// Close was called), before its reader is resumed and before Close returns, so before anything else
// may read the connection. A reader lets its buffers go while parked with it. Call it after Register,
// before the connection can be parked or closed.
func (c *Conn) OnPark(f func(parked bool)) { c.parked = f }

// parkable reports whether the connection may park now: the reader owns it, epoll takes it, and the
// reader's buffers hold no unread byte. The caller holds c.mu.
func (c *Conn) parkable() bool { return c.state == running && !c.failed && c.idle() }

// readable waits until the read deadline Park set (the quiet period) for the socket to become readable
// (bytes, end of stream, an error: anything a read would return at once) and reports whether it did.
// The wait is Go's own: the reader's goroutine waits in the network poller under that deadline, which
// is cleared afterwards (only this wait sets one). The connection's reads are the reader's, so nothing
// else reads meanwhile; a close handshake on another goroutine (Close first, which clears the deadline)
// waits for the end of this wait.
func (c *Conn) readable() bool {
	c.woke = false
	err := c.rc.Read(c.peek)
	c.rd.SetReadDeadline(time.Time{})
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// Close ends the registration: the connection leaves the poller, and when it was parked its reader is
// started (resume, on a worker goroutine), so that it finds the end of the connection; it never parks
// again. Call it before the socket is closed (a closed descriptor leaves epoll without an event), and
// before anything other than the reader reads the connection (a close handshake); it is idempotent and
// safe for concurrent use.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.state == closed {
		c.mu.Unlock()
		return
	}
	wasParked := c.state == parked
	c.state = closed
	if c.rd != nil {
		// A quiet wait's deadline must not cut the reads of a close handshake that follows.
		c.rd.SetReadDeadline(time.Time{})
	}
	if c.added {
		// Control fails once the socket is closing: then its last close removes it from the set.
		c.op, c.ctlErr = opDel, nil
		c.rc.Control(c.ctl)
		c.added = false
	}
	if wasParked {
		if c.parked != nil {
			c.parked(false)
		}
		c.dispatch() // before release: the work channel stays open while c is registered
	}
	c.mu.Unlock()
	c.p.release(c)
}

// dispatch runs resume on a worker: one waiting for work if there is one, else a new one. A worker
// keeps its goroutine (and the stack it grew reading) for the next resume while no more than maxIdle
// wait: a new goroutine per resume would start with a small stack and grow it again each time. The
// caller holds c.mu, and c is registered.
func (c *Conn) dispatch() {
	select {
	case c.work <- c.resume:
	default:
		p, work, f := c.p, c.work, c.resume
		p.start(func() { p.worker(work, f) })
	}
}

// worker runs f, then the resumes handed to it on work, until more than maxIdle workers would wait or
// work is closed (the last registration is gone).
func (p *Poller) worker(work chan func(), f func()) {
	for {
		f()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		var ok bool
		f, ok = <-work
		p.idle.Add(-1)
		if !ok {
			return
		}
	}
}

// fire handles an event for token (idx, gen): it resumes the connection if it is still the one in that
// slot and still parked. Called on the poller's goroutine.
func (p *Poller) fire(idx, gen uint32) {
	p.mu.Lock()
	var c *Conn
	if int(idx) < len(p.slots) && p.slots[idx] != nil && p.slots[idx].gen == gen {
		c = p.slots[idx]
	}
	p.mu.Unlock()
	if c == nil {
		return // a connection closed since (its slot is free, or reused with a new generation)
	}
	c.mu.Lock()
	if c.state != parked {
		c.mu.Unlock()
		return
	}
	c.state = running
	if c.parked != nil {
		c.parked(false)
	}
	c.dispatch()
	c.mu.Unlock()
}

// release frees c's slot; the last registration closes the epoll instance, which ends the goroutine.
func (p *Poller) release(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots[c.idx] = nil
	p.free = append(p.free, c.idx)
	p.n--
	if p.n == 0 {
		p.ep.close()
		close(p.work) // the idle workers end
		p.ep, p.work = nil, nil
		if len(p.slots) > 1024 {
			// A burst of connections is over: do not keep its table.
			p.slots, p.free = nil, nil
		}
	}
}
