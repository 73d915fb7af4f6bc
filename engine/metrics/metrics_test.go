package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/roomio/roomio/client"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/engine/metrics"
)

const waitFor = 10 * time.Second

// series is one scrape: every sample by "name{label="value",...}" (labels sorted); a histogram gives
// name_count and name_sum.
type series map[string]float64

func key(name string, m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	if len(ls) == 0 {
		return name
	}
	return name + "{" + strings.Join(ls, ",") + "}"
}

// scrape GETs url and parses it as Prometheus text exposition format.
func scrape(t *testing.T, url string) series {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	out := series{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name, m)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(name, m)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key(name+"_count", m)] = float64(m.GetHistogram().GetSampleCount())
				out[key(name+"_sum", m)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// node is an engine over loopback with a registry holding its collector, served at /metrics.
type node struct {
	e       *engine.Engine
	wsURL   string
	metrics string
}

func startNode(t *testing.T, setup func(e *engine.Engine)) *node {
	t.Helper()
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(e))
	setup(e)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return &node{e: e, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", metrics: srv.URL + "/metrics"}
}

// settle scrapes until every want[k] equals base[k]+delta, and fails naming the series that did not.
func settle(t *testing.T, url string, base series, want map[string]float64) series {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := scrape(t, url)
		var off []string
		for k, d := range want {
			if got[k] != base[k]+d {
				off = append(off, fmt.Sprintf("%s: %v, want %v%+v", k, got[k], base[k], d))
			}
		}
		if len(off) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			sort.Strings(off)
			t.Fatalf("series did not move as expected:\n%s", strings.Join(off, "\n"))
		}
		time.Sleep(5 * time.Millisecond) // polling a scrape: nothing to wait on
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// TestMetricsFollowTraffic connects 10 native sockets, makes each join 3 rooms, emits to one room and
// from every client, disconnects them all, and checks after each step that the series moved by exactly
// that much.
func TestMetricsFollowTraffic(t *testing.T) {
	rooms := []string{"r0", "r1", "r2"}
	n := startNode(t, func(e *engine.Engine) {
		e.OnConnection(func(s *engine.Socket) {
			s.On("join", func(ev *engine.Event) {
				if err := s.Join(ev.Context(), rooms...); err != nil {
					t.Errorf("Join: %v", err)
				}
				ev.Ack()
			})
			s.On("ping", func(ev *engine.Event) { ev.Ack("pong") })
		})
	})
	base := scrape(t, n.metrics)
	for _, k := range []string{"roomio_sockets", "roomio_rooms", `roomio_connections{transport="native"}`, "roomio_socket_connects_total",
		"roomio_events_received_total", "roomio_messages_sent_total", "roomio_emit_latency_seconds_count",
		`roomio_handshake_errors_total{reason="conns_per_ip"}`, `roomio_connect_errors_total{reason="invalid_namespace"}`,
		`roomio_connections_closed_total{code="0",reason="transport close"}`, "roomio_cluster_members", "roomio_ready"} {
		if _, ok := base[k]; !ok {
			t.Errorf("series %s missing from the first scrape", k)
		}
	}
	if base["roomio_ready"] != 1 {
		t.Errorf("roomio_ready = %v on a started single node", base["roomio_ready"])
	}

	const clients = 10
	var conns []*client.Client
	var socks []*client.Socket
	got := make(chan struct{}, clients)
	for range clients {
		c, err := client.Dial(ctxT(t), n.wsURL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := c.Connect(ctxT(t), "/", nil, client.WithSetup(func(s *client.Socket) {
			s.On("news", func([]client.Arg, client.AckFunc) { got <- struct{}{} })
		}))
		if err != nil {
			t.Fatal(err)
		}
		conns, socks = append(conns, c), append(socks, s)
	}
	connected := settle(t, n.metrics, base, map[string]float64{
		"roomio_sockets": clients, `roomio_namespace_sockets{namespace="/"}`: clients,
		`roomio_connections{transport="native"}`: clients, "roomio_socket_connects_total": clients,
	})

	for _, s := range socks {
		if _, err := s.EmitWithAck(ctxT(t), "join"); err != nil {
			t.Fatal(err)
		}
	}
	joined := settle(t, n.metrics, connected, map[string]float64{
		"roomio_rooms": float64(len(rooms)), "roomio_room_joins_total": clients * float64(len(rooms)),
		"roomio_events_received_total": clients,
	})

	if err := n.e.To("r1").Emit("news", "hello"); err != nil {
		t.Fatal(err)
	}
	for range clients {
		select {
		case <-got:
		case <-time.After(waitFor):
			t.Fatal("the emit did not reach every client")
		}
	}
	emitted := settle(t, n.metrics, joined, map[string]float64{
		"roomio_events_emitted_total": 1, "roomio_messages_sent_total": clients,
		"roomio_emit_latency_seconds_count": 1,
	})
	if emitted["roomio_sent_bytes_total"] <= joined["roomio_sent_bytes_total"] {
		t.Errorf("roomio_sent_bytes_total did not grow with the emit")
	}
	if joined["roomio_received_bytes_total"] <= connected["roomio_received_bytes_total"] {
		t.Errorf("roomio_received_bytes_total did not grow with the clients' events")
	}

	// A CONNECT to a namespace that does not exist is a connect error.
	if _, err := conns[0].Connect(ctxT(t), "/nowhere", nil); err == nil {
		t.Fatal("connecting /nowhere succeeded")
	}
	emitted = settle(t, n.metrics, emitted, map[string]float64{`roomio_connect_errors_total{reason="invalid_namespace"}`: 1})

	for _, c := range conns {
		c.Close()
	}
	settle(t, n.metrics, emitted, map[string]float64{
		"roomio_sockets": -clients, `roomio_namespace_sockets{namespace="/"}`: -clients,
		`roomio_connections{transport="native"}`: -clients, "roomio_rooms": -float64(len(rooms)),
		"roomio_room_leaves_total":                                           clients * float64(len(rooms)),
		`roomio_socket_disconnects_total{reason="transport close"}`:          clients,
		`roomio_connections_closed_total{code="0",reason="transport close"}`: clients,
	})
}

// TestMetricsHandshakeErrors counts a connection refused at the per-address limit.
func TestMetricsHandshakeErrors(t *testing.T) {
	e, err := engine.New(engine.Config{MaxConnsPerIP: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(e))
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer e.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	base := scrape(t, srv.URL+"/metrics")
	c, err := client.Dial(ctxT(t), url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c2, err := client.Dial(ctxT(t), url, client.Options{}); err == nil {
		c2.Close()
		t.Fatal("a second connection from the address was accepted")
	}
	settle(t, srv.URL+"/metrics", base, map[string]float64{`roomio_handshake_errors_total{reason="conns_per_ip"}`: 1})
}
