package cluster

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// authLogEvery is how often at most one authentication failure of a kind is logged. Anyone who can reach
// the gossip or stream port can fail authentication as fast as the network allows (2 000 refused streams
// wrote 2 000 lines in 0.7 s): every failure is counted, but only one line per kind per interval is
// written, carrying the number of failures left unlogged since the previous line.
var authLogEvery = 10 * time.Second

// authLog logs the authentication failures of one kind, rate-limited, and counts each in total. It is
// safe for concurrent use.
type authLog struct {
	log   *slog.Logger
	msg   string
	total *atomic.Uint64 // shared by the kinds of one node (Stats.AuthFailures)

	mu         sync.Mutex
	last       time.Time // of the last line written; zero before the first
	suppressed uint64    // failures since then that wrote no line
}

// fail counts one failure and logs it at Warn unless a line of this kind was written within
// authLogEvery; attrs describe this failure.
func (a *authLog) fail(attrs ...any) {
	total := a.total.Add(1)
	now := time.Now()
	a.mu.Lock()
	if !a.last.IsZero() && now.Sub(a.last) < authLogEvery {
		a.suppressed++
		a.mu.Unlock()
		return
	}
	suppressed := a.suppressed
	a.last, a.suppressed = now, 0
	a.mu.Unlock()
	a.log.Warn(a.msg, append(attrs, "suppressed", suppressed, "total", total, "log_every", authLogEvery)...)
}

// gossipAuthFailure reports whether a memberlist log line (prefix and "memberlist: " removed) is a
// gossip message or stream refused for its key: one that no installed key decrypts, a plaintext one
// while a key is set, or an encrypted one while none is. memberlist v0.7.0 offers no hook for these, only
// its log lines: "Decrypt packet failed: …" (UDP) and "failed to receive: …" (TCP) with the decryption
// error. Other "failed to receive" lines (a peer that hung up, garbage that does not decode) are not
// authentication failures and are logged as memberlist wrote them.
func gossipAuthFailure(line string) bool {
	if strings.HasPrefix(line, "Decrypt packet failed") {
		return true
	}
	rest, ok := strings.CutPrefix(line, "failed to receive: ")
	if !ok {
		return false
	}
	return strings.Contains(rest, "decrypt") || strings.Contains(rest, "encrypt")
}
