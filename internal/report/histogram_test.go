package report

import (
	"encoding/binary"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
)

// svgShape is what a histogram SVG holds, read back with encoding/xml.
type svgShape struct {
	bars, slowBars, overflow int
	markers                  []string // the classes of the marker groups
	texts                    []string
}

// parseSVG fails unless svg is well-formed XML with an <svg> root, holds no
// script, foreignObject or link, and writes no NaN or infinite number.
func parseSVG(t testing.TB, svg string) svgShape {
	t.Helper()
	var s svgShape
	d := xml.NewDecoder(strings.NewReader(svg))
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("histogram SVG is not well-formed: %v\n%s", err, svg)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 && el.Name.Local != "svg" {
				t.Fatalf("root element is <%s>", el.Name.Local)
			}
			depth++
			switch strings.ToLower(el.Name.Local) {
			case "script", "foreignobject", "a", "image", "use":
				t.Fatalf("histogram SVG holds a <%s>", el.Name.Local)
			}
			for _, at := range el.Attr {
				if strings.HasPrefix(strings.ToLower(at.Name.Local), "on") || strings.Contains(at.Value, "NaN") || strings.Contains(at.Value, "Inf") {
					t.Fatalf("bad attribute %s=%q", at.Name.Local, at.Value)
				}
				if at.Name.Local != "class" {
					continue
				}
				cls := strings.Fields(at.Value)
				switch {
				case el.Name.Local == "rect" && cls[0] == "bar":
					s.bars++
					for _, c := range cls[1:] {
						switch c {
						case "slow":
							s.slowBars++
						case "overflow":
							s.overflow++
						}
					}
				case el.Name.Local == "g" && cls[0] == "marker" && len(cls) > 1:
					s.markers = append(s.markers, cls[1])
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if txt := strings.TrimSpace(string(el)); txt != "" {
				s.texts = append(s.texts, txt)
			}
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced SVG")
	}
	return s
}

func buckets(pairs ...int64) []alert.HistogramBucket {
	var out []alert.HistogramBucket
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, alert.HistogramBucket{UpperBound: time.Duration(pairs[i]), Count: pairs[i+1]})
	}
	return out
}

func TestHistogramSVG(t *testing.T) {
	ms := int64(time.Millisecond)
	unb := int64(alert.Unbounded)
	many := make([]alert.HistogramBucket, 1000)
	for i := range many {
		many[i] = alert.HistogramBucket{UpperBound: time.Duration(i+1) * time.Millisecond, Count: int64(i)}
	}
	tests := []struct {
		name      string
		w         *alert.WindowFigures
		threshold time.Duration
		empty     bool
		bars      int
		slow      int
		overflow  int
		markers   []string
		texts     []string // each in some text or title of the SVG
	}{
		{name: "no window", w: nil, empty: true},
		{name: "no histogram", w: &alert.WindowFigures{Count: 3}, empty: true},
		{name: "incident", w: alerttest.Incident().Window, threshold: 500 * time.Millisecond,
			bars: 6, slow: 3, overflow: 1, markers: []string{"threshold", "quantile"},
			texts: []string{"threshold 500 ms", "p99 2.10 s", "< 100 ms: 700 requests", "≥ 2.00 s: 4 requests", "100ms", "200ms", "1s", "700"}},
		{name: "one bucket", w: &alert.WindowFigures{Histogram: buckets(200*ms, 5)}, threshold: 50 * time.Millisecond,
			bars: 1, markers: []string{"threshold"}, texts: []string{"< 200 ms: 5 requests", "threshold 50 ms (off the chart)"}},
		{name: "one unbounded bucket", w: &alert.WindowFigures{Histogram: buckets(unb, 9)}, threshold: time.Second,
			bars: 1, overflow: 1, markers: []string{"threshold"}, texts: []string{"all: 9 requests"}},
		{name: "one unbounded bucket and no threshold", w: &alert.WindowFigures{Histogram: buckets(unb, 1)},
			bars: 1, overflow: 1, texts: []string{"all: 1 request"}},
		{name: "zero counts", w: &alert.WindowFigures{Histogram: buckets(10*ms, 0, 20*ms, 0, unb, 0)}, threshold: 15 * time.Millisecond,
			bars: 3, slow: 1, overflow: 1, markers: []string{"threshold"}, texts: []string{"No requests in the window."}},
		{name: "negative count reads as 0", w: &alert.WindowFigures{Histogram: buckets(10*ms, -7, 20*ms, 3)},
			bars: 2, texts: []string{"< 10 ms: 0 requests", "3"}},
		{name: "huge values", w: &alert.WindowFigures{Histogram: buckets(1, math.MaxInt64, unb-1, math.MaxInt64, unb, math.MaxInt64),
			Quantile: 0.5, QuantileValue: alert.Unbounded}, threshold: alert.Unbounded,
			bars: 3, slow: 1, overflow: 1, markers: []string{"threshold", "quantile"}}, // float64 cannot tell MaxInt64-1 from MaxInt64
		{name: "bounds not ascending", w: &alert.WindowFigures{Histogram: buckets(20*ms, 1, 10*ms, 1)}, texts: []string{"cannot be drawn"}},
		{name: "negative bound", w: &alert.WindowFigures{Histogram: buckets(-ms, 1, 10*ms, 1)}, texts: []string{"cannot be drawn"}},
		{name: "unbounded bucket not last", w: &alert.WindowFigures{Histogram: buckets(unb, 1, 10*ms, 1)}, texts: []string{"cannot be drawn"}},
		{name: "more buckets than decode keeps", w: &alert.WindowFigures{Histogram: many}, threshold: 500 * time.Millisecond,
			bars: 1000, slow: 500, markers: []string{"threshold"}},
		{name: "quantile without value", w: &alert.WindowFigures{Histogram: buckets(10*ms, 1), Quantile: 0.9}, bars: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := HistogramSVG(tt.w, tt.threshold)
			if tt.empty {
				assert.Empty(t, svg)
				return
			}
			s := parseSVG(t, svg)
			assert.Equal(t, tt.bars, s.bars, "bars")
			assert.Equal(t, tt.slow, s.slowBars, "bars at or past the threshold")
			assert.Equal(t, tt.overflow, s.overflow, "overflow bars")
			assert.Equal(t, tt.markers, s.markers)
			all := strings.Join(s.texts, "\n")
			for _, want := range tt.texts {
				assert.Contains(t, all, want)
			}
		})
	}
}

// TestHistogramBarsEvenOnLogAxis: log-linear buckets (each twice the one
// before) come out as bars of equal width, the overflow bar as wide as the
// one before it.
func TestHistogramBarsEvenOnLogAxis(t *testing.T) {
	ms := int64(time.Millisecond)
	bars, ok := histBars(buckets(10*ms, 1, 20*ms, 1, 40*ms, 1, 80*ms, 1, int64(alert.Unbounded), 1), nil)
	require.True(t, ok)
	c := newHistChart(bars)
	want := c.x(bars[0].hi) - c.x(bars[0].lo)
	for _, b := range bars {
		assert.InDelta(t, want, c.x(b.hi)-c.x(b.lo), 0.01)
	}
	assert.InDelta(t, histLeft, c.x(bars[0].lo), 0.01)
	assert.InDelta(t, histLeft+plotW, c.x(bars[len(bars)-1].hi), 0.01)
}

// FuzzHistogramSVG: whatever the buckets, threshold and quantile, the
// renderer does not panic and writes well-formed SVG with no script and no
// non-finite number. data is cut into 16-byte buckets (bound, count); a
// bucket whose first byte is 0xff is Unbounded.
func FuzzHistogramSVG(f *testing.F) {
	enc := func(pairs ...int64) []byte {
		var b []byte
		for _, p := range pairs {
			b = binary.BigEndian.AppendUint64(b, uint64(p))
		}
		return b
	}
	ms := int64(time.Millisecond)
	f.Add(enc(100*ms, 700, 250*ms, 220, 500*ms, 180, time.Second.Nanoseconds(), 40), int64(500*ms), int64(2100*ms), 0.99)
	f.Add(enc(1, math.MaxInt64, math.MaxInt64-1, math.MaxInt64), int64(math.MaxInt64), int64(-1), 2.0)
	f.Add(enc(-5, -5, 0, 0), int64(0), int64(0), math.NaN())
	f.Add(append(enc(10*ms, 3), 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9), int64(ms), int64(ms), 0.5)
	f.Fuzz(func(t *testing.T, data []byte, threshold, quantileValue int64, quantile float64) {
		var hist []alert.HistogramBucket
		for len(data) >= 16 && len(hist) < 200 {
			b := alert.HistogramBucket{
				UpperBound: time.Duration(binary.BigEndian.Uint64(data)),
				Count:      int64(binary.BigEndian.Uint64(data[8:])),
			}
			if data[0] == 0xff {
				b.UpperBound = alert.Unbounded
			}
			hist = append(hist, b)
			data = data[16:]
		}
		w := &alert.WindowFigures{Histogram: hist, Quantile: quantile, QuantileValue: time.Duration(quantileValue)}
		svg := HistogramSVG(w, time.Duration(threshold))
		if len(hist) == 0 {
			if svg != "" {
				t.Fatalf("an SVG for no buckets")
			}
			return
		}
		parseSVG(t, svg)
		if !safeSVG([]byte(svg)) {
			t.Fatalf("histogram SVG fails the page's script check")
		}
	})
}
