package main

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// authLogEvery is how often at most one line is logged for a kind of authentication failure. Every
// failure is counted; a client that guesses keys as fast as it can writes one line per interval, which
// carries how many failures it stands for. (Package cluster does the same for its streams and gossip.)
var authLogEvery = 10 * time.Second

// failureLog logs failures of one kind at Warn, rate-limited, and counts each in total. It is safe for
// concurrent use.
type failureLog struct {
	log   *slog.Logger
	msg   string
	total *atomic.Uint64

	mu         sync.Mutex
	last       time.Time // of the last line written; zero before the first
	suppressed uint64    // failures since then that wrote no line
}

// fail counts one failure and logs it unless a line was written within authLogEvery; attrs describe
// this failure.
func (f *failureLog) fail(attrs ...any) {
	total := f.total.Add(1)
	now := time.Now()
	f.mu.Lock()
	if !f.last.IsZero() && now.Sub(f.last) < authLogEvery {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	suppressed := f.suppressed
	f.last, f.suppressed = now, 0
	f.mu.Unlock()
	f.log.Warn(f.msg, append(attrs, "suppressed", suppressed, "total", total, "log_every", authLogEvery)...)
}
