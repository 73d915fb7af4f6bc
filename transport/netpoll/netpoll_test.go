//go:build linux

package netpoll_test

import (
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomio/roomio/transport/netpoll"
	"github.com/roomio/roomio/transport/transporttest"
)

const testTimeout = 10 * time.Second

// listen returns a loopback listener closed with the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// tcpPair returns both ends of a loopback TCP connection, closed with the test.
func tcpPair(t *testing.T, ln net.Listener) (client, server *net.TCPConn) {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		t.FailNow()
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// idle is Register's idle for tests that read nothing through a buffer.
func idle() bool { return true }

// newPoller returns a Poller whose goroutine is counted in wg.
func newPoller(wg *sync.WaitGroup) *netpoll.Poller { return netpoll.New(wg.Go, 0) }

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("%s: not resumed", what)
	}
}

// TestParkedResumedByData: a parked connection is resumed when bytes arrive, once per park, over many
// rounds and many connections at once; the poller's goroutine ends with the last registration.
func TestParkedResumedByData(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	ln := listen(t)
	const conns, rounds = 50, 20
	type conn struct {
		client, server *net.TCPConn
		pc             *netpoll.Conn
		woke           chan struct{}
	}
	cs := make([]*conn, conns)
	for i := range cs {
		c := &conn{woke: make(chan struct{}, 2)}
		c.client, c.server = tcpPair(t, ln)
		c.pc = p.Register(rawConn(t, c.server), nil, func() { c.woke <- struct{}{} }, idle)
		if c.pc == nil {
			t.Fatal("Register: nil on Linux")
		}
		cs[i] = c
	}
	buf := make([]byte, 16)
	for r := range rounds {
		for _, c := range cs {
			if !c.pc.Park() {
				t.Fatal("Park failed on an open connection")
			}
		}
		for _, c := range cs {
			c.client.Write([]byte{byte(r)})
		}
		for _, c := range cs {
			wait(t, c.woke, "data")
			if n, err := c.server.Read(buf); n != 1 || buf[0] != byte(r) || err != nil {
				t.Fatalf("round %d: read %d %v", r, n, err)
			}
		}
	}
	for _, c := range cs {
		if len(c.woke) != 0 {
			t.Fatal("resumed twice for one park")
		}
	}
	// One poller goroutine, and workers: those that resumed the connections end once their
	// connections parked, but for a few kept for the next resumes.
	maxIdle := max(2, 2*runtime.GOMAXPROCS(0))
	if got := transporttest.GoroutinesIn(transporttest.PollerPkg); got["run"] != 1 || got["worker"] > maxIdle {
		t.Fatalf("poller goroutines %v, want 1 run and at most %d workers", got, maxIdle)
	}
	for _, c := range cs {
		c.pc.Close()
	}
	wg.Wait() // the poller's goroutine ends with the last registration
}

// TestParkedArmedWithPendingBytes: bytes that arrived before the park (between the reader's last look
// and the arming) resume the connection at once.
func TestParkedArmedWithPendingBytes(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	client, server := tcpPair(t, listen(t))
	woke := make(chan struct{}, 1)
	pc := p.Register(rawConn(t, server), nil, func() { woke <- struct{}{} }, idle)
	client.Write([]byte("x"))
	// The byte may not have arrived yet: a park is armed level-triggered, so either way it resumes.
	if !pc.Park() {
		t.Fatal("Park failed")
	}
	wait(t, woke, "pending bytes")
	pc.Close()
	wg.Wait()
}

// TestParkedResumedByPeerEnd: the peer's end of stream (FIN) and reset (RST) resume a parked connection,
// whose read then sees the end.
func TestParkedResumedByPeerEnd(t *testing.T) {
	for _, rst := range []bool{false, true} {
		var wg sync.WaitGroup
		p := newPoller(&wg)
		client, server := tcpPair(t, listen(t))
		woke := make(chan struct{}, 1)
		pc := p.Register(rawConn(t, server), nil, func() { woke <- struct{}{} }, idle)
		if !pc.Park() {
			t.Fatal("Park failed")
		}
		if rst {
			client.SetLinger(0)
		}
		client.Close()
		wait(t, woke, "peer end")
		if _, err := server.Read(make([]byte, 1)); err == nil {
			t.Fatal("read after the peer's end: no error")
		}
		pc.Close()
		wg.Wait()
	}
}

// TestCloseResumesParked: Close resumes a parked connection (a closed descriptor leaves epoll without an
// event), once; Close on a running connection resumes nothing, and Park after Close fails.
func TestCloseResumesParked(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	_, server := tcpPair(t, listen(t))
	woke := make(chan struct{}, 2)
	pc := p.Register(rawConn(t, server), nil, func() { woke <- struct{}{} }, idle)
	if !pc.Park() {
		t.Fatal("Park failed")
	}
	pc.Close()
	server.Close()
	wait(t, woke, "Close")
	pc.Close()
	if pc.Park() {
		t.Fatal("Park after Close succeeded")
	}
	wg.Wait()
	if len(woke) != 0 {
		t.Fatal("resumed twice")
	}

	_, server2 := tcpPair(t, listen(t))
	pc2 := p.Register(rawConn(t, server2), nil, func() { t.Error("a running connection was resumed by Close") }, idle)
	pc2.Close()
	wg.Wait()
}

// TestParkFailsOnClosedSocket: a connection whose socket is closed cannot park (its reader goes on, and
// its read fails); the registration is still released by Close.
func TestParkFailsOnClosedSocket(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	_, server := tcpPair(t, listen(t))
	pc := p.Register(rawConn(t, server), nil, func() { t.Error("resumed") }, idle)
	server.Close()
	if pc.Park() {
		t.Fatal("Park succeeded on a closed socket")
	}
	pc.Close()
	wg.Wait()
}

// TestParkWakeCloseRace hammers a park crossed by bytes arriving and by Close at the same instant: each
// park is resumed exactly once, by whichever comes first (a WaitGroup counts the resumes: a second one
// would take it below zero and panic).
func TestParkWakeCloseRace(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	ln := listen(t)
	const iterations = 300
	var resumes sync.WaitGroup
	for range iterations {
		client, server := tcpPair(t, ln)
		pc := p.Register(rawConn(t, server), nil, resumes.Done, idle)
		resumes.Add(1)
		if !pc.Park() {
			t.Fatal("Park failed")
		}
		var start sync.WaitGroup
		start.Add(1)
		var both sync.WaitGroup
		both.Go(func() { start.Wait(); client.Write([]byte("x")) })
		both.Go(func() {
			start.Wait()
			pc.Close()
			server.Close()
		})
		start.Done()
		both.Wait()
		client.Close()
	}
	resumes.Wait()
	wg.Wait()
}

// TestParkNotIdle: a connection whose reader has bytes left in its buffers does not park.
func TestParkNotIdle(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	_, server := tcpPair(t, listen(t))
	buffered := true
	pc := p.Register(rawConn(t, server), nil, func() { t.Error("resumed") }, func() bool { return !buffered })
	if pc.Park() {
		t.Fatal("parked with bytes buffered")
	}
	buffered = false
	woke := make(chan struct{}, 1)
	pc2 := p.Register(rawConn(t, server), nil, func() { woke <- struct{}{} }, func() bool { return !buffered })
	if !pc2.Park() {
		t.Fatal("did not park once idle")
	}
	pc.Close()
	pc2.Close()
	wait(t, woke, "Close")
	wg.Wait()
}

// TestRegisterWithoutDescriptor: a connection without a descriptor cannot park.
func TestRegisterWithoutDescriptor(t *testing.T) {
	if pc := netpoll.New(nil, 0).Register(nil, nil, func() {}, idle); pc != nil {
		t.Fatal("Register(nil) returned a Conn")
	}
}

// TestPollerRestarts: after the last registration is gone the poller has no goroutine; the next
// registration starts a new one, and parking works again.
func TestPollerRestarts(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	ln := listen(t)
	for range 3 {
		client, server := tcpPair(t, ln)
		woke := make(chan struct{}, 1)
		pc := p.Register(rawConn(t, server), nil, func() { woke <- struct{}{} }, idle)
		if !pc.Park() {
			t.Fatal("Park failed")
		}
		client.Write([]byte("x"))
		wait(t, woke, "data")
		pc.Close()
		wg.Wait()
		if got := transporttest.GoroutinesIn(transporttest.PollerPkg)["total"]; got != 0 {
			t.Fatalf("%d poller goroutines after the last registration, want 0", got)
		}
	}
}

// TestParkRefusedByEpoll: a descriptor epoll does not take (a regular file) never parks: its reader
// reads on, blocking; Close still releases the registration.
func TestParkRefusedByEpoll(t *testing.T) {
	var wg sync.WaitGroup
	p := newPoller(&wg)
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pc := p.Register(rawConn(t, f), nil, func() { t.Error("resumed") }, idle)
	for range 2 {
		if pc.Park() {
			t.Fatal("a regular file parked")
		}
	}
	pc.Close()
	wg.Wait()
}

// parkAsync runs Park on its own goroutine (as the reader would) and delivers its result.
func parkAsync(pc *netpoll.Conn) <-chan bool {
	ch := make(chan bool, 1)
	go func() { ch <- pc.Park() }()
	return ch
}

func parkResult(t *testing.T, ch <-chan bool, what string) bool {
	t.Helper()
	select {
	case ok := <-ch:
		return ok
	case <-time.After(testTimeout):
		t.Fatalf("%s: Park did not return", what)
		return false
	}
}

// awaitBytes waits until bytes are in c's socket, without taking them.
func awaitBytes(t *testing.T, c *net.TCPConn) {
	t.Helper()
	var one [1]byte
	err := rawConn(t, c).Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return n > 0 || err != nil && err != syscall.EAGAIN
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQuietWaitReadsOn: with a quiet period, a connection whose next bytes come within it is not parked:
// Park reports false as the bytes arrive, nothing is resumed, and the read takes them (the wait left no
// read deadline behind). Bytes already there when Park is called end the wait at once. The quiet period
// is longer than the test's timeout, so only the bytes can end the wait.
func TestQuietWaitReadsOn(t *testing.T) {
	var wg sync.WaitGroup
	p := netpoll.New(wg.Go, time.Hour)
	client, server := tcpPair(t, listen(t))
	pc := p.Register(rawConn(t, server), server, func() { t.Error("resumed") }, idle)
	buf := make([]byte, 8)
	for round := range 3 {
		parked := parkAsync(pc)
		client.Write([]byte{byte(round)})
		if parkResult(t, parked, "bytes during the wait") {
			t.Fatal("parked although bytes came during the quiet period")
		}
		if n, err := server.Read(buf); n != 1 || buf[0] != byte(round) || err != nil {
			t.Fatalf("round %d: read %d %v", round, n, err)
		}
	}
	client.Write([]byte("x"))
	awaitBytes(t, server)
	if parkResult(t, parkAsync(pc), "bytes already there") {
		t.Fatal("parked with bytes waiting")
	}
	if n, err := server.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	pc.Close()
	wg.Wait()
}

// TestQuietWaitThenParks: a connection that stays quiet for the quiet period parks; bytes then resume it
// through the poller, and its read succeeds (the wait's deadline is cleared: an expired one would fail
// the read even with bytes there).
func TestQuietWaitThenParks(t *testing.T) {
	var wg sync.WaitGroup
	p := netpoll.New(wg.Go, 10*time.Millisecond)
	client, server := tcpPair(t, listen(t))
	woke := make(chan struct{}, 1)
	pc := p.Register(rawConn(t, server), server, func() { woke <- struct{}{} }, idle)
	for round := range 3 {
		if !parkResult(t, parkAsync(pc), "quiet connection") {
			t.Fatal("a quiet connection did not park")
		}
		client.Write([]byte{byte(round)})
		wait(t, woke, "data")
		buf := make([]byte, 8)
		if n, err := server.Read(buf); n != 1 || buf[0] != byte(round) || err != nil {
			t.Fatalf("round %d: read %d %v", round, n, err)
		}
	}
	pc.Close()
	wg.Wait()
}

// TestQuietWaitEnds: the peer's end of stream, and Close with the socket's close, end a quiet wait at
// once (the quiet period is longer than the test's timeout); the connection is not parked, and nothing
// is resumed.
func TestQuietWaitEnds(t *testing.T) {
	for _, how := range []string{"peer end", "close"} {
		var wg sync.WaitGroup
		p := netpoll.New(wg.Go, time.Hour)
		client, server := tcpPair(t, listen(t))
		pc := p.Register(rawConn(t, server), server, func() { t.Error("resumed") }, idle)
		parked := parkAsync(pc)
		if how == "peer end" {
			client.Close()
		} else {
			pc.Close()
			server.Close()
		}
		if parkResult(t, parked, how) {
			t.Fatalf("%s: parked", how)
		}
		pc.Close()
		wg.Wait()
	}
}

// TestOnPark: the OnPark function hears of each park (true) and of each end of one (false) before the
// resume runs, by readability or by Close; a Park that does not park (bytes in the quiet wait, or a
// connection that is not idle) and a Close of a running connection call nothing.
func TestOnPark(t *testing.T) {
	var wg sync.WaitGroup
	p := netpoll.New(wg.Go, 20*time.Millisecond)
	client, server := tcpPair(t, listen(t))
	var mu sync.Mutex
	var calls []bool
	woke := make(chan []bool, 1)
	busy := false
	pc := p.Register(rawConn(t, server), server, func() {
		mu.Lock()
		woke <- slices.Clone(calls) // what the resume finds: the false already called
		mu.Unlock()
	}, func() bool { return !busy })
	pc.OnPark(func(parked bool) {
		mu.Lock()
		calls = append(calls, parked)
		mu.Unlock()
	})

	busy = true
	if pc.Park() {
		t.Fatal("parked a connection that was not idle")
	}
	busy = false
	client.Write([]byte("x"))
	if pc.Park() {
		t.Fatal("parked with a byte in the quiet wait")
	}
	server.Read(make([]byte, 1))
	if !pc.Park() {
		t.Fatal("Park failed")
	}
	client.Write([]byte("y"))
	if got := <-woke; !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("calls at the resume by readability: %v, want [true false]", got)
	}
	server.Read(make([]byte, 1))
	if !pc.Park() {
		t.Fatal("Park failed")
	}
	pc.Close()
	if got := <-woke; !slices.Equal(got, []bool{true, false, true, false}) {
		t.Fatalf("calls at the resume by Close: %v, want [true false true false]", got)
	}
	pc.Close()
	mu.Lock()
	if len(calls) != 4 {
		t.Fatalf("calls after a second Close: %v", calls)
	}
	mu.Unlock()
	wg.Wait()
}
