package cluster_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/cluster"
)

func TestMain(m *testing.M) {
	// grpclog's logger is process-global and read without synchronisation: install ours before any gRPC
	// use in this test binary (raw gRPC clients and servers of some tests start before a node does).
	cluster.InstallGRPCLogger(slog.New(slog.DiscardHandler))
	// No Ignore options: memberlist, gRPC and protoactor goroutines all end by the time Shutdown (or
	// Crash) returns, or within goleak's retry window.
	goleak.VerifyTestMain(m)
}
