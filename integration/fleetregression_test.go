package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/redistest"
)

// fleetRegressionConfig: mode regression (p95 over 1m, min_count 120,
// factor 1.5, min_delta 100ms), windows and incidents shared through Redis
// every second, alerts to dir's file.
func fleetRegressionConfig(redisAddr, dir, id string) configFunc {
	return func(httpPort int) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  slowspan:
    threshold: 100ms
    trigger:
      mode: regression
      quantile: 0.95
      over: 1m
      min_count: 120
      regression:
        factor: 1.5
        min_delta: 100ms
    dedup:
      redis:
        endpoint: %s
        key_prefix: "it:fleetreg:"
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
`, httpPort, redisAddr, id, fleetFlush, filepath.Join(dir, "alerts.jsonl"))
	}
}

// TestFleetRegressionEndToEnd: three collectors behind a round-robin
// balancer, each seeing a third of the requests (50 per version and route,
// under min_count 120 on its own). Version 1.1 makes /api/orders four times
// slower: exactly one regression alert across the fleet, with the fleet's
// windows of both versions; /api/catalog, unchanged, and /api/rare, slower
// but with 60 requests of 1.1 over the fleet, stay silent.
func TestFleetRegressionEndToEnd(t *testing.T) {
	r := redistest.StartServer(t)
	var fleet []*fleetMember
	var v11 []*spanSender
	for i := range fleetCollector {
		dir := t.TempDir()
		c := startCollector(t, fleetRegressionConfig(r.Addr, dir, fmt.Sprintf("it-%d", i)))
		svc := attribute.String("service.name", "fleet-shop")
		fleet = append(fleet, &fleetMember{c: c, file: alertsFile(dir),
			s: newSpanSenderWith(t, c, svc, attribute.String("service.version", "1.0"))})
		v11 = append(v11, newSpanSenderWith(t, c, svc, attribute.String("service.version", "1.1")))
	}
	const n = 150
	for _, route := range []string{"/api/orders", "/api/catalog", "/api/rare"} {
		roundRobinRoute(fleet, route, fleetDurations(n, 150*time.Millisecond))
	}

	// The new version, on the same collectors.
	for i, m := range fleet {
		m.s = v11[i]
	}
	roundRobinRoute(fleet, "/api/orders", fleetDurations(n, 600*time.Millisecond))
	roundRobinRoute(fleet, "/api/catalog", fleetDurations(n, 155*time.Millisecond))
	roundRobinRoute(fleet, "/api/rare", fleetDurations(60, 900*time.Millisecond))

	waitFleet(t, fleet, "the regression alert", func(as []alert.Alert) bool {
		return len(byReason(as, alert.ReasonRegression)) > 0
	})
	time.Sleep(fleetSettle) // a second firing would show within a few flushes
	got := fleetAlerts(t, fleet)
	if len(got) != 1 {
		t.Fatalf("want exactly one alert (regression of /api/orders) across the fleet, got %v of %v", reasonsOf(got), routesOf(got))
	}
	a := got[0]
	if a.Reason != alert.ReasonRegression || a.Key.Route != "/api/orders" {
		t.Fatalf("got a %s alert of %s, want a regression of /api/orders", a.Reason, a.Key.Route)
	}
	reg := a.Regression
	if reg == nil || reg.Before.Window == nil || reg.After.Window == nil {
		t.Fatalf("the alert has no before and after windows: %+v", reg)
	}
	if reg.Before.Version != "1.0" || reg.After.Version != "1.1" {
		t.Errorf("versions %q -> %q, want 1.0 -> 1.1", reg.Before.Version, reg.After.Version)
	}
	if reg.Before.Window.Count != n || reg.After.Window.Count != n {
		t.Errorf("window counts %d -> %d, want the fleet's %d -> %d", reg.Before.Window.Count, reg.After.Window.Count, n, n)
	}
	for _, c := range []struct {
		what      string
		got, want time.Duration
	}{
		{"p95 of 1.0", reg.Before.Window.QuantileValue, 150 * time.Millisecond},
		{"p95 of 1.1", reg.After.Window.QuantileValue, 600 * time.Millisecond},
	} {
		if diff := float64(c.got-c.want) / float64(c.want); diff < -0.02 || diff > 0.02 {
			t.Errorf("%s %v, want within 2 %% of %v", c.what, c.got, c.want)
		}
	}
	for i, m := range fleet {
		if strings.Contains(m.c.log(), "fleet-wide windows: Redis failed") {
			t.Errorf("collector %d fell back to its local windows; Redis was up the whole time", i)
		}
	}
	t.Logf("fired: p95 %v -> %v over %d -> %d requests, incident %s", reg.Before.Window.QuantileValue,
		reg.After.Window.QuantileValue, reg.Before.Window.Count, reg.After.Window.Count, a.Incident.ID)
}

// TestFleetRegressionAfterARestart: the fleet sees 1.0, then the first
// requests of 1.1, too few to judge; the first collector with a baseline
// shares it in Redis. Every collector is then killed and replaced (no
// storage): the new ones see only 1.1, and still compare it with 1.0, the
// fleet's figures and exemplar kept in Redis: one regression alert.
func TestFleetRegressionAfterARestart(t *testing.T) {
	r := redistest.StartServer(t)
	start := func(gen string) ([]*fleetMember, []*spanSender) {
		var fleet []*fleetMember
		var v11 []*spanSender
		for i := range fleetCollector {
			dir := t.TempDir()
			c := startCollector(t, fleetRegressionConfig(r.Addr, dir, fmt.Sprintf("it-%s-%d", gen, i)))
			svc := attribute.String("service.name", "fleet-shop")
			fleet = append(fleet, &fleetMember{c: c, file: alertsFile(dir),
				s: newSpanSenderWith(t, c, svc, attribute.String("service.version", "1.0"))})
			v11 = append(v11, newSpanSenderWith(t, c, svc, attribute.String("service.version", "1.1")))
		}
		return fleet, v11
	}
	first, v11 := start("a")
	roundRobinRoute(first, "/api/orders", fleetDurations(150, 150*time.Millisecond))
	for i, m := range first {
		m.s = v11[i]
	}
	roundRobinRoute(first, "/api/orders", fleetDurations(30, 600*time.Millisecond))

	client := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer func() { _ = client.Close() }()
	deadline := time.Now().Add(alertTimeout)
	for {
		keys, err := client.Keys(context.Background(), "it:fleetreg:base:*").Result()
		if err == nil && len(keys) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no baseline shared in Redis within %s (keys %v, err %v)", alertTimeout, keys, err)
		}
		time.Sleep(pollInterval) // poll interval of a bounded wait
	}
	for _, m := range first {
		m.c.kill()
	}
	if got := fleetAlerts(t, first); len(got) != 0 {
		t.Fatalf("alerts before the restart: %v", reasonsOf(got))
	}

	second, v11 := start("b")
	for i, m := range second {
		m.s = v11[i]
	}
	roundRobinRoute(second, "/api/orders", fleetDurations(150, 600*time.Millisecond))
	waitFleet(t, second, "the regression alert", func(as []alert.Alert) bool {
		return len(byReason(as, alert.ReasonRegression)) > 0
	})
	time.Sleep(fleetSettle) // a second firing would show within a few flushes
	got := fleetAlerts(t, second)
	if len(got) != 1 || got[0].Regression == nil {
		t.Fatalf("want exactly one regression alert after the restart, got %v", reasonsOf(got))
	}
	before := got[0].Regression.Before
	if before.Version != "1.0" || before.Window == nil || before.Window.Count != 150 {
		t.Fatalf("the baseline is %q with figures %+v, want 1.0 over the fleet's 150 requests", before.Version, before.Window)
	}
	t.Logf("after the restart: 1.0 p95 %v over %d requests -> 1.1 p95 %v", before.Window.QuantileValue, before.Window.Count,
		got[0].Regression.After.Window.QuantileValue)
}
