//go:build !linux

package netpoll

import "errors"

// supported: without epoll, Register returns nil and readers block in their reads.
const supported = false

const (
	opAdd = iota
	opMod
	opDel
)

type epoll struct{}

func newEpoll() (*epoll, error) { return nil, errors.New("netpoll: not supported on this OS") }

func (*epoll) close() {}

func (*Conn) control(uintptr) {}

func (*Poller) run(*epoll) {}

func (*Conn) peekFD(uintptr) bool { return true }
