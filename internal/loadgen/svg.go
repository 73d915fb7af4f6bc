package loadgen

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// The report's charts are inline SVG written here: no script, no external resource.

const (
	chartW, chartH             = 760, 280
	padL, padR, padT, padB     = 70, 40, 34, 46
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	colorA, colorB, colorC     = "#1f77b4", "#d62728", "#2ca02c"
	gridColor, axisColor, font = "#e3e3e3", "#555", "font-family:sans-serif;font-size:11px"
)

type series struct {
	name   string
	color  string
	xs, ys []float64
}

type tick struct {
	v     float64
	label string
}

// chart describes one chart; xTicks and yTicks are computed when nil.
type chart struct {
	title, xLabel, yLabel string
	xMin, xMax            float64
	yMax                  float64 // 0: from the data
	xTicks                []tick
	yFmt                  func(float64) string
	series                []series
	bars                  []bar // drawn before the series
}

type bar struct{ x0, x1, y float64 }

// niceTicks returns about n round values covering [lo, hi].
func niceTicks(lo, hi float64, n int, format func(float64) string) []tick {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ts []tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ts = append(ts, tick{v, format(v)})
	}
	return ts
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// svg renders c.
func (c chart) svg() template.HTML {
	yMax := c.yMax
	for _, s := range c.series {
		for _, y := range s.ys {
			yMax = max(yMax, y)
		}
	}
	for _, b := range c.bars {
		yMax = max(yMax, b.y)
	}
	if yMax <= 0 {
		yMax = 1
	}
	yFmt := c.yFmt
	if yFmt == nil {
		yFmt = fmtNum
	}
	yTicks := niceTicks(0, yMax, 5, yFmt)
	yMax = max(yMax, yTicks[len(yTicks)-1].v)
	xTicks := c.xTicks
	if xTicks == nil {
		xTicks = niceTicks(c.xMin, c.xMax, 8, fmtNum)
	}
	xSpan := c.xMax - c.xMin
	if xSpan <= 0 {
		xSpan = 1
	}
	px := func(x float64) float64 { return padL + (x-c.xMin)/xSpan*plotW }
	py := func(y float64) float64 { return padT + plotH - y/yMax*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="18" style="font-family:sans-serif;font-size:14px;font-weight:bold">%s</text>`, padL, html.EscapeString(c.title))
	for _, t := range yTicks {
		y := py(t.v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, padL, y, padL+plotW, y, gridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" style="%s">%s</text>`, padL-6, y+4, font, html.EscapeString(t.label))
	}
	for _, t := range xTicks {
		if t.v < c.xMin-1e-9 || t.v > c.xMax+1e-9 {
			continue
		}
		x := px(t.v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, x, padT, x, padT+plotH, gridColor)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" style="%s">%s</text>`, x, padT+plotH+15, font, html.EscapeString(t.label))
	}
	for _, br := range c.bars {
		x0, x1 := px(br.x0), px(br.x1)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.75"/>`,
			x0, py(br.y), max(x1-x0-0.5, 0.5), padT+plotH-py(br.y), colorA)
	}
	for i, s := range c.series {
		if len(s.xs) == 0 {
			continue
		}
		var pts strings.Builder
		for j := range s.xs {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(s.xs[j]), py(s.ys[j]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, s.color, strings.TrimSpace(pts.String()))
		if len(s.xs) == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(s.xs[0]), py(s.ys[0]), s.color)
		}
		// The legend, top right.
		lx := padL + plotW - 150
		ly := padT + 14 + 16*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`, lx, ly-4, lx+18, ly-4, s.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" style="%s">%s</text>`, lx+24, ly, font, html.EscapeString(s.name))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, padL, padT+plotH, padL+plotW, padT+plotH, axisColor)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, padL, padT, padL, padT+plotH, axisColor)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" style="%s">%s</text>`, padL+plotW/2, chartH-6, font, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle" style="%s">%s</text>`, padT+plotH/2, font, html.EscapeString(c.yLabel))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped labels only
}

// percentileChart plots latency against percentile, HdrHistogram style: the x axis is log10(1/(1−q)),
// so 90 %, 99 %, 99.9 % … are equally spaced.
func percentileChart(title string, ls LatencyStats) template.HTML {
	if ls.Count == 0 {
		return ""
	}
	xq := func(q float64) float64 { return math.Log10(1 / (1 - min(q, 1-1e-6))) }
	xMax := math.Min(math.Ceil(math.Log10(float64(ls.Count))), 6)
	xMax = max(xMax, 2)
	s := series{name: "latency", color: colorA}
	var seen uint64
	for _, bk := range ls.Buckets {
		q0 := float64(seen) / float64(ls.Count)
		seen += bk.Count
		q1 := float64(seen) / float64(ls.Count)
		y := min(bk.ToMs, ls.MaxMs)
		s.xs = append(s.xs, min(xq(q0), xMax), min(xq(q1), xMax))
		s.ys = append(s.ys, y, y)
	}
	ticks := []tick{{0, "0%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "99.9999%"}}
	return chart{title: title, xLabel: "percentile", yLabel: "milliseconds", xMin: 0, xMax: xMax, xTicks: ticks,
		series: []series{s}}.svg()
}

// histogramChart draws the distribution as bars on a logarithmic time axis, ten bins per decade.
func histogramChart(title string, ls LatencyStats) template.HTML {
	if ls.Count == 0 {
		return ""
	}
	const perDecade = 10
	bins := map[int]uint64{}
	lo, hi := math.MaxInt, math.MinInt
	for _, bk := range ls.Buckets {
		mid := max((bk.FromMs+bk.ToMs)/2, 0.001)
		i := int(math.Floor(math.Log10(mid) * perDecade))
		bins[i] += bk.Count
		lo, hi = min(lo, i), max(hi, i)
	}
	var bars []bar
	for i := lo; i <= hi; i++ {
		if n := bins[i]; n > 0 {
			bars = append(bars, bar{float64(i) / perDecade, float64(i+1) / perDecade, float64(n)})
		}
	}
	xMin, xMax := math.Floor(float64(lo)/perDecade), math.Ceil(float64(hi+1)/perDecade)
	var ticks []tick
	for d := xMin; d <= xMax; d++ {
		ticks = append(ticks, tick{d, decadeLabel(int(d))})
	}
	return chart{title: title, xLabel: "latency (log scale)", yLabel: "count", xMin: xMin, xMax: xMax,
		xTicks: ticks, bars: bars}.svg()
}

// decadeLabel names 10^d milliseconds: 1µs … 100ms, 1s, 10s, 100s, 1000s.
func decadeLabel(d int) string {
	units := []string{"µs", "ms", "s"}
	d += 3 // in microseconds
	if d < 0 {
		return strconv.FormatFloat(math.Pow(10, float64(d)), 'g', -1, 64) + "µs"
	}
	u := min(d/3, len(units)-1)
	return strconv.FormatFloat(math.Pow(10, float64(d-3*u)), 'f', 0, 64) + units[u]
}

// timeChart plots samples over the run's time.
func timeChart(title, yLabel string, tl []Sample, ss ...series) template.HTML {
	if len(tl) == 0 {
		return ""
	}
	for i := range ss {
		ss[i].xs = make([]float64, len(tl))
		for j, s := range tl {
			ss[i].xs[j] = s.TSec
		}
	}
	return chart{title: title, xLabel: "seconds since start", yLabel: yLabel, xMin: 0, xMax: tl[len(tl)-1].TSec,
		series: ss}.svg()
}

func column(tl []Sample, f func(Sample) float64) []float64 {
	v := make([]float64, len(tl))
	for i, s := range tl {
		v[i] = f(s)
	}
	return v
}
