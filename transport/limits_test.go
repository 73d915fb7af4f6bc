package transport_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/roomio/roomio/transport"
)

func TestKeepHandshake(t *testing.T) {
	r := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket&token=a%20b&token=c", nil)
	r.Header = http.Header{"A": {"1", "2"}, "Big": {strings.Repeat("x", 100)}, "C": {"3"}}
	r.RemoteAddr = "10.0.0.1:5"
	k := transport.KeepHandshake(r, 1000)
	hs := k.Handshake()
	if len(hs.Headers) != 3 || len(hs.Headers["A"]) != 2 || hs.Headers.Get("Big") == "" || hs.Headers.Get("C") != "3" {
		t.Fatalf("within the budget: %v", hs.Headers)
	}
	if hs.URL != "/socket.io/?EIO=4&transport=websocket&token=a%20b&token=c" || hs.RemoteAddr != "10.0.0.1:5" ||
		k.RemoteAddr() != "10.0.0.1:5" || hs.Secure || hs.Time.IsZero() {
		t.Fatalf("handshake %+v", hs)
	}
	if want := (url.Values{"EIO": {"4"}, "transport": {"websocket"}, "token": {"a b", "c"}}); !reflect.DeepEqual(hs.Query, want) {
		t.Fatalf("query %v, want %v", hs.Query, want)
	}

	// Each call builds maps of its own, and they share nothing with the request.
	hs.Headers["A"][0] = "changed"
	hs.Query.Set("EIO", "3")
	r.Header["C"][0] = "changed"
	if again := k.Handshake(); again.Headers.Get("A") != "1" || again.Query.Get("EIO") != "4" || again.Headers.Get("C") != "3" {
		t.Fatalf("a later Handshake saw changes: %v %v", again.Headers, again.Query)
	}

	// Over the budget: names in sorted order, Big does not fit and is dropped, C still does.
	if h := transport.KeepHandshake(r, 12).Handshake().Headers; len(h["A"]) != 2 || h.Get("C") != "changed" || h.Get("Big") != "" {
		t.Fatalf("over the budget: %v, want A and C without Big", h)
	}
	// No headers, no query.
	if hs := transport.KeepHandshake(httptest.NewRequest("GET", "/x", nil), 0).Handshake(); hs.Query == nil || hs.Headers == nil || len(hs.Query) != 0 {
		t.Fatalf("empty request: %+v", hs)
	}
}

func TestAddrLimit(t *testing.T) {
	l := &transport.AddrLimit{Max: 2}
	r1, ok1 := l.Acquire("10.0.0.1:1")
	_, ok2 := l.Acquire("10.0.0.1:2")
	_, ok3 := l.Acquire("10.0.0.1:3")
	_, other := l.Acquire("[::1]:3")
	if !ok1 || !ok2 || ok3 || !other {
		t.Fatalf("acquire: %v %v %v %v, want true true false true", ok1, ok2, ok3, other)
	}
	r1()
	r1() // once only
	if n := l.Open("10.0.0.1:9"); n != 1 {
		t.Fatalf("open %d, want 1", n)
	}
	if _, ok := l.Acquire("10.0.0.1:4"); !ok {
		t.Fatal("a released place was not reusable")
	}
	var off *transport.AddrLimit
	if _, ok := off.Acquire("x"); !ok {
		t.Fatal("a nil limit refused")
	}
}
