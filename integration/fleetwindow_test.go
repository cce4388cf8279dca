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

// fleetWindowConfig: quantile mode (p95 over 10 s, min_count 900, resolve
// after 3 s), shared through Redis every second, alerts to dir's file.
func fleetWindowConfig(redisAddr, dir, id string) configFunc {
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
`, httpPort, fleetOver, fleetRequests, fleetResolve, redisAddr, id, fleetFlush, filepath.Join(dir, "alerts.jsonl"))
	}
}

type fleetMember struct {
	c    *collector
	s    *spanSender
	file string
}

func startWindowFleet(t *testing.T, redisAddr string) []*fleetMember {
	t.Helper()
	var out []*fleetMember
	for i := range fleetCollector {
		dir := t.TempDir()
		c := startCollector(t, fleetWindowConfig(redisAddr, dir, fmt.Sprintf("it-%d", i)))
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
	for i, d := range durs {
		fleet[i%len(fleet)].s.serverSpan("GET", fleetRoute, d)
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
