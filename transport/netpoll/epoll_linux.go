//go:build linux

package netpoll

import (
	"os"
	"syscall"
	"unsafe"
)

// supported: connections park in epoll.
const supported = true

const (
	opAdd = syscall.EPOLL_CTL_ADD
	opMod = syscall.EPOLL_CTL_MOD
	opDel = syscall.EPOLL_CTL_DEL

	// armEvents: readable, or the peer shut down its side (end of stream), reported once per arming;
	// errors and hang-ups are always reported. Level-triggered: readiness that is already there when
	// the connection is armed reports at once.
	armEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
)

// epoll is one epoll instance. Its descriptor is non-blocking and registered with Go's network poller
// (an epoll descriptor is readable while an event is ready), so run waits for events like any reader.
type epoll struct {
	fd int
	f  *os.File
	rc syscall.RawConn
}

func newEpoll() (*epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &epoll{fd: fd, f: f, rc: rc}, nil
}

// close closes the instance: its registrations go, and run returns.
func (ep *epoll) close() { ep.f.Close() }

// control runs epoll_ctl(c.op) for the connection's descriptor fd, inside RawConn.Control. The event
// carries the connection's token: its slot and generation.
func (c *Conn) control(fd uintptr) {
	ev := syscall.EpollEvent{Events: armEvents, Fd: int32(c.idx), Pad: int32(c.gen)}
	c.ctlErr = syscall.EpollCtl(c.ep.fd, c.op, int(fd), &ev)
}

// peekFD is the quiet wait's function for RawConn.Read: the first call looks whether a read would
// return at once (a peek at one byte, without taking it); when it would block, it reports false and Go
// waits for the socket's readiness; the call after that wake-up (bytes or end of stream came) reports
// true. A raw recvfrom: syscall.Recvfrom allocates the sender's address it has no use for here.
func (c *Conn) peekFD(fd uintptr) bool {
	if c.woke {
		return true
	}
	c.woke = true
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.one[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN
}

// maxEvents is how many events one epoll_wait takes.
const maxEvents = 128

// run is the poller's goroutine for ep: it takes the ready events without blocking and resumes their
// connections; when none is ready, Go's network poller waits until ep's descriptor is readable. It
// returns once ep is closed (the last registration is gone).
func (p *Poller) run(ep *epoll) {
	events := make([]syscall.EpollEvent, maxEvents)
	var n int
	var werr error
	wait := func(fd uintptr) bool {
		for {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr != syscall.EINTR {
				break
			}
		}
		return n != 0 || werr != nil
	}
	for {
		if err := ep.rc.Read(wait); err != nil || werr != nil {
			return
		}
		for i := range events[:n] {
			p.fire(uint32(events[i].Fd), uint32(events[i].Pad))
		}
	}
}
