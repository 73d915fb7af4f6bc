package transport_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/roomio/roomio/transport"
)

func TestCopyHeadersKeepsABoundedCopy(t *testing.T) {
	h := http.Header{"A": {"1", "2"}, "Big": {strings.Repeat("x", 100)}, "C": {"3"}}
	if got := transport.CopyHeaders(h, 1000); len(got) != 3 || got.Get("Big") == "" {
		t.Fatalf("within the budget: %v", got)
	}
	got := transport.CopyHeaders(h, 10)
	if len(got["A"]) != 2 || got.Get("C") != "3" || got.Get("Big") != "" {
		t.Fatalf("over the budget: %v, want A and C without Big", got)
	}
	h["A"][0] = "changed"
	if got.Get("A") != "1" {
		t.Fatal("the copy shares its values with the original")
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
