package integration

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// TestNodeAppAlerts: an express app instrumented with the OpenTelemetry JS
// SDK and contrib instrumentation. Slow routes alert once each, keyed on the
// route template express reports, in the alert file and in Mattermost; the
// fast route never alerts.
func TestNodeAppAlerts(t *testing.T) {
	f := newFakeMattermost(t)
	cfg := &appsConfig{}
	withMattermost(cfg, f)
	c := startAppsCollector(t, cfg)
	a := startNodeApp(t, c.httpPort, "node-shop")

	for _, p := range []string{"/fast", "/slow", "/items/1", "/items/2", "/slow", "/fast"} {
		a.request("GET", p)
	}
	a.flush()

	want := []string{"/items/:id", "/slow"}
	got := waitAlerts(t, c, cfg.alertFile(), "the Node app's alerts", func(as []alert.Alert) bool { return len(as) >= len(want) })
	routes := routesOf(got)
	slices.Sort(routes)
	if !slices.Equal(routes, want) {
		t.Fatalf("alert routes = %v, want %v", routes, want)
	}
	for _, al := range got {
		if al.Key.Service != "node-shop" || al.Key.Method != "GET" || al.Threshold != 500*time.Millisecond ||
			al.Duration < 500*time.Millisecond || len(al.TraceID) != 32 {
			t.Errorf("alert %v: duration %v threshold %v trace %q", al.Key, al.Duration, al.Threshold, al.TraceID)
		}
	}

	posts := waitPosts(t, c, f, "the Node app's posts", len(want))
	if len(posts) != len(want) {
		t.Fatalf("%d posts, want %d", len(posts), len(want))
	}
	for _, r := range want {
		n := 0
		for _, p := range posts {
			if strings.Contains(p.Message, r) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("route %s in %d posts, want 1", r, n)
		}
	}
}
