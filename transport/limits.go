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

// KeptHandshake is the opening request's details as a connection keeps them for its whole life, in one
// string: the URL (the query inside it), the remote address, then the bounded headers' names and values,
// back to back, with their lengths alongside: two allocations per connection, where keeping the
// request's own strings kept a dozen small ones. Handshake builds the maps on each call; a connection's
// handshake is asked for rarely (at connect, to authorise a join, by FetchSockets), while maps kept for
// a connection's life cost ~0.8 KB each.
type KeptHandshake struct {
	text   string
	lens   []uint32 // len(URL), len(remote address), then len(name), len(value) of each header kept
	time   time.Time
	secure bool
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
	names := make([]string, 0, len(r.Header))
	values := 0
	for name, vs := range r.Header {
		names = append(names, name)
		values += len(vs)
	}
	slices.Sort(names)
	// The headers kept, in order: both passes below take the same ones.
	kept := func(f func(name, v string)) {
		left := maxHeaderBytes
		for _, name := range names {
			for _, v := range r.Header[name] {
				if len(name)+len(v) > left {
					break
				}
				left -= len(name) + len(v)
				f(name, v)
			}
		}
	}
	u := r.URL.String()
	lens := make([]uint32, 2, 2+2*values)
	lens[0], lens[1] = uint32(len(u)), uint32(len(r.RemoteAddr))
	size := len(u) + len(r.RemoteAddr)
	kept(func(name, v string) {
		lens = append(lens, uint32(len(name)), uint32(len(v)))
		size += len(name) + len(v)
	})
	var b strings.Builder
	b.Grow(size)
	b.WriteString(u)
	b.WriteString(r.RemoteAddr)
	kept(func(name, v string) {
		b.WriteString(name)
		b.WriteString(v)
	})
	return KeptHandshake{text: b.String(), lens: slices.Clip(lens), time: time.Now(), secure: r.TLS != nil}
}

// RemoteAddr returns the client's address (Handshake's RemoteAddr), without building the rest.
func (k KeptHandshake) RemoteAddr() string {
	if len(k.lens) < 2 {
		return ""
	}
	return k.text[k.lens[0] : k.lens[0]+k.lens[1]]
}

// Handshake returns the details kept, with maps of its own: the caller may change them.
func (k KeptHandshake) Handshake() Handshake {
	hs := Handshake{Headers: http.Header{}, Time: k.time, Secure: k.secure}
	if len(k.lens) < 2 {
		hs.Query = url.Values{}
		return hs
	}
	hs.URL = k.text[:k.lens[0]]
	hs.RemoteAddr = k.RemoteAddr()
	_, rawQuery, _ := strings.Cut(hs.URL, "?")
	hs.Query, _ = url.ParseQuery(rawQuery) // what url.URL.Query keeps of a malformed query
	off := int(k.lens[0] + k.lens[1])
	values := make([]string, (len(k.lens)-2)/2) // one backing array, as http.Header.Clone does
	for i := 2; i+1 < len(k.lens); i += 2 {
		name := k.text[off : off+int(k.lens[i])]
		off += int(k.lens[i])
		j := (i - 2) / 2
		values[j] = k.text[off : off+int(k.lens[i+1])]
		off += int(k.lens[i+1])
		if vs, ok := hs.Headers[name]; ok {
			hs.Headers[name] = append(vs, values[j])
		} else {
			hs.Headers[name] = values[j : j+1 : j+1]
		}
	}
	return hs
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
