package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/redistest"
)

// startRegressionFleet starts n engines in mode regression (min_count
// minCount) sharing the Redis at addr, stopped at the test's end.
func startRegressionFleet(t *testing.T, addr string, n, minCount int, c *clock) []*Engine {
	t.Helper()
	es := newRegressionFleet(t, addr, n, minCount, c)
	for _, e := range es {
		t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	}
	return es
}

// newRegressionFleet starts n engines as startRegressionFleet does, for
// the caller to stop.
func newRegressionFleet(t *testing.T, addr string, n, minCount int, c *clock) []*Engine {
	t.Helper()
	prefix := fmt.Sprintf("test:%s:", t.Name())
	var out []*Engine
	for i := range n {
		cfg := regressionConfig()
		cfg.Trigger.MinCount = minCount
		cfg.Dedup.Redis.Endpoint = addr
		cfg.Dedup.Redis.KeyPrefix = prefix
		cfg.Fleet.CollectorID = fmt.Sprintf("c%d", i)
		e := newWindowed(t, cfg, c)
		require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost(), component.KindProcessor, component.MustNewID("slowspan")))
		out = append(out, e)
	}
	return out
}

// spreadVersion sends n requests per traffic at version ver round-robin
// to the engines (a third each for three), and returns the alerts.
func spreadVersion(t *testing.T, es []*Engine, seq *uint32, at time.Time, ver string, traffic ...versionTraffic) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for i, e := range es {
		var part []versionTraffic
		for _, tr := range traffic {
			tr.n = tr.n/len(es) + min(1, max(0, tr.n%len(es)-i))
			part = append(part, tr)
		}
		out = append(out, delivered(t, e.Process(t.Context(), versionBatch(e, seq, at, ver, part...), 0))...)
	}
	return out
}

// Three collectors, each seeing a third of the requests, too few for
// min_count on its own (two thirds too, until the third collector's flush):
// the fleet compares 1.1 with 1.0 on the fleet's
// windows of both versions, and exactly one collector emits the one
// regression alert, with the fleet's counts; the unchanged route and the
// route with too little traffic stay silent.
func TestFleetRegressionOnTheMergedVersionWindows(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startRegressionFleet(t, srv.Addr, 3, 120, c)
	var seq uint32

	got := spreadVersion(t, es, &seq, c.now, "1.0",
		versionTraffic{route: "/orders", n: 150, dur: 150 * time.Millisecond, children: []childSpec{ordersQuery}},
		versionTraffic{route: "/health", n: 150, dur: 150 * time.Millisecond},
		versionTraffic{route: "/rare", n: 150, dur: 150 * time.Millisecond})
	c.advance(5 * time.Second)
	got = append(got, tick(t, es, c)...)
	require.Empty(t, got, "a first version compares with nothing")

	c.advance(time.Minute)
	got = spreadVersion(t, es, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 150, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}},
		versionTraffic{route: "/health", n: 150, dur: 155 * time.Millisecond},
		versionTraffic{route: "/rare", n: 60, dur: 900 * time.Millisecond})
	require.Empty(t, got, "a batch never judges a fleet-wide window")
	for range 4 {
		c.advance(5 * time.Second)
		got = append(got, tick(t, es, c)...)
	}
	require.Len(t, got, 1, "%v", reasonsOf(got))
	a := got[0]
	assert.Equal(t, alert.ReasonRegression, a.Reason)
	assert.Equal(t, "/orders", a.Key.Route)
	r := a.Regression
	require.NotNil(t, r)
	assert.Equal(t, "1.0", r.Before.Version)
	assert.Equal(t, "1.1", r.After.Version)
	require.NotNil(t, r.Before.Window)
	require.NotNil(t, r.After.Window)
	assert.Equal(t, int64(150), r.Before.Window.Count, "the fleet's window of 1.0")
	assert.Equal(t, int64(150), r.After.Window.Count, "the fleet's window of 1.1")
	assert.InEpsilon(t, float64(150*time.Millisecond), float64(r.Before.Window.QuantileValue), 0.05)
	assert.InEpsilon(t, float64(400*time.Millisecond), float64(r.After.Window.QuantileValue), 0.05)
	require.NotEmpty(t, r.Changes)
	assert.Contains(t, r.Changes[0].Description, "audit_log")

	// Still slow: the incident stays one, nothing fires again on any
	// collector.
	for range 3 {
		c.advance(5 * time.Second)
		got = append(spreadVersion(t, es, &seq, c.now, "1.1",
			versionTraffic{route: "/orders", n: 30, dur: 400 * time.Millisecond}), tick(t, es, c)...)
		require.Empty(t, got, "%v", reasonsOf(got))
	}
}

// The fleet's collectors restart after the deploy, without storage: none
// of them saw 1.0 since, yet each compares 1.1 with the 1.0 the fleet kept
// in Redis (its figures and the exemplar of the collector that created
// it), and one fires.
func TestFleetRegressionBaselineOutlivesTheCollectors(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := newRegressionFleet(t, srv.Addr, 3, 120, c)
	var seq uint32

	got := spreadVersion(t, es, &seq, c.now, "1.0",
		versionTraffic{route: "/orders", n: 150, dur: 150 * time.Millisecond, children: []childSpec{ordersQuery}})
	c.advance(5 * time.Second)
	// 1.1 starts before any tick, with too few requests to judge: 1.0
	// becomes the baseline. The first tick reads a third of the fleet's
	// 1.0, too little to share; the third reads all of it, and shares it.
	got = append(got, spreadVersion(t, es, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 30, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}})...)
	c.advance(5 * time.Second)
	got = append(got, tick(t, es, c)...)
	require.Empty(t, got, "%v", reasonsOf(got))
	for _, e := range es {
		require.NoError(t, e.Shutdown(context.Background()))
	}
	// Kept until max_age after 1.0 was last seen (at t0), 10 s ago.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { require.NoError(t, client.Close()) }()
	keys, err := client.Keys(t.Context(), "*base:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	ttl, err := client.PTTL(t.Context(), keys[0]).Result()
	require.NoError(t, err)
	maxAge := regressionConfig().Trigger.Regression.MaxAge
	assert.LessOrEqual(t, ttl, maxAge-10*time.Second)
	assert.Greater(t, ttl, maxAge-time.Minute)

	c.advance(5 * time.Second)
	es = startRegressionFleet(t, srv.Addr, 3, 120, c)
	got = spreadVersion(t, es, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 150, dur: 400 * time.Millisecond, children: []childSpec{ordersQuery, auditQuery}})
	for range 3 {
		c.advance(5 * time.Second)
		got = append(got, tick(t, es, c)...)
	}
	require.Len(t, got, 1, "%v", reasonsOf(got))
	r := got[0].Regression
	require.NotNil(t, r)
	assert.Equal(t, "1.0", r.Before.Version)
	require.NotNil(t, r.Before.Window)
	assert.Equal(t, int64(150), r.Before.Window.Count, "the fleet's figures of 1.0, kept in Redis")
	assert.InEpsilon(t, float64(150*time.Millisecond), float64(r.Before.Window.QuantileValue), 0.05)
	require.NotNil(t, r.Before.Breakdown, "the exemplar of 1.0, kept in Redis")
	require.NotEmpty(t, r.Changes)
	assert.Contains(t, r.Changes[0].Description, "audit_log")
}

func TestSharedBaselineEncoding(t *testing.T) {
	stacks := make([]alert.Stack, 300)
	for i := range stacks {
		stacks[i] = alert.Stack{Frames: []string{fmt.Sprintf("main.function%04d", i), "main.handler"}, Value: int64(i + 1)}
	}
	b := &versionBaseline{Side: alert.VersionSide{Version: "1.0",
		Window:    &alert.WindowFigures{Over: time.Minute, Count: 150, Quantile: 0.95, QuantileValue: 150 * time.Millisecond},
		Breakdown: &alert.Breakdown{Children: []alert.ChildGroup{{Name: "SELECT orders", Count: 1, Total: 80 * time.Millisecond}}},
		Stacks:    stacks, CPUTime: time.Second}, Seen: t0}
	for _, tc := range []struct {
		name          string
		max           int
		stacks, brk   bool
		wantErrSubstr string
	}{
		{name: "whole", max: 1 << 20, stacks: true, brk: true},
		{name: "without stacks", max: 2000, brk: true},
		{name: "figures only", max: 250},
		{name: "too small even so", max: 10, wantErrSubstr: "over the 10 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := encodeBaseline(b, tc.max)
			if tc.wantErrSubstr != "" {
				require.ErrorContains(t, err, tc.wantErrSubstr)
				return
			}
			require.NoError(t, err)
			assert.LessOrEqual(t, len(data), tc.max)
			got := decodeBaseline(data, "1.1")
			require.NotNil(t, got)
			assert.Equal(t, t0, got.Seen.UTC())
			assert.Equal(t, "1.0", got.Side.Version)
			assert.Equal(t, int64(150), got.Count)
			assert.Equal(t, 150*time.Millisecond, got.Quantile)
			assert.Equal(t, tc.stacks, len(got.Side.Stacks) > 0)
			assert.Equal(t, tc.brk, got.Side.Breakdown != nil)
		})
	}
	data, err := encodeBaseline(b, 1<<20)
	require.NoError(t, err)
	assert.Nil(t, decodeBaseline(data, "1.0"), "a baseline of the current version itself is damaged")
	for _, doc := range []string{
		"not json",
		`{"seen_ms":0,"side":{"version":"0.9","window":{"count":5}}}`,
		`{"seen_ms":1,"side":{"version":"0.9"}}`,
		`{"seen_ms":1,"side":[1]}`,
	} {
		assert.Nil(t, decodeBaseline([]byte(doc), "1.1"), doc)
	}
}

func TestAdoptedBaselineIsKnown(t *testing.T) {
	tr := &trigger{regression: &regressionTrigger{keepVersions: 2, maxAge: time.Hour}}
	vs := &versions{current: "1.1", started: true,
		known: []knownVersion{{Name: "0.9", Seen: t0, First: t0}, {Name: "1.1", Seen: t0, First: t0.Add(time.Second)}}}
	vs.adopt(&versionBaseline{Side: alert.VersionSide{Version: "1.0"}, Seen: t0.Add(time.Minute)}, tr, t0.Add(2*time.Minute))
	assert.Equal(t, []knownVersion{
		{Name: "1.0", Seen: t0.Add(time.Minute), First: t0.Add(time.Second - time.Millisecond)},
		{Name: "1.1", Seen: t0, First: t0.Add(time.Second)},
	}, vs.known, "before the current one, within keep_versions, seen when the fleet's creator last saw it, first seen before it")
	assert.NotNil(t, vs.comparable(tr, t0.Add(2*time.Minute)), "not pruned as unknown")
	assert.Nil(t, vs.comparable(tr, t0.Add(61*time.Minute)), "forgotten max_age after it was last seen, not after it was adopted")
}

// A rollout where one collector's apps are all still on 1.0 (their
// connections are pinned to it): it judges the fleet's current version,
// 1.1, against the fleet's baseline, as the other collector does, so it
// never resolves the incident the fleet opened, however long it sees only
// 1.0. When the fleet's 1.1 is fast again, the incident resolves once.
func TestFleetRegressionACollectorOnTheOldVersionAgrees(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startRegressionFleet(t, srv.Addr, 2, 60, c)
	a, b := es[0], es[1]
	var seq uint32
	send := func(e *Engine, ver string, n int, dur time.Duration) []alert.Alert {
		return delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, ver,
			versionTraffic{route: "/orders", n: n, dur: dur, children: []childSpec{ordersQuery}}), 0))
	}
	var got []alert.Alert
	got = append(got, send(a, "1.0", 40, 150*time.Millisecond)...)
	got = append(got, send(b, "1.0", 40, 150*time.Millisecond)...)
	c.advance(5 * time.Second)
	got = append(got, tick(t, es, c)...)
	got = append(got, send(a, "1.1", 80, 400*time.Millisecond)...)
	for range 3 {
		c.advance(5 * time.Second)
		got = append(got, send(b, "1.0", 10, 150*time.Millisecond)...)
		got = append(got, tick(t, es, c)...)
	}
	require.Equal(t, []alert.Reason{alert.ReasonRegression}, reasonsOf(got))
	assert.Equal(t, "1.1", got[0].Regression.After.Version)

	// Three resolve_after periods: a slow 1.1 on a, only 1.0 on b. Half
	// way, Redis restarts without persistence: the collectors announce
	// their versions again and a creates the baseline again.
	got = nil
	for end, flushed := c.now.Add(3*defaultResolveAfter), false; c.now.Before(end); {
		c.advance(10 * time.Second)
		got = append(got, send(a, "1.1", 20, 400*time.Millisecond)...)
		got = append(got, send(b, "1.0", 20, 150*time.Millisecond)...)
		got = append(got, tick(t, es, c)...)
		if !flushed && c.now.After(end.Add(-defaultResolveAfter)) {
			flushed = true
			client := redis.NewClient(&redis.Options{Addr: srv.Addr})
			require.NoError(t, client.FlushAll(t.Context()).Err())
			require.NoError(t, client.Close())
		}
	}
	require.Empty(t, reasonsOf(got), "no collector resolves a regression the fleet still sees")

	// 1.1 fast again: resolved once.
	for end := c.now.Add(3 * defaultResolveAfter); c.now.Before(end); {
		c.advance(10 * time.Second)
		got = append(got, send(a, "1.1", 20, 150*time.Millisecond)...)
		got = append(got, send(b, "1.0", 20, 150*time.Millisecond)...)
		got = append(got, tick(t, es, c)...)
	}
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
}

// Redis loses the fleet's versions mid-incident, and a collector that
// only sees 1.1 announces first: the others' re-announcements, hours
// later too, keep each version's earliest sighting, so 1.0 never becomes
// current again and nothing fires or resolves while 1.1 stays slow.
func TestFleetRegressionVersionsOutliveARedisLoss(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startRegressionFleet(t, srv.Addr, 3, 60, c)
	a, b, late := es[0], es[1], es[2]
	ab := []*Engine{a, b}
	var seq uint32
	send := func(e *Engine, ver string, n int, dur time.Duration) []alert.Alert {
		return delivered(t, e.Process(t.Context(), versionBatch(e, &seq, c.now, ver,
			versionTraffic{route: "/orders", n: n, dur: dur, children: []childSpec{ordersQuery}}), 0))
	}
	var got []alert.Alert
	got = append(got, send(a, "1.0", 40, 150*time.Millisecond)...)
	got = append(got, send(b, "1.0", 40, 150*time.Millisecond)...)
	c.advance(5 * time.Second)
	got = append(got, tick(t, ab, c)...)
	got = append(got, send(a, "1.1", 80, 400*time.Millisecond)...)
	for range 3 {
		c.advance(5 * time.Second)
		got = append(got, send(b, "1.0", 10, 150*time.Millisecond)...)
		got = append(got, tick(t, ab, c)...)
	}
	require.Equal(t, []alert.Reason{alert.ReasonRegression}, reasonsOf(got))

	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { require.NoError(t, client.Close()) }()
	require.NoError(t, client.FlushAll(t.Context()).Err())
	got = nil
	for end := c.now.Add(2 * reannounceEvery); c.now.Before(end); {
		c.advance(10 * time.Second)
		got = append(got, send(late, "1.1", 20, 400*time.Millisecond)...)
		got = append(got, tick(t, []*Engine{late}, c)...)
		got = append(got, send(a, "1.1", 20, 400*time.Millisecond)...)
		got = append(got, send(b, "1.0", 20, 150*time.Millisecond)...)
		got = append(got, tick(t, ab, c)...)
	}
	assert.Empty(t, reasonsOf(got), "nothing fires or resolves while 1.1 stays slow")
	keys, err := client.Keys(t.Context(), "*vers:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	latest, err := client.ZRangeArgs(t.Context(), redis.ZRangeArgs{Key: keys[0], Start: 0, Stop: 0, Rev: true}).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"1.1"}, latest)
}

// A collector reads the fleet's baseline whole once: later ticks read its
// id only (GETRANGE), as a baseline never changes under its id.
func TestFleetRegressionReadsABaselineOnce(t *testing.T) {
	srv := redistest.StartServer(t)
	proxy := redistest.StartProxy(t, srv.Addr, 0)
	c := &clock{now: t0}
	es := startRegressionFleet(t, proxy.Addr, 2, 60, c)
	var seq uint32
	got := spreadVersion(t, es, &seq, c.now, "1.0",
		versionTraffic{route: "/orders", n: 100, dur: 150 * time.Millisecond, children: []childSpec{ordersQuery}})
	c.advance(5 * time.Second)
	got = append(got, spreadVersion(t, es, &seq, c.now, "1.1",
		versionTraffic{route: "/orders", n: 20, dur: 150 * time.Millisecond})...)
	for range 2 {
		c.advance(5 * time.Second)
		got = append(got, spreadVersion(t, es, &seq, c.now, "1.1",
			versionTraffic{route: "/orders", n: 10, dur: 150 * time.Millisecond})...)
		got = append(got, tick(t, es, c)...)
	}
	require.Empty(t, got)
	for _, e := range es {
		require.Len(t, e.windows.fleet.baselines, 1, "read and held")
	}
	proxy.Reset()
	for range 3 {
		c.advance(5 * time.Second)
		got = append(got, spreadVersion(t, es, &seq, c.now, "1.1",
			versionTraffic{route: "/orders", n: 10, dur: 150 * time.Millisecond})...)
		got = append(got, tick(t, es, c)...)
	}
	require.Empty(t, got)
	cmds := proxy.Commands()
	assert.Zero(t, cmds["GET"], "%v", cmds)
	assert.Equal(t, 6, cmds["GETRANGE"], "%v", cmds)
}
