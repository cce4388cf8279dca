package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// TestRestartsKeepTheWindow: SIGTERM, then SIGKILL, then start again on the
// same state: no duplicate alert inside the window, the suppressed count
// carries over both restarts, and escalation still fires.
func TestRestartsKeepTheWindow(t *testing.T) {
	cfg := &appsConfig{wait: time.Millisecond}
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "restart-shop")
	file := cfg.alertFile()

	a.request("GET", "/users/1")
	a.flush()
	got := waitAlerts(t, c, file, "the first alert", func(as []alert.Alert) bool { return len(as) == 1 })
	if got[0].Key.Route != "/users/{id}" || got[0].Reason != alert.ReasonFirst {
		t.Fatalf("first alert = %v %s", got[0].Key, got[0].Reason)
	}

	// Graceful restart.
	c.stop()
	c = startAppsCollector(t, cfg)
	a.request("GET", "/users/2") // suppressed: 600 ms
	a.request("GET", "/slow/db") // a probe: its alert proves the batch was processed
	a.flush()
	got = waitAlerts(t, c, file, "the probe after a graceful restart", func(as []alert.Alert) bool { return len(as) == 2 })
	if got[1].Key.Route != "/slow/db" {
		t.Fatalf("after SIGTERM and restart: alerts %v, want /users/{id} suppressed", routesOf(got))
	}

	// Crash.
	c.kill()
	c = startAppsCollector(t, cfg)
	a.request("GET", "/users/3?delay=700ms") // suppressed: the longest so far
	a.request("GET", "/slow/cpu")            // probe
	a.flush()
	got = waitAlerts(t, c, file, "the probe after a crash", func(as []alert.Alert) bool { return len(as) == 3 })
	if got[2].Key.Route != "/slow/cpu" {
		t.Fatalf("after SIGKILL and restart: alerts %v, want /users/{id} suppressed", routesOf(got))
	}

	// Escalation: more than twice the first alert's duration.
	a.request("GET", "/users/4?delay=1500ms")
	a.flush()
	got = waitAlerts(t, c, file, "the escalation", func(as []alert.Alert) bool { return len(as) == 4 })
	esc := got[3]
	if esc.Key.Route != "/users/{id}" || esc.Reason != alert.ReasonEscalation {
		t.Fatalf("4th alert = %v %s, want /users/{id} escalation", esc.Key, esc.Reason)
	}
	if esc.Suppressed.Count != 2 {
		t.Errorf("escalation reports %d suppressed, want 2 (one before each restart)", esc.Suppressed.Count)
	}
	if esc.Suppressed.MaxDuration < 700*time.Millisecond || esc.Suppressed.MaxDuration > time.Second {
		t.Errorf("suppressed max duration %v, want the 700 ms request", esc.Suppressed.MaxDuration)
	}
	if esc.Suppressed.Since.IsZero() {
		t.Errorf("the escalation does not say since when it counted")
	}
}
