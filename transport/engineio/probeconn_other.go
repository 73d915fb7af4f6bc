//go:build !unix

package engineio

import "net"

// rawConn is not available on this platform: newRawConn always returns nil, and an upgrading
// WebSocket's reads are not watched.
type rawConn struct{}

func newRawConn(net.Conn) *rawConn { return nil }

func (*rawConn) read([]byte, func(bool)) (int, error) { panic("unreachable") }

func (*rawConn) pending() bool { return false }
