package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/versiondiff"
)

func regressionConfig() *Config {
	cfg := windowedConfig(ModeRegression)
	cfg.Threshold = 100 * time.Millisecond
	return cfg
}

// versionTraffic is n requests of route at version ver, each taking dur,
// with the given child spans (name, description, duration, all from the
// request's start); when cpu is set, a CPU profile linked to each request
// (10 ms per stack) is indexed first.
type versionTraffic struct {
	route    string
	n        int
	dur      time.Duration
	children []childSpec
	cpu      [][]string
}

type childSpec struct {
	name, query string
	dur         time.Duration
}

func versionBatch(e *Engine, seq *uint32, at time.Time, ver string, routes ...versionTraffic) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	if ver != "" {
		rs.Resource().Attributes().PutStr("service.version", ver)
	}
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for _, r := range routes {
		for range r.n {
			*seq++
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			binary.BigEndian.PutUint32(tid[:], *seq)
			tid[15] = 2
			binary.BigEndian.PutUint32(sid[:], *seq)
			sid[7] = 2
			sp := spans.AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetName("GET " + r.route)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(r.dur)))
			sp.Attributes().PutStr("http.request.method", "GET")
			sp.Attributes().PutStr("http.route", r.route)
			for i, c := range r.children {
				ch := spans.AppendEmpty()
				ch.SetTraceID(tid)
				ch.SetSpanID(pcommon.SpanID{byte(i + 1), 0xcc, byte(*seq >> 8), byte(*seq)})
				ch.SetParentSpanID(sid)
				ch.SetKind(ptrace.SpanKindClient)
				ch.SetName(c.name)
				ch.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
				ch.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(c.dur)))
				ch.Attributes().PutStr("db.system", "postgresql")
				ch.Attributes().PutStr("db.query.text", c.query)
			}
			if len(r.cpu) > 0 {
				e.IndexProfiles(linkedProfile(tid, sid, r.cpu...))
			}
		}
	}
	return td
}

func repeatStack(stack []string, n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = stack
	}
	return out
}

var (
	// Leaf first, as pprof stacks are.
	renderStack  = []string{"main.render", "main.report", "net/http.HandlerFunc.ServeHTTP"}
	hotLoopStack = []string{"main.checksumLoop", "main.report", "net/http.HandlerFunc.ServeHTTP"}
	ordersQuery  = childSpec{name: "SELECT orders", query: "SELECT * FROM orders WHERE user_id = 1", dur: 80 * time.Millisecond}
	auditQuery   = childSpec{name: "SELECT audit", query: "SELECT * FROM audit_log WHERE user_id = 1", dur: 250 * time.Millisecond}
)

func TestRegressionAfterADeploy(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, regressionConfig(), c)
	var seq uint32

	v10 := []versionTraffic{
		{route: "/orders", n: 50, dur: 150 * time.Millisecond, children: []childSpec{ordersQuery}},
		{route: "/report", n: 50, dur: 150 * time.Millisecond, cpu: repeatStack(renderStack, 3)},
		{route: "/health", n: 50, dur: 150 * time.Millisecond},
		{route: "/rare", n: 50, dur: 150 * time.Millisecond},
	}
	got := delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "1.0", v10...), 0))
	assert.Empty(t, got, "a first version compares with nothing")

	c.advance(time.Minute)
	v11 := []versionTraffic{
		{route: "/orders", n: 50, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}},
		{route: "/report", n: 50, dur: 400 * time.Millisecond,
			cpu: append(repeatStack(renderStack, 3), repeatStack(hotLoopStack, 25)...)},
		{route: "/health", n: 50, dur: 155 * time.Millisecond},
		{route: "/rare", n: 5, dur: 900 * time.Millisecond},
	}
	got = delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "1.1", v11...), 0))
	for range 3 {
		c.advance(30 * time.Second)
		for _, b := range e.Due(c.now, false) {
			got = append(got, delivered(t, b)...)
		}
	}
	require.Len(t, got, 2, "exactly the two changed routes")
	byRoute := map[string]alert.Alert{}
	for _, a := range got {
		assert.Equal(t, alert.ReasonRegression, a.Reason)
		byRoute[a.Key.Route] = a
	}
	for _, route := range []string{"/orders", "/report"} {
		a, ok := byRoute[route]
		require.True(t, ok, route)
		require.NotNil(t, a.Regression, route)
		r := a.Regression
		assert.Equal(t, "1.0", r.Before.Version)
		assert.Equal(t, "1.1", r.After.Version)
		require.NotNil(t, r.Before.Window)
		require.NotNil(t, r.After.Window)
		assert.InEpsilon(t, float64(150*time.Millisecond), float64(r.Before.Window.QuantileValue), 0.05)
		assert.InEpsilon(t, float64(400*time.Millisecond), float64(r.After.Window.QuantileValue), 0.05)
		assert.Equal(t, 0.95, r.After.Window.Quantile)
		require.NotNil(t, a.Incident)
		assert.Equal(t, alert.ModeQuantile, a.Incident.Mode)
		require.NotEmpty(t, r.Changes, route)
	}
	orders := byRoute["/orders"].Regression
	assert.Equal(t, alert.ChangeChild, orders.Changes[0].Kind)
	assert.Contains(t, orders.Changes[0].Description, "audit_log")
	assert.True(t, orders.Changes[0].New)
	require.NotNil(t, orders.Before.Breakdown)
	require.NotNil(t, orders.After.Breakdown)

	report := byRoute["/report"].Regression
	assert.Equal(t, alert.ChangeFunction, report.Changes[0].Kind)
	assert.Equal(t, "main.checksumLoop", report.Changes[0].Description)
	assert.NotEmpty(t, report.Before.Stacks)
	assert.NotEmpty(t, report.After.Stacks)
	assert.Contains(t, versiondiff.Top(report.Changes), "main.checksumLoop")

	// delivered decoded the alerts: the regression went through the wire.
}

func TestRegressionNeedsTrafficAndAFloor(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, regressionConfig(), c)
	var seq uint32
	// 10 ms to 40 ms: four times slower, but under min_delta (100ms).
	got := delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "1.0",
		versionTraffic{route: "/fast", n: 50, dur: 10 * time.Millisecond},
		versionTraffic{route: "/slow", n: 5, dur: 150 * time.Millisecond}), 0))
	c.advance(time.Minute)
	got = append(got, delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "1.1",
		versionTraffic{route: "/fast", n: 50, dur: 40 * time.Millisecond},
		// The previous version had too little traffic to be a baseline.
		versionTraffic{route: "/slow", n: 50, dur: 900 * time.Millisecond}), 0))...)
	for range 3 {
		c.advance(30 * time.Second)
		for _, b := range e.Due(c.now, false) {
			got = append(got, delivered(t, b)...)
		}
	}
	assert.Empty(t, got)
}

func TestRegressionVersionlessSpansAndRollout(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, regressionConfig(), c)
	var seq uint32
	got := delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "",
		versionTraffic{route: "/a", n: 50, dur: 150 * time.Millisecond}), 0))
	c.advance(time.Minute)
	// During the rollout the old version still serves: it does not
	// become current again, and the new one fires on its own window.
	got = append(got, delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "2.0",
		versionTraffic{route: "/a", n: 10, dur: 500 * time.Millisecond}), 0))...)
	got = append(got, delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "",
		versionTraffic{route: "/a", n: 30, dur: 150 * time.Millisecond}), 0))...)
	require.Empty(t, got, "2.0 has 10 requests, under min_count")
	got = append(got, delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, "2.0",
		versionTraffic{route: "/a", n: 20, dur: 500 * time.Millisecond}), 0))...)
	c.advance(30 * time.Second)
	for _, b := range e.Due(c.now, false) {
		got = append(got, delivered(t, b)...)
	}
	require.Len(t, got, 1)
	assert.Equal(t, alert.ReasonRegression, got[0].Reason)
	assert.Equal(t, "", got[0].Regression.Before.Version)
	assert.Equal(t, "2.0", got[0].Regression.After.Version)
	assert.Equal(t, int64(80), got[0].Regression.Before.Window.Count,
		"the baseline follows the previous version while it still serves")
}

// A restart keeps the baseline, and the version windows: 1.1 after the
// restart compares with the 1.0 of before it.
func TestRegressionBaselineSurvivesARestart(t *testing.T) {
	storageID := component.MustNewID("disk")
	host := storagetest.NewStorageHost().WithExtension(storageID, newDisk())
	cfg := regressionConfig()
	cfg.Dedup.Storage = &storageID
	id := component.MustNewID("slowspan")
	c := &clock{now: t0}
	var seq uint32

	first := newWindowed(t, cfg, c)
	require.NoError(t, first.Start(t.Context(), host, component.KindProcessor, id))
	require.Empty(t, delivered(t, first.Process(t.Context(), versionBatch(first, &seq, c.now, "1.0",
		versionTraffic{route: "/orders", n: 50, dur: 150 * time.Millisecond, children: []childSpec{ordersQuery}}), 0)))
	c.advance(time.Minute)
	// 1.1 starts, with too few requests to judge yet: 1.0 is its baseline.
	require.Empty(t, delivered(t, first.Process(t.Context(), versionBatch(first, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 10, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}}), 0)))
	require.NoError(t, first.Shutdown(t.Context()))

	c.advance(10 * time.Second)
	second := newWindowed(t, cfg, c)
	require.NoError(t, second.Start(t.Context(), host, component.KindProcessor, id))
	defer func() { require.NoError(t, second.Shutdown(t.Context())) }()
	got := delivered(t, second.Process(t.Context(), versionBatch(second, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 10, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}}), 0))
	require.Len(t, got, 1)
	r := got[0].Regression
	require.NotNil(t, r)
	assert.Equal(t, "1.0", r.Before.Version)
	require.NotNil(t, r.Before.Breakdown, "the exemplar of 1.0 was kept")
	assert.Equal(t, int64(20), r.After.Window.Count, "the window of 1.1 was kept: 10 + 10 requests")
	require.NotEmpty(t, r.Changes)
	assert.Contains(t, r.Changes[0].Description, "audit_log")
}

// A crash after the deploy (no Shutdown): the versions were saved when 1.1
// arrived, so the baseline survives.
func TestRegressionBaselineSurvivesACrash(t *testing.T) {
	storageID := component.MustNewID("disk")
	host := storagetest.NewStorageHost().WithExtension(storageID, newDisk())
	cfg := regressionConfig()
	cfg.Dedup.Storage = &storageID
	id := component.MustNewID("slowspan")
	c := &clock{now: t0}
	var seq uint32

	first := newWindowed(t, cfg, c)
	require.NoError(t, first.Start(t.Context(), host, component.KindProcessor, id))
	require.Empty(t, delivered(t, first.Process(t.Context(), versionBatch(first, &seq, c.now, "1.0",
		versionTraffic{route: "/orders", n: 50, dur: 150 * time.Millisecond, children: []childSpec{ordersQuery}}), 0)))
	first.SaveState(t.Context())
	c.advance(time.Minute)
	require.Empty(t, delivered(t, first.Process(t.Context(), versionBatch(first, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 10, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}}), 0)))
	first.SaveState(t.Context())
	// first crashes here.

	c.advance(10 * time.Second)
	second := newWindowed(t, cfg, c)
	require.NoError(t, second.Start(t.Context(), host, component.KindProcessor, id))
	defer func() { require.NoError(t, second.Shutdown(t.Context())) }()
	got := delivered(t, second.Process(t.Context(), versionBatch(second, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 20, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}}), 0))
	require.Len(t, got, 1)
	r := got[0].Regression
	require.NotNil(t, r)
	assert.Equal(t, "1.0", r.Before.Version)
	require.NotNil(t, r.Before.Breakdown, "the exemplar of 1.0 was saved with the baseline")
}

// The versions are saved while batches record (the wrapper's loop saves
// every few seconds): run with -race, the save copies what batches change.
func TestRegressionVersionsSaveWhileRecording(t *testing.T) {
	storageID := component.MustNewID("disk")
	host := storagetest.NewStorageHost().WithExtension(storageID, newDisk())
	cfg := regressionConfig()
	cfg.Dedup.Storage = &storageID
	c := &clock{now: t0}
	e := newWindowed(t, cfg, c)
	require.NoError(t, e.Start(t.Context(), host, component.KindProcessor, component.MustNewID("slowspan")))
	defer func() { require.NoError(t, e.Shutdown(t.Context())) }()
	var seq uint32
	batches := make([]ptrace.Traces, 0, 40)
	for i := range cap(batches) {
		batches = append(batches, versionBatch(e, &seq, t0, fmt.Sprintf("1.%d", i%4),
			versionTraffic{route: "/orders", n: 5, dur: 150 * time.Millisecond}))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			e.SaveState(context.Background())
		}
	}()
	for _, td := range batches {
		_ = e.Process(t.Context(), td, 0)
		e.windows.versionsChanged.Store(true)
	}
	<-done
}
