package main_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeNode GETs the node's /metrics (API listener) and parses it as Prometheus text; samples are keyed
// "name{label="value",...}" with labels sorted. It returns nil when the node does not answer.
func scrapeNode(t testing.TB, n *procNode) map[string]float64 {
	t.Helper()
	res, err := n.c.http.Get(n.apiURL("/metrics"))
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /metrics = %v %v %s", n.name, res.StatusCode, err, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s: /metrics Content-Type %q", n.name, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("%s: /metrics is not Prometheus text: %v", n.name, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			k := name
			if len(ls) > 0 {
				k += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[k] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[k] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
			default:
				out[k] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

func peerKey(name, peer, dir string) string {
	return fmt.Sprintf("%s{direction=%q,peer=%q}", name, dir, peer)
}

// TestMetricsClusterProcesses scrapes three node processes: each lists three members and both peers as
// synced, serves the Go runtime and process collectors, and the envelope counters move, per peer, with
// a room message that crosses the cluster. /metrics is not on the public listener.
func TestMetricsClusterProcesses(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startNodes(3)
	peersOf := func(n *procNode) []string {
		var out []string
		for _, o := range nodes {
			if o != n {
				out = append(out, o.id)
			}
		}
		return out
	}
	for _, n := range nodes {
		eventually(t, clusterWait, n.name+" to report 3 members, both peers synced", func() bool {
			m := scrapeNode(t, n)
			if m["roomio_cluster_members"] != 3 || m["roomio_cluster_interest_unsynced_peers"] != 0 || m["roomio_ready"] != 1 {
				return false
			}
			for _, p := range peersOf(n) {
				if m[fmt.Sprintf("roomio_cluster_peer_interest_synced{peer=%q}", p)] != 1 {
					return false
				}
			}
			return true
		})
		m := scrapeNode(t, n)
		for _, k := range []string{"go_goroutines", "process_cpu_seconds_total", "roomio_sockets"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: /metrics has no %s", n.name, k)
			}
		}
		res, err := c.http.Get(n.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: GET /metrics on the public listener = %d, want 404", n.name, res.StatusCode)
		}
	}

	var us []*user
	for i, n := range nodes {
		u := n.user(t, fmt.Sprintf("u%d", i+1))
		u.call(t, joined("r"), "join", "r")
		us = append(us, u)
	}
	before := make([]map[string]float64, len(nodes))
	for i, n := range nodes {
		before[i] = scrapeNode(t, n)
	}
	// A room emit from node 1's API: node 1 sends it to both peers (they have members of r), and each
	// peer counts it received from node 1. (A chat say goes to the room's owner first, which may be
	// another node.)
	nodes[0].emit(t, "news", "hello", "r")
	for _, u := range us {
		u.expect(t, "news", "hello")
	}
	n1 := nodes[0]
	eventually(t, clusterWait, "the envelope counters to move", func() bool {
		m1 := scrapeNode(t, n1)
		if m1[`roomio_cluster_envelopes_total{direction="sent"}`] < before[0][`roomio_cluster_envelopes_total{direction="sent"}`]+2 {
			return false
		}
		for i, peer := range nodes[1:] {
			k := peerKey("roomio_cluster_peer_envelopes_total", peer.id, "sent")
			if m1[k] < before[0][k]+1 {
				return false
			}
			mp := scrapeNode(t, peer)
			kr := peerKey("roomio_cluster_peer_envelopes_total", n1.id, "received")
			if mp[kr] < before[i+1][kr]+1 {
				return false
			}
			if mp[`roomio_cluster_envelopes_total{direction="received"}`] <= before[i+1][`roomio_cluster_envelopes_total{direction="received"}`] {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		m := scrapeNode(t, n)
		if m["roomio_sockets"] != 1 || m[`roomio_connections{transport="native"}`] != 1 {
			t.Errorf("%s: sockets %v, native connections %v, want 1 and 1", n.name, m["roomio_sockets"], m[`roomio_connections{transport="native"}`])
		}
		if d := m[peerKey("roomio_cluster_peer_envelopes_total", peersOf(n)[0], "dropped")]; d != 0 {
			t.Errorf("%s: %v envelopes dropped", n.name, d)
		}
	}
}
