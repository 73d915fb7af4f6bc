package engine_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/roomio/roomio/engine"
)

// TestForwardUnknownNode checks that a request whose sid names no live node, or no node at all, gets
// Engine.IO's "Session ID unknown", on a single node and on a cluster node (which relays requests for
// its peers' sessions), and that a cluster node's sids name it.
func TestForwardUnknownNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  engine.Config
	}{
		{"single node", engine.Config{}},
		{"cluster node", engine.Config{Cluster: engine.ClusterConfig{GossipAddr: "127.0.0.1:0", RemoteAddr: "127.0.0.1:0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.cfg, nil)
			srv := httptest.NewServer(h.e.SocketIOHandler())
			t.Cleanup(srv.Close)
			get := func(query string) (int, string) {
				t.Helper()
				resp, err := http.Get(srv.URL + "/socket.io/?EIO=4&transport=polling" + query)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			status, body := get("")
			if status != http.StatusOK || !strings.Contains(body, `"sid":"`+h.e.NodeID()) {
				t.Fatalf("handshake: %d %q", status, body)
			}
			if node := h.e.NodeID(); node != "" && !strings.Contains(body, `"sid":"`+node+".") {
				t.Fatalf("sid does not name node %s: %q", node, body)
			}
			for _, sid := range []string{"zzzzzzzz.abc", h.e.NodeID() + ".abc", "abc"} {
				status, body := get("&sid=" + sid)
				if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
					t.Fatalf("sid %q: %d %q", sid, status, body)
				}
			}
		})
	}
}
