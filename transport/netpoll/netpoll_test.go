package netpoll_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/roomio/roomio/transport/netpoll"
)

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func rawConn(t *testing.T, c net.Conn) syscall.RawConn {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestParkResume(t *testing.T) {
	p := netpoll.New(nil)
	client, server := tcpPair(t)
	woke := make(chan struct{}, 1)
	pc := p.Register(rawConn(t, server), func() { woke <- struct{}{} })
	if pc == nil {
		t.Fatal("nil")
	}
	if !pc.Park() {
		t.Fatal("park")
	}
	client.Write([]byte("x"))
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken")
	}
	pc.Close()
}
