package alert

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestReasonsOfSchema2(t *testing.T) {
	// Order is part of the contract (metrics index by position): appended only.
	assert.Equal(t, []Reason{"first", "window_expired", "escalation", "storm", "quantile", "ratio", "resolved", "regression"}, Reasons)
	for _, r := range Reasons {
		assert.True(t, r.Valid(), r)
	}
	assert.False(t, Reason("").Valid())
	assert.False(t, Reason("Quantile").Valid())
	assert.Equal(t, 2, SchemaVersion)
}

func TestIncidentEnums(t *testing.T) {
	assert.True(t, IncidentFiring.Valid())
	assert.True(t, IncidentResolved.Valid())
	assert.False(t, IncidentState("open").Valid())
	for _, m := range []Mode{ModeSpan, ModeQuantile, ModeRatio} {
		assert.True(t, m.Valid(), m)
	}
	assert.False(t, Mode("").Valid())
}

func TestNewIncidentIDIsDeterministic(t *testing.T) {
	k := Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"}
	id := NewIncidentID(k, testStart)
	assert.Len(t, id, 32)
	assert.Equal(t, id, NewIncidentID(k, testStart.In(time.FixedZone("x", 3600))), "the instant counts, not the zone")
	assert.NotEqual(t, id, NewIncidentID(k, testStart.Add(time.Nanosecond)))
	assert.NotEqual(t, id, NewIncidentID(Key{Service: "checkout", Route: "/orders/{id}"}, testStart))
}

// incidentCases are alerts of the three modes and states, and the edge
// cases of their documents.
func incidentCases() []struct {
	name string
	a    Alert
} {
	key := Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"}
	opened := testStart.Add(-10 * time.Minute)
	hist := []HistogramBucket{
		{UpperBound: 100 * time.Millisecond, Count: 700},
		{UpperBound: 500 * time.Millisecond, Count: 400},
		{UpperBound: 2 * time.Second, Count: 80},
		{UpperBound: Unbounded, Count: 4},
	}
	quantile := func() Alert {
		a := sampleAlert()
		a.Reason = ReasonQuantile
		a.Incident = &Incident{
			ID: NewIncidentID(key, opened), State: IncidentFiring, Mode: ModeQuantile, OpenedAt: opened,
			Fired: Figure{Duration: 2100 * time.Millisecond}, Peak: Figure{Duration: 2600 * time.Millisecond},
			SlowCount: 84,
		}
		a.Window = &WindowFigures{
			Over: 5 * time.Minute, Count: 1184, SlowCount: 84,
			P50: 120 * time.Millisecond, P90: 480 * time.Millisecond, P95: 900 * time.Millisecond,
			P99: 2100 * time.Millisecond, Max: 3400 * time.Millisecond,
			Quantile: 0.99, QuantileValue: 2100 * time.Millisecond, Histogram: hist,
		}
		return a
	}
	ratio := func() Alert {
		a := quantile()
		a.Reason = ReasonResolved
		a.Incident.State, a.Incident.Mode = IncidentResolved, ModeRatio
		a.Incident.ResolvedAt = testStart
		a.Incident.Fired, a.Incident.Peak = Figure{Ratio: 0.07}, Figure{Ratio: 0.125}
		a.Window.Quantile, a.Window.QuantileValue = 0, 0
		a.Window.Ratio, a.Window.SlowRatio = 0.05, 0
		return a
	}
	span := func() Alert {
		a := sampleAlert()
		a.Reason = ReasonEscalation
		a.Incident = &Incident{ID: "i-1", State: IncidentFiring, Mode: ModeSpan, OpenedAt: opened,
			Fired: Figure{Duration: 900 * time.Millisecond}, Peak: Figure{Duration: 4 * time.Second}, SlowCount: 3}
		return a
	}
	windowOnly := func() Alert {
		a := sampleAlert()
		a.Reason = ReasonRatio
		a.Window = &WindowFigures{Over: time.Minute, Count: 10, SlowCount: 1, Ratio: 1, SlowRatio: 0}
		return a
	}
	full := func() Alert {
		a := quantile()
		a.Window.Histogram = CompactHistogram(linearBounds(500), make([]int64, 500), 0)
		return a
	}
	return []struct {
		name string
		a    Alert
	}{
		{"quantile firing", quantile()},
		{"ratio resolved", ratio()},
		{"span escalation, no window", span()},
		{"window without incident or histogram", windowOnly()},
		{"64 buckets", full()},
		{"empty documents", func() Alert {
			a := sampleAlert()
			a.Incident, a.Window = &Incident{}, &WindowFigures{}
			return a
		}()},
	}
}

func TestIncidentEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range incidentCases() {
		t.Run(c.name, func(t *testing.T) {
			_, res, span := newSpan(t)
			Encode(c.a, span)
			if c.a.Incident != nil {
				assert.Contains(t, span.Attributes().AsRaw(), AttrIncident)
			}
			got, ok := Decode(res, span)
			require.True(t, ok)
			assert.Equal(t, c.a.Reason, got.Reason)
			assertSameIncident(t, c.a.Incident, got.Incident)
			assert.Equal(t, c.a.Window, got.Window)
			assert.NotContains(t, got.Attributes, AttrIncident)
		})
	}
}

func TestIncidentJSONRoundTrip(t *testing.T) {
	for _, c := range incidentCases() {
		t.Run(c.name, func(t *testing.T) {
			data, err := json.Marshal(c.a)
			require.NoError(t, err)
			var got Alert
			require.NoError(t, json.Unmarshal(data, &got))
			assertSameIncident(t, c.a.Incident, got.Incident)
			assert.Equal(t, c.a.Window, got.Window)
		})
	}
}

func assertSameIncident(t *testing.T, want, got *Incident) {
	t.Helper()
	if want == nil {
		assert.Nil(t, got)
		return
	}
	require.NotNil(t, got)
	assert.True(t, want.OpenedAt.Equal(got.OpenedAt), "opened %v, got %v", want.OpenedAt, got.OpenedAt)
	assert.True(t, want.ResolvedAt.Equal(got.ResolvedAt), "resolved %v, got %v", want.ResolvedAt, got.ResolvedAt)
	w, g := *want, *got
	w.OpenedAt, g.OpenedAt, w.ResolvedAt, g.ResolvedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, w, g)
}

func TestIncidentJSONFields(t *testing.T) {
	a := incidentCases()[1].a // ratio resolved
	data, err := json.Marshal(a)
	require.NoError(t, err)
	var fields struct {
		Schema   int            `json:"schema"`
		Incident map[string]any `json:"incident"`
		Window   map[string]any `json:"window"`
	}
	require.NoError(t, json.Unmarshal(data, &fields))
	assert.Equal(t, 2, fields.Schema)
	assert.Equal(t, map[string]any{
		"id": a.Incident.ID, "state": "resolved", "mode": "ratio",
		"opened_at": "2026-11-27T09:50:00Z", "resolved_at": "2026-11-27T10:00:00Z",
		"fired_ratio": 0.07, "peak_ratio": 0.125, "slow_count": float64(84),
	}, fields.Incident)
	assert.Equal(t, map[string]any{
		"over_ms": float64(300000), "count": float64(1184), "slow_count": float64(84),
		"p50_ms": float64(120), "p90_ms": float64(480), "p95_ms": float64(900), "p99_ms": float64(2100), "max_ms": float64(3400),
		"ratio": 0.05, "slow_ratio": float64(0),
		"histogram": []any{
			map[string]any{"upper_ms": float64(100), "count": float64(700)},
			map[string]any{"upper_ms": float64(500), "count": float64(400)},
			map[string]any{"upper_ms": float64(2000), "count": float64(80)},
			map[string]any{"count": float64(4)},
		},
	}, fields.Window)

	plain, err := json.Marshal(sampleAlert())
	require.NoError(t, err)
	assert.NotContains(t, string(plain), `"incident"`)
	assert.NotContains(t, string(plain), `"window"`)
}

func TestIncidentDocumentsAreNeverMarshalFailures(t *testing.T) {
	a := sampleAlert()
	a.Incident = &Incident{Peak: Figure{Ratio: math.NaN()}}
	a.Window = &WindowFigures{Ratio: math.Inf(1), SlowRatio: math.NaN(), Quantile: math.Inf(-1)}
	data, err := json.Marshal(a)
	require.NoError(t, err, "NaN and infinities are written as 0")
	var got Alert
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, &WindowFigures{}, got.Window)

	_, res, span := newSpan(t)
	Encode(a, span)
	d, ok := Decode(res, span)
	require.True(t, ok)
	assert.NotNil(t, d.Incident)
	assert.NotNil(t, d.Window)
}

func TestLongHistogramIsMergedOnWrite(t *testing.T) {
	long := make([]HistogramBucket, 200)
	for i := range long {
		long[i] = HistogramBucket{UpperBound: time.Duration(i+1) * time.Millisecond, Count: 1}
	}
	a := sampleAlert()
	a.Window = &WindowFigures{Histogram: long}
	want := CompactHistogram(linearBounds(200), func() []int64 {
		c := make([]int64, 200)
		for i := range c {
			c[i] = 1
		}
		return c
	}(), MaxHistogramBuckets)

	_, res, span := newSpan(t)
	Encode(a, span)
	got, ok := Decode(res, span)
	require.True(t, ok)
	assert.Equal(t, want, got.Window.Histogram)

	data, err := json.Marshal(a)
	require.NoError(t, err)
	var line struct {
		Window struct {
			Histogram []any `json:"histogram"`
		} `json:"window"`
	}
	require.NoError(t, json.Unmarshal(data, &line))
	assert.Len(t, line.Window.Histogram, MaxHistogramBuckets, "written merged")
	assert.Len(t, a.Window.Histogram, 200, "the alert itself is left alone")
}

func TestDecodeDamagedIncidentDocuments(t *testing.T) {
	buckets := func(n int, count string, ascending bool) string {
		b := make([]string, n)
		for i := range b {
			bound := 1
			if ascending {
				bound = i + 1
			}
			b[i] = `{"upper_ms":` + strconv.Itoa(bound) + `,"count":` + count + `}`
		}
		return `{"histogram":[` + strings.Join(b, ",") + `]}`
	}
	longID := strings.Repeat(`\u001b[31m\u009bx`, 1000) // escaped in the JSON text
	for _, c := range []struct {
		name     string
		incident any // a string attribute, or another type
		window   any
		check    func(t *testing.T, a Alert)
	}{
		{name: "not json", incident: "{", window: "[]", check: func(t *testing.T, a Alert) {
			assert.Nil(t, a.Incident)
			assert.Nil(t, a.Window)
		}},
		{name: "wrong attribute type", incident: int64(3), window: true, check: func(t *testing.T, a Alert) {
			assert.Nil(t, a.Incident)
			assert.Nil(t, a.Window)
		}},
		{name: "wrong field types", incident: `{"id":7}`, window: `{"histogram":"x"}`, check: func(t *testing.T, a Alert) {
			assert.Nil(t, a.Incident)
			assert.Nil(t, a.Window)
		}},
		{name: "hostile strings", incident: `{"id":"` + longID + `","state":"firing\u0000","mode":"` + strings.Repeat("é", 100) + `"}`,
			check: func(t *testing.T, a Alert) {
				require.NotNil(t, a.Incident)
				assert.LessOrEqual(t, len(a.Incident.ID), maxEnumLength)
				assert.NotContains(t, a.Incident.ID, "\x1b")
				assert.Equal(t, IncidentFiring, a.Incident.State)
				assert.LessOrEqual(t, len(a.Incident.Mode), maxEnumLength)
				assert.False(t, a.Incident.Mode.Valid())
			}},
		{name: "ratios out of range", incident: `{"peak_ratio":5,"fired_ratio":-1}`, window: `{"quantile":99,"ratio":-0.5,"slow_ratio":1}`,
			check: func(t *testing.T, a Alert) {
				assert.Zero(t, a.Incident.Peak.Ratio)
				assert.Zero(t, a.Incident.Fired.Ratio)
				assert.Zero(t, a.Window.Quantile)
				assert.Zero(t, a.Window.Ratio)
				assert.InDelta(t, 1.0, a.Window.SlowRatio, 1e-12)
			}},
		{name: "hostile durations", window: `{"over_ms":1e300,"p99_ms":-1e300,"histogram":[{"upper_ms":1e300,"count":1}]}`,
			check: func(t *testing.T, a Alert) {
				assert.Zero(t, a.Window.Over)
				assert.Zero(t, a.Window.P99)
				assert.Nil(t, a.Window.Histogram, "a bound of 0 is not a bucket")
			}},
		{name: "huge histogram", window: buckets(10000, "1", true), check: func(t *testing.T, a Alert) {
			require.Len(t, a.Window.Histogram, MaxHistogramBuckets, "merged down")
			var total int64
			for _, b := range a.Window.Histogram {
				total += b.Count
			}
			assert.EqualValues(t, 10000, total)
			assert.Equal(t, 10*time.Second, a.Window.Histogram[MaxHistogramBuckets-1].UpperBound)
		}},
		{name: "equal bounds", window: buckets(3, "1", false), check: func(t *testing.T, a Alert) {
			assert.Nil(t, a.Window.Histogram, "not a histogram")
		}},
		{name: "histogram not ascending", window: `{"count":3,"histogram":[{"upper_ms":2,"count":1},{"upper_ms":1,"count":1}]}`,
			check: func(t *testing.T, a Alert) {
				assert.EqualValues(t, 3, a.Window.Count, "the rest of the document stays")
				assert.Nil(t, a.Window.Histogram)
			}},
		{name: "bucket after the unbounded one", window: `{"histogram":[{"count":1},{"upper_ms":1,"count":1}]}`,
			check: func(t *testing.T, a Alert) { assert.Nil(t, a.Window.Histogram) }},
		{name: "negative count", window: `{"histogram":[{"upper_ms":1,"count":-1}]}`,
			check: func(t *testing.T, a Alert) { assert.Nil(t, a.Window.Histogram) }},
		{name: "counts that overflow when merged", window: buckets(200, "9223372036854775807", true), check: func(t *testing.T, a Alert) {
			require.Len(t, a.Window.Histogram, MaxHistogramBuckets)
			for _, b := range a.Window.Histogram {
				assert.Equal(t, int64(math.MaxInt64), b.Count, "saturated, not wrapped")
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, res, span := newSpan(t)
			Encode(sampleAlert(), span)
			for attr, v := range map[string]any{AttrIncident: c.incident, AttrWindow: c.window} {
				if v != nil {
					require.NoError(t, span.Attributes().PutEmpty(attr).FromRaw(v))
				}
			}
			a, ok := Decode(res, span)
			require.True(t, ok, "a damaged document never fails the alert")
			assert.Equal(t, sampleAlert().Key, a.Key)
			c.check(t, a)

			// The JSON form reads the same documents the same way.
			line := map[string]any{"schema": 2, "id": "x", "service": "checkout"}
			for name, v := range map[string]any{"incident": c.incident, "window": c.window} {
				if s, ok := v.(string); ok && json.Valid([]byte(s)) {
					line[name] = json.RawMessage(s)
				} else if v != nil {
					line[name] = v
				}
			}
			data, err := json.Marshal(line)
			require.NoError(t, err)
			var j Alert
			require.NoError(t, json.Unmarshal(data, &j), "a damaged document never fails the line")
			assert.Equal(t, "checkout", j.Key.Service)
			c.check(t, j)
		})
	}
}

func TestSchema1StillDecodes(t *testing.T) {
	// A span written by a schema-1 processor.
	_, res, span := newSpan(t)
	attrs := span.Attributes()
	attrs.PutInt(AttrSchema, 1)
	attrs.PutStr(AttrID, "badc0f35923f2d914c78f68cd1850b00")
	attrs.PutStr(AttrReason, "escalation")
	attrs.PutStr(AttrService, "checkout")
	attrs.PutStr(AttrMethod, "GET")
	attrs.PutStr(AttrRoute, "/orders/{id}")
	attrs.PutInt(AttrThresholdNs, int64(500*time.Millisecond))
	attrs.PutInt(AttrSuppressedCount, 2)
	a, ok := Decode(res, span)
	require.True(t, ok)
	assert.Equal(t, ReasonEscalation, a.Reason)
	assert.Equal(t, Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"}, a.Key)
	assert.Equal(t, 500*time.Millisecond, a.Threshold)
	assert.EqualValues(t, 2, a.Suppressed.Count)
	assert.Nil(t, a.Incident)
	assert.Nil(t, a.Window)

	// A line of an alert file written by a schema-1 exporter.
	line := `{"schema":1,"id":"badc0f35923f2d914c78f68cd1850b00","reason":"window_expired","service":"checkout",` +
		`"method":"GET","route":"/orders/{id}","key":"6231116f57d7bb06","span_name":"GET /orders/{id}",` +
		`"duration_ms":2400,"threshold_ms":500,"trace_id":"00000000000000000000000000000001",` +
		`"span_id":"0000000000000001","start":"2026-11-27T10:00:00Z","suppressed":{"count":41}}`
	var j Alert
	require.NoError(t, json.Unmarshal([]byte(line), &j))
	assert.Equal(t, ReasonWindowExpired, j.Reason)
	assert.Equal(t, 2400*time.Millisecond, j.Duration)
	assert.Nil(t, j.Incident)
	assert.Nil(t, j.Window)
	out, err := json.Marshal(j)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"schema":2`, "rewritten in the current schema")
}

func linearBounds(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestCompactHistogram(t *testing.T) {
	ms := time.Millisecond
	ones := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	for _, c := range []struct {
		name   string
		bounds []time.Duration
		counts []int64
		max    int
		want   []HistogramBucket
	}{
		{name: "empty", want: nil},
		{name: "no counts", bounds: linearBounds(3), want: nil},
		{name: "fits", bounds: linearBounds(3), counts: []int64{1, 2, 3}, max: 3,
			want: []HistogramBucket{{1 * ms, 1}, {2 * ms, 2}, {3 * ms, 3}}},
		{name: "pairs", bounds: linearBounds(4), counts: []int64{1, 2, 3, 4}, max: 2,
			want: []HistogramBucket{{2 * ms, 3}, {4 * ms, 7}}},
		{name: "uneven runs", bounds: linearBounds(5), counts: []int64{1, 1, 1, 1, 1}, max: 2,
			want: []HistogramBucket{{2 * ms, 2}, {5 * ms, 3}}},
		{name: "one", bounds: linearBounds(5), counts: ones(5), max: 1,
			want: []HistogramBucket{{5 * ms, 5}}},
		{name: "unbounded last", bounds: []time.Duration{ms, 2 * ms, Unbounded}, counts: []int64{1, 1, 1}, max: 2,
			want: []HistogramBucket{{ms, 1}, {Unbounded, 2}}},
		{name: "longer counts ignored", bounds: linearBounds(2), counts: []int64{1, 2, 3}, max: 8,
			want: []HistogramBucket{{ms, 1}, {2 * ms, 2}}},
		{name: "saturates", bounds: linearBounds(2), counts: []int64{math.MaxInt64, 1}, max: 1,
			want: []HistogramBucket{{2 * ms, math.MaxInt64}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, CompactHistogram(c.bounds, c.counts, c.max))
		})
	}

	for _, n := range []int{1, 63, 64, 65, 127, 128, 129, 1058, 5000} {
		for _, most := range []int{-1, 0, 1, 7, 64, 65, 1000} {
			got := CompactHistogram(linearBounds(n), ones(n), most)
			limit := most
			if most < 1 || most > MaxHistogramBuckets {
				limit = MaxHistogramBuckets
			}
			require.Len(t, got, min(n, limit), "n=%d max=%d", n, most)
			var total int64
			lo, hi := int64(math.MaxInt64), int64(0)
			for i, b := range got {
				total += b.Count
				lo, hi = min(lo, b.Count), max(hi, b.Count)
				if i > 0 {
					require.Greater(t, b.UpperBound, got[i-1].UpperBound)
				}
			}
			assert.EqualValues(t, n, total, "every count kept")
			assert.LessOrEqual(t, hi-lo, int64(1), "runs as even as possible: n=%d max=%d", n, most)
			assert.Equal(t, time.Duration(n)*ms, got[len(got)-1].UpperBound, "the last bound stays")
		}
	}
}

func FuzzDecodeIncidentWindow(f *testing.F) {
	a := incidentCases()[0].a
	inc, _ := json.Marshal(a.Incident.toJSON())
	win, _ := json.Marshal(a.Window.toJSON())
	f.Add(string(inc), string(win))
	f.Add(`{"id":"\u001b[2J","state":null,"opened_at":"0000-01-01T00:00:00Z"}`, `{"histogram":[{"count":1},{"upper_ms":-1}]}`)
	f.Add(`{"resolved_at":"9999-12-31T23:59:59Z","peak_ms":1e308}`, `{"histogram":[{"upper_ms":1e-9,"count":1}]}`)
	f.Fuzz(func(t *testing.T, incident, window string) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.Attributes().PutInt(AttrSchema, 2)
		span.Attributes().PutStr(AttrIncident, incident)
		span.Attributes().PutStr(AttrWindow, window)
		got, ok := Decode(rs.Resource(), span)
		if !ok {
			t.Fatal("span with a schema attribute must decode")
		}
		checkBounded(t, got)

		// The JSON form: the same documents in a line.
		line := []byte(`{"schema":2,"incident":` + incident + `,"window":` + window + `}`)
		var j Alert
		if json.Unmarshal(line, &j) == nil {
			checkBounded(t, j)
		}

		// Whatever was read writes and reads back.
		out, err := json.Marshal(got)
		if err != nil {
			return // a time outside RFC 3339's range (existing fields too)
		}
		var back Alert
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-read of our own output failed: %v\n%s", err, out)
		}
		if (back.Incident == nil) != (got.Incident == nil) || (back.Window == nil) != (got.Window == nil) {
			t.Fatalf("documents lost in a round trip:\n%s", out)
		}
	})
}

func checkBounded(t *testing.T, a Alert) {
	t.Helper()
	if in := a.Incident; in != nil {
		for _, s := range []string{in.ID, string(in.State), string(in.Mode)} {
			if len(s) > maxEnumLength || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("unsanitised incident string %q", s)
			}
		}
		for _, r := range []float64{in.Fired.Ratio, in.Peak.Ratio} {
			if !(r >= 0 && r <= 1) {
				t.Fatalf("ratio %v out of range", r)
			}
		}
	}
	if w := a.Window; w != nil {
		if len(w.Histogram) > MaxHistogramBuckets {
			t.Fatalf("%d buckets", len(w.Histogram))
		}
		prev := time.Duration(0)
		for _, b := range w.Histogram {
			if b.UpperBound <= prev || b.Count < 0 {
				t.Fatalf("bad histogram %v", w.Histogram)
			}
			prev = b.UpperBound
		}
		for _, r := range []float64{w.Quantile, w.Ratio, w.SlowRatio} {
			if !(r >= 0 && r <= 1) {
				t.Fatalf("ratio %v out of range", r)
			}
		}
	}
}
