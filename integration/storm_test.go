package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/slowspan/slowspan/alert"
)

// stormWords are plain words: no normalisation can tell them from a route
// segment, so each is its own endpoint key.
var stormWords = []string{"apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "iris", "juniper",
	"kiwi", "lemon", "mango", "nectar", "olive", "peach", "quince", "rowan", "sloe", "tansy"}

// TestAlertStormIsFolded: 300 slow spans without http.route on
// /search/<word> paths are 300 endpoint keys. At most alerts.max_per_minute
// (default 60) of them go out as alerts in a minute; the rest arrive folded
// into storm summaries that list them, and none is lost.
func TestAlertStormIsFolded(t *testing.T) {
	cfg := &appsConfig{wait: time.Millisecond}
	c := startAppsCollector(t, cfg)
	s := newSpanSender(t, c, "storm-shop")
	const n = 300
	for i := range n {
		path := fmt.Sprintf("/search/%s-%s", stormWords[i%len(stormWords)], stormWords[i/len(stormWords)])
		start := time.Now().Add(-time.Minute)
		_, span := s.tr.Start(context.Background(), "GET", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
			trace.WithAttributes(attribute.String("url.path", path), attribute.String("http.request.method", "GET")))
		span.End(trace.WithTimestamp(start.Add(time.Second)))
	}
	s.flush()
	// Shutdown hands the summary of the current minute to alertfile, whose
	// persistent queue writes it at the next start.
	c.stop()
	c = startAppsCollector(t, cfg)
	got := waitAlerts(t, c, cfg.alertFile(), "all 300 endpoints alerted or folded", func(as []alert.Alert) bool {
		var total int64
		for _, a := range as {
			if a.Folded != nil {
				total += a.Folded.Count
			} else {
				total++
			}
		}
		return total >= n
	})

	var alerts, summaries int
	var folded int64
	routes := map[string]bool{}
	for _, a := range got {
		if a.Reason == alert.ReasonStorm {
			summaries++
			if a.Folded == nil {
				t.Fatalf("storm summary %s without its folded endpoints", a.ID)
			}
			folded += a.Folded.Count
			for _, e := range a.Folded.Endpoints {
				routes[e.Key.Route] = true
			}
			continue
		}
		alerts++
		routes[a.Key.Route] = true
	}
	// The batch may straddle a minute boundary: two minutes, two budgets.
	if alerts < 60 || alerts > 120 || summaries < 1 || summaries > 2 {
		t.Errorf("%d alerts and %d storm summaries, want 60 (or up to 120 across a minute boundary) and 1 (or 2)", alerts, summaries)
	}
	if int64(alerts)+folded != n {
		t.Errorf("%d alerts + %d folded = %d, want all %d slow endpoints accounted for", alerts, folded, int64(alerts)+folded, n)
	}
	if summaries == 1 && len(routes) != alerts+alert.MaxFoldedEndpoints {
		t.Errorf("%d routes named, want the %d alerts' and %d listed in the summary", len(routes), alerts, alert.MaxFoldedEndpoints)
	}
}
