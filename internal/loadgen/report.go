package loadgen

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
)

//go:embed report.html.tmpl
var reportSource string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{"ms": fmtMs}).Parse(reportSource))

// WriteHTML writes res as a self-contained HTML page: the figures, and as inline SVG charts the latency
// distribution (percentile plot and histogram), throughput and latency over time, connections over time,
// and the connect latency distribution. The page loads nothing and runs no script.
func WriteHTML(w io.Writer, res *Result) error {
	params, err := json.MarshalIndent(res.Params, "", "  ")
	if err != nil {
		return err
	}
	tl := res.Timeline
	data := struct {
		*Result
		ParamsJSON string
		Charts     []template.HTML
	}{Result: res, ParamsJSON: string(params)}
	add := func(h template.HTML) {
		if h != "" {
			data.Charts = append(data.Charts, h)
		}
	}
	if res.Latency.Count > 0 {
		add(percentileChart("Delivery latency by percentile", res.Latency))
		add(histogramChart("Delivery latency distribution", res.Latency))
		add(timeChart("Deliveries per second", "deliveries/s", tl,
			series{name: "deliveries/s", color: colorA, ys: column(tl, func(s Sample) float64 { return s.DeliveriesSec })}))
		add(timeChart("Emits per second", "emits/s", tl,
			series{name: "emits/s", color: colorC, ys: column(tl, func(s Sample) float64 { return s.EmitsPerSec })}))
		add(timeChart("Delivery latency over time", "milliseconds", tl,
			series{name: "p50", color: colorA, ys: column(tl, func(s Sample) float64 { return s.P50Ms })},
			series{name: "p99", color: colorB, ys: column(tl, func(s Sample) float64 { return s.P99Ms })}))
	}
	add(timeChart("Connections over time", "connections", tl,
		series{name: "connected", color: colorA, ys: column(tl, func(s Sample) float64 { return float64(s.Connected) })},
		series{name: "errors (total)", color: colorB, ys: column(tl, func(s Sample) float64 { return float64(s.Errors) })}))
	add(percentileChart("Connect latency by percentile", res.Connections.ConnectLatency))
	add(histogramChart("Connect latency distribution", res.Connections.ConnectLatency))
	if err := reportTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("loadgen: report: %w", err)
	}
	return nil
}
