package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// The node-to-node transport is protoactor remote's wire protocol — its gRPC service Remoting with a
// bidirectional stream of RemoteMessage (ConnectRequest, then MessageBatch frames addressed to a PID) —
// served and dialled by this package rather than by protoactor's remote runtime. See the package
// documentation for why.

const (
	// authHeader carries the token derived from Config.Key on every stream.
	authHeader = "roomio-auth"
	// maxRecvMsgSize bounds one gRPC message (a batch); a batch holds at most one envelope beyond
	// maxBatchBytes, so this admits the largest envelope.
	maxRecvMsgSize = MaxEnvelopeSize + maxBatchBytes + 64<<10
	// serverGrace bounds how long Shutdown waits for peers to close their streams to us.
	serverGrace = 2 * time.Second
)

var envelopeTypeName = string((&clusterv1.Envelope{}).ProtoReflect().Descriptor().FullName())

// authToken derives the stream token from the cluster key: HMAC-SHA256(key, "roomio-remote-v1"), so the
// key itself never travels. It is a static bearer token: it authenticates, it does not encrypt.
func authToken(key []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("roomio-remote-v1"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// tokenCreds puts the token on every stream a peer sender opens.
type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{authHeader: string(t)}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }

// server receives peers' streams and hands their envelopes to the router actor.
type server struct {
	remote.UnimplementedRemotingServer
	n *Node
	g *grpc.Server

	mu       sync.Mutex
	stopping bool
	streams  map[*inStream]struct{}
	// last maps a sender node id to the done channel of its newest stream: a reconnecting sender's new
	// stream waits for the old one's handler to finish, so per-sender order holds across reconnects.
	last map[string]chan struct{}
}

type inStream struct {
	stream remote.Remoting_ReceiveServer
	sendMu sync.Mutex // gRPC allows one concurrent sender per stream
}

func (st *inStream) send(m *remote.RemoteMessage) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.stream.Send(m)
}

func newServer(n *Node) *server {
	s := &server{n: n, streams: make(map[*inStream]struct{}), last: make(map[string]chan struct{})}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxRecvMsgSize)}
	if n.token != "" {
		// Interceptors run before the handler reads any message: an unauthenticated stream is refused
		// before a single byte of it is decoded.
		opts = append(opts, grpc.StreamInterceptor(s.authStream), grpc.UnaryInterceptor(s.authUnary))
	}
	s.g = grpc.NewServer(opts...)
	remote.RegisterRemotingServer(s.g, s)
	return s
}

func (s *server) authorized(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(authHeader)
	return len(v) == 1 && subtle.ConstantTimeCompare([]byte(v[0]), []byte(s.n.token)) == 1
}

func (s *server) refuse(ctx context.Context) error {
	s.n.rejected.Add(1)
	addr := ""
	if p, ok := grpcpeer.FromContext(ctx); ok {
		addr = p.Addr.String()
	}
	s.n.streamAuth.fail("remote_addr", addr)
	return status.Error(codes.Unauthenticated, "roomio cluster: missing or wrong key")
}

func (s *server) authStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !s.authorized(ss.Context()) {
		return s.refuse(ss.Context())
	}
	return h(srv, ss)
}

func (s *server) authUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !s.authorized(ctx) {
		return nil, s.refuse(ctx)
	}
	return h(ctx, req)
}

// Receive serves one peer stream: ConnectRequest (naming the sender), then batches of envelopes.
func (s *server) Receive(stream remote.Remoting_ReceiveServer) error {
	st := &inStream{stream: stream}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "roomio cluster: node is shutting down")
	}
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
	}()

	msg, err := stream.Recv()
	if err != nil {
		return err
	}
	sc := msg.GetConnectRequest().GetServerConnection()
	if sc == nil || sc.SystemId == "" || sc.SystemId == s.n.id {
		s.n.rejected.Add(1)
		return status.Error(codes.InvalidArgument, "roomio cluster: expected a ConnectRequest from a peer")
	}
	from := sc.SystemId

	done := make(chan struct{})
	s.mu.Lock()
	prev := s.last[from]
	s.last[from] = done
	s.mu.Unlock()
	defer func() {
		close(done)
		s.mu.Lock()
		if s.last[from] == done {
			delete(s.last, from)
		}
		s.mu.Unlock()
	}()
	if prev != nil {
		select {
		case <-prev:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}

	err = st.send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectResponse{
		ConnectResponse: &remote.ConnectResponse{MemberId: s.n.id},
	}})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m := msg.MessageType.(type) {
		case *remote.RemoteMessage_MessageBatch:
			if err := s.deliver(stream.Context(), from, m.MessageBatch); err != nil {
				return err
			}
		case *remote.RemoteMessage_DisconnectRequest:
			return nil
		default:
			s.n.rejected.Add(1)
		}
	}
}

// deliver decodes a batch and sends each acceptable envelope to the router, in order, waiting while the
// router's inbox is full. Anything else is counted and dropped: unlike protoactor's own reader, an
// unknown type name is never looked up, so it cannot crash the process.
func (s *server) deliver(ctx context.Context, from string, b *remote.MessageBatch) error {
	for _, e := range b.Envelopes {
		env, reason := s.decode(from, b, e)
		if env == nil {
			s.n.rejected.Add(1)
			s.n.log.Debug("rejected an envelope", "from", from, "reason", reason)
			continue
		}
		if err := s.n.inbox.acquire(ctx); err != nil {
			return err
		}
		s.n.system.Root.Send(s.n.routerPID, env)
	}
	return nil
}

func (s *server) decode(from string, b *remote.MessageBatch, e *remote.MessageEnvelope) (*clusterv1.Envelope, string) {
	if e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) || b.TypeNames[e.TypeId] != envelopeTypeName ||
		e.SerializerId != 0 {
		return nil, "not a protobuf " + envelopeTypeName
	}
	if e.Target < 0 || int(e.Target) >= len(b.Targets) || b.Targets[e.Target].GetId() != RouterName {
		return nil, "not addressed to " + RouterName
	}
	env := new(clusterv1.Envelope)
	if err := proto.Unmarshal(e.MessageData, env); err != nil {
		return nil, "undecodable: " + err.Error()
	}
	switch {
	case env.Version != ProtocolVersion:
		return nil, "protocol version mismatch"
	case env.Body == nil:
		return nil, "unknown body kind"
	case env.From != from:
		return nil, "from differs from the stream's node"
	}
	return env, ""
}

// stop refuses new streams, asks connected peers to close theirs (DisconnectRequest, as protoactor's
// remote does), waits for them up to serverGrace or ctx, then closes whatever is left.
func (s *server) stop(ctx context.Context, graceful bool) {
	s.mu.Lock()
	s.stopping = true
	streams := make([]*inStream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	if !graceful {
		s.g.Stop()
		return
	}
	for _, st := range streams {
		_ = st.send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_DisconnectRequest{
			DisconnectRequest: &remote.DisconnectRequest{},
		}})
	}
	done := make(chan struct{})
	go func() {
		s.g.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(serverGrace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-ctx.Done():
	case <-t.C:
	}
	s.g.Stop()
	<-done
}
