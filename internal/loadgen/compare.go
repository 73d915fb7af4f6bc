package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// ReadResults decodes a stream of Results in JSON (one per line, indented, or concatenated): the -json
// files of several runs appended into one.
func ReadResults(r io.Reader) ([]*Result, error) {
	dec := json.NewDecoder(r)
	var out []*Result
	for {
		var res Result
		err := dec.Decode(&res)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("result %d: %w", len(out)+1, err)
		}
		out = append(out, &res)
	}
}

// compareMetric is one figure of the comparison table.
type compareMetric struct {
	name string
	get  func(*Result) (float64, bool) // false: not measured in this run
}

func serverFigure(f func(*ServerStats) float64) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if r.ServerStats == nil || r.ServerStats.Error != "" {
			return 0, false
		}
		return f(r.ServerStats), true
	}
}

var (
	messageMetrics = []compareMetric{
		{"cpu_us_per_delivery", serverFigure(func(s *ServerStats) float64 { return s.CPUMicrosPerDelivery })},
		{"sys_us_per_delivery", serverFigure(func(s *ServerStats) float64 { return s.SysMicrosPerDelivery })},
		{"deliveries_per_s", func(r *Result) (float64, bool) { return r.Messages.DeliveriesPerSec, true }},
		{"p50_ms", func(r *Result) (float64, bool) { return r.Latency.P50Ms, r.Latency.Count > 0 }},
		{"p99_ms", func(r *Result) (float64, bool) { return r.Latency.P99Ms, r.Latency.Count > 0 }},
		{"server_cpu_pct", serverFigure(func(s *ServerStats) float64 { return s.CPUPct })},
		{"client_cpu_us_per_delivery", serverFigure(func(s *ServerStats) float64 { return s.ClientCPUMicrosPerDelivery })},
	}
	idleMetrics = []compareMetric{
		{"rss_kib_per_conn", serverFigure(func(s *ServerStats) float64 { return s.RSSKiBPerConn })},
		{"connects_per_s", func(r *Result) (float64, bool) { return r.Connections.PerSec, true }},
	}
)

// Compare prints an A/B comparison of labelled results: labels are "A:<scenario>" and "B:<scenario>"
// (any other label is ignored), scenarios in the order they first appear. For each scenario and metric
// it prints the median of each side with the range of its runs and B/A of the medians; then a WARN line
// per run that had errors, lost or missing deliveries, and one line per metric:
//
//	RATIO <scenario>.<metric> B/A=<x> (A=<median> B=<median>)
//
// A metric no run of a side measured prints "-" and no RATIO line. Compare returns an error when
// there is no labelled result at all.
func Compare(w io.Writer, results []*Result) error {
	type side struct{ a, b []*Result }
	var order []string
	by := map[string]*side{}
	for _, r := range results {
		s, scen, ok := strings.Cut(r.Label, ":")
		if !ok || (s != "A" && s != "B") || scen == "" {
			continue
		}
		if by[scen] == nil {
			by[scen] = &side{}
			order = append(order, scen)
		}
		if s == "A" {
			by[scen].a = append(by[scen].a, r)
		} else {
			by[scen].b = append(by[scen].b, r)
		}
	}
	if len(order) == 0 {
		return errors.New("no result labelled A:<scenario> or B:<scenario>")
	}
	var ratios, warns []string
	fmt.Fprintf(w, "%-12s %-20s %28s %28s %8s\n", "scenario", "metric", "A median [min .. max]", "B median [min .. max]", "B/A")
	for _, scen := range order {
		sd := by[scen]
		metrics := messageMetrics
		if len(sd.a)+len(sd.b) > 0 && firstScenario(sd.a, sd.b) == Idle {
			metrics = idleMetrics
		}
		for _, m := range metrics {
			am, acell := medianCell(sd.a, m)
			bm, bcell := medianCell(sd.b, m)
			ratio := "-"
			if !math.IsNaN(am) && !math.IsNaN(bm) && am != 0 {
				ratio = fmt.Sprintf("%.3f", bm/am)
				ratios = append(ratios, fmt.Sprintf("RATIO %s.%s B/A=%s (A=%s B=%s)", scen, m.name, ratio, fmtFig(am), fmtFig(bm)))
			}
			fmt.Fprintf(w, "%-12s %-20s %28s %28s %8s\n", scen, m.name, acell, bcell, ratio)
		}
		for i, r := range sd.a {
			warns = append(warns, runWarnings("A", scen, i+1, r)...)
		}
		for i, r := range sd.b {
			warns = append(warns, runWarnings("B", scen, i+1, r)...)
		}
	}
	for _, l := range warns {
		fmt.Fprintln(w, l)
	}
	for _, l := range ratios {
		fmt.Fprintln(w, l)
	}
	return nil
}

func firstScenario(a, b []*Result) Scenario {
	if len(a) > 0 {
		return a[0].Scenario
	}
	return b[0].Scenario
}

// medianCell returns the median of m over rs (NaN when no run measured it) and its table cell.
func medianCell(rs []*Result, m compareMetric) (float64, string) {
	var vs []float64
	for _, r := range rs {
		if v, ok := m.get(r); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return math.NaN(), "-"
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return med, fmt.Sprintf("%s [%s .. %s]", fmtFig(med), fmtFig(vs[0]), fmtFig(vs[len(vs)-1]))
}

// fmtFig prints a figure with 4 significant digits at most, without an exponent.
func fmtFig(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// runWarnings names what went wrong in one run: figures from such a run are suspect.
func runWarnings(side, scen string, n int, r *Result) []string {
	var out []string
	warn := func(format string, a ...any) {
		out = append(out, fmt.Sprintf("WARN %s %s run %d: %s", side, scen, n, fmt.Sprintf(format, a...)))
	}
	c, m := r.Connections, r.Messages
	if c.Connected < r.Params.Clients {
		warn("%d of %d connected", c.Connected, r.Params.Clients)
	}
	if c.Lost > 0 {
		warn("%d connections lost", c.Lost)
	}
	if m.Missing > 0 || m.Duplicates > 0 {
		warn("%d deliveries missing, %d duplicated", m.Missing, m.Duplicates)
	}
	if e := r.Errors; e.Total > 0 {
		warn("%d errors (connect %d, join %d, emit %d, disconnect %d)", e.Total, e.Connect, e.Join, e.Emit, e.Disconnect)
	}
	if r.ServerStats == nil {
		warn("no server figures (no -pid)")
	} else if r.ServerStats.Error != "" {
		warn("server figures lost: %s", r.ServerStats.Error)
	}
	return out
}
