package report

import (
	"html"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// Geometry of the histogram, in SVG user units.
const (
	histWidth   = 760
	histHeight  = 260
	histLeft    = 56
	histRight   = 16
	histTop     = 40 // room for the marker labels
	histBottom  = 36 // room for the axis labels
	histMaxTick = 8
)

// histBar is one bucket on the chart: requests in [lo, hi) nanoseconds,
// both finite and positive, lo < hi.
type histBar struct {
	lo, hi float64
	// from is the bucket's real lower bound: lo but for the first bucket,
	// which starts at 0.
	from     float64
	count    int64
	overflow bool // the last bucket, without an upper bound
}

// marker is a vertical line across the chart with a label above it.
type marker struct {
	at    time.Duration
	label string
	class string
}

// HistogramSVG draws the window's latency distribution as a standalone SVG
// bar chart: one bar per bucket on a log-scale duration axis (the buckets
// are log-linear, so they come out of even width), the threshold and, in
// quantile mode, the quantile's value as labelled vertical lines. It returns
// "" when w has no histogram.
//
// The histogram may come from anywhere (alert.Decode validates it, but the
// renderer does not rely on that): bounds that do not ascend yield a chart
// that says so, negative counts read as 0, and every number written is
// finite, so the output is always well-formed XML. It is built as a string
// (not with a template) because it is numbers and our own labels only, all
// escaped.
func HistogramSVG(w *alert.WindowFigures, threshold time.Duration) string {
	if w == nil || len(w.Histogram) == 0 {
		return ""
	}
	var markers []marker
	if threshold > 0 {
		markers = append(markers, marker{at: threshold, label: "threshold " + figures.Duration(threshold), class: "threshold"})
	}
	if w.Quantile > 0 && w.QuantileValue > 0 {
		markers = append(markers, marker{at: w.QuantileValue, label: figures.QuantileLabel(w.Quantile) + " " + figures.Duration(w.QuantileValue), class: "quantile"})
	}
	bars, ok := histBars(w.Histogram, markers)
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="` + itoa(histWidth) + `" height="` + itoa(histHeight) +
		`" viewBox="0 0 ` + itoa(histWidth) + " " + itoa(histHeight) + `" role="img" aria-label="Latency distribution over the window"` +
		` font-family="system-ui,sans-serif" font-size="11">` + "\n")
	if !ok {
		b.WriteString(`<text x="` + itoa(histWidth/2) + `" y="` + itoa(histHeight/2) + `" text-anchor="middle" fill="#57606a">` +
			`The histogram cannot be drawn: its bucket bounds do not ascend.</text>` + "\n</svg>")
		return b.String()
	}
	c := newHistChart(bars)
	c.axes(&b)
	c.drawBars(&b, threshold)
	for i, m := range markers {
		c.marker(&b, m, i)
	}
	b.WriteString("</svg>")
	return b.String()
}

// histBars turns buckets into bars with finite bounds: the first bucket
// starts at 0, which a log axis cannot show, so it is drawn from its upper
// bound divided by the next bucket's growth; an unbounded last bucket is
// drawn as wide as the one before it. It reports false when the bounds do
// not ascend (or an unbounded bucket is not the last).
func histBars(hist []alert.HistogramBucket, markers []marker) ([]histBar, bool) {
	bars := make([]histBar, 0, len(hist))
	prev := time.Duration(0)
	for i, bk := range hist {
		count := max(bk.Count, 0)
		if bk.UpperBound == alert.Unbounded {
			if i != len(hist)-1 {
				return nil, false
			}
			bars = append(bars, histBar{lo: float64(prev), from: float64(prev), count: count, overflow: true})
			break
		}
		if bk.UpperBound <= prev {
			return nil, false
		}
		bars = append(bars, histBar{lo: float64(prev), from: float64(prev), hi: float64(bk.UpperBound), count: count})
		prev = bk.UpperBound
	}
	growth := func(i int) float64 { // the ratio of bar i's bounds, kept sensible
		g := 2.0
		if i >= 0 && i < len(bars) && !bars[i].overflow && bars[i].lo > 0 {
			g = bars[i].hi / bars[i].lo
		}
		return clamp(g, 1.25, 10)
	}
	first := &bars[0]
	switch {
	case first.overflow:
		// One bucket holding everything: centre it on what it is about.
		base := float64(time.Second)
		if len(markers) > 0 {
			base = float64(markers[0].at)
		}
		first.lo, first.hi = base/2, base*2
	default:
		first.lo = first.hi / growth(1)
	}
	if last := &bars[len(bars)-1]; last.overflow && len(bars) > 1 {
		last.hi = last.lo * growth(len(bars)-2)
	}
	return bars, true
}

// histChart maps durations (log scale) and counts (linear) to the plot.
type histChart struct {
	bars       []histBar
	lmin, lmax float64 // log10 of the axis ends, in nanoseconds
	maxCount   int64
}

func newHistChart(bars []histBar) *histChart {
	c := &histChart{bars: bars, lmin: math.Log10(bars[0].lo), lmax: math.Log10(bars[len(bars)-1].hi)}
	if !(c.lmax > c.lmin) { // cannot happen with ascending bounds, but never divide by 0
		c.lmax = c.lmin + 1
	}
	for _, bar := range bars {
		c.maxCount = max(c.maxCount, bar.count)
	}
	return c
}

const (
	plotW = histWidth - histLeft - histRight
	plotH = histHeight - histTop - histBottom
)

// x places ns on the axis, clamped to the plot.
func (c *histChart) x(ns float64) float64 {
	if !(ns > 0) {
		return histLeft
	}
	f := (math.Log10(ns) - c.lmin) / (c.lmax - c.lmin)
	return histLeft + clamp(f, 0, 1)*plotW
}

// inside reports whether ns is on the axis.
func (c *histChart) inside(ns float64) bool {
	l := math.Log10(ns)
	return ns > 0 && l >= c.lmin && l <= c.lmax
}

func (c *histChart) axes(b *strings.Builder) {
	const base = float64(histTop + plotH)
	line(b, histLeft, base, histLeft+plotW, base, `stroke="#8c959f"`)
	line(b, histLeft, histTop, histLeft, base, `stroke="#8c959f"`)
	text(b, histLeft-6, base, "end", "0", "")
	text(b, histLeft-6, histTop+4, "end", strconv.FormatInt(c.maxCount, 10), "")
	text(b, 12, histTop+plotH/2, "middle", "requests", ` transform="rotate(-90 12 `+num(histTop+plotH/2)+`)"`)
	for _, t := range c.ticks() {
		x := c.x(t)
		line(b, x, base, x, base+4, `stroke="#8c959f"`)
		text(b, x, base+16, "middle", tickLabel(time.Duration(t)), "")
	}
	text(b, histLeft+plotW/2, histHeight-4, "middle", "request duration (log scale)", ` fill="#57606a"`)
	if c.maxCount == 0 {
		text(b, histLeft+plotW/2, histTop+plotH/2, "middle", "No requests in the window.", ` fill="#57606a"`)
	}
}

// ticks are round durations on the axis: powers of ten, with 2 and 5 times
// them when the axis spans less than three decades; thinned to histMaxTick.
func (c *histChart) ticks() []float64 {
	var out []float64
	lo, hi := math.Floor(c.lmin), math.Ceil(c.lmax)
	if hi-lo > 40 { // int64 nanoseconds span 19 decades; anything more is broken input
		return nil
	}
	steps := []float64{1}
	if c.lmax-c.lmin < 3 {
		steps = []float64{1, 2, 5}
	}
	for e := lo; e <= hi; e++ {
		for _, s := range steps {
			if v := s * math.Pow(10, e); c.inside(v) && v >= 1 && v < math.MaxInt64 {
				out = append(out, v)
			}
		}
	}
	if n := len(out); n > histMaxTick {
		step := (n + histMaxTick - 1) / histMaxTick
		thin := out[:0]
		for i := 0; i < n; i += step {
			thin = append(thin, out[i])
		}
		out = thin
	}
	return out
}

func (c *histChart) drawBars(b *strings.Builder, threshold time.Duration) {
	base := float64(histTop + plotH)
	for i, bar := range c.bars {
		x0, x1 := c.x(bar.lo), c.x(bar.hi)
		w := math.Max(x1-x0-1, 1) // a pixel between bars
		h := 0.0
		if c.maxCount > 0 && bar.count > 0 {
			h = math.Max(float64(bar.count)/float64(c.maxCount)*plotH, 1)
		}
		class, fill := "bar", "#0969da"
		if threshold > 0 && bar.from >= float64(threshold) {
			class, fill = "bar slow", "#cf222e"
		}
		if bar.overflow {
			class += " overflow"
		}
		var title string
		switch {
		case bar.overflow && i == 0:
			title = "all"
		case bar.overflow:
			title = "≥ " + figures.Duration(time.Duration(bar.from))
		case i == 0: // drawn from a made-up lower bound; it starts at 0
			title = "< " + figures.Duration(time.Duration(bar.hi))
		default:
			title = figures.Duration(time.Duration(bar.lo)) + " – " + figures.Duration(time.Duration(bar.hi))
		}
		title += ": " + figures.Requests(bar.count, "")
		b.WriteString(`<rect class="` + class + `" x="` + num(x0) + `" y="` + num(base-h) + `" width="` + num(w) + `" height="` + num(h) +
			`" fill="` + fill + `" fill-opacity="0.8"><title>` + html.EscapeString(title) + "</title></rect>\n")
	}
}

// marker draws m's line and label; i staggers the labels of several
// markers so they do not overlap.
func (c *histChart) marker(b *strings.Builder, m marker, i int) {
	colour := "#cf222e"
	if m.class == "quantile" {
		colour = "#8250df"
	}
	x := c.x(float64(m.at))
	label := m.label
	if !c.inside(float64(m.at)) {
		label += " (off the chart)"
	}
	b.WriteString(`<g class="marker ` + m.class + `">`)
	line(b, x, histTop-4, x, histTop+plotH, `stroke="`+colour+`" stroke-width="1.5" stroke-dasharray="4 3"`)
	anchor, dx := "start", 4.0
	if x > histLeft+plotW*0.6 {
		anchor, dx = "end", -4
	}
	text(b, x+dx, float64(histTop-24+14*i), anchor, label, ` fill="`+colour+`" font-weight="600"`)
	b.WriteString("</g>\n")
}

func line(b *strings.Builder, x1, y1, x2, y2 float64, attrs string) {
	b.WriteString(`<line x1="` + num(x1) + `" y1="` + num(y1) + `" x2="` + num(x2) + `" y2="` + num(y2) + `" ` + attrs + "/>")
}

func text(b *strings.Builder, x, y float64, anchor, s, attrs string) {
	b.WriteString(`<text x="` + num(x) + `" y="` + num(y) + `" text-anchor="` + anchor + `"` + attrs + `>` + html.EscapeString(s) + "</text>\n")
}

// num writes a coordinate with one decimal; NaN and infinities (which no
// path should produce) become 0 so the SVG stays valid.
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

func itoa(i int) string { return strconv.Itoa(i) }

// tickLabel is a compact duration for an axis: "100ms", "2s", "5m".
func tickLabel(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return trimFloat(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return trimFloat(float64(d)/float64(time.Millisecond)) + "ms"
	case d < time.Minute:
		return trimFloat(d.Seconds()) + "s"
	case d < time.Hour:
		return trimFloat(d.Minutes()) + "m"
	default:
		return trimFloat(d.Hours()) + "h"
	}
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }
