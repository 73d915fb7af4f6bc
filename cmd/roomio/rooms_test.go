package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type roomsAnswer struct {
	Rooms []struct {
		Name       string            `json:"name"`
		Node       string            `json:"node"`
		Metadata   map[string]string `json:"metadata"`
		Clients    int               `json:"clients"`
		MaxClients int               `json:"max_clients"`
		Locked     bool              `json:"locked"`
	} `json:"rooms"`
	Complete bool     `json:"complete"`
	Missing  []string `json:"missing_nodes"`
	Error    string   `json:"error"`
}

type findAck struct {
	OK      bool   `json:"ok"`
	Room    string `json:"room"`
	Created bool   `json:"created"`
	Count   int    `json:"count"`
	Error   string `json:"error"`
}

// TestClusterProcessesRoomsAndFind: on three node processes, ten sockets per node ask for a chat room
// on topic "go" at once (the chat's find: join-or-create): exactly one room is created and all thirty
// are in it. GET /api/v1/rooms on every node lists it with its owner and thirty members, next to rooms
// joined by name on each node, and answers bad input with its documented errors.
func TestClusterProcessesRoomsAndFind(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	var users []*user
	for i, n := range nodes {
		for j := range 10 {
			users = append(users, n.user(t, fmt.Sprintf("u%d%d", i+1, j)))
		}
	}
	acks := make([]findAck, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), clusterWait)
			defer cancel()
			res, err := u.EmitWithAck(ctx, "find", map[string]string{"topic": "go"})
			if err != nil || len(res) != 1 || res[0].Decode(&acks[i]) != nil || !acks[i].OK {
				t.Errorf("%s: find: %s %v", u.name, argsJSON(res), err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	room, fresh := acks[0].Room, 0
	for i, a := range acks {
		if a.Room != room {
			t.Fatalf("%s found %s, %s found %s", users[i].name, a.Room, users[0].name, room)
		}
		if a.Created {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d finds created the room, want 1", fresh)
	}
	// A room joined by name on each node: no metadata, one member.
	named := map[string]bool{}
	for i, n := range nodes {
		r := roomOwnedBy(t, nodes, nodes[(i+1)%3], nodes[(i+2)%3]) // owned by n
		named[r] = true
		n.user(t, "named"+r).call(t, joined(r), "join", r)
	}
	owner := placeOwner(nodes, "/", room)
	for _, n := range nodes {
		var all roomsAnswer
		if code := n.getJSON("/api/v1/rooms?behavior=chat", &all); code != http.StatusOK || !all.Complete || len(all.Rooms) != 4 {
			t.Fatalf("%s: GET /api/v1/rooms = %d %+v", n.name, code, all)
		}
		for _, r := range all.Rooms {
			if want := placeOwner(nodes, "/", r.Name).id; r.Node != want {
				t.Fatalf("%s lists %s on %s, its owner is %s", n.name, r.Name, r.Node, want)
			}
			if r.Name == room && (r.Clients != 30 || r.Metadata["topic"] != "go") || named[r.Name] && r.Clients != 1 {
				t.Fatalf("%s lists %+v", n.name, r)
			}
		}
		var goRooms roomsAnswer
		q := "/api/v1/rooms?namespace=/&behavior=chat&available=true&filter=" + url.QueryEscape(`{"topic":"go"}`)
		if code := n.getJSON(q, &goRooms); code != http.StatusOK || len(goRooms.Rooms) != 1 || goRooms.Rooms[0].Name != room ||
			goRooms.Rooms[0].Node != owner.id || goRooms.Rooms[0].Clients != 30 {
			t.Fatalf("%s: filtered = %d %+v", n.name, code, goRooms)
		}
	}
	// Another topic makes another room.
	other := nodes[2].user(t, "other")
	var a findAck
	ctx, cancel := context.WithTimeout(t.Context(), clusterWait)
	defer cancel()
	res, err := other.EmitWithAck(ctx, "find", map[string]string{"topic": "rust"})
	if err != nil || res[0].Decode(&a) != nil || !a.OK || !a.Created || a.Room == room {
		t.Fatalf("find rust: %s %v", argsJSON(res), err)
	}
	res, err = other.EmitWithAck(ctx, "find", "not an object")
	if err != nil || res[0].Decode(&a) != nil || a.OK || a.Error == "" {
		t.Fatalf("find with a bad topic: %s %v", argsJSON(res), err)
	}

	for _, bad := range []struct {
		query string
		code  int
		err   string
	}{
		{"", http.StatusBadRequest, "missing behavior"},
		{"?behavior=nope", http.StatusNotFound, `unknown behavior "nope"`},
		{"?behavior=chat&namespace=/nope", http.StatusNotFound, `unknown namespace "/nope"`},
		{"?behavior=chat&filter=" + url.QueryEscape(`[1]`), http.StatusBadRequest, "invalid filter: must be a JSON object"},
		{"?behavior=chat&filter=" + url.QueryEscape(`{"topic":`), http.StatusBadRequest, "invalid filter: must be a JSON object"},
		{"?behavior=chat&available=maybe", http.StatusBadRequest, "available must be true or false"},
	} {
		var got roomsAnswer
		if code := nodes[0].getJSON("/api/v1/rooms"+bad.query, &got); code != bad.code || got.Error != bad.err {
			t.Fatalf("GET /api/v1/rooms%s = %d %q, want %d %q", bad.query, code, got.Error, bad.code, bad.err)
		}
	}
}

// TestClusterProcessesFindSocketIO: the official socket.io-client, eight sockets on each of three node
// processes, asks the chat's find at once: one room, created once, holding all 24 (GET /api/v1/rooms).
func TestClusterProcessesFindSocketIO(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	run := runSIO(t, "cluster-find", "http://"+nodes[0].p.addr, "http://"+nodes[1].p.addr, "http://"+nodes[2].p.addr)
	room, found := strings.CutPrefix(run.step(t), "found ")
	if !found {
		t.Fatalf("node sio.mjs cluster-find: no room found:\n%s", run.output())
	}
	var list roomsAnswer
	if code := nodes[1].getJSON("/api/v1/rooms?behavior=chat", &list); code != http.StatusOK || len(list.Rooms) != 1 ||
		list.Rooms[0].Name != room || list.Rooms[0].Metadata["topic"] != "ts" || list.Rooms[0].Clients != 24 {
		t.Errorf("GET /api/v1/rooms = %d %+v, want room %s with 24 members", code, list, room)
	}
	fmt.Fprintln(run.stdin, "listed")
	run.wait(t)
}

// TestClusterProcessesRoomsPartial: a node killed with SIGKILL does not answer a listing: until the
// cluster notices it is gone, GET /api/v1/rooms answers within its 2 s with the other nodes' rooms,
// complete false and the silent node named; afterwards the listing is complete again.
func TestClusterProcessesRoomsPartial(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	for i, n := range nodes {
		r := roomOwnedBy(t, nodes, nodes[(i+1)%3], nodes[(i+2)%3]) // owned by n, joined through n
		n.user(t, "u"+r).call(t, joined(r), "join", r)
	}
	var before roomsAnswer
	if code := nodes[0].getJSON("/api/v1/rooms?behavior=chat", &before); code != http.StatusOK || len(before.Rooms) != 3 || !before.Complete {
		t.Fatalf("before: %d %+v", code, before)
	}
	dead := nodes[2]
	dead.kill(t)
	start := time.Now()
	var during roomsAnswer
	code := nodes[0].getJSON("/api/v1/rooms?behavior=chat", &during)
	took := time.Since(start)
	if code != http.StatusOK || during.Complete || len(during.Missing) != 1 || during.Missing[0] != dead.id || len(during.Rooms) != 2 {
		t.Fatalf("just after the kill: %d %+v", code, during)
	}
	for _, r := range during.Rooms {
		if r.Node == dead.id {
			t.Fatalf("lists %+v of the dead node", r)
		}
	}
	if took > 5*time.Second {
		t.Fatalf("the partial listing took %v", took)
	}
	eventually(t, clusterWait, "a complete listing without the dead node", func() bool {
		var after roomsAnswer
		return nodes[1].getJSON("/api/v1/rooms?behavior=chat", &after) == http.StatusOK && after.Complete && len(after.Rooms) == 2
	})
}
