package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/roomio/roomio/cluster"
)

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (*logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// lines returns the records with message msg.
func (l *logRecorder) lines(msg string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.recs {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// TestAuthFailuresCountedAndRateLimited floods a keyed node with what an attacker without the key can
// send — node-to-node streams with no or a wrong token, gossip TCP connections and UDP packets in
// plaintext — and checks that every failure is counted exactly in Stats.AuthFailures while the log gets
// at most one line per kind per 10 s.
func TestAuthFailuresCountedAndRateLimited(t *testing.T) {
	rec := &logRecorder{}
	n := startNode(t, func(c *cluster.Config) { c.Key = testKey; c.Logger = slog.New(rec) })
	const streams, gossipConns, packets = 600, 300, 200
	start := time.Now()

	// Streams: several clients at once, half without a token, half with a wrong one.
	cc, err := grpc.Dial(n.Self().RemoteAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	wrong := cluster.AuthToken([]byte("fedcba9876543210"))
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < streams; i += 8 {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				if i%2 == 1 {
					ctx = metadata.AppendToOutgoingContext(ctx, cluster.AuthHeader, wrong)
				}
				stream, err := remote.NewRemotingClient(cc).Receive(ctx)
				if err == nil {
					_, err = stream.Recv()
				}
				cancel()
				if status.Code(err) != codes.Unauthenticated {
					errs <- err
				}
			}
		})
	}
	// Gossip over TCP: a plaintext message type byte; memberlist answers with an error and hangs up.
	gossip := n.Self().GossipAddr
	for range gossipConns {
		c, err := net.DialTimeout("tcp", gossip, wait)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(wait))
		if _, err := c.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, c) // until memberlist closes it, after logging (and counting) the refusal
		c.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("stream with a bad token: %v, want Unauthenticated", err)
	}
	if got, want := n.Stats().AuthFailures, uint64(streams+gossipConns); got != want {
		t.Fatalf("after %d refused streams and %d gossip connections, AuthFailures = %d, want %d", streams, gossipConns, got, want)
	}
	// Gossip over UDP: plaintext packets, in bursts small enough for the socket buffer (UDP drops what
	// does not fit), each burst counted before the next.
	u, err := net.Dial("udp", gossip)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for sent := 0; sent < packets; {
		for range 20 {
			if _, err := u.Write([]byte("not encrypted at all, and long enough")); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		want := uint64(streams + gossipConns + sent)
		waitFor(t, wait, "the UDP packets to be counted", func() bool { return n.Stats().AuthFailures >= want })
	}
	elapsed := time.Since(start)
	if got, want := n.Stats().AuthFailures, uint64(streams+gossipConns+packets); got != want {
		t.Fatalf("AuthFailures = %d, want %d", got, want)
	}
	if st := n.Stats(); st.Rejected != streams || st.Received != 0 {
		t.Fatalf("Stats() = %+v, want %d rejected streams, none received", st, streams)
	}

	// At most one line per kind and started 10 s; the first carries the running total.
	maxLines := 1 + int(elapsed/(10*time.Second))
	for _, msg := range []string{"refused an unauthenticated stream", "gossip authentication failed"} {
		lines := rec.lines(msg)
		t.Logf("%q: %d lines in %v", msg, len(lines), elapsed.Round(time.Millisecond))
		if len(lines) == 0 || len(lines) > maxLines {
			t.Errorf("%q logged %d times in %v, want 1 to %d", msg, len(lines), elapsed, maxLines)
			continue
		}
		if lines[0].Level != slog.LevelWarn || attr(lines[0], "total").Uint64() == 0 || attr(lines[0], "suppressed").Uint64() != 0 {
			t.Errorf("first %q line: level %v, total %v, suppressed %v", msg, lines[0].Level, attr(lines[0], "total"), attr(lines[0], "suppressed"))
		}
	}
	if got := len(rec.lines("gossip authentication failed")); got > 0 {
		if e := attr(rec.lines("gossip authentication failed")[0], "err").String(); e == "" {
			t.Error("the gossip line does not say what memberlist refused")
		}
	}
	// Nothing else logged one line per failure at Info or above (memberlist and gRPC log each connection
	// at Debug).
	rec.mu.Lock()
	var loud []string
	for _, r := range rec.recs {
		if r.Level >= slog.LevelInfo {
			loud = append(loud, r.Message)
		}
	}
	rec.mu.Unlock()
	if len(loud) > 10 {
		t.Errorf("%d log records at Info or above for %d failures: %q…", len(loud), streams+gossipConns+packets, loud[:10])
	}
}
