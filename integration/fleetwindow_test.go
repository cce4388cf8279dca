package integration

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/redistest"
)

// The fleet-window scenarios: three collectors behind a round-robin
// balancer share their windows and incidents through one Redis; each sees
// a third of /api/report's requests.
const (
	fleetRoute     = "/api/report"
	fleetRequests  = 900 // the fleet's window: min_count exactly
	fleetP95       = 1200 * time.Millisecond
	fleetFlush     = time.Second
	fleetOver      = 10 * time.Second
	fleetResolve   = 3 * time.Second
	fleetSettle    = 4 * fleetFlush // long enough for a wrong extra alert to show
	fleetCollector = 3
)

// fleetWindowConfigMin: quantile mode (p95 over 10 s, min_count, resolve
// after 3 s), shared through Redis every second, alerts to dir's file.
func fleetWindowConfigMin(redisAddr, dir, id string, minCount int) configFunc {
	return func(httpPort int) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  slowspan:
    threshold: 1s
    trigger:
      mode: quantile
      quantile: 0.95
      over: %s
      min_count: %d
    resolve:
      after: %s
    dedup:
      redis:
        endpoint: %s
        key_prefix: "it:fleetwin:"
        timeout: 1s
    fleet:
      collector_id: %s
      flush_interval: %s
exporters:
  alertfile:
    path: %q
    sending_queue:
      enabled: false
service:
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [alertfile]
  telemetry:
    metrics:
      level: none
`, httpPort, fleetOver, minCount, fleetResolve, redisAddr, id, fleetFlush, filepath.Join(dir, "alerts.jsonl"))
	}
}

type fleetMember struct {
	c    *collector
	s    *spanSender
	file string
}

func startWindowFleet(t *testing.T, redisAddr string) []*fleetMember {
	return startWindowFleetMin(t, redisAddr, fleetRequests)
}

func startWindowFleetMin(t *testing.T, redisAddr string, minCount int) []*fleetMember {
	t.Helper()
	var out []*fleetMember
	for i := range fleetCollector {
		dir := t.TempDir()
		c := startCollector(t, fleetWindowConfigMin(redisAddr, dir, fmt.Sprintf("it-%d", i), minCount))
		out = append(out, &fleetMember{c: c, s: newSpanSender(t, c, "fleet-shop"), file: alertsFile(dir)})
	}
	return out
}

// fleetDurations are n durations whose nearest-rank p95 is p95, shuffled.
func fleetDurations(n int, p95 time.Duration) []time.Duration {
	rank := (95*n + 99) / 100
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * p95 / time.Duration(rank)
	}
	r := rand.New(rand.NewPCG(16, 1))
	r.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// roundRobin sends durs to the live members in turn, then flushes each.
func roundRobin(fleet []*fleetMember, durs []time.Duration) {
	roundRobinRoute(fleet, fleetRoute, durs)
}

func roundRobinRoute(fleet []*fleetMember, route string, durs []time.Duration) {
	for i, d := range durs {
		fleet[i%len(fleet)].s.serverSpan("GET", route, d)
	}
	for _, m := range fleet {
		m.s.flush()
	}
}

// fleetAlerts reads every member's alert file (a killed member's too).
func fleetAlerts(t *testing.T, fleet []*fleetMember) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, m := range fleet {
		out = append(out, readAlerts(t, m.file)...)
	}
	return out
}

func byReason(as []alert.Alert, r alert.Reason) []alert.Alert {
	var out []alert.Alert
	for _, a := range as {
		if a.Reason == r {
			out = append(out, a)
		}
	}
	return out
}

// waitFleet polls the fleet's alert files until cond holds.
func waitFleet(t *testing.T, fleet []*fleetMember, what string, cond func([]alert.Alert) bool) []alert.Alert {
	t.Helper()
	deadline := time.Now().Add(alertTimeout)
	for {
		got := fleetAlerts(t, fleet)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; alerts: %v", alertTimeout, what, reasonsOf(got))
		}
		time.Sleep(pollInterval) // poll interval of a bounded wait
	}
}

// TestFleetWindowIncidentEndToEnd: an endpoint whose p95 over the fleet is
// 1.2 s, each collector seeing a third of its requests (too few for
// min_count alone): exactly one quantile alert across the fleet, with the
// fleet's p95 and count; the collector that fired is killed; the endpoint
// recovers: exactly one resolved alert, from another collector, of the
// same incident.
func TestFleetWindowIncidentEndToEnd(t *testing.T) {
	r := redistest.StartServer(t)
	fleet := startWindowFleet(t, r.Addr)

	roundRobin(fleet, fleetDurations(fleetRequests, fleetP95))
	waitFleet(t, fleet, "the quantile alert", func(as []alert.Alert) bool {
		return len(byReason(as, alert.ReasonQuantile)) > 0
	})
	time.Sleep(fleetSettle) // a second firing would show within a few flushes
	got := fleetAlerts(t, fleet)
	firing := byReason(got, alert.ReasonQuantile)
	if len(firing) != 1 || len(got) != 1 {
		t.Fatalf("want exactly one alert (quantile) across the fleet, got %v", reasonsOf(got))
	}
	a := firing[0]
	if a.Window == nil || a.Incident == nil {
		t.Fatalf("the firing alert has no window or incident: %+v", a)
	}
	if a.Window.Count != fleetRequests {
		t.Errorf("window count %d, want the fleet's %d", a.Window.Count, fleetRequests)
	}
	for name, v := range map[string]time.Duration{"p95": a.Window.P95, "quantile value": a.Window.QuantileValue} {
		if diff := float64(v-fleetP95) / float64(fleetP95); diff < -0.02 || diff > 0.02 {
			t.Errorf("window %s %v, want within 2 %% of %v", name, v, fleetP95)
		}
	}
	t.Logf("fired: p95 %v over %d requests, incident %s", a.Window.P95, a.Window.Count, a.Incident.ID)

	// Kill the collector that fired, mid-incident: the rest of the fleet
	// holds the incident.
	var rest []*fleetMember
	var killed *fleetMember
	for _, m := range fleet {
		if len(readAlerts(t, m.file)) > 0 {
			m.c.kill()
			killed = m
			continue
		}
		rest = append(rest, m)
	}
	if len(rest) != fleetCollector-1 {
		t.Fatalf("%d collectors left after killing the one that fired", len(rest))
	}

	// Fast traffic: the slow requests leave the window, p95 drops, and
	// resolve.after later the incident resolves, once.
	fast := make([]time.Duration, 60)
	for i := range fast {
		fast[i] = 20 * time.Millisecond
	}
	deadline := time.Now().Add(alertTimeout)
	for len(byReason(fleetAlerts(t, fleet), alert.ReasonResolved)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no resolved alert within %s; alerts: %v", alertTimeout, reasonsOf(fleetAlerts(t, fleet)))
		}
		roundRobin(rest, fast)
		time.Sleep(250 * time.Millisecond) // pacing of the fast traffic
	}
	time.Sleep(fleetSettle)
	got = fleetAlerts(t, fleet)
	resolved := byReason(got, alert.ReasonResolved)
	if len(resolved) != 1 || len(got) != 2 {
		t.Fatalf("want exactly one firing and one resolved alert across the fleet, got %v", reasonsOf(got))
	}
	if n := len(readAlerts(t, killed.file)); n != 1 {
		t.Errorf("the killed collector's file holds %d alerts, want its firing alert only", n)
	}
	if resolved[0].Incident == nil || resolved[0].Incident.ID != a.Incident.ID {
		t.Errorf("the resolved alert's incident %+v, want %s", resolved[0].Incident, a.Incident.ID)
	}
	for i, m := range fleet {
		if strings.Contains(m.c.log(), "fleet-wide windows: Redis failed") {
			t.Errorf("collector %d fell back to its local windows; Redis was up the whole time", i)
		}
	}
}

func ofRoute(as []alert.Alert, route string) []alert.Alert {
	var out []alert.Alert
	for _, a := range as {
		if a.Key.Route == route {
			out = append(out, a)
		}
	}
	return out
}

// TestFleetWindowRedisOutage: Redis stops mid-incident. The collectors
// judge their local windows: alerts keep coming (a new incident fires on
// each collector that sees it, the documented duplicate), the pipeline
// never waits. Redis comes back empty: the fleet converges on one id per
// incident without firing again, and resolves each incident once.
func TestFleetWindowRedisOutage(t *testing.T) {
	const cart = "/api/cart"
	r := redistest.StartServer(t)
	fleet := startWindowFleetMin(t, r.Addr, 30)
	slow := fleetDurations(300, fleetP95)
	// Slow on every collector's own share too: judged alone during the
	// outage, no collector sees its endpoints recover (a share whose own
	// p95 fell under the threshold would resolve on its own, as
	// documented, whenever the outage outlasts resolve.after).
	stillSlow := make([]time.Duration, 60)
	for i := range stillSlow {
		stillSlow[i] = fleetP95 + 300*time.Millisecond
	}

	roundRobin(fleet, slow)
	waitFleet(t, fleet, "the quantile alert of "+fleetRoute, func(as []alert.Alert) bool {
		return len(byReason(as, alert.ReasonQuantile)) > 0
	})
	// Still slow for a few flushes: every collector knows the incident.
	for range 12 {
		roundRobin(fleet, stillSlow)
		time.Sleep(250 * time.Millisecond) // pacing of the slow traffic
	}

	r.Stop()
	began := time.Now()
	var outage time.Duration
	got := waitFleet(t, fleet, "the quantile alert of "+cart+" during the outage", func(as []alert.Alert) bool {
		t0 := time.Now()
		roundRobinRoute(fleet, fleetRoute, stillSlow)
		roundRobinRoute(fleet, cart, stillSlow)
		outage = max(outage, time.Since(t0))
		return len(byReason(ofRoute(as, cart), alert.ReasonQuantile)) > 0
	})
	if outage > 2*time.Second {
		t.Errorf("sending took up to %v during the outage: the pipeline waited for Redis", outage)
	}
	for _, m := range fleet {
		m.c.waitLog(alertTimeout, "the fallback warning", func(l string) bool {
			return strings.Contains(l, "fleet-wide windows: Redis failed")
		})
	}
	t.Logf("outage: %v until %v fired; alerts so far %v", time.Since(began), cart, reasonsOf(got))
	// Let every collector fire on its own during the outage.
	for range 8 {
		roundRobinRoute(fleet, fleetRoute, stillSlow)
		roundRobinRoute(fleet, cart, stillSlow)
		time.Sleep(250 * time.Millisecond) // pacing of the slow traffic
	}

	redistest.StartServerOn(t, r.Port)
	deadline := time.Now().Add(2 * alertTimeout)
	for _, m := range fleet {
		for !strings.Contains(m.c.log(), "fleet-wide windows: Redis answers again") {
			if time.Now().After(deadline) {
				t.Fatalf("a collector did not return to Redis")
			}
			roundRobinRoute(fleet, fleetRoute, stillSlow)
			roundRobinRoute(fleet, cart, stillSlow)
			time.Sleep(250 * time.Millisecond) // pacing of the slow traffic
		}
	}
	before := fleetAlerts(t, fleet)
	for range 12 { // still slow for 3 s after the return: nothing fires again
		roundRobinRoute(fleet, fleetRoute, stillSlow)
		roundRobinRoute(fleet, cart, stillSlow)
		time.Sleep(250 * time.Millisecond) // pacing of the slow traffic
	}
	after := fleetAlerts(t, fleet)
	if len(after) != len(before) {
		t.Errorf("alerts after Redis returned: %v, want none", reasonsOf(after[len(before):]))
	}
	firedCart := byReason(ofRoute(after, cart), alert.ReasonQuantile)
	if n := len(firedCart); n < 1 || n > fleetCollector {
		t.Errorf("%d firing alerts for %s, want 1 to %d (at most one per collector during the outage)", n, cart, fleetCollector)
	}
	if n := len(byReason(ofRoute(after, fleetRoute), alert.ReasonQuantile)); n != 1 {
		t.Errorf("%d firing alerts for %s, want 1 (it opened before the outage)", n, fleetRoute)
	}

	// Fast: one resolved alert per incident across the fleet.
	fast := make([]time.Duration, 60)
	for i := range fast {
		fast[i] = 20 * time.Millisecond
	}
	deadline = time.Now().Add(alertTimeout)
	for len(byReason(fleetAlerts(t, fleet), alert.ReasonResolved)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not two resolved alerts within %s; alerts: %v", alertTimeout, reasonsOf(fleetAlerts(t, fleet)))
		}
		roundRobinRoute(fleet, fleetRoute, fast)
		roundRobinRoute(fleet, cart, fast)
		time.Sleep(250 * time.Millisecond) // pacing of the fast traffic
	}
	time.Sleep(fleetSettle)
	final := fleetAlerts(t, fleet)
	resolved := byReason(final, alert.ReasonResolved)
	if len(resolved) != 2 || len(ofRoute(resolved, cart)) != 1 {
		t.Fatalf("want one resolved alert per route, got %d: %v", len(resolved), reasonsOf(final))
	}
	ids := map[string]bool{}
	for _, a := range firedCart {
		ids[a.Incident.ID] = true
	}
	if id := ofRoute(resolved, cart)[0].Incident.ID; !ids[id] {
		t.Errorf("the resolved alert of %s has incident %s, not one that fired", cart, id)
	}
}
