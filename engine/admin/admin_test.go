package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/admin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 10 * time.Second

// server is an engine with the admin namespace, served over httptest. The application namespace "/"
// joins a socket to the rooms it names in a "join" event and out of them on "leave".
type server struct {
	e   *engine.Engine
	a   *admin.Admin
	url string
}

func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func newServer(t *testing.T, cfg admin.Config) *server {
	t.Helper()
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.Instrument(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.OnConnection(func(s *engine.Socket) {
		s.On("join", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			s.Join(ev.Context(), room)
			ev.Ack()
		})
		s.On("leave", func(ev *engine.Event) {
			var room string
			ev.Bind(0, &room)
			s.Leave(ev.Context(), room)
			ev.Ack()
		})
	})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.SocketIOHandler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		a.Close()
		if st := e.Stats(); !st.Idle() {
			t.Errorf("left after Shutdown: %+v", st)
		}
	})
	return &server{e: e, a: a, url: srv.URL}
}

// sioClient is a minimal Socket.IO v5 client over an Engine.IO WebSocket (no polling), enough to speak
// the admin protocol: connect a namespace with auth, receive events, emit with acks.
type sioClient struct {
	t      *testing.T
	c      *websocket.Conn
	nsp    string
	sid    string
	in     chan []byte // Socket.IO packets of nsp, in order
	nextID int
}

func dial(t *testing.T, base, nsp string, auth any) (*sioClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 24)
	cl := &sioClient{t: t, c: c, nsp: nsp, in: make(chan []byte, 1024)}
	t.Cleanup(func() { c.CloseNow() })
	if _, open, err := c.Read(ctx); err != nil || open[0] != '0' {
		t.Fatalf("Engine.IO open: %q %v", open, err)
	}
	go cl.read()
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	payload := ""
	if auth != nil {
		a, _ := json.Marshal(auth)
		payload = prefix + string(a)
	} else if prefix != "" {
		payload = prefix
	}
	cl.write("40" + payload)
	select {
	case p, ok := <-cl.in:
		if !ok {
			return nil, errors.New("closed")
		}
		switch p[0] {
		case '0':
			var v struct{ Sid string }
			json.Unmarshal(p[1:], &v)
			cl.sid = v.Sid
			return cl, nil
		case '4':
			var v struct{ Message string }
			json.Unmarshal(p[1:], &v)
			return nil, errors.New(v.Message)
		}
		t.Fatalf("unexpected packet %q", p)
	case <-ctx.Done():
		t.Fatal("no answer to CONNECT")
	}
	return nil, nil
}

func (cl *sioClient) write(s string) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cl.c.Write(ctx, websocket.MessageText, []byte(s))
}

// read answers pings and passes the namespace's Socket.IO packets (without the "4" and the namespace
// prefix) to in.
func (cl *sioClient) read() {
	defer close(cl.in)
	prefix := ""
	if cl.nsp != "/" {
		prefix = cl.nsp + ","
	}
	for {
		_, m, err := cl.c.Read(context.Background())
		if err != nil {
			return
		}
		switch {
		case string(m) == "2":
			cl.write("3")
		case len(m) > 1 && m[0] == '4':
			p := m[1:]
			if !strings.HasPrefix(string(p[1:]), prefix) {
				continue
			}
			cl.in <- append([]byte{p[0]}, p[1+len(prefix):]...)
		}
	}
}

// next returns the next event named one of names, skipping others; args are its JSON arguments.
func (cl *sioClient) next(names ...string) (string, []json.RawMessage) {
	cl.t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case p, ok := <-cl.in:
			if !ok {
				cl.t.Fatalf("connection closed waiting for %v", names)
			}
			if p[0] != '2' {
				continue
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(p[1:], &arr); err != nil {
				cl.t.Fatalf("event %q: %v", p, err)
			}
			var name string
			json.Unmarshal(arr[0], &name)
			if slices.Contains(names, name) {
				return name, arr[1:]
			}
		case <-timeout:
			cl.t.Fatalf("no %v within %v", names, waitFor)
		}
	}
}

// emitAck emits an event with an ack and returns the ack's arguments (events received meanwhile are
// dropped).
func (cl *sioClient) emitAck(event string, args ...any) []json.RawMessage {
	cl.t.Helper()
	cl.nextID++
	id := cl.nextID
	all, _ := json.Marshal(append([]any{event}, args...))
	prefix := ""
	if cl.nsp != "/" {
		prefix = cl.nsp + ","
	}
	cl.write("42" + prefix + strconv.Itoa(id) + string(all))
	timeout := time.After(waitFor)
	for {
		select {
		case p, ok := <-cl.in:
			if !ok {
				cl.t.Fatalf("connection closed waiting for the ack of %s", event)
			}
			if p[0] != '3' || !strings.HasPrefix(string(p[1:]), strconv.Itoa(id)+"[") {
				continue
			}
			var arr []json.RawMessage
			json.Unmarshal(p[1+len(strconv.Itoa(id)):], &arr)
			return arr
		case <-timeout:
			cl.t.Fatalf("no ack for %s within %v", event, waitFor)
		}
	}
}

// waitDisconnect waits for the namespace's DISCONNECT packet.
func (cl *sioClient) waitDisconnect() {
	cl.t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case p, ok := <-cl.in:
			if !ok || p[0] == '1' {
				return
			}
		case <-timeout:
			cl.t.Fatal("not disconnected")
		}
	}
}

func str(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a string: %v", raw, err)
	}
	return s
}

type socketJSON struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"clientId"`
	Transport string   `json:"transport"`
	Nsp       string   `json:"nsp"`
	Rooms     []string `json:"rooms"`
	Handshake struct {
		Address string            `json:"address"`
		Headers map[string]string `json:"headers"`
		Query   map[string]string `json:"query"`
		Issued  int64             `json:"issued"`
		URL     string            `json:"url"`
	} `json:"handshake"`
}

func creds(user, pass string) map[string]string {
	return map[string]string{"username": user, "password": pass}
}

func TestAdminConfigRefused(t *testing.T) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for name, cfg := range map[string]admin.Config{
		"no auth chosen":      {},
		"plain password":      {Username: "admin", PasswordHash: "changeit"},
		"no user":             {PasswordHash: hash(t, "x")},
		"no auth with a user": {NoAuth: true, Username: "admin"},
		"bad namespace":       {NoAuth: true, Namespace: "admin"},
	} {
		if a, err := admin.Instrument(e, cfg); err == nil {
			a.Close()
			t.Errorf("%s: Instrument accepted %+v", name, cfg)
		}
	}
}

func TestAdminAuth(t *testing.T) {
	s := newServer(t, admin.Config{Username: "admin", PasswordHash: hash(t, "changeit")})
	for name, auth := range map[string]any{
		"wrong password": creds("admin", "nope"),
		"wrong user":     creds("root", "changeit"),
		"no auth":        nil,
		"bad session":    map[string]string{"sessionId": "0123456789abcdef"},
		"wrong types":    map[string]int{"username": 1, "password": 2},
	} {
		if _, err := dial(t, s.url, "/admin", auth); err == nil || err.Error() != "invalid credentials" {
			t.Errorf("%s: got %v, want the connect error \"invalid credentials\"", name, err)
		}
	}
	cl, err := dial(t, s.url, "/admin", creds("admin", "changeit"))
	if err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	_, args := cl.next("session")
	session := str(t, args[0])
	_, args = cl.next("config")
	var cfg struct{ SupportedFeatures []string }
	json.Unmarshal(args[0], &cfg)
	want := []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}
	if !slices.Equal(cfg.SupportedFeatures, want) {
		t.Errorf("features %v, want %v", cfg.SupportedFeatures, want)
	}
	_, args = cl.next("all_sockets")
	var all []socketJSON
	json.Unmarshal(args[0], &all)
	if !slices.ContainsFunc(all, func(j socketJSON) bool { return j.ID == cl.sid && j.Nsp == "/admin" }) {
		t.Errorf("all_sockets %s lacks the admin socket %s", args[0], cl.sid)
	}
	_, args = cl.next("server_stats")
	var st struct {
		ServerID     string `json:"serverId"`
		ClientsCount int    `json:"clientsCount"`
		Namespaces   []struct {
			Name         string `json:"name"`
			SocketsCount int    `json:"socketsCount"`
		} `json:"namespaces"`
	}
	json.Unmarshal(args[0], &st)
	if st.ServerID == "" || st.ClientsCount < 1 || !slices.ContainsFunc(st.Namespaces, func(n struct {
		Name         string `json:"name"`
		SocketsCount int    `json:"socketsCount"`
	}) bool {
		return n.Name == "/admin" && n.SocketsCount == 1
	}) {
		t.Errorf("server_stats %s", args[0])
	}
	// The session id logs in without the password, as the UI does on a page reload.
	if _, err := dial(t, s.url, "/admin", map[string]string{"sessionId": session}); err != nil {
		t.Errorf("session id refused: %v", err)
	}
	// Other namespaces are not affected.
	if _, err := dial(t, s.url, "/", nil); err != nil {
		t.Errorf("namespace / refused: %v", err)
	}
}

// TestAdminEvents: the live events of a socket's life arrive in order, with Node's shapes.
func TestAdminEvents(t *testing.T) {
	s := newServer(t, admin.Config{Username: "admin", PasswordHash: hash(t, "pw")})
	ad, err := dial(t, s.url, "/admin", creds("admin", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	ad.next("all_sockets")

	app, err := dial(t, s.url, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The admin's own socket is announced too, from its namespace's hook goroutine, which may come after
	// all_sockets: skip it.
	var args []json.RawMessage
	var sj socketJSON
	for {
		_, args = ad.next("socket_connected")
		sj = socketJSON{}
		json.Unmarshal(args[0], &sj)
		if sj.Nsp != "/admin" {
			break
		}
	}
	if sj.ID != app.sid || sj.Nsp != "/" || sj.Transport != "websocket" || !slices.Equal(sj.Rooms, []string{app.sid}) ||
		sj.Handshake.Address != "127.0.0.1" || sj.Handshake.Query["EIO"] != "4" || sj.Handshake.Issued == 0 || len(sj.ClientID) != 12 {
		t.Errorf("socket_connected %s", args[0])
	}
	if _, err := time.Parse(time.RFC3339, str(t, args[1])); err != nil {
		t.Errorf("timestamp %s: %v", args[1], err)
	}

	app.emitAck("join", "lobby")
	_, args = ad.next("event_received", "room_joined")
	// The event is reported when it arrives, before the handler's join.
	if string(args[0]) != `"/"` || str(t, args[1]) != app.sid || string(args[2]) != `["join","lobby"]` {
		t.Errorf("event_received %s", args)
	}
	_, args = ad.next("room_joined")
	if string(args[0]) != `"/"` || str(t, args[1]) != "lobby" || str(t, args[2]) != app.sid {
		t.Errorf("room_joined %s", args)
	}
	app.emitAck("leave", "lobby")
	_, args = ad.next("room_left")
	if str(t, args[1]) != "lobby" || str(t, args[2]) != app.sid {
		t.Errorf("room_left %s", args)
	}
	app.emitAck("join", "again")
	ad.next("room_joined")

	app.c.Close(websocket.StatusNormalClosure, "")
	// The disconnect is reported and its rooms are left (room_left), in either order: the socket's end and
	// its rooms' leaves are told from different goroutines (Node's admin tells the leaves first).
	seen := map[string]bool{}
	for range 2 {
		name, args := ad.next("socket_disconnected", "room_left")
		if seen[name] {
			t.Fatalf("%s twice", name)
		}
		seen[name] = true
		switch name {
		case "socket_disconnected":
			if string(args[0]) != `"/"` || str(t, args[1]) != app.sid || str(t, args[2]) != "transport close" {
				t.Errorf("socket_disconnected %s", args)
			}
		case "room_left":
			if str(t, args[1]) != "again" || str(t, args[2]) != app.sid {
				t.Errorf("room_left on disconnect %s", args)
			}
		}
	}
}

// TestAdminActions: the UI's actions act on the sockets they select.
func TestAdminActions(t *testing.T) {
	s := newServer(t, admin.Config{NoAuth: true})
	ad, err := dial(t, s.url, "/admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	app, err := dial(t, s.url, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	rooms := func() []string {
		socks, err := s.e.Of("/").FetchSockets(context.Background())
		if err != nil || len(socks) != 1 {
			t.Fatalf("FetchSockets: %v %v", socks, err)
		}
		return socks[0].Rooms
	}

	// join (nsp, room, filter): the filter is the socket's id, as the UI sends it.
	if a := ad.emitAck("join", "/", "vip", app.sid); len(a) != 0 {
		t.Fatalf("join answered %s", a)
	}
	if r := rooms(); !slices.Contains(r, "vip") {
		t.Errorf("after join: rooms %v", r)
	}
	ad.emitAck("leave", "/", "vip", app.sid)
	if r := rooms(); slices.Contains(r, "vip") {
		t.Errorf("after leave: rooms %v", r)
	}
	// emit (nsp, filter, event, ...args)
	ad.emitAck("emit", "/", app.sid, "hello", "world", 42)
	if _, args := app.next("hello"); string(args[0]) != `"world"` || string(args[1]) != "42" {
		t.Errorf("emitted args %s", args)
	}
	// Bad actions answer an error.
	for _, bad := range [][]any{{"join", "/nope", "r"}, {"emit", "/", nil, "connect"}, {"join", "/", ""}, {"leave", 3}} {
		a := ad.emitAck(bad[0].(string), bad[1:]...)
		if len(a) != 1 || !strings.Contains(string(a[0]), "error") {
			t.Errorf("%v answered %s, want an error", bad, a)
		}
	}
	// _disconnect (nsp, close, filter)
	ad.emitAck("_disconnect", "/", false, app.sid)
	app.waitDisconnect()
	if n := s.e.Of("/").SocketCount(); n != 0 {
		t.Errorf("%d sockets left on / after _disconnect", n)
	}
}

func TestAdminReadOnly(t *testing.T) {
	s := newServer(t, admin.Config{NoAuth: true, ReadOnly: true, Production: true})
	ad, err := dial(t, s.url, "/admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, args := ad.next("config")
	if string(args[0]) != `{"supportedFeatures":["AGGREGATED_EVENTS"]}` {
		t.Errorf("config %s", args[0])
	}
	app, err := dial(t, s.url, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range [][]any{{"_disconnect", "/", true, app.sid}, {"join", "/", "r", app.sid}, {"emit", "/", nil, "x"}} {
		a := ad.emitAck(action[0].(string), action[1:]...)
		if len(a) != 1 || !strings.Contains(string(a[0]), "read-only") {
			t.Errorf("%v in read-only mode answered %s", action, a)
		}
	}
	socks, err := s.e.Of("/").FetchSockets(context.Background())
	if err != nil || len(socks) != 1 || len(socks[0].Rooms) != 1 {
		t.Errorf("the socket was touched in read-only mode: %v %v", socks, err)
	}
	// Production mode: only stats, with the connection events aggregated per second.
	for {
		_, args := ad.next("server_stats", "socket_connected")
		var st struct {
			AggregatedEvents []struct {
				Type  string `json:"type"`
				Count int    `json:"count"`
			} `json:"aggregatedEvents"`
		}
		if err := json.Unmarshal(args[0], &st); err != nil {
			t.Fatalf("%s: %v", args[0], err)
		}
		n := 0
		for _, ev := range st.AggregatedEvents {
			if ev.Type == "rawConnection" {
				n += ev.Count
			}
		}
		if n > 0 {
			break
		}
	}
}

// TestAdminUpgrade: a socket that upgrades from polling to websocket is reported with socket_updated.
func TestAdminUpgrade(t *testing.T) {
	s := newServer(t, admin.Config{NoAuth: true, StatsInterval: 20 * time.Millisecond})
	ad, err := dial(t, s.url, "/admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Engine.IO over polling: open, connect "/", then upgrade.
	get := func(q string) string {
		resp, err := http.Get(s.url + "/socket.io/?EIO=4&transport=polling" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	open := get("")
	var o struct{ Sid string }
	json.Unmarshal([]byte(open[1:]), &o)
	resp, err := http.Post(s.url+"/socket.io/?EIO=4&transport=polling&sid="+o.Sid, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sj socketJSON
	for sj.Nsp != "/" { // the admin socket's own comes first
		_, args := ad.next("socket_connected")
		json.Unmarshal(args[0], &sj)
	}
	if sj.Transport != "polling" {
		t.Fatalf("socket_connected over polling: %+v", sj)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/socket.io/?EIO=4&transport=websocket&sid="+o.Sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte("2probe"))
	if _, m, err := ws.Read(ctx); err != nil || string(m) != "3probe" {
		t.Fatalf("probe: %q %v", m, err)
	}
	ws.Write(ctx, websocket.MessageText, []byte("5"))
	_, args := ad.next("socket_updated")
	var up map[string]string
	json.Unmarshal(args[0], &up)
	if up["id"] != sj.ID || up["nsp"] != "/" || up["transport"] != "websocket" {
		t.Errorf("socket_updated %s", args[0])
	}
}
