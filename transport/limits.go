package transport

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultHeaderBytes is the default budget of the request header bytes a connection keeps for its
// Handshake (KeepHandshake).
const DefaultHeaderBytes = 8 << 10

// KeptHandshake is the opening request's details as a connection keeps them for its whole life: the
// query stays inside the URL and the headers are one slice of names and values, bounded. Handshake
// builds the maps on each call; a connection's handshake is asked for rarely (at connect, to authorise
// a join, by FetchSockets), while the maps kept for a connection's life cost ~0.8 KB each.
type KeptHandshake struct {
	url        string
	query      string   // the raw query, a substring of url
	headers    []string // name, value, name, value, ...: names sorted, a name's values in order
	remoteAddr string
	time       time.Time
	secure     bool
}

// KeepHandshake keeps r's details. Of its headers it keeps at most maxHeaderBytes bytes of names and
// values (each value counts its name's length plus its own): names are taken in sorted order and a
// value that does not fit is dropped, as are all after it of that name. The bound is what a client's
// headers can cost a server per connection, whatever the HTTP server accepted. maxHeaderBytes <= 0
// means DefaultHeaderBytes.
func KeepHandshake(r *http.Request, maxHeaderBytes int) KeptHandshake {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = DefaultHeaderBytes
	}
	u := r.URL.String()
	var query string
	if r.URL.RawQuery != "" && strings.HasSuffix(u, r.URL.RawQuery) {
		query = u[len(u)-len(r.URL.RawQuery):]
	} else {
		query = r.URL.RawQuery
	}
	names := make([]string, 0, len(r.Header))
	n := 0
	for name, vs := range r.Header {
		names = append(names, name)
		n += len(vs)
	}
	slices.Sort(names)
	headers := make([]string, 0, 2*n)
	left := maxHeaderBytes
	for _, name := range names {
		for _, v := range r.Header[name] {
			if len(name)+len(v) > left {
				break
			}
			left -= len(name) + len(v)
			headers = append(headers, name, v)
		}
	}
	return KeptHandshake{url: u, query: query, headers: slices.Clip(headers), remoteAddr: r.RemoteAddr,
		time: time.Now(), secure: r.TLS != nil}
}

// RemoteAddr returns the client's address (Handshake's RemoteAddr), without building the rest.
func (k KeptHandshake) RemoteAddr() string { return k.remoteAddr }

// Handshake returns the details kept, with maps of its own: the caller may change them.
func (k KeptHandshake) Handshake() Handshake {
	q, _ := url.ParseQuery(k.query) // what url.URL.Query keeps of a malformed query
	var h http.Header
	if len(k.headers) > 0 {
		h = make(http.Header, len(k.headers)/2)
		values := make([]string, len(k.headers)/2) // one backing array, as http.Header.Clone does
		for i := 0; i < len(k.headers); i += 2 {
			name := k.headers[i]
			values[i/2] = k.headers[i+1]
			if vs, ok := h[name]; ok {
				h[name] = append(vs, values[i/2])
			} else {
				h[name] = values[i/2 : i/2+1 : i/2+1]
			}
		}
	} else {
		h = http.Header{}
	}
	return Handshake{URL: k.url, Query: q, Headers: h, RemoteAddr: k.remoteAddr, Time: k.time, Secure: k.secure}
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
