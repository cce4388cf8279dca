package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
)

func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

func windowedConfig(mode string) *Config {
	cfg := NewDefaultConfig()
	cfg.Trigger.Mode = mode
	cfg.Alerts.MaxPerMinute = 0
	return cfg
}

func newWindowed(t *testing.T, cfg *Config, c *clock) *Engine {
	t.Helper()
	e, err := New(cfg, Settings{Now: c.Now})
	require.NoError(t, err)
	return e
}

// requests builds one batch of server spans of /api/report, one trace each
// (ids from seq), with the given durations.
func requests(seq *uint32, durs ...time.Duration) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for _, d := range durs {
		*seq++
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		binary.BigEndian.PutUint32(tid[:], *seq)
		tid[15] = 1
		binary.BigEndian.PutUint32(sid[:], *seq)
		sid[7] = 1
		sp := spans.AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetName("GET /api/report")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(d)))
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutStr("http.route", "/api/report")
	}
	return td
}

// delivered decodes batches' alert spans and commits them.
func delivered(t *testing.T, bs ...Batch) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, b := range bs {
		if b.Alerts == 0 {
			continue
		}
		for a := range alert.All(b.Traces) {
			out = append(out, a)
		}
		b.Commit(context.Background())
	}
	return out
}

// p95Durations are n durations whose nearest-rank p95 is exactly p95:
// (i+1)·p95/ceil(0.95·n), shuffled.
func p95Durations(n int, p95 time.Duration, seed uint64) []time.Duration {
	rank := (95*n + 99) / 100
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * p95 / time.Duration(rank)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestQuantileFiresOnceWithTheWindowsP95(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, windowedConfig(ModeQuantile), c)
	var seq uint32
	durs := p95Durations(1000, 1200*time.Millisecond, 7)

	got := delivered(t, e.Process(context.Background(), requests(&seq, durs...), 0))
	require.Len(t, got, 1)
	a := got[0]
	assert.Equal(t, alert.ReasonQuantile, a.Reason)
	require.NotNil(t, a.Incident)
	require.NotNil(t, a.Window)
	assert.Equal(t, alert.IncidentFiring, a.Incident.State)
	assert.Equal(t, alert.ModeQuantile, a.Incident.Mode)
	assert.InEpsilon(t, float64(1200*time.Millisecond), float64(a.Window.P95), 0.02)
	assert.InEpsilon(t, float64(1200*time.Millisecond), float64(a.Window.QuantileValue), 0.02)
	assert.Equal(t, int64(1000), a.Window.Count)
	assert.Equal(t, 0.95, a.Window.Quantile)
	assert.NotEmpty(t, a.Window.Histogram)
	// The evidence is the worst request of the window.
	assert.Equal(t, time.Duration(1000)*1200*time.Millisecond/950, a.Duration)
	assert.Equal(t, a.Incident.ID, alert.NewIncidentID(a.Key, t0))

	// More slow traffic and the timer: the incident stays open, silent.
	for range 10 {
		c.advance(10 * time.Second)
		got = delivered(t, e.Process(context.Background(), requests(&seq, durs[:100]...), 0))
		got = append(got, delivered(t, e.Due(c.now, false)...)...)
		require.Empty(t, got)
	}
	assert.Equal(t, 1, e.OpenIncidents())
}

func TestOutlierFiresInSpanModeOnly(t *testing.T) {
	durs := make([]time.Duration, 1001)
	for i := range durs {
		durs[i] = time.Duration(20+i%50) * time.Millisecond
	}
	durs[500] = 5 * time.Second
	for _, tc := range []struct {
		mode string
		want []alert.Reason
	}{
		{ModeSpan, []alert.Reason{alert.ReasonFirst}},
		{ModeQuantile, nil},
		{ModeRatio, nil},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			c := &clock{now: t0}
			e := newWindowed(t, windowedConfig(tc.mode), c)
			var seq uint32
			got := delivered(t, e.Process(context.Background(), requests(&seq, durs...), 0))
			c.advance(time.Minute)
			got = append(got, delivered(t, e.Due(c.now, false)...)...)
			var reasons []alert.Reason
			for _, a := range got {
				reasons = append(reasons, a.Reason)
			}
			assert.Equal(t, tc.want, reasons)
		})
	}
}

// run feeds one batch of n requests a second (slow: all slow) for d, with
// the timer every 5 s, and returns the alerts.
func run(t *testing.T, e *Engine, c *clock, seq *uint32, d time.Duration, slow bool) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	dur := 50 * time.Millisecond
	if slow {
		dur = 3 * time.Second
	}
	for end := c.now.Add(d); c.now.Before(end); c.advance(5 * time.Second) {
		out = append(out, delivered(t, e.Process(context.Background(), requests(seq, dur, dur, dur, dur, dur), 0))...)
		out = append(out, delivered(t, e.Due(c.now, false)...)...)
	}
	return out
}

func reasonsOf(as []alert.Alert) []alert.Reason {
	var out []alert.Reason
	for _, a := range as {
		out = append(out, a.Reason)
	}
	return out
}

func TestRecoveryResolvesOnceAfterResolveAfter(t *testing.T) {
	for _, mode := range []string{ModeQuantile, ModeRatio} {
		t.Run(mode, func(t *testing.T) {
			c := &clock{now: t0}
			e := newWindowed(t, windowedConfig(mode), c)
			var seq uint32
			got := run(t, e, c, &seq, 2*time.Minute, true)
			require.Equal(t, []alert.Reason{alert.Reason(mode)}, reasonsOf(got))
			firing := got[0]

			// Fast again: the slow requests leave the 5m window, then the
			// incident resolves 10m (resolve.after) after the condition was
			// last true, once.
			recovered := c.now
			got = run(t, e, c, &seq, 30*time.Minute, false)
			require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
			res := got[0]
			require.NotNil(t, res.Incident)
			assert.Equal(t, firing.Incident.ID, res.Incident.ID)
			assert.Equal(t, alert.IncidentResolved, res.Incident.State)
			assert.True(t, res.Incident.SlowCount >= firing.Incident.SlowCount)
			open := res.Incident.ResolvedAt.Sub(recovered)
			assert.True(t, open >= 10*time.Minute && open <= 5*time.Minute+10*time.Minute+15*time.Second,
				"resolved %v after recovery", open)
			assert.Zero(t, e.OpenIncidents())
		})
	}
}

func TestFlappingOpensOneIncidentPerResolveAfter(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, windowedConfig(ModeRatio), c)
	var seq uint32
	var got []alert.Alert
	// Slow for a minute, fast for four, for an hour: the condition flaps
	// well within resolve.after (10m).
	for range 12 {
		got = append(got, run(t, e, c, &seq, time.Minute, true)...)
		got = append(got, run(t, e, c, &seq, 4*time.Minute, false)...)
	}
	assert.Equal(t, []alert.Reason{alert.ReasonRatio}, reasonsOf(got))
}

// An incident open when the collector is killed (no Shutdown) resolves
// after the restart with the same id; its firing alert is not repeated.
func TestIncidentSurvivesKill(t *testing.T) {
	storageID := component.MustNewID("disk")
	disk := newDisk()
	host := storagetest.NewStorageHost().WithExtension(storageID, disk)
	cfg := windowedConfig(ModeQuantile)
	cfg.Dedup.Storage = &storageID
	id := component.MustNewID("slowspan")

	c := &clock{now: t0}
	first := newWindowed(t, cfg, c)
	require.NoError(t, first.Start(context.Background(), host, component.KindProcessor, id))
	var seq uint32
	got := run(t, first, c, &seq, time.Minute, true)
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	firing := got[0]
	// Killed: no Shutdown. The next run reads what reached the disk.
	second := newWindowed(t, cfg, c)
	require.NoError(t, second.Start(context.Background(), host, component.KindProcessor, id))
	defer func() { require.NoError(t, second.Shutdown(context.Background())) }()
	assert.Equal(t, 1, second.OpenIncidents())

	// Still slow after the restart: no second firing. Then recovery.
	got = run(t, second, c, &seq, time.Minute, true)
	got = append(got, run(t, second, c, &seq, 30*time.Minute, false)...)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
	assert.Equal(t, firing.Incident.ID, got[0].Incident.ID)
}

// An incident that has been firing longer than resolve.after when the
// collector is killed is still open after the restart: the periodic save
// (SaveState, every few seconds in the pipeline) keeps when its condition
// was last true, not only when its last alert went out.
func TestLongIncidentSurvivesKill(t *testing.T) {
	storageID := component.MustNewID("disk")
	disk := newDisk()
	host := storagetest.NewStorageHost().WithExtension(storageID, disk)
	cfg := windowedConfig(ModeQuantile)
	cfg.Dedup.Storage = &storageID
	id := component.MustNewID("slowspan")

	c := &clock{now: t0}
	first := newWindowed(t, cfg, c)
	require.NoError(t, first.Start(context.Background(), host, component.KindProcessor, id))
	var seq uint32
	got := run(t, first, c, &seq, 15*time.Minute, true) // past resolve.after (10m)
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	firing := got[0]
	first.SaveState(context.Background())
	c.advance(5 * time.Second)

	second := newWindowed(t, cfg, c)
	require.NoError(t, second.Start(context.Background(), host, component.KindProcessor, id))
	defer func() { require.NoError(t, second.Shutdown(context.Background())) }()
	got = run(t, second, c, &seq, time.Minute, true)
	require.Empty(t, reasonsOf(got), "still slow after the restart: the incident stays open, silent")
	got = run(t, second, c, &seq, 30*time.Minute, false)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
	assert.Equal(t, firing.Incident.ID, got[0].Incident.ID)
}

// A refused firing alert leaves no incident: the condition fires it again,
// and the delivered one is the only incident.
func TestRefusedFiringFiresAgain(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, windowedConfig(ModeQuantile), c)
	var seq uint32
	b := e.Process(context.Background(), requests(&seq, p95Durations(100, 2*time.Second, 3)...), 0)
	require.Equal(t, 1, b.Alerts)
	b.Rollback()
	assert.Zero(t, e.OpenIncidents())
	c.advance(5 * time.Second)
	got := delivered(t, e.Process(context.Background(), requests(&seq, 3*time.Second), 0))
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	assert.Equal(t, 1, e.OpenIncidents())
}

// Per-route triggers: a rule's quantile wins over the global span mode for
// its routes; the others keep today's behaviour.
func TestRouteTriggerOverride(t *testing.T) {
	cfg := windowedConfig(ModeSpan)
	cfg.Routes = []RouteRule{{Match: "/api/report", Threshold: time.Second, Trigger: TriggerConfig{Mode: ModeQuantile, Quantile: 0.99}}}
	c := &clock{now: t0}
	e := newWindowed(t, cfg, c)
	var seq uint32
	durs := make([]time.Duration, 100)
	for i := range durs {
		durs[i] = 30 * time.Millisecond
	}
	durs[3] = 4 * time.Second // one outlier: p99 of 100 is the 99th value, fast
	td := requests(&seq, durs...)
	other := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).CopyTo(other)
	other.SetSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
	other.Attributes().PutStr("http.route", "/api/other")
	other.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(2 * time.Second)))

	got := delivered(t, e.Process(context.Background(), td, 0))
	require.Len(t, got, 1)
	assert.Equal(t, alert.ReasonFirst, got[0].Reason)
	assert.Equal(t, "/api/other", got[0].Key.Route)
	assert.Nil(t, got[0].Incident)
}

// disk is a storage extension whose writes land at once, as file_storage's
// do: a client abandoned without Close (a killed collector) leaves them for
// the next client of the same name.
type disk struct {
	component.StartFunc
	component.ShutdownFunc
	mu    sync.Mutex
	files map[string]map[string][]byte
}

func newDisk() *disk { return &disk{files: map[string]map[string][]byte{}} }

func (d *disk) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := kind.String() + "/" + id.String() + "/" + name
	if d.files[k] == nil {
		d.files[k] = map[string][]byte{}
	}
	return &diskClient{d: d, file: d.files[k]}, nil
}

type diskClient struct {
	d    *disk
	file map[string][]byte
}

func (c *diskClient) Get(_ context.Context, key string) ([]byte, error) {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return bytes.Clone(c.file[key]), nil
}

func (c *diskClient) Set(_ context.Context, key string, value []byte) error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.file[key] = bytes.Clone(value)
	return nil
}

func (c *diskClient) Delete(_ context.Context, key string) error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	delete(c.file, key)
	return nil
}

func (c *diskClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		var err error
		switch op.Type {
		case storage.Get:
			op.Value, err = c.Get(ctx, op.Key)
		case storage.Set:
			err = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			err = c.Delete(ctx, op.Key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (*diskClient) Close(context.Context) error { return nil }

// The windows are saved at shutdown: requests before a restart count
// toward min_count after it.
func TestWindowsSurviveShutdown(t *testing.T) {
	storageID := component.MustNewID("disk")
	host := storagetest.NewStorageHost().WithExtension(storageID, newDisk())
	cfg := windowedConfig(ModeQuantile)
	cfg.Dedup.Storage = &storageID
	id := component.MustNewID("slowspan")
	c := &clock{now: t0}
	var seq uint32
	slow := make([]time.Duration, 15)
	for i := range slow {
		slow[i] = 2 * time.Second
	}

	first := newWindowed(t, cfg, c)
	require.NoError(t, first.Start(context.Background(), host, component.KindProcessor, id))
	require.Empty(t, delivered(t, first.Process(context.Background(), requests(&seq, slow...), 0)), "15 < min_count")
	require.NoError(t, first.Shutdown(context.Background()))

	c.advance(10 * time.Second)
	second := newWindowed(t, cfg, c)
	require.NoError(t, second.Start(context.Background(), host, component.KindProcessor, id))
	defer func() { require.NoError(t, second.Shutdown(context.Background())) }()
	got := delivered(t, second.Process(context.Background(), requests(&seq, slow[:5]...), 0))
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	assert.Equal(t, int64(20), got[0].Window.Count)
}

// In span mode, resolve.after closes an incident once no slow request came
// for that long; the next slow request opens a new one, and alerts.
func TestSpanModeResolveAfter(t *testing.T) {
	cfg := windowedConfig(ModeSpan)
	after := 10 * time.Minute
	cfg.Resolve.After = &after
	c := &clock{now: t0}
	e := newWindowed(t, cfg, c)
	var seq uint32

	got := run(t, e, c, &seq, time.Minute, true)
	require.Equal(t, []alert.Reason{alert.ReasonFirst}, reasonsOf(got))
	first := got[0]
	require.NotNil(t, first.Incident)
	assert.Equal(t, alert.ModeSpan, first.Incident.Mode)
	assert.Equal(t, alert.IncidentFiring, first.Incident.State)
	lastSlow := c.now.Add(-5 * time.Second)

	got = run(t, e, c, &seq, 20*time.Minute, false)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
	res := got[0]
	assert.Equal(t, first.Incident.ID, res.Incident.ID)
	assert.Equal(t, alert.IncidentResolved, res.Incident.State)
	assert.Equal(t, int64(60), res.Incident.SlowCount, "12 batches of 5 slow requests")
	assert.Equal(t, 3*time.Second, res.Incident.Peak.Duration)
	since := res.Incident.ResolvedAt.Sub(lastSlow)
	assert.True(t, since >= after && since < after+maxEvalInterval+5*time.Second, "resolved %v after the last slow request", since)

	got = run(t, e, c, &seq, 10*time.Second, true)
	require.Equal(t, []alert.Reason{alert.ReasonFirst}, reasonsOf(got), "a new incident alerts")
	assert.NotEqual(t, first.Incident.ID, got[0].Incident.ID)
}

// Without resolve.after, span mode is the seed's: no incident on alerts.
func TestSpanModeWithoutResolveHasNoIncident(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, windowedConfig(ModeSpan), c)
	var seq uint32
	got := run(t, e, c, &seq, time.Minute, true)
	require.Equal(t, []alert.Reason{alert.ReasonFirst}, reasonsOf(got))
	assert.Nil(t, got[0].Incident)
	assert.Nil(t, e.windows)
}

// A key whose window is evicted (dedup.max_keys) with its incident open is
// judged on an empty window: the incident resolves, once.
func TestEvictedKeyResolves(t *testing.T) {
	cfg := windowedConfig(ModeQuantile)
	cfg.Dedup.MaxKeys = 1
	c := &clock{now: t0}
	e := newWindowed(t, cfg, c)
	var seq uint32
	got := run(t, e, c, &seq, time.Minute, true)
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))

	// Another endpoint's fast traffic takes the only window.
	var out []alert.Alert
	for end := c.now.Add(30 * time.Minute); c.now.Before(end); c.advance(5 * time.Second) {
		td := requests(&seq, 10*time.Millisecond)
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("http.route", "/api/other")
		out = append(out, delivered(t, e.Process(context.Background(), td, 0))...)
		out = append(out, delivered(t, e.Due(c.now, false)...)...)
	}
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(out))
	assert.Equal(t, got[0].Incident.ID, out[0].Incident.ID)
	assert.Zero(t, e.OpenIncidents())
}

// A batch with many slow endpoints: each fires once, each with its own
// slowest request as evidence.
func TestManySlowEndpointsInOneBatch(t *testing.T) {
	c := &clock{now: t0}
	e := newWindowed(t, windowedConfig(ModeQuantile), c)
	var seq uint32
	td := ptrace.NewTraces()
	const routes = 50
	for r := range routes {
		durs := make([]time.Duration, 20)
		for i := range durs {
			durs[i] = time.Duration(2000+i*10+r) * time.Millisecond
		}
		one := requests(&seq, durs...)
		spans := one.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			spans.At(i).Attributes().PutStr("http.route", fmt.Sprintf("/api/r%d", r))
		}
		one.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	got := delivered(t, e.Process(context.Background(), td, 0))
	require.Len(t, got, routes)
	seen := map[string]bool{}
	for _, a := range got {
		var r int
		_, err := fmt.Sscanf(a.Key.Route, "/api/r%d", &r)
		require.NoError(t, err)
		assert.Equal(t, alert.ReasonQuantile, a.Reason)
		assert.Equal(t, time.Duration(2000+19*10+r)*time.Millisecond, a.Duration, "the slowest of %s", a.Key.Route)
		seen[a.Key.Route] = true
	}
	assert.Len(t, seen, routes)
}
