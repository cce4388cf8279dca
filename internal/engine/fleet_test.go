package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/redistest"
)

// fleetConfig is a quantile trigger over 1m, resolving after 1m, shared
// through the Redis at addr.
func fleetConfig(addr, prefix, id string, minCount int) *Config {
	cfg := windowedConfig(ModeQuantile)
	cfg.Trigger.Over = time.Minute
	cfg.Trigger.MinCount = minCount
	after := time.Minute
	cfg.Resolve.After = &after
	cfg.Dedup.Redis.Endpoint = addr
	cfg.Dedup.Redis.KeyPrefix = prefix
	cfg.Fleet.CollectorID = id
	return cfg
}

// startFleet starts n engines sharing the Redis at addr, on clock c.
func startFleet(t *testing.T, addr string, n, minCount int, c *clock) []*Engine {
	t.Helper()
	prefix := fmt.Sprintf("test:%s:", t.Name())
	var out []*Engine
	for i := range n {
		e := newWindowed(t, fleetConfig(addr, prefix, fmt.Sprintf("c%d", i), minCount), c)
		require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost(), component.KindProcessor, component.MustNewID("slowspan")))
		t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
		out = append(out, e)
	}
	return out
}

// routeRequests is requests for route.
func routeRequests(seq *uint32, route string, durs ...time.Duration) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for _, d := range durs {
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
		sp.SetName("GET " + route)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(d)))
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutStr("http.route", route)
	}
	return td
}

// spread sends durs round-robin to the engines, one batch each, and
// returns the alerts Process handed out.
func spread(t *testing.T, es []*Engine, seq *uint32, route string, durs []time.Duration) []alert.Alert {
	t.Helper()
	parts := make([][]time.Duration, len(es))
	for i, d := range durs {
		parts[i%len(es)] = append(parts[i%len(es)], d)
	}
	var out []alert.Alert
	for i, e := range es {
		began := time.Now()
		out = append(out, delivered(t, e.Process(context.Background(), routeRequests(seq, route, parts[i]...), 0))...)
		assert.Less(t, time.Since(began), 500*time.Millisecond, "Process waited")
	}
	return out
}

// tick runs every engine's timer at the clock's now.
func tick(t *testing.T, es []*Engine, c *clock) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, e := range es {
		out = append(out, delivered(t, e.Due(c.now, false)...)...)
	}
	return out
}

// fleetRun sends n requests of dur to route every 5 s for d, spread over
// the engines, with their timers, and returns the alerts.
func fleetRun(t *testing.T, es []*Engine, c *clock, seq *uint32, route string, d time.Duration, n int, dur time.Duration) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	durs := make([]time.Duration, n)
	for i := range durs {
		durs[i] = dur
	}
	for end := c.now.Add(d); c.now.Before(end); {
		c.advance(5 * time.Second)
		out = append(out, spread(t, es, seq, route, durs)...)
		out = append(out, tick(t, es, c)...)
	}
	return out
}

// Three collectors behind a round-robin balancer, each seeing a third of
// an endpoint's requests: the fleet fires one incident, once the fleet's
// window reaches min_count (no collector's third does), with the fleet's
// p95; then resolves it once.
func TestFleetFiresOnceOnTheMergedWindow(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startFleet(t, srv.Addr, 3, 2500, c)
	var seq uint32

	durs := p95Durations(3000, 1200*time.Millisecond, 11)
	require.Empty(t, spread(t, es, &seq, "/api/report", durs), "a batch never judges a fleet-wide window")
	c.advance(5 * time.Second)
	got := tick(t, es, c)
	require.Len(t, got, 1, "%v", reasonsOf(got))
	a := got[0]
	assert.Equal(t, alert.ReasonQuantile, a.Reason)
	require.NotNil(t, a.Window)
	assert.Equal(t, int64(3000), a.Window.Count)
	assert.InEpsilon(t, float64(1200*time.Millisecond), float64(a.Window.P95), 0.02)
	assert.InEpsilon(t, float64(1200*time.Millisecond), float64(a.Window.QuantileValue), 0.02)

	// Still slow: every collector knows the incident, none fires again.
	got = fleetRun(t, es, c, &seq, "/api/report", 30*time.Second, 300, 2*time.Second)
	assert.Empty(t, reasonsOf(got))
	for _, e := range es {
		assert.Equal(t, 1, e.OpenIncidents())
	}

	// Fast: one resolved alert, of the incident that fired.
	got = fleetRun(t, es, c, &seq, "/api/report", 4*time.Minute, 3000, 50*time.Millisecond)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
	assert.Equal(t, a.Incident.ID, got[0].Incident.ID)
	for _, e := range es {
		assert.Zero(t, e.OpenIncidents())
		assert.Zero(t, e.FleetFallbacks())
	}
}

// A collector that stops mid-incident changes nothing: the others resolve
// it once.
func TestFleetSurvivesACollectorGone(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startFleet(t, srv.Addr, 3, 20, c)
	var seq uint32
	got := fleetRun(t, es, c, &seq, "/api/report", 20*time.Second, 300, 2*time.Second)
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	firing := got[0]
	// The first collector goes away (whether it fired or not).
	rest := es[1:]
	got = fleetRun(t, rest, c, &seq, "/api/report", 30*time.Second, 300, 2*time.Second)
	assert.Empty(t, reasonsOf(got))
	got = fleetRun(t, rest, c, &seq, "/api/report", 4*time.Minute, 300, 50*time.Millisecond)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
	assert.Equal(t, firing.Incident.ID, got[0].Incident.ID)
}

// Redis stops mid-run: the collectors judge their local windows (an
// incident opened meanwhile fires on each), the pipeline never waits; when
// Redis is back (empty: it kept nothing), the fleet converges on one id
// per incident, with no further firing, and resolves each once.
func TestFleetFallsBackWhileRedisIsDown(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startFleet(t, srv.Addr, 3, 20, c)
	var seq uint32
	got := fleetRun(t, es, c, &seq, "/api/report", 20*time.Second, 300, 2*time.Second)
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	report := got[0].Incident.ID

	srv.Stop()
	began := time.Now()
	got = fleetRun(t, es, c, &seq, "/api/cart", 20*time.Second, 300, 2*time.Second)
	assert.Less(t, time.Since(began), 10*time.Second)
	// Each collector fires the new incident on its own share.
	assert.Equal(t, []alert.Reason{alert.ReasonQuantile, alert.ReasonQuantile, alert.ReasonQuantile}, reasonsOf(got))
	for _, e := range es {
		assert.Positive(t, e.FleetFallbacks())
	}

	redistest.StartServerOn(t, srv.Port)
	got = fleetRun(t, es, c, &seq, "/api/cart", time.Minute, 300, 2*time.Second)
	got = append(got, fleetRun(t, es, c, &seq, "/api/report", 10*time.Second, 300, 2*time.Second)...)
	assert.Empty(t, reasonsOf(got), "no firing once Redis is back")
	ids := map[string]map[string]bool{}
	for _, e := range es {
		for _, k := range e.windows.tracker.Open(nil) {
			inc, _ := e.windows.tracker.Incident(k)
			if ids[k.Route] == nil {
				ids[k.Route] = map[string]bool{}
			}
			ids[k.Route][inc.ID] = true
		}
	}
	assert.Len(t, ids["/api/cart"], 1, "one id per incident across the fleet")
	assert.Equal(t, map[string]bool{report: true}, ids["/api/report"])

	// Fast again: one resolved alert per incident.
	c.advance(5 * time.Second)
	for range 60 {
		spread(t, es, &seq, "/api/report", []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond})
		spread(t, es, &seq, "/api/cart", []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond})
		got = append(got, tick(t, es, c)...)
		c.advance(5 * time.Second)
	}
	routes := map[string]int{}
	for _, a := range got {
		require.Equal(t, alert.ReasonResolved, a.Reason)
		routes[a.Key.Route]++
	}
	assert.Equal(t, map[string]int{"/api/report": 1, "/api/cart": 1}, routes)
}

func TestFleetConfig(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name    string
		mutate  func(*Config)
		err     string
		enabled bool
	}{
		{name: "span mode with Redis: nothing to share", mutate: func(c *Config) { c.Dedup.Redis.Endpoint = "r:6379" }},
		{name: "quantile without Redis", mutate: func(c *Config) { c.Trigger.Mode = ModeQuantile }},
		{name: "quantile with Redis: on by default", enabled: true, mutate: func(c *Config) {
			c.Trigger.Mode, c.Dedup.Redis.Endpoint = ModeQuantile, "r:6379"
		}},
		{name: "a route's ratio with Redis", enabled: true, mutate: func(c *Config) {
			c.Dedup.Redis.Endpoint = "r:6379"
			c.Routes = []RouteRule{{Match: "/x", Threshold: time.Second, Trigger: TriggerConfig{Mode: ModeRatio}}}
		}},
		{name: "opted out", mutate: func(c *Config) {
			c.Trigger.Mode, c.Dedup.Redis.Endpoint, c.Fleet.Enabled = ModeQuantile, "r:6379", &off
		}},
		{name: "enabled without Redis", err: "fleet.enabled", mutate: func(c *Config) { c.Fleet.Enabled = &on }},
		{name: "flush interval too short", err: "fleet.flush_interval", mutate: func(c *Config) { c.Fleet.FlushInterval = 0 }},
		{name: "flush interval too long", err: "fleet.flush_interval", mutate: func(c *Config) { c.Fleet.FlushInterval = time.Hour }},
		{name: "collector id with a space", err: "fleet.collector_id", mutate: func(c *Config) { c.Fleet.CollectorID = "a b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDefaultConfig()
			tt.mutate(c)
			err := c.Validate()
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.enabled, c.fleetEnabled())
		})
	}
}

// The collector that fired goes away before the others ever saw the
// condition true (they judged before it flushed, and the slow requests
// left the window since): they join the incident open in Redis and
// resolve it once.
func TestFleetResolvesAnIncidentItNeverSawFire(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startFleet(t, srv.Addr, 3, 2500, c)
	var seq uint32
	durs := p95Durations(3000, 1200*time.Millisecond, 5)
	spread(t, es, &seq, "/api/report", durs)
	c.advance(5 * time.Second)
	got := tick(t, es, c) // the last one sees all 3,000 and fires
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got))
	assert.Zero(t, es[0].OpenIncidents())
	assert.Zero(t, es[1].OpenIncidents())
	firing := got[0]

	rest := es[:2] // the one that fired is gone
	got = fleetRun(t, rest, c, &seq, "/api/report", 4*time.Minute, 300, 50*time.Millisecond)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got))
	assert.Equal(t, firing.Incident.ID, got[0].Incident.ID)
	assert.Zero(t, rest[0].OpenIncidents())
	assert.Zero(t, rest[1].OpenIncidents())
}

// A firing or resolved alert the next consumer refused goes out again on
// a later tick, with the same incident id, though Redis holds the
// transition already.
func TestFleetRefusedAlertsGoOutAgain(t *testing.T) {
	srv := redistest.StartServer(t)
	c := &clock{now: t0}
	es := startFleet(t, srv.Addr, 2, 20, c)
	var seq uint32
	refuse := func() []alert.Alert {
		var out []alert.Alert
		for _, e := range es {
			for _, b := range e.Due(c.now, false) {
				if b.Alerts > 0 {
					for a := range alert.All(b.Traces) {
						out = append(out, a)
					}
					b.Rollback()
				}
			}
		}
		return out
	}
	c.advance(5 * time.Second)
	spread(t, es, &seq, "/api/report", p95Durations(300, 1200*time.Millisecond, 3))
	refused := refuse()
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(refused))
	got := fleetRun(t, es, c, &seq, "/api/report", 20*time.Second, 300, 2*time.Second)
	require.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got), "the refused firing alert again")
	assert.Equal(t, refused[0].Incident.ID, got[0].Incident.ID)

	// Fast until the resolved alert, refused; it comes again.
	var resolved []alert.Alert
	for range 60 {
		c.advance(5 * time.Second)
		spread(t, es, &seq, "/api/report", []time.Duration{time.Millisecond, time.Millisecond})
		if resolved = refuse(); len(resolved) > 0 {
			break
		}
	}
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(resolved))
	got = fleetRun(t, es, c, &seq, "/api/report", 30*time.Second, 2, time.Millisecond)
	require.Equal(t, []alert.Reason{alert.ReasonResolved}, reasonsOf(got), "the refused resolved alert again")
	assert.Equal(t, refused[0].Incident.ID, got[0].Incident.ID)
}

// A Redis slower than the timeout: the tick gives up within it and judges
// the local windows; batches never wait for Redis.
func TestFleetFallsBackWhenRedisIsSlow(t *testing.T) {
	srv := redistest.StartServer(t)
	proxy := redistest.StartProxy(t, srv.Addr, 3*time.Second)
	c := &clock{now: t0}
	es := startFleet(t, proxy.Addr, 1, 20, c)
	var seq uint32
	c.advance(5 * time.Second)
	spread(t, es, &seq, "/api/report", p95Durations(300, 1200*time.Millisecond, 9))
	began := time.Now()
	got := tick(t, es, c)
	assert.Less(t, time.Since(began), 2500*time.Millisecond, "the tick waited past the timeout (1 s)")
	assert.Equal(t, []alert.Reason{alert.ReasonQuantile}, reasonsOf(got), "judged on the local window")
	assert.Equal(t, int64(1), es[0].FleetFallbacks())
	// The next tick, past the backoff, tries again: bounded by the timeout
	// too.
	c.advance(500 * time.Millisecond)
	spread(t, es, &seq, "/api/report", p95Durations(300, 1200*time.Millisecond, 9))
	began = time.Now()
	c.advance(5 * time.Second)
	tick(t, es, c)
	assert.Less(t, time.Since(began), 2500*time.Millisecond)
}
