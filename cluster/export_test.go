package cluster

import (
	"context"
	"io"
	"log/slog"
)

// MemberlistWriter is the writer memberlist's log lines go through.
func MemberlistWriter(l *slog.Logger) io.Writer { return mlWriter{log: l} }

// InstallGRPCLogger installs the package's grpclog forwarder; TestMain calls it before any gRPC use,
// because grpclog's logger is process-global and read without synchronisation.
func InstallGRPCLogger(l *slog.Logger) { installGRPCLogger(l) }

// AuthHeader and AuthToken expose the stream authentication to raw-client tests.
const AuthHeader = authHeader

func AuthToken(key []byte) string { return authToken(key) }

// AddPeer makes the router treat m as a live member, as a memberlist join would.
func (n *Node) AddPeer(m Member) { n.system.Root.Send(n.routerPID, &memberUp{m: m}) }

// SendRaw queues b, taken as an encoded Envelope, for node to: no encoding, no stamping.
func (n *Node) SendRaw(to string, b []byte) error {
	p, err := n.peer(to)
	if err != nil {
		return err
	}
	return p.enqueue(b)
}

// QueueLen is what the peer queue of node to holds (queued plus being written).
func (n *Node) QueueLen(to string) int {
	p, err := n.peer(to)
	if err != nil {
		return -1
	}
	return p.queued()
}

// Crash stops the node the way kill -9 looks to its peers: no drain, no leave, streams cut. It still
// waits for its goroutines, so goleak stays meaningful.
func (n *Node) Crash() { _ = n.shutdown(context.Background(), false) }
