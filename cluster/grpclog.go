package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/grpclog"
)

// gRPC has one process-global logger (grpclog.SetLoggerV2), which it reads without synchronisation and
// which must therefore be set before any gRPC activity. The first Node.Start in a process installs
// grpcLogger, exactly once; every later Start only retargets it (atomically) to its own Config.Logger, so
// gRPC's logs go to the most recently started node's logger. A program that uses gRPC elsewhere and
// wants its own grpclog logger should start its nodes before any other gRPC use, or install its
// logger first and call nothing else (ours replaces it once, at the first Start).
var (
	grpcLogOnce   sync.Once
	grpcLogTarget atomic.Pointer[slog.Logger]
)

func installGRPCLogger(l *slog.Logger) {
	grpcLogTarget.Store(l.With("component", "grpc"))
	grpcLogOnce.Do(func() { grpclog.SetLoggerV2(grpcLogger{}) })
}

// grpcLogger forwards to grpcLogTarget. gRPC's Info and Warning lines are connection churn (dials,
// reconnects, GOAWAYs), expected whenever a peer comes or goes: they map to Debug; its errors to Warn.
type grpcLogger struct{}

func (grpcLogger) log(level slog.Level, msg string) {
	l := grpcLogTarget.Load()
	if l != nil {
		l.Log(context.Background(), level, msg)
	}
}

func (grpcLogger) enabled(level slog.Level) bool {
	l := grpcLogTarget.Load()
	return l != nil && l.Enabled(context.Background(), level)
}

func (g grpcLogger) Info(args ...any) {
	if g.enabled(slog.LevelDebug) {
		g.log(slog.LevelDebug, fmt.Sprint(args...))
	}
}

func (g grpcLogger) Infoln(args ...any) { g.Info(args...) }

func (g grpcLogger) Infof(format string, args ...any) {
	if g.enabled(slog.LevelDebug) {
		g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
	}
}

func (g grpcLogger) Warning(args ...any)                 { g.Info(args...) }
func (g grpcLogger) Warningln(args ...any)               { g.Info(args...) }
func (g grpcLogger) Warningf(format string, args ...any) { g.Infof(format, args...) }
func (g grpcLogger) Error(args ...any)                   { g.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)                 { g.Error(args...) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}

// Fatal keeps grpclog's contract: log, then exit.
func (g grpcLogger) Fatal(args ...any) {
	g.log(slog.LevelError, fmt.Sprint(args...))
	os.Exit(1)
}

func (g grpcLogger) Fatalln(args ...any) { g.Fatal(args...) }

func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbose level l is on: level 0 always, gRPC's verbose levels (channelz traces) only
// when the target logs Debug.
func (g grpcLogger) V(l int) bool { return l <= 0 || l <= 2 && g.enabled(slog.LevelDebug) }
