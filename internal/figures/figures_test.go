package figures

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
)

func TestSpanAndLasted(t *testing.T) {
	tests := []struct {
		d            time.Duration
		span, lasted string
	}{
		{-time.Second, "0s", "0s"},
		{0, "0s", "0s"},
		{45 * time.Second, "45s", "45s"},
		{5 * time.Minute, "5m", "5m"},
		{90 * time.Second, "1m 30s", "1m 30s"},
		{23*time.Minute + 7*time.Second, "23m 07s", "23m"},
		{2*time.Hour + 5*time.Minute, "2h 05m", "2h 05m"},
		{3 * time.Hour, "3h", "3h"},
		{76 * time.Hour, "3d 4h", "3d 4h"},
		{48 * time.Hour, "2d", "2d"},
		{time.Duration(math.MaxInt64), "106751d 23h", "106751d 23h"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			assert.Equal(t, tt.span, Span(tt.d))
			assert.Equal(t, tt.lasted, Lasted(tt.d))
		})
	}
}

func TestPercentAndQuantileLabel(t *testing.T) {
	for in, want := range map[float64]string{0: "0.0%", 0.071: "7.1%", 0.0005: "0.05%", 1: "100.0%", 7: "100.0%", -1: "0.0%", math.NaN(): "0.0%"} {
		assert.Equal(t, want, Percent(in), "%v", in)
	}
	for in, want := range map[float64]string{0.95: "p95", 0.99: "p99", 0.999: "p99.9", 0.5: "p50", 0: "quantile", 1: "quantile", math.NaN(): "quantile"} {
		assert.Equal(t, want, QuantileLabel(in), "%v", in)
	}
}

// resolvedAlert is alerttest.Incident closed 23 minutes after it opened.
func resolvedAlert(mode alert.Mode) alert.Alert {
	a := alerttest.Incident()
	a.Reason = alert.ReasonResolved
	a.Incident.State = alert.IncidentResolved
	a.Incident.Mode = mode
	a.Incident.ResolvedAt = a.Incident.OpenedAt.Add(23*time.Minute + 7*time.Second)
	a.Incident.SlowCount = 312
	switch mode {
	case alert.ModeRatio:
		a.Incident.Fired, a.Incident.Peak = alert.Figure{Ratio: 0.06}, alert.Figure{Ratio: 0.125}
		a.Window.Quantile, a.Window.QuantileValue, a.Window.Ratio, a.Window.SlowRatio = 0, 0, 0.05, 0.01
	case alert.ModeSpan:
		a.Window = nil
	}
	return a
}

func TestResolvedLine(t *testing.T) {
	tests := []struct {
		name string
		a    alert.Alert
		want string
	}{
		{"quantile", resolvedAlert(alert.ModeQuantile), "✅ Resolved: E on S after 23m — peak p99 2.60 s, 312 slow requests"},
		{"ratio", resolvedAlert(alert.ModeRatio), "✅ Resolved: E on S after 23m — peak 12.5% slow, 312 slow requests"},
		{"span", resolvedAlert(alert.ModeSpan), "✅ Resolved: E on S after 23m — peak 2.60 s, 312 slow requests"},
		{"quantile without window", func() alert.Alert {
			a := resolvedAlert(alert.ModeQuantile)
			a.Window = nil
			a.Incident.SlowCount = 1
			return a
		}(), "✅ Resolved: E on S after 23m — peak quantile 2.60 s, 1 slow request"},
		{"no resolution time", func() alert.Alert {
			a := resolvedAlert(alert.ModeQuantile)
			a.Incident.ResolvedAt = time.Time{}
			return a
		}(), "✅ Resolved: E on S — peak p99 2.60 s, 312 slow requests"},
		{"no incident document", alert.Alert{Reason: alert.ReasonResolved}, "✅ Resolved: E on S"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.True(t, Resolved(tt.a))
			assert.Equal(t, tt.want, ResolvedLine(tt.a, "E", "S"))
		})
	}
	assert.False(t, Resolved(alerttest.Incident()))
	assert.False(t, Resolved(alerttest.Full()))
}

func TestHeadline(t *testing.T) {
	ratio := resolvedAlert(alert.ModeRatio)
	ratio.Window.SlowRatio = 0.071
	tests := []struct {
		name string
		a    alert.Alert
		want string
	}{
		{"quantile", alerttest.Incident(), "p99 2.10 s over 5m ≥ threshold 500 ms"},
		{"ratio", ratio, "7.1% slow over 5m ≥ ratio 5.0% (threshold 500 ms)"},
		{"resolved below", func() alert.Alert {
			a := alerttest.Incident()
			a.Window.QuantileValue, a.Window.Over = 300*time.Millisecond, 0
			return a
		}(), "p99 300 ms < threshold 500 ms"},
		{"mode from the window alone", func() alert.Alert {
			a := alerttest.Incident()
			a.Incident = nil
			return a
		}(), "p99 2.10 s over 5m ≥ threshold 500 ms"},
		{"span mode", resolvedAlert(alert.ModeSpan), ""},
		{"no window", alerttest.Full(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Headline(tt.a))
		})
	}
}

func TestPeakAndFired(t *testing.T) {
	a := alerttest.Incident()
	assert.Equal(t, "peak p99 2.60 s", Peak(a))
	assert.Equal(t, "p99 2.10 s", Fired(a))
	r := resolvedAlert(alert.ModeRatio)
	assert.Equal(t, "peak 12.5% slow", Peak(r))
	assert.Equal(t, "6.0% slow", Fired(r))
	assert.Empty(t, Peak(alerttest.Full()))
	assert.Empty(t, Fired(alerttest.Full()))
	assert.Equal(t, "1184 requests", Requests(1184, ""))
	assert.Equal(t, "GET /orders/{id}", Endpoint(a.Key))
	assert.Equal(t, "/x", Endpoint(alert.Key{Route: "/x"}))
}

func TestDiagnosisWording(t *testing.T) {
	kinds := map[alert.DiagnosisKind]string{
		alert.DiagnosisCPU: "CPU-bound", alert.DiagnosisNPlusOne: "N+1 queries", alert.DiagnosisSequentialQueries: "Sequential queries",
		alert.DiagnosisSlowQuery: "Slow query", alert.DiagnosisDownstream: "Downstream calls", alert.DiagnosisWaiting: "Waiting (off-CPU)",
		alert.DiagnosisMixed: "Mixed", alert.DiagnosisUnknown: "Unknown", "": "Unknown", "<script>@channel": "Unknown",
	}
	for k, want := range kinds {
		assert.Equal(t, want, Verdict(k), "%q", k)
	}
	assert.Equal(t, "on CPU 980 ms · in child spans 100 ms · waiting 120 ms of 1.20 s",
		TimeLine(alert.TimeAccount{OnCPU: 980 * time.Millisecond, Children: 100 * time.Millisecond, OffCPU: 120 * time.Millisecond}, 1200*time.Millisecond))
	assert.Equal(t, "on CPU 0 ms · in child spans 0 ms · waiting 0 ms", TimeLine(alert.TimeAccount{}, 0))
	for p, want := range map[string]string{alert.PatternNPlusOne: "N+1", alert.PatternSequential: "sequential", alert.PatternSlowQuery: "slow query", "": "", "@here": ""} {
		assert.Equal(t, want, Pattern(p))
	}
	for x, want := range map[float64]string{0.76: "76 %", 0.004: "<1 %", 0: "0 %", -1: "0 %", 2: "100 %", math.NaN(): "0 %", math.Inf(1): "100 %"} {
		assert.Equal(t, want, Share(x), "%v", x)
	}
	assert.Equal(t, "main.x (x.go:42)", At("main.x", "x.go:42"))
	assert.Equal(t, "main.x", At("main.x", ""))
	assert.Equal(t, NoAppFrame, CodeGroupName(alert.CodeGroup{Line: "x.go:1"}))
	assert.Equal(t, "CPU 620 ms of 2.40 s wall, 62 samples", ProfileLine(alerttest.Full().Profile))
	assert.Equal(t, "CPU 0 ms of 1.50 s wall, 0 samples · off CPU 1.50 s (150 wall samples)",
		ProfileLine(&alert.Profile{WallTime: 1500 * time.Millisecond, OffCPUTime: 1500 * time.Millisecond, WallSamples: 150}))
}

func TestCPUMillis(t *testing.T) {
	for ns, want := range map[int64]int64{0: 0, -5: 0, 499_999: 0, 500_000: 1, 640_000_000: 640, 1_499_999: 1, 1_500_000: 2, math.MaxInt64: 9_223_372_036_855} {
		assert.Equal(t, want, CPUMillis(ns), "%d", ns)
	}
}

func TestPlainWords(t *testing.T) {
	for _, r := range alert.Reasons {
		assert.NotEqual(t, "Unknown reason", ReasonText(r), "reason %q has no plain words", r)
	}
	assert.Equal(t, "First slow request for this endpoint", ReasonText(alert.ReasonFirst))
	assert.Equal(t, "Unknown reason", ReasonText("<script>"))
	assert.Equal(t, "linked by span id (OTLP)", ProfileSource("otlp_link"))
	assert.Equal(t, "other", ProfileSource("<b>"))
}
