package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	// A batch (one gRPC message) carries up to maxBatchCount envelopes and, beyond its first envelope,
	// up to maxBatchBytes of them.
	maxBatchCount = 1024
	maxBatchBytes = 1 << 20
	// handshakeTimeout bounds opening a stream and the ConnectRequest/ConnectResponse exchange.
	handshakeTimeout = 5 * time.Second
	minRetry         = 50 * time.Millisecond
	maxRetry         = 2 * time.Second
	// keepSpare is the largest queue slice a peer keeps for reuse after a burst.
	keepSpare = 1024
)

var envelopeTypeNames = []string{envelopeTypeName}

// peer is the sending side towards one live member: a bounded FIFO of encoded envelopes and one goroutine
// (run) that drains it into one gRPC stream, a batch per gRPC message. gRPC's Send blocks when HTTP/2
// flow control says the peer is not reading, so a slow or stalled peer backs up into this queue, where
// Config.PeerQueue bounds it. Memory per peer is therefore at most PeerQueue encoded envelopes plus
// gRPC's per-stream buffers (its flow-control window and one encoded batch), never more.
type peer struct {
	n          *Node
	m          Member
	selfRemote string // this node's advertised remote address, for the handshake
	limit      int
	targets    []*actor.PID
	ctx        context.Context
	cancel     context.CancelFunc
	wake       chan struct{} // capacity 1: "the queue or the draining flag changed"

	mu         sync.Mutex
	q          [][]byte // encoded envelopes not yet taken by run
	spare      [][]byte
	inflight   int  // envelopes taken by run and not yet written
	stopped    bool // member down or node shut down: enqueue refuses
	connected  bool // a stream is open
	draining   bool // Shutdown waits for the queue to empty
	drained    chan struct{}
	connCancel context.CancelFunc // cancels the stream being opened

	// Counters of this peer alone (PeerStats); the node's totals (Stats) count the same events.
	sent, received, dropped atomic.Uint64
}

// newPeer is called with n.mu held.
func newPeer(n *Node, m Member) *peer {
	ctx, cancel := context.WithCancel(n.ctx)
	return &peer{
		n:          n,
		m:          m,
		selfRemote: n.self.RemoteAddr,
		limit:      n.cfg.PeerQueue,
		targets:    []*actor.PID{{Address: m.RemoteAddr, Id: RouterName}},
		ctx:        ctx,
		cancel:     cancel,
		wake:       make(chan struct{}, 1),
		drained:    make(chan struct{}),
	}
}

func (p *peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// enqueue appends an encoded envelope, or drops it when the queue is full.
func (p *peer) enqueue(b []byte) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownNode, p.m.ID)
	}
	if len(p.q)+p.inflight >= p.limit {
		p.mu.Unlock()
		p.n.dropped.Add(1)
		p.dropped.Add(1)
		return ErrQueueFull
	}
	p.q = append(p.q, b)
	p.mu.Unlock()
	p.signal()
	return nil
}

// queued is the number of envelopes the peer holds (queued and being written).
func (p *peer) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.q) + p.inflight
}

// stop ends the peer: run returns (a blocked gRPC Send is cancelled) and what is still queued is dropped.
func (p *peer) stop() {
	p.cancel()
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		p.n.dropped.Add(uint64(len(p.q)))
		p.dropped.Add(uint64(len(p.q)))
		p.q = nil
		p.closeDrainedLocked()
	}
	p.mu.Unlock()
}

// drain asks run to write the queue, close the stream and signal once the peer has read all of it (see
// pump); a peer without an open stream counts as drained at once (its queue is dropped by stop).
func (p *peer) drain() <-chan struct{} {
	p.mu.Lock()
	p.draining = true
	var cancelConnect context.CancelFunc
	if !p.connected {
		p.closeDrainedLocked()
		cancelConnect = p.connCancel
	}
	p.mu.Unlock()
	if cancelConnect != nil {
		cancelConnect()
	}
	p.signal()
	return p.drained
}

func (p *peer) closeDrainedLocked() {
	select {
	case <-p.drained:
	default:
		close(p.drained)
	}
}

func (p *peer) dialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minRetry, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxRetry},
			MinConnectTimeout: handshakeTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxRecvMsgSize)),
	}
	if p.n.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(p.n.token)))
	}
	return opts
}

// run connects, drains the queue into the stream, and reconnects with backoff after a failure, until
// the peer is stopped. Envelopes in a batch whose write failed are lost (counted as dropped): delivery
// is at most once, and order per peer is kept (what arrives is a subsequence of what was sent).
func (p *peer) run() {
	log := p.n.log.With("peer", p.m.ID, "remote_addr", p.m.RemoteAddr)
	// passthrough: the address is host:port, no name resolution scheme.
	cc, err := grpc.Dial("passthrough:///"+p.m.RemoteAddr, p.dialOptions()...)
	if err != nil {
		// Only a malformed target or option fails here; nothing can be sent to this peer.
		log.Error("cannot dial peer", "err", err)
		p.stop()
		return
	}
	defer cc.Close()
	client := remote.NewRemotingClient(cc)
	retry := minRetry
	for p.ctx.Err() == nil {
		c, err := p.connect(client)
		if err != nil {
			if p.ctx.Err() == nil {
				log.Debug("cannot open stream to peer", "err", err, "retry_in", retry)
			}
			p.mu.Lock()
			if p.draining {
				p.closeDrainedLocked()
			}
			p.mu.Unlock()
			t := time.NewTimer(retry)
			select {
			case <-p.ctx.Done():
			case <-t.C:
			}
			t.Stop()
			retry = min(2*retry, maxRetry)
			continue
		}
		retry = minRetry
		err = p.pump(c)
		c.cancel()
		p.mu.Lock()
		p.connected = false
		drained := p.draining
		p.mu.Unlock()
		if drained {
			// The queue went out and the stream is closed; the node is shutting down.
			<-p.ctx.Done()
			return
		}
		if p.ctx.Err() == nil {
			log.Debug("stream to peer ended", "err", err)
		}
	}
}

// conn is an open stream to the peer.
type conn struct {
	stream remote.Remoting_ReceiveClient
	cancel context.CancelFunc // ends the stream
	ended  chan struct{}      // closed when the server has ended the stream (or it broke)
}

// connect opens a stream and performs protoactor's handshake.
func (p *peer) connect(client remote.RemotingClient) (*conn, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	p.mu.Lock()
	if p.draining {
		p.mu.Unlock()
		cancel()
		return nil, errors.New("draining")
	}
	p.connCancel = cancel
	p.mu.Unlock()
	fail := func(err error) (*conn, error) {
		cancel()
		return nil, err
	}

	timer := time.AfterFunc(handshakeTimeout, cancel)
	stream, err := client.Receive(ctx, grpc.WaitForReady(true))
	if err != nil {
		timer.Stop()
		return fail(err)
	}
	err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
		ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
			ServerConnection: &remote.ServerConnection{SystemId: p.n.id, Address: p.selfRemote},
		}},
	}})
	if err != nil {
		timer.Stop()
		return fail(err)
	}
	resp, err := stream.Recv()
	if !timer.Stop() {
		return fail(errors.New("handshake timed out"))
	}
	if err != nil {
		return fail(err)
	}
	cr := resp.GetConnectResponse()
	if cr == nil || cr.Blocked {
		return fail(errors.New("peer refused the connection"))
	}
	if cr.MemberId != p.m.ID {
		// The address now belongs to another node (the peer restarted with a new id).
		return fail(fmt.Errorf("address is served by node %q", cr.MemberId))
	}

	p.mu.Lock()
	p.connected = true
	p.connCancel = nil
	p.mu.Unlock()
	c := &conn{stream: stream, cancel: cancel, ended: make(chan struct{})}
	// The server sends nothing more: a DisconnectRequest when it shuts down, or the end of the stream
	// once it has read everything after our CloseSend. Reading also notices a broken stream while the
	// queue is idle. Either way the stream is cancelled and run reconnects (unless draining).
	p.n.wg.Go(func() {
		_, _ = stream.Recv()
		close(c.ended)
		cancel()
	})
	return c, nil
}

// pump writes the queue into the stream until a write fails or the stream ends. When the node is
// draining and the queue is empty, it closes the stream and waits until the server has read all of it:
// the server pushes every envelope into its router mailbox before it ends the stream, so they are all
// ahead of this node's departure there, which Shutdown announces next.
func (p *peer) pump(c *conn) error {
	stream := c.stream
	ctx := stream.Context()
	for {
		p.mu.Lock()
		for len(p.q) == 0 {
			if p.draining {
				p.mu.Unlock()
				err := stream.CloseSend()
				if err == nil {
					<-c.ended // or the stream's ctx ends: the reader sees that too
				}
				p.mu.Lock()
				p.closeDrainedLocked()
				p.mu.Unlock()
				return err
			}
			p.mu.Unlock()
			select {
			case <-p.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
			p.mu.Lock()
		}
		batch := p.q
		p.q, p.spare = p.spare[:0], nil
		p.inflight = len(batch)
		p.mu.Unlock()

		err := p.write(stream, batch)
		clear(batch)
		p.mu.Lock()
		p.inflight = 0
		if cap(batch) <= keepSpare {
			p.spare = batch[:0]
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// write sends batch as one or more MessageBatch messages addressed to the peer's router.
func (p *peer) write(stream remote.Remoting_ReceiveClient, batch [][]byte) error {
	for len(batch) > 0 {
		k, size := 0, 0
		for k < len(batch) && k < maxBatchCount && (k == 0 || size+len(batch[k]) <= maxBatchBytes) {
			size += len(batch[k])
			k++
		}
		envs := make([]remote.MessageEnvelope, k)
		ptrs := make([]*remote.MessageEnvelope, k)
		for i := range k {
			// TypeId 0, Target 0: index into TypeNames and Targets; Sender 0: none; SerializerId 0: proto.
			envs[i].MessageData = batch[i]
			ptrs[i] = &envs[i]
		}
		err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{
			MessageBatch: &remote.MessageBatch{TypeNames: envelopeTypeNames, Targets: p.targets, Envelopes: ptrs},
		}})
		if err != nil {
			p.n.dropped.Add(uint64(len(batch)))
			p.dropped.Add(uint64(len(batch)))
			return err
		}
		p.n.sent.Add(uint64(k))
		p.sent.Add(uint64(k))
		batch = batch[k:]
		p.mu.Lock()
		p.inflight -= k
		p.mu.Unlock()
	}
	return nil
}
