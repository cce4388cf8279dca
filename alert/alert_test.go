package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var (
	testTraceID = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	testSpanID  = pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	testStart   = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

func newSpan(t *testing.T) (ptrace.Traces, pcommon.Resource, ptrace.Span) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("GET /orders/{id}")
	span.SetKind(ptrace.SpanKindServer)
	span.SetTraceID(testTraceID)
	span.SetSpanID(testSpanID)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(testStart))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(testStart.Add(2400 * time.Millisecond)))
	span.Attributes().PutStr("http.route", "/orders/{id}")
	span.Attributes().PutInt("http.response.status_code", 200)
	return td, rs.Resource(), span
}

func sampleAlert() Alert {
	return Alert{
		ID:        NewID("0102030405060708090a0b0c0d0e0f10", "0102030405060708", ReasonWindowExpired),
		Key:       Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"},
		Reason:    ReasonWindowExpired,
		Rule:      "/orders/*",
		Threshold: 500 * time.Millisecond,
		Suppressed: Suppressed{
			Count:       41,
			MaxDuration: 3100 * time.Millisecond,
			Since:       testStart.Add(-240 * time.Hour),
		},
		Links: Links{Trace: "http://jaeger/trace/0102030405060708090a0b0c0d0e0f10"},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	td, res, span := newSpan(t)
	want := sampleAlert()
	Encode(want, span)

	got, ok := Decode(res, span)
	require.True(t, ok)
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Key, got.Key)
	assert.Equal(t, want.Reason, got.Reason)
	assert.Equal(t, want.Rule, got.Rule)
	assert.Equal(t, want.Threshold, got.Threshold)
	assert.Equal(t, want.Suppressed.Count, got.Suppressed.Count)
	assert.Equal(t, want.Suppressed.MaxDuration, got.Suppressed.MaxDuration)
	assert.True(t, want.Suppressed.Since.Equal(got.Suppressed.Since))
	assert.Equal(t, want.Links, got.Links)
	assert.Equal(t, 2400*time.Millisecond, got.Duration)
	assert.Equal(t, "0102030405060708090a0b0c0d0e0f10", got.TraceID)
	assert.Equal(t, "0102030405060708", got.SpanID)
	assert.True(t, testStart.Equal(got.Start))
	assert.Equal(t, "GET /orders/{id}", got.SpanName)
	assert.Equal(t, map[string]string{"http.route": "/orders/{id}", "http.response.status_code": "200"}, got.Attributes,
		"slowspan.* attributes stay out of Attributes")
	assert.Equal(t, map[string]string{"service.name": "checkout"}, got.Resource)
	assert.Equal(t, 1, Count(td))
}

func TestDecodeNotAnAlert(t *testing.T) {
	td, res, span := newSpan(t)
	_, ok := Decode(res, span)
	assert.False(t, ok)
	assert.False(t, IsAlert(span))
	assert.Equal(t, 0, Count(td))
}

func TestDecodeIsLenientAboutDamagedAttributes(t *testing.T) {
	_, res, span := newSpan(t)
	attrs := span.Attributes()
	attrs.PutStr(AttrSchema, "one")         // wrong type: still an alert
	attrs.PutInt(AttrReason, 7)             // wrong type: empty
	attrs.PutStr(AttrThresholdNs, "1s")     // wrong type: zero
	attrs.PutDouble(AttrSuppressedCount, 3) // double accepted
	attrs.PutStr("huge", strings.Repeat("x", 1<<20))
	attrs.PutStr("bad", "a\xffb")
	span.SetEndTimestamp(0) // end before start: no negative duration
	span.SetName("GET \x00\x1b[31m/x\u009b")

	a, ok := Decode(res, span)
	require.True(t, ok)
	assert.Equal(t, Reason(""), a.Reason)
	assert.Zero(t, a.Threshold)
	assert.EqualValues(t, 3, a.Suppressed.Count)
	assert.Zero(t, a.Duration)
	assert.LessOrEqual(t, len(a.Attributes["huge"]), MaxValueLength)
	assert.Equal(t, "a\uFFFDb", a.Attributes["bad"])
	assert.NotEmpty(t, a.ID, "a missing id is derived from the span")
	assert.Equal(t, "GET [31m/x", a.SpanName, "control characters never reach the name")
}

func TestDecodeCapsAttributeCount(t *testing.T) {
	_, res, span := newSpan(t)
	for i := range 1000 {
		span.Attributes().PutInt("k"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), int64(i))
	}
	Encode(sampleAlert(), span)
	a, ok := Decode(res, span)
	require.True(t, ok)
	assert.LessOrEqual(t, len(a.Attributes), MaxAttributes)
}

func TestAllYieldsEveryAlertAndStops(t *testing.T) {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", []string{"a", "b"}[r])
		for s := range 3 {
			span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			if s != 1 {
				Encode(Alert{Key: Key{Service: "svc", Route: "/r"}, Reason: ReasonFirst}, span)
			}
		}
	}
	assert.Equal(t, 4, Count(td))
	n := 0
	for range All(td) {
		n++
		break
	}
	assert.Equal(t, 1, n)
}

func TestKeyHashIsStable(t *testing.T) {
	// The hash names files and storage records: changing it orphans them.
	k := Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"}
	assert.Equal(t, "checkout GET /orders/{id}", k.String())
	assert.Equal(t, "checkout /x", Key{Service: "checkout", Route: "/x"}.String())
	assert.Len(t, k.Hash(), 16)
	assert.Equal(t, k.Hash(), Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"}.Hash())
	assert.NotEqual(t, k.Hash(), Key{Service: "checkoutGET", Route: "/orders/{id}"}.Hash(),
		"field boundaries are part of the hash")
	assert.Equal(t, "6231116f57d7bb06", k.Hash())
}

func TestNewIDIsDeterministic(t *testing.T) {
	a := NewID("t", "s", ReasonFirst)
	assert.Equal(t, a, NewID("t", "s", ReasonFirst))
	assert.NotEqual(t, a, NewID("t", "s", ReasonEscalation))
	assert.Len(t, a, 32)
}

func TestJSONRoundTrip(t *testing.T) {
	_, res, span := newSpan(t)
	Encode(sampleAlert(), span)
	want, ok := Decode(res, span)
	require.True(t, ok)

	data, err := json.Marshal(want)
	require.NoError(t, err)
	var got Alert
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, want.Duration, got.Duration)
	assert.True(t, want.Start.Equal(got.Start))
	assert.True(t, want.Suppressed.Since.Equal(got.Suppressed.Since))
	got.Start, want.Start = time.Time{}, time.Time{}
	got.Suppressed.Since, want.Suppressed.Since = time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func TestJSONFieldNames(t *testing.T) {
	_, res, span := newSpan(t)
	Encode(sampleAlert(), span)
	a, _ := Decode(res, span)
	data, err := json.Marshal(a)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(data, &fields))
	for _, name := range []string{"schema", "id", "reason", "service", "method", "route", "key", "rule", "span_name",
		"duration_ms", "threshold_ms", "trace_id", "span_id", "start", "suppressed", "links", "attributes", "resource"} {
		assert.Contains(t, fields, name)
	}
	assert.EqualValues(t, 2400, fields["duration_ms"])
	assert.EqualValues(t, 41, fields["suppressed"].(map[string]any)["count"])
}

func TestJSONRejectsNonAlerts(t *testing.T) {
	var a Alert
	require.Error(t, json.Unmarshal([]byte(`{"id":"x"}`), &a))
	require.Error(t, json.Unmarshal([]byte(`[`), &a))
}

func TestJSONHostileDurations(t *testing.T) {
	var a Alert
	require.NoError(t, json.Unmarshal([]byte(`{"schema":1,"duration_ms":1e300,"threshold_ms":-1e300}`), &a))
	assert.Zero(t, a.Duration)
	assert.Zero(t, a.Threshold)
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"schema":1,"id":"x","duration_ms":12.5,"suppressed":{"count":2,"since":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"schema":1,"attributes":{"a":"\u0000"}}`))
	f.Add([]byte(`{"schema":2,"reason":"resolved","incident":{"id":"i","state":"resolved","mode":"ratio","opened_at":"2026-01-01T00:00:00Z",` +
		`"resolved_at":"2026-01-01T00:10:00Z","peak_ratio":0.2},"window":{"over_ms":60000,"ratio":0.05,"slow_ratio":0.01,` +
		`"histogram":[{"upper_ms":1,"count":2},{"count":1}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Alert
		if err := json.Unmarshal(data, &a); err != nil {
			return
		}
		out, err := json.Marshal(a)
		if err != nil {
			// Only a time outside RFC 3339's range can fail to marshal.
			return
		}
		var b Alert
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("re-read of our own output failed: %v\n%s", err, out)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add("first", "/a", int64(5), "x")
	f.Add("\xff", "", int64(-1), "<script>")
	f.Fuzz(func(t *testing.T, reason, route string, n int64, val string) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", val)
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.Attributes().PutInt(AttrSchema, n)
		span.Attributes().PutStr(AttrReason, reason)
		span.Attributes().PutStr(AttrRoute, route)
		span.Attributes().PutInt(AttrSuppressedSince, n)
		span.Attributes().PutInt(AttrThresholdNs, n)
		span.Attributes().PutStr(val, val)
		span.SetStartTimestamp(pcommon.Timestamp(uint64(n)))
		a, ok := Decode(rs.Resource(), span)
		if !ok {
			t.Fatal("span with a schema attribute must decode")
		}
		if _, err := json.Marshal(a); err != nil && !strings.Contains(err.Error(), "year") {
			t.Fatalf("marshal: %v", err)
		}
	})
}

// TestTimelineJSON: the child spans' timeline survives the JSON form, and a
// damaged one reads back bounded, with group indices that are safe to use.
func TestTimelineJSON(t *testing.T) {
	b := &Breakdown{
		Children: []ChildGroup{{Kind: "client", Name: "SELECT", Count: 2}},
		Spans: []ChildSpan{
			{Group: 0, Offset: 5 * time.Millisecond, Duration: 40 * time.Millisecond},
			{Group: -1, Offset: 50 * time.Millisecond, Duration: time.Millisecond},
		},
		SpansOmitted: 3,
	}
	data, err := json.Marshal(Alert{ID: "x", Breakdown: b})
	require.NoError(t, err)
	assert.Contains(t, string(data), `"spans":[{"group":0,"offset_ms":5,"duration_ms":40},{"group":-1,"offset_ms":50,"duration_ms":1}],"spans_omitted":3`)
	var got Alert
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, b, got.Breakdown)

	var spans []string
	for i := range MaxTimelineSpans + 5 {
		spans = append(spans, fmt.Sprintf(`{"group":%d,"offset_ms":-1,"duration_ms":-2}`, i%3))
	}
	line := `{"schema":2,"id":"x","breakdown":{"self_time_ms":0,"children":[{"kind":"client","name":"a","count":1}],"spans":[` +
		strings.Join(spans, ",") + `],"spans_omitted":-7}}`
	require.NoError(t, json.Unmarshal([]byte(line), &got))
	require.Len(t, got.Breakdown.Spans, MaxTimelineSpans)
	assert.Equal(t, 5, got.Breakdown.SpansOmitted)
	for _, sp := range got.Breakdown.Spans {
		assert.Contains(t, []int{0, -1}, sp.Group, "only a listed group, else -1")
		assert.Zero(t, sp.Offset)
		assert.Zero(t, sp.Duration)
	}
}
