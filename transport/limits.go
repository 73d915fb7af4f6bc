package transport

import (
	"net"
	"net/http"
	"slices"
	"sync"
)

// DefaultHeaderBytes is the default of CopyHeaders' budget: the request header bytes a connection keeps
// for its Handshake.
const DefaultHeaderBytes = 8 << 10

// CopyHeaders returns a copy of h holding at most max bytes of header names and values (each value
// counts its name's length plus its own): headers are taken in a stable order (sorted by name) and a
// value that does not fit is dropped, as are all after it of that name. A connection keeps this copy for
// its whole life, so the bound is what a client's headers can cost a server per connection, whatever the
// HTTP server accepted. max <= 0 means DefaultHeaderBytes.
func CopyHeaders(h http.Header, max int) http.Header {
	if max <= 0 {
		max = DefaultHeaderBytes
	}
	total := 0
	for k, vs := range h {
		for _, v := range vs {
			total += len(k) + len(v)
		}
	}
	if total <= max {
		return h.Clone()
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(http.Header, len(keys))
	left := max
	for _, k := range keys {
		for _, v := range h[k] {
			if len(k)+len(v) > left {
				break
			}
			left -= len(k) + len(v)
			out[k] = append(out[k], v)
		}
	}
	return out
}

// AddrLimit counts the open connections of each remote IP address and refuses one beyond Max. Both
// front-ends of an engine share one, so the limit holds across protocols. Safe for concurrent use; the
// zero value with Max 0 refuses nothing.
type AddrLimit struct {
	// Max is the most connections one IP address may hold open at once; 0 or less means no limit.
	Max int

	mu    sync.Mutex
	count map[string]int
}

// Acquire counts one more connection from remoteAddr (host:port, as http.Request.RemoteAddr) and returns
// the function that uncounts it, to be called once when the connection ends; ok is false, and nothing is
// counted, when the address already holds Max connections.
func (l *AddrLimit) Acquire(remoteAddr string) (release func(), ok bool) {
	if l == nil || l.Max <= 0 {
		return func() {}, true
	}
	ip := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = host
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == nil {
		l.count = make(map[string]int)
	}
	if l.count[ip] >= l.Max {
		return nil, false
	}
	l.count[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.count[ip]--; l.count[ip] <= 0 {
				delete(l.count, ip)
			}
			l.mu.Unlock()
		})
	}, true
}

// Open returns how many connections remoteAddr's IP address holds open.
func (l *AddrLimit) Open(remoteAddr string) int {
	ip := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = host
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[ip]
}
