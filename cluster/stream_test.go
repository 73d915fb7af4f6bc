package cluster_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/roomio/roomio/cluster"
	"github.com/roomio/roomio/cluster/clustertest"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

var testKey = []byte("0123456789abcdef")

// rawStream opens a Remoting stream to addr as a hand-written peer would, with token (if any).
func rawStream(t *testing.T, addr, token string) remote.Remoting_ReceiveClient {
	t.Helper()
	cc, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, cluster.AuthHeader, token)
	}
	stream, err := remote.NewRemotingClient(cc).Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func connectRequest(id string) *remote.RemoteMessage {
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: id}},
	}}}
}

// handshake sends a ConnectRequest for id and checks the answer.
func handshake(t *testing.T, stream remote.Remoting_ReceiveClient, id, wantMember string) {
	t.Helper()
	if err := stream.Send(connectRequest(id)); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if got := resp.GetConnectResponse().GetMemberId(); got != wantMember {
		t.Fatalf("ConnectResponse names %q, want %q", got, wantMember)
	}
}

// batch is one MessageBatch of datas, all with the given type name, addressed to target.
func batch(typeName, target string, datas ...[]byte) *remote.RemoteMessage {
	b := &remote.MessageBatch{TypeNames: []string{typeName}, Targets: []*actor.PID{{Address: "x", Id: target}}}
	for _, d := range datas {
		b.Envelopes = append(b.Envelopes, &remote.MessageEnvelope{MessageData: d})
	}
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}}
}

const envelopeType = "roomio.cluster.v1.Envelope"

func encoded(t *testing.T, env *clusterv1.Envelope) []byte {
	t.Helper()
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stamped(from string, version uint32, seq uint64) *clusterv1.Envelope {
	env := event(seq, "x")
	env.From, env.Version = from, version
	return env
}

// unknownKind encodes an Envelope from a newer peer: a body field this version does not know.
func unknownKind(from string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, from)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, cluster.ProtocolVersion)
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	return protowire.AppendBytes(b, []byte{1, 2, 3})
}

func TestStreamRefusesUnauthenticated(t *testing.T) {
	n := startNode(t, func(c *cluster.Config) { c.Key = testKey })
	for _, token := range []string{"", cluster.AuthToken([]byte("fedcba9876543210"))} {
		stream := rawStream(t, n.Self().RemoteAddr, token)
		_ = stream.Send(connectRequest("intruder"))
		_ = stream.Send(batch(envelopeType, cluster.RouterName, encoded(t, stamped("intruder", 1, 1))))
		_, err := stream.Recv()
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %q: Recv err = %v, want Unauthenticated", token, err)
		}
	}
	if got := n.Stats(); got.Rejected != 2 || got.Received != 0 {
		t.Fatalf("Stats() = %+v, want 2 rejected, none received", got)
	}
	if ev := n.rec.Events(); len(ev) != 0 {
		t.Fatalf("handler saw %v", ev)
	}
}

// Whatever a peer sends that is not an acceptable Envelope for the router is counted and dropped; in
// particular a type name the process does not know, which crashes protoactor's own remote reader.
func TestStreamRejectsBadEnvelopes(t *testing.T) {
	n := startNode(t, func(c *cluster.Config) { c.Key = testKey })
	stream := rawStream(t, n.Self().RemoteAddr, cluster.AuthToken(testKey))
	handshake(t, stream, "raw1", n.ID())
	bad := []*remote.RemoteMessage{
		batch("no.such.Type", cluster.RouterName, []byte{1}),
		batch("actor.PID", cluster.RouterName, encoded(t, stamped("raw1", 1, 1))),
		batch(envelopeType, "someone-else", encoded(t, stamped("raw1", 1, 1))),
		batch(envelopeType, cluster.RouterName, []byte{0xff, 0xff, 0xff}),          // undecodable
		batch(envelopeType, cluster.RouterName, encoded(t, stamped("raw1", 2, 1))), // other version
		batch(envelopeType, cluster.RouterName, encoded(t, stamped("raw2", 1, 1))), // from ≠ stream's node
		batch(envelopeType, cluster.RouterName, encoded(t, &clusterv1.Envelope{From: "raw1", Version: 1})),
		batch(envelopeType, cluster.RouterName, unknownKind("raw1")),
	}
	for _, m := range bad {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	// Bad indexes into the batch's tables.
	m := batch(envelopeType, cluster.RouterName, encoded(t, stamped("raw1", 1, 1)))
	m.GetMessageBatch().Envelopes[0].TypeId = 5
	_ = stream.Send(m)
	m = batch(envelopeType, cluster.RouterName, encoded(t, stamped("raw1", 1, 1)))
	m.GetMessageBatch().Envelopes[0].Target = -1
	_ = stream.Send(m)
	// The stream and the node keep working.
	if err := stream.Send(batch(envelopeType, cluster.RouterName, encoded(t, stamped("raw1", 1, 7)))); err != nil {
		t.Fatal(err)
	}
	got := n.rec.WaitReceived(t, wait, "raw1", 1)
	if len(got) != 1 || seqOf(got[0]) != 7 {
		t.Fatalf("received %v", got)
	}
	// The sender is not (yet) a member: the handler gets its id and version only.
	if from := n.rec.Events()[0].Member; from != (cluster.Member{ID: "raw1", Version: 1}) {
		t.Fatalf("from = %+v", from)
	}
	if st := n.Stats(); st.Rejected != uint64(len(bad)+2) || st.Received != 1 {
		t.Fatalf("Stats() = %+v, want %d rejected and 1 received", st, len(bad)+2)
	}
}

type panicky struct {
	clustertest.Recorder
}

func (p *panicky) Receive(from cluster.Member, env *clusterv1.Envelope) {
	if seqOf(env) == 1 {
		panic("handler bug")
	}
	p.Recorder.Receive(from, env)
}

// A panicking Handler does not take the router down.
func TestHandlerPanicRecovered(t *testing.T) {
	h := &panicky{}
	cfg := baseConfig(t)
	n, err := cluster.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) }) // after the raw stream's cleanup
	stream := rawStream(t, n.Self().RemoteAddr, "")
	handshake(t, stream, "raw1", n.ID())
	for seq := range uint64(20) {
		if err := stream.Send(batch(envelopeType, cluster.RouterName, encoded(t, stamped("raw1", 1, seq)))); err != nil {
			t.Fatal(err)
		}
	}
	got := h.WaitReceived(t, wait, "raw1", 19)
	for i, env := range got {
		if want := uint64(i); i > 0 {
			want++
			if seqOf(env) != want {
				t.Fatalf("envelope %d has seq %d, want %d", i, seqOf(env), want)
			}
		}
	}
}

// blackhole accepts TCP connections and never reads or writes.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// A peer whose address accepts TCP and never answers: the queue fills to PeerQueue, the rest is
// dropped and counted, and Shutdown does not wait for it.
func TestQueueBoundedPeerNeverAnswers(t *testing.T) {
	const limit, total = 100, 10000
	n := startNode(t, func(c *cluster.Config) { c.PeerQueue = limit })
	n.AddPeer(cluster.Member{ID: "ghost", RemoteAddr: blackhole(t), Version: cluster.ProtocolVersion})
	n.rec.WaitUp(t, wait, "ghost")
	payload := make([]byte, 1024)
	full := 0
	for i := range total {
		env := event(uint64(i), string(payload))
		switch err := n.Send("ghost", env); {
		case errors.Is(err, cluster.ErrQueueFull):
			full++
		case err != nil:
			t.Fatal(err)
		}
	}
	if full != total-limit {
		t.Fatalf("%d sends found the queue full, want %d", full, total-limit)
	}
	if got := n.QueueLen("ghost"); got != limit {
		t.Fatalf("queue holds %d, want %d", got, limit)
	}
	if st := n.Stats(); st.Dropped != total-limit || st.Sent != 0 {
		t.Fatalf("Stats() = %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if st := n.Stats(); st.Dropped != total {
		t.Fatalf("after Shutdown Stats() = %+v, want all %d dropped", st, total)
	}
}

// stalled is a Remoting server that completes the handshake as node id and then never reads again.
type stalled struct {
	remote.UnimplementedRemotingServer
	id      string
	release chan struct{}
}

func (s *stalled) Receive(stream remote.Remoting_ReceiveServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectResponse{
		ConnectResponse: &remote.ConnectResponse{MemberId: s.id}}})
	if err != nil {
		return err
	}
	select {
	case <-s.release:
	case <-stream.Context().Done():
	}
	return nil
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// A peer that completed the handshake and stopped reading: HTTP/2 flow control blocks the sender, the
// queue fills, and memory stays bounded however much is sent.
func TestQueueBoundedPeerStopsReading(t *testing.T) {
	const limit, total, size = 64, 2000, 64 << 10 // 125 MiB offered
	n := startNode(t, func(c *cluster.Config) { c.PeerQueue = limit })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	peer := &stalled{id: "stalled", release: make(chan struct{})}
	remote.RegisterRemotingServer(srv, peer)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	defer func() {
		close(peer.release)
		srv.Stop()
		<-served
	}()

	n.AddPeer(cluster.Member{ID: "stalled", RemoteAddr: l.Addr().String(), Version: cluster.ProtocolVersion})
	n.rec.WaitUp(t, wait, "stalled")
	before := heapInUse()
	payload := string(make([]byte, size))
	full := 0
	for i := range total {
		switch err := n.Send("stalled", event(uint64(i), payload)); {
		case errors.Is(err, cluster.ErrQueueFull):
			full++
		case err != nil:
			t.Fatal(err)
		}
		if i%100 == 0 {
			runtime.Gosched() // let the sender write what flow control allows
		}
	}
	grown := int64(heapInUse()) - int64(before)
	st := n.Stats()
	t.Logf("offered %d × %d KiB: sent %d, dropped %d, heap grew %d MiB", total, size>>10, st.Sent, st.Dropped, grown>>20)
	if full == 0 || st.Dropped != uint64(full) {
		t.Fatalf("%d sends found the queue full, Stats() = %+v", full, st)
	}
	if q := n.QueueLen("stalled"); q > limit {
		t.Fatalf("queue holds %d, more than %d", q, limit)
	}
	// PeerQueue × 64 KiB = 4 MiB queued, plus gRPC's window and buffers; far below the 125 MiB offered.
	if grown > 48<<20 {
		t.Fatalf("heap grew by %d MiB", grown>>20)
	}
	// The stalled peer never drains: Shutdown gives up at ctx and still stops everything.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
}
