package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/enginetest"
)

var (
	slowTrace = pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	slowSpan  = pcommon.SpanID{0xaa, 1, 2, 3, 4, 5, 6, 7}
)

// request builds a slow server span and, optionally, children of it.
func request(dur time.Duration) (ptrace.Traces, ptrace.SpanSlice) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	sp := spans.AppendEmpty()
	sp.SetTraceID(slowTrace)
	sp.SetSpanID(slowSpan)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetName("GET /checkout")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(dur)))
	sp.Attributes().PutStr("http.route", "/checkout")
	sp.Attributes().PutStr("pyroscope.profile.id", "aa01020304050607")
	return td, spans
}

// child appends a child of the slow span; at and dur are relative to its start.
func child(spans ptrace.SpanSlice, kind ptrace.SpanKind, name string, at, dur time.Duration, attrs map[string]any) {
	c := spans.AppendEmpty()
	c.SetTraceID(slowTrace)
	c.SetSpanID(pcommon.SpanID{byte(spans.Len()), 0xcc})
	c.SetParentSpanID(slowSpan)
	c.SetKind(kind)
	c.SetName(name)
	c.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
	c.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(at + dur)))
	_ = c.Attributes().FromRaw(attrs)
}

// linkedProfile is an OTLP profile with samples linked to (tid, sid).
var linkedProfile = enginetest.LinkedProfile

var burnStack = []string{"main.burnCPU", "main.checkout", "net/http.HandlerFunc.ServeHTTP"}

func TestProfileBeforeSpan(t *testing.T) {
	e, _ := newEngine(t, func(c *Config) {
		c.Links.Profile = "http://pyroscope/?id={{.ProfileID}}&from={{.StartUnixMilli}}"
	})
	assert.Equal(t, 3, e.IndexProfiles(linkedProfile(slowTrace, slowSpan, burnStack, burnStack, burnStack)).Kept)
	td, _ := request(2 * time.Second)
	got := alerts(e.Process(t.Context(), td, 0))
	require.Len(t, got, 1)
	p := got[0].Profile
	require.NotNil(t, p, "the profile that arrived first is attached at once")
	assert.Equal(t, "main.burnCPU", p.TopFunctions[0].Name)
	assert.Equal(t, "main.burnCPU", p.HottestFrame)
	assert.Equal(t, 30*time.Millisecond, p.CPUTime)
	assert.Equal(t, 2*time.Second, p.WallTime)
	assert.NotEmpty(t, p.Pprof)
	assert.Equal(t, fmt.Sprintf("http://pyroscope/?id=aa01020304050607&from=%d", t0.UnixMilli()), got[0].Links.Profile)
	assert.Equal(t, 0, e.ProfileSamples(), "taken by the alert")
}

func TestSpanBeforeProfileAndChildrenAcrossBatches(t *testing.T) {
	e, clk := newEngine(t, func(c *Config) { c.Correlation.Wait = 15 * time.Second })

	// Batch 1: the slow span and the first children (N+1 queries).
	td, spans := request(2 * time.Second)
	for i := range 30 {
		child(spans, ptrace.SpanKindClient, "SELECT shop.orders", time.Duration(i)*40*time.Millisecond, 30*time.Millisecond,
			map[string]any{"db.system": "postgresql", "db.statement": fmt.Sprintf("SELECT * FROM orders WHERE id = %d AND owner = 'x%d'", i, i)})
	}
	res := e.Process(t.Context(), td, 0)
	assert.Equal(t, 0, res.Alerts, "the alert waits")
	assert.EqualValues(t, 1, res.Stats.AlertsFor(alert.ReasonFirst))
	assert.Equal(t, 1, e.Pending())

	// Batch 2, later: more of the same children, an HTTP call, an unrelated span.
	td2 := ptrace.NewTraces()
	s2 := td2.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := 30; i < 42; i++ {
		child(s2, ptrace.SpanKindClient, "SELECT shop.orders", time.Duration(i)*40*time.Millisecond, 30*time.Millisecond,
			map[string]any{"db.system": "postgresql", "db.statement": fmt.Sprintf("SELECT * FROM orders WHERE id = %d AND owner = 'y'", i)})
	}
	child(s2, ptrace.SpanKindClient, "POST", 1700*time.Millisecond, 250*time.Millisecond,
		map[string]any{"http.request.method": "POST", "server.address": "payments.internal", "url.full": "https://payments.internal/charge/123?card=secret"})
	other := s2.AppendEmpty()
	other.SetTraceID(pcommon.TraceID{9})
	other.SetParentSpanID(slowSpan) // same span id, other trace: not a child
	assert.Equal(t, 0, e.Process(t.Context(), td2, 0).Alerts)

	// The profile arrives after the span.
	e.IndexProfiles(linkedProfile(slowTrace, slowSpan, burnStack))

	clk.now = t0.Add(14 * time.Second)
	assert.Empty(t, e.Due(clk.now, false), "not due yet")
	clk.now = t0.Add(15 * time.Second)
	ds := e.Due(clk.now, false)
	require.Len(t, ds, 1)
	require.Equal(t, 1, ds[0].Alerts)
	assert.Equal(t, 0, e.Pending())

	got := alerts(ds[0])
	require.Len(t, got, 1)
	b := got[0].Breakdown
	require.NotNil(t, b)
	require.Len(t, b.Children, 2)
	db := b.Children[0]
	assert.Equal(t, 42, db.Count, "N+1: 42 queries folded into one line")
	assert.Equal(t, "client", db.Kind)
	assert.Equal(t, "postgresql SELECT * FROM orders WHERE id = ? AND owner = ?", db.Description, "literals never reach an alert")
	assert.Equal(t, 42*30*time.Millisecond, db.Total)
	assert.Equal(t, time.Duration(0), db.Offset)
	httpCall := b.Children[1]
	assert.Equal(t, "POST payments.internal /charge/{id}", httpCall.Description)
	assert.Equal(t, 1700*time.Millisecond, httpCall.Offset)
	assert.Equal(t, 2*time.Second-42*30*time.Millisecond-250*time.Millisecond, b.SelfTime)
	require.NotNil(t, got[0].Profile)
	assert.Equal(t, "main.burnCPU", got[0].Profile.HottestFrame)

	// The diagnosis names the N+1 and flags its group.
	d := got[0].Diagnosis
	require.NotNil(t, d)
	assert.Equal(t, alert.DiagnosisNPlusOne, d.Kind, d.Text)
	assert.Equal(t, "N+1: 42 x the same postgresql query took 1.26 s of 2.00 s: SELECT * FROM orders WHERE id = ? AND owner = ?", d.Text)
	assert.Equal(t, alert.PatternNPlusOne, db.Pattern)
	assert.Equal(t, db.Total, db.Busy, "the queries ran one after another")
	require.Len(t, b.Spans, 43, "the timeline holds every child")
	assert.Equal(t, alert.ChildSpan{Group: 0, Offset: 40 * time.Millisecond, Duration: 30 * time.Millisecond}, b.Spans[1])
	assert.Equal(t, alert.ChildSpan{Group: 1, Offset: 1700 * time.Millisecond, Duration: 250 * time.Millisecond}, b.Spans[42], "by start")
	assert.Equal(t, alert.TimeAccount{OnCPU: 10 * time.Millisecond, Children: 42*30*time.Millisecond + 250*time.Millisecond,
		OffCPU: 2*time.Second - 42*30*time.Millisecond - 250*time.Millisecond - 10*time.Millisecond}, d.Time)
}

func TestAlertGoesOutWithoutChildrenOrProfile(t *testing.T) {
	e, clk := newEngine(t, func(c *Config) { c.Correlation.Wait = time.Second })
	td, _ := request(2 * time.Second)
	e.Process(t.Context(), td, 0)
	clk.now = clk.now.Add(time.Second)
	ds := e.Due(clk.now, false)
	require.Len(t, ds, 1)
	got := alerts(ds[0])
	require.Len(t, got, 1)
	assert.Nil(t, got[0].Breakdown)
	assert.Nil(t, got[0].Profile)
	require.NotNil(t, got[0].Diagnosis)
	assert.Equal(t, alert.DiagnosisUnknown, got[0].Diagnosis.Kind, "nothing tells CPU from waiting")
}

func TestMaxPendingSendsAtOnce(t *testing.T) {
	e, _ := newEngine(t, func(c *Config) {
		c.Correlation.Wait = time.Minute
		c.Correlation.MaxPending = 1
	})
	td := build(t, server(2*time.Second, map[string]any{"http.route": "/a"}), server(2*time.Second, map[string]any{"http.route": "/b"}))
	res := e.Process(t.Context(), td, 0)
	assert.Equal(t, 1, res.Alerts, "the second alert finds the pending set full and goes out now")
	assert.Equal(t, 1, e.Pending())
}

func TestSameBatchChildrenWithoutWait(t *testing.T) {
	e, _ := newEngine(t, nil)
	td, spans := request(time.Second)
	child(spans, ptrace.SpanKindClient, "GET", 100*time.Millisecond, 800*time.Millisecond,
		map[string]any{"http.method": "GET", "net.peer.name": "inventory", "http.url": "http://inventory/items/42"})
	child(spans, ptrace.SpanKindInternal, "render", 850*time.Millisecond, 100*time.Millisecond, nil)
	got := alerts(e.Process(t.Context(), td, 0))
	require.Len(t, got, 1)
	require.NotNil(t, got[0].Breakdown)
	assert.Equal(t, "GET inventory /items/{id}", got[0].Breakdown.Children[0].Description)
	assert.Equal(t, "render", got[0].Breakdown.Children[1].Name)
	assert.Equal(t, 150*time.Millisecond, got[0].Breakdown.SelfTime, "overlapping children count once")
	require.NotNil(t, got[0].Diagnosis)
	assert.Equal(t, alert.DiagnosisDownstream, got[0].Diagnosis.Kind)
	assert.Equal(t, "Downstream: GET inventory /items/{id} took 800 ms of 1.00 s", got[0].Diagnosis.Text)
}
