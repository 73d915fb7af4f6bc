package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/roomio/roomio/examples/chat/chatapp/chattest"
)

// apiSocket is one entry of GET /api/v1/sockets.
type apiSocket struct {
	ID     string   `json:"id"`
	UserID string   `json:"user_id"`
	Rooms  []string `json:"rooms"`
}

// do sends a request to the node over loopback: to the API's listener for paths under /api/, else to
// the public one. header may be nil; a POST is sent as application/json unless header says otherwise.
func (tn *testNode) do(t *testing.T, method, path, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	srv := tn.srv
	if strings.HasPrefix(path, "/api/") {
		srv = tn.api
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h // net/http sends req.Host, not a Host header
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// emit posts body to /api/v1/emit and asserts 202 {"ok":true}.
func (tn *testNode) emit(t *testing.T, body string) {
	t.Helper()
	res, b := tn.do(t, http.MethodPost, "/api/v1/emit", body, nil)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("emit %s = %d %s, want 202", body, res.StatusCode, b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 1 || got["ok"] != true {
		t.Fatalf("emit %s answered %s, want {\"ok\":true}", body, b)
	}
}

// sockets GETs path, which must answer 200 with a socket list.
func (tn *testNode) sockets(t *testing.T, path string) []apiSocket {
	t.Helper()
	res, b := tn.do(t, http.MethodGet, path, "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", path, res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s Content-Type = %q", path, ct)
	}
	var out struct {
		Sockets []apiSocket `json:"sockets"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || out.Sockets == nil {
		t.Fatalf("GET %s answered %s, want {\"sockets\":[...]} (%v)", path, b, err)
	}
	return out.Sockets
}

// checkAPIError asserts an error answer: status code and a JSON body {"error": "..."}.
func checkAPIError(t *testing.T, what string, code int, header http.Header, body []byte, want int) {
	t.Helper()
	if code != want {
		t.Errorf("%s: status %d %s, want %d", what, code, body, want)
		return
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 || !chattest.IsNonEmptyString(got["error"]) {
		t.Errorf("%s: body %s, want {\"error\": \"...\"}", what, body)
	}
}

// expectEvent asserts that u's next event is name with the JSON arguments want (compared compacted).
func expectEvent(t *testing.T, u *chatUser, name string, want ...string) {
	t.Helper()
	ev := u.Next(t)
	if ev.Name != name || len(ev.Args) != len(want) {
		t.Fatalf("user %s: got %q %s, want %q %v", u.ID(), ev.Name, chattest.ArgsString(ev.Args), name, want)
	}
	for i, a := range ev.Args {
		var got, exp bytes.Buffer
		if a.Binary || json.Compact(&got, a.Data) != nil || json.Compact(&exp, []byte(want[i])) != nil || got.String() != exp.String() {
			t.Fatalf("user %s: %q argument %d = %s, want %s", u.ID(), name, i, chattest.ArgsString(ev.Args[i:i+1]), want[i])
		}
	}
}

func TestAPIEmitToRooms(t *testing.T) {
	tn := serveNode(t, nil)
	a, b, c := tn.user(), tn.user(), tn.user()
	a.MustJoin(t, "lobby", "lobby")
	b.MustJoin(t, "den", "den")
	b.MustJoin(t, "lobby", "den", "lobby")
	a.Expect(t, "joined", map[string]any{"room": "lobby", "id": b.ID()})

	tn.emit(t, `{"rooms":["lobby"],"event":"news","args":[{"n": 1}, "x", null, [true]]}`)
	for _, u := range []*chatUser{a, b} {
		expectEvent(t, u, "news", `{"n":1}`, `"x"`, `null`, `[true]`)
	}

	// except takes socket ids and rooms.
	tn.emit(t, `{"rooms":["lobby"],"except":["`+b.ID()+`"],"event":"not-b"}`)
	tn.emit(t, `{"rooms":["lobby"],"except":["den"],"event":"not-den"}`)
	tn.emit(t, `{"namespace":"/","rooms":["lobby"],"event":"marker"}`)
	expectEvent(t, a, "not-b")
	expectEvent(t, a, "not-den")
	expectEvent(t, a, "marker")
	expectEvent(t, b, "marker")

	// A socket id is a room of one.
	tn.emit(t, `{"rooms":["`+c.ID()+`"],"event":"for-c","args":[1]}`)
	expectEvent(t, c, "for-c", `1`)

	// None of the room emits reached c: once it has joined, the first lobby event it gets is the marker.
	c.MustJoin(t, "lobby", "lobby")
	tn.emit(t, `{"rooms":["lobby"],"event":"marker2"}`)
	expectEvent(t, c, "marker2")
	for _, u := range []*chatUser{a, b} {
		u.Expect(t, "joined", map[string]any{"room": "lobby", "id": c.ID()})
		expectEvent(t, u, "marker2")
	}
}

func TestAPIEmitToNamespace(t *testing.T) {
	tn := serveNode(t, nil)
	a, b, c := tn.user(), tn.user(), tn.user()
	a.MustJoin(t, "lobby", "lobby")

	// No rooms: every socket of the namespace, in rooms or not; namespace "" and "/" are the same.
	tn.emit(t, `{"event":"all","args":["x"]}`)
	tn.emit(t, `{"namespace":"/","rooms":[],"event":"all-again"}`)
	tn.emit(t, `{"namespace":"","rooms":null,"except":["`+a.ID()+`"],"event":"not-a","args":[]}`)
	tn.emit(t, `{"event":"marker"}`)
	for _, u := range []*chatUser{a, b, c} {
		expectEvent(t, u, "all", `"x"`)
		expectEvent(t, u, "all-again")
		if u != a {
			expectEvent(t, u, "not-a")
		}
		expectEvent(t, u, "marker")
	}
}

func TestAPISockets(t *testing.T) {
	tn := serveNode(t, nil)
	a, b, c := tn.user(), tn.user(), tn.user()
	a.MustJoin(t, "lobby", "lobby")
	b.MustJoin(t, "den", "den")
	b.MustJoin(t, "lobby", "den", "lobby")

	entry := func(u *chatUser, rooms ...string) apiSocket {
		rooms = append(rooms, u.ID()) // the listing includes each socket's own-id room
		slices.Sort(rooms)
		return apiSocket{ID: u.ID(), Rooms: rooms}
	}
	list := func(entries ...apiSocket) []apiSocket {
		slices.SortFunc(entries, func(x, y apiSocket) int { return strings.Compare(x.ID, y.ID) })
		return entries
	}
	all := list(entry(a, "lobby"), entry(b, "den", "lobby"), entry(c))
	for _, tc := range []struct {
		query string
		want  []apiSocket
	}{
		{"", all},
		{"?namespace=/", all},
		{"?namespace=&room=", all},
		{"?room=lobby", list(entry(a, "lobby"), entry(b, "den", "lobby"))},
		{"?room=den", list(entry(b, "den", "lobby"))},
		{"?namespace=%2F&room=den", list(entry(b, "den", "lobby"))},
		{"?room=" + c.ID(), list(entry(c))},
		{"?room=nowhere", []apiSocket{}},
	} {
		if got := tn.sockets(t, "/api/v1/sockets"+tc.query); !slicesEqualSockets(got, tc.want) {
			t.Errorf("GET /api/v1/sockets%s = %+v, want %+v", tc.query, got, tc.want)
		}
	}
}

func slicesEqualSockets(x, y []apiSocket) bool {
	return slices.EqualFunc(x, y, func(p, q apiSocket) bool { return p.ID == q.ID && slices.Equal(p.Rooms, q.Rooms) })
}

func TestAPIUnknownNamespace(t *testing.T) {
	tn := serveNode(t, nil)
	for _, ns := range []string{"/nope", "nope", "/nope/"} {
		res, b := tn.do(t, http.MethodPost, "/api/v1/emit", `{"namespace":"`+ns+`","event":"x"}`, nil)
		checkAPIError(t, "emit to namespace "+ns, res.StatusCode, res.Header, b, http.StatusNotFound)
		res, b = tn.do(t, http.MethodGet, "/api/v1/sockets?namespace="+ns, "", nil)
		checkAPIError(t, "sockets of namespace "+ns, res.StatusCode, res.Header, b, http.StatusNotFound)
		if tn.n.eng.Lookup(ns) != nil {
			t.Errorf("the API created namespace %s", ns)
		}
	}
	// A namespace that exists but has no sockets is fine.
	tn.n.eng.Of("/empty")
	tn.emit(t, `{"namespace":"/empty","event":"x"}`)
	if got := tn.sockets(t, "/api/v1/sockets?namespace=/empty"); len(got) != 0 {
		t.Fatalf("sockets of /empty = %+v", got)
	}
}

func TestAPIBadRequest(t *testing.T) {
	tn := serveNode(t, nil)
	u := tn.user()
	for _, tc := range []struct{ name, body string }{
		{"empty body", ``},
		{"not JSON", `event=x`},
		{"truncated", `{"event":"x"`},
		{"array", `[{"event":"x"}]`},
		{"null", `null`},
		{"unknown field", `{"event":"x","room":"lobby"}`},
		{"unknown field, differently cased", `{"event":"x","Extra":1}`},
		{"missing event", `{"rooms":[],"args":[1]}`},
		{"empty event", `{"event":""}`},
		{"event not a string", `{"event":1}`},
		{"rooms not a list", `{"event":"x","rooms":"lobby"}`},
		{"args not a list", `{"event":"x","args":{"a":1}}`},
		{"invalid arg", `{"event":"x","args":[nope]}`},
		{"reserved event connect", `{"event":"connect"}`},
		{"reserved event disconnect", `{"event":"disconnect"}`},
		{"trailing object", `{"event":"x"}{"event":"y"}`},
		{"trailing garbage", `{"event":"x"} nonsense`},
		{"trailing brace", `{"event":"x"}}`},
		{"trailing bracket", `{"event":"x"}]`},
	} {
		res, b := tn.do(t, http.MethodPost, "/api/v1/emit", tc.body, nil)
		checkAPIError(t, tc.name+" "+tc.body, res.StatusCode, res.Header, b, http.StatusBadRequest)
	}
	// None of them was emitted; trailing white space is fine.
	tn.emit(t, "{\"event\":\"marker\"}\n\t ")
	expectEvent(t, u, "marker")
}

func TestAPIKey(t *testing.T) {
	const key = "s3cret"
	tn := serveNode(t, func(o *options) { o.apiKey = key })
	u := tn.user() // the WebSocket endpoint needs no key
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Bearer s3cret2", "Bearer s3cre", "Basic " + key, key, "Bearer" + key, "Bearer " + key + "x"} {
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		res, b := tn.do(t, http.MethodPost, "/api/v1/emit", `{"event":"x"}`, h)
		checkAPIError(t, "emit with Authorization "+auth, res.StatusCode, res.Header, b, http.StatusUnauthorized)
		if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
		}
		res, b = tn.do(t, http.MethodGet, "/api/v1/sockets", "", h)
		checkAPIError(t, "sockets with Authorization "+auth, res.StatusCode, res.Header, b, http.StatusUnauthorized)
	}
	// With the key, the API answers (the scheme is case-insensitive, RFC 9110 §11.1; RFC 6750 §2.1
	// allows several spaces before the token).
	for _, auth := range []string{"Bearer " + key, "bearer " + key, "BEARER  " + key} {
		h := http.Header{"Authorization": {auth}}
		res, b := tn.do(t, http.MethodPost, "/api/v1/emit", `{"event":"marker"}`, h)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("emit with %q = %d %s, want 202", auth, res.StatusCode, b)
		}
		expectEvent(t, u, "marker")
		res, b = tn.do(t, http.MethodGet, "/api/v1/sockets", "", h)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), u.ID()) {
			t.Fatalf("sockets with %q = %d %s, want 200 listing %s", auth, res.StatusCode, b, u.ID())
		}
	}
	// With a key, any client address is answered when the key is right, none when it is not.
	for _, tc := range []struct {
		auth string
		want int
	}{{"Bearer " + key, http.StatusAccepted}, {"", http.StatusUnauthorized}, {"Bearer nope", http.StatusUnauthorized}} {
		rec := serveFrom(tn.n, "203.0.113.7:41000", http.MethodPost, "/api/v1/emit", `{"event":"remote"}`, tc.auth)
		if rec.Code != tc.want {
			t.Errorf("remote emit with %q = %d %s, want %d", tc.auth, rec.Code, rec.Body, tc.want)
		}
	}
	expectEvent(t, u, "remote")
	// The health check and the demo page are public.
	for _, path := range []string{"/healthz", "/"} {
		if res, _ := tn.do(t, http.MethodGet, path, "", nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s with an API key set = %d, want 200", path, res.StatusCode)
		}
	}
}

// serveFrom calls the node's API handler directly as if from remoteAddr (httptest cannot dial from
// another address), with Host 127.0.0.1:8090; auth, when not empty, is the Authorization header.
func serveFrom(n *node, remoteAddr, method, path, body, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remoteAddr
	req.Host = "127.0.0.1:8090"
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	n.apiHandler().ServeHTTP(rec, req)
	return rec
}

func TestAPILoopbackOnly(t *testing.T) {
	tn := serveNode(t, nil)
	u := tn.user()
	// The real server is reached over loopback.
	tn.emit(t, `{"event":"loopback"}`)
	expectEvent(t, u, "loopback")
	if got := tn.sockets(t, "/api/v1/sockets"); len(got) != 1 || got[0].ID != u.ID() {
		t.Fatalf("sockets = %+v", got)
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:50000", true},
		{"127.1.2.3:50000", true},
		{"[::1]:50000", true},
		{"203.0.113.7:50000", false},
		{"10.0.0.1:50000", false},
		{"[2001:db8::1]:50000", false},
		{"[::ffff:192.0.2.1]:50000", false},
		{"localhost:50000", false}, // not an address
		{"127.0.0.1", false},       // no port: not what net/http sets
		{"", false},
	} {
		for _, auth := range []string{"", "Bearer anything"} { // a key means nothing when none is set
			emit := serveFrom(tn.n, tc.addr, http.MethodPost, "/api/v1/emit", `{"event":"from-`+tc.addr+`"}`, auth)
			list := serveFrom(tn.n, tc.addr, http.MethodGet, "/api/v1/sockets", "", auth)
			if tc.want {
				if emit.Code != http.StatusAccepted || list.Code != http.StatusOK {
					t.Errorf("from %s: emit %d, sockets %d; want 202, 200", tc.addr, emit.Code, list.Code)
				}
				expectEvent(t, u, "from-"+tc.addr)
				continue
			}
			checkAPIError(t, "emit from "+tc.addr, emit.Code, emit.Header(), emit.Body.Bytes(), http.StatusForbidden)
			checkAPIError(t, "sockets from "+tc.addr, list.Code, list.Header(), list.Body.Bytes(), http.StatusForbidden)
		}
	}
	// The refused emits never went out.
	tn.emit(t, `{"event":"marker"}`)
	expectEvent(t, u, "marker")
}

// TestAPISocketsTimeout checks that a listing cut short answers with the sockets that did answer, not
// an error. The request's context is cancelled beforehand, which ends FetchSockets's wait as its 5s
// timeout would.
func TestAPISocketsTimeout(t *testing.T) {
	tn := serveNode(t, nil)
	users := []*chatUser{tn.user(), tn.user(), tn.user()}
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/sockets", nil)
		req.RemoteAddr, req.Host = "127.0.0.1:50000", "127.0.0.1:8090"
		rec := httptest.NewRecorder()
		tn.n.apiHandler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("cut-short listing = %d %s, want 200", rec.Code, rec.Body)
		}
		var out struct{ Sockets []apiSocket }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Sockets == nil {
			t.Fatalf("cut-short listing answered %s (%v)", rec.Body, err)
		}
		for _, s := range out.Sockets {
			if !slices.ContainsFunc(users, func(u *chatUser) bool { return u.ID() == s.ID }) {
				t.Fatalf("listed unknown socket %+v", s)
			}
		}
	}
}
