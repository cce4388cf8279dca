package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slowspan/slowspan/internal/redistest"
)

// fleetConfig: the slowspan processor sharing its dedup state through Redis.
func fleetConfig(redisAddr string) configFunc {
	return func(httpPort int) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  slowspan:
    threshold: 500ms
    dedup:
      redis:
        endpoint: %s
        key_prefix: "it:slowspan:"
        timeout: 2s
exporters:
  debug:
    verbosity: detailed
service:
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
`, httpPort, redisAddr)
	}
}

// TestFleetAlertsOncePerKey: three collectors behind a round-robin balancer
// share one Redis; each endpoint alerts once across the fleet, and an
// escalation fires once too.
func TestFleetAlertsOncePerKey(t *testing.T) {
	r := redistest.StartServer(t)
	var fleet []*collector
	var senders []*spanSender
	for range 3 {
		c := startCollector(t, fleetConfig(r.Addr))
		fleet = append(fleet, c)
		senders = append(senders, newSpanSender(t, c, "fleet-shop"))
	}
	routes := []string{"/api/cart", "/api/checkout/{id}", "/api/search"}
	// Each route 6 times, round-robin over the collectors. Every flush returns
	// once the collector has processed the request (the pipeline is
	// synchronous), so the decisions happen in this order.
	n := 0
	for range 6 {
		for _, route := range routes {
			s := senders[n%3]
			s.serverSpan("GET", route, 2*time.Second)
			s.flush()
			n++
		}
	}
	total := func(key, value string) int {
		sum := 0
		for _, c := range fleet {
			sum += countAttr(c.log(), key, value)
		}
		return sum
	}
	for _, route := range routes {
		if got := total(attrRoute, route); got != 1 {
			t.Errorf("route %s: %d alerts across the fleet, want exactly 1", route, got)
		}
	}

	// Escalation: a span over twice as slow, sent to every collector: one
	// escalation across the fleet, the others suppressed (the bar moved).
	for _, s := range senders {
		s.serverSpan("GET", "/api/cart", 5*time.Second)
		s.flush()
	}
	if got := total(attrReason, "escalation"); got != 1 {
		t.Errorf("%d escalation alerts across the fleet, want exactly 1", got)
	}
	if got := total(attrAlertID, ""); got != len(routes)+1 {
		t.Errorf("%d alerts in all, want %d", got, len(routes)+1)
	}
	for i, c := range fleet {
		if strings.Contains(c.log(), "Redis dedup backend failed") {
			t.Errorf("collector %d fell back to local dedup; Redis was up the whole time", i)
		}
	}
}

// TestRedisOutageFallbackAndRecovery: Redis stops mid-run; alerts keep coming
// (local dedup), the collector logs the outage once, and fleet-wide dedup
// resumes when Redis is back.
func TestRedisOutageFallbackAndRecovery(t *testing.T) {
	r := redistest.StartServer(t)
	c := startCollector(t, fleetConfig(r.Addr))
	s := newSpanSender(t, c, "outage-shop")

	s.serverSpan("GET", "/api/before", 2*time.Second)
	s.flush()
	waitForRouteAlert(c, "/api/before")

	r.Stop()
	s.serverSpan("GET", "/api/during", 2*time.Second)
	s.serverSpan("GET", "/api/during", 2*time.Second)
	s.flush()
	log := waitForRouteAlert(c, "/api/during")
	if n := countAttr(log, attrRoute, "/api/during"); n != 1 {
		t.Errorf("during the outage /api/during alerted %d times, want 1 (local dedup)", n)
	}
	c.waitLog(alertTimeout, "the outage warning", func(l string) bool {
		return strings.Contains(l, "Redis dedup backend failed")
	})

	// Redis back on the same port, empty (no persistence). The collector
	// retries after its backoff (1 s at first); keep sending fresh slow spans
	// until it reports that Redis answers again.
	r2 := redistest.StartServerOn(t, r.Port)
	deadline := time.Now().Add(alertTimeout)
	for i := 0; !strings.Contains(c.log(), "fleet-wide dedup resumed"); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the collector did not return to Redis within %s", alertTimeout)
		}
		s.serverSpan("GET", fmt.Sprintf("/api/after/%c", 'a'+i%26), 2*time.Second)
		s.flush()
		time.Sleep(200 * time.Millisecond) // pacing of a bounded retry loop, not synchronisation
	}
	// Now the state is in Redis again.
	client := redis.NewClient(&redis.Options{Addr: r2.Addr})
	defer func() { _ = client.Close() }()
	keys, err := client.Keys(context.Background(), "it:slowspan:key:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Errorf("no dedup keys in Redis after recovery")
	}
	if n := strings.Count(c.log(), "Redis dedup backend failed"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
}
