package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// appsConfig: OTLP on gRPC (apps) and HTTP (readiness), the slowspan
// processor on traces and profiles, alerts to a file with reports.
type appsConfig struct {
	grpcPort int
	dir      string // alert file, reports and state
	extra    string // more processor settings, indented by 4
	wait     time.Duration
	// more exporters (YAML indented by 2) and the names to add to the
	// alerts pipeline beside alertfile
	exporters     string
	alertsExtraTo []string
}

func (c appsConfig) render(httpPort int) string {
	return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
extensions:
  file_storage:
    directory: %q
    create_directory: true
processors:
  slowspan:
    threshold: 500ms
    exclude: ["/health"]
    routes:
      - match: /reports/*
        threshold: 1s
    dedup:
      storage: file_storage
    correlation:
      wait: %s
%s
exporters:
  alertfile:
    path: %q
    reports: %q
    sending_queue:
      storage: file_storage
  nop:
%s
service:
  extensions: [file_storage]
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [%s]
    profiles:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [nop]
  telemetry:
    metrics:
      level: none
`, c.grpcPort, httpPort, filepath.Join(c.dir, "state"), c.wait, c.extra,
		filepath.Join(c.dir, "alerts.jsonl"), filepath.Join(c.dir, "reports"),
		c.exporters, strings.Join(append([]string{"alertfile"}, c.alertsExtraTo...), ", "))
}

func (c appsConfig) alertFile() string { return filepath.Join(c.dir, "alerts.jsonl") }

func startAppsCollector(t *testing.T, cfg *appsConfig) *collector {
	t.Helper()
	if cfg.dir == "" {
		cfg.dir = t.TempDir()
	}
	if cfg.wait == 0 {
		cfg.wait = 2 * time.Second
	}
	render := cfg.render
	if cfg.grpcPort == 0 {
		// First start: each attempt of startCollector (a retry after a port
		// was taken meanwhile) gets a fresh gRPC port too. Restarts keep
		// the port the apps export to.
		render = func(httpPort int) string {
			cfg.grpcPort = freePort(t)
			return cfg.render(httpPort)
		}
	}
	return startCollector(t, render, "--feature-gates=service.profilesSupport")
}

func byRoute(as []alert.Alert) map[string][]alert.Alert {
	m := map[string][]alert.Alert{}
	for _, a := range as {
		m[a.Key.Route] = append(m[a.Key.Route], a)
	}
	return m
}

// TestGoAppAlertsWithProfileAndBreakdown: a real otelhttp app with
// spanprofiler. Each slow endpoint alerts once, with the route template; the
// CPU-bound one names the burning function and has a flame graph; the one
// slow because of 42 queries shows them grouped; fast, excluded and
// under-threshold routes never alert.
func TestGoAppAlertsWithProfileAndBreakdown(t *testing.T) {
	cfg := &appsConfig{}
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "go-shop")

	for _, p := range []string{"/fast", "/slow/cpu", "/slow/db", "/users/42", "/users/43", "/health", "/reports/daily", "/fast"} {
		a.request("GET", p)
	}
	a.flush()

	want := []string{"/slow/cpu", "/slow/db", "/users/{id}"}
	got := waitAlerts(t, c, cfg.alertFile(), "alerts for "+strings.Join(want, ", "), func(as []alert.Alert) bool {
		return len(as) >= len(want)
	})
	routes := routesOf(got)
	slices.Sort(routes)
	if !slices.Equal(routes, want) {
		t.Fatalf("alert routes = %v, want %v (once each; /fast, /health and /reports/daily never)", routes, want)
	}
	m := byRoute(got)

	cpu := m["/slow/cpu"][0]
	if cpu.Key.Service != "go-shop" || cpu.Key.Method != "GET" || cpu.Duration < 500*time.Millisecond || cpu.Threshold != 500*time.Millisecond {
		t.Errorf("cpu alert: %v duration %v threshold %v", cpu.Key, cpu.Duration, cpu.Threshold)
	}
	if cpu.Profile == nil {
		t.Fatalf("the CPU-bound alert has no profile")
	}
	var names []string
	for _, f := range cpu.Profile.TopFunctions {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "main.burnCPU") {
		t.Errorf("top functions %v do not name main.burnCPU", names)
	}
	if cpu.Profile.HottestFrame != "main.burnCPU" {
		t.Errorf("hottest frame %q, want main.burnCPU", cpu.Profile.HottestFrame)
	}
	if cpu.Profile.CPUTime <= 0 || cpu.Profile.Samples == 0 {
		t.Errorf("profile cpu %v samples %d", cpu.Profile.CPUTime, cpu.Profile.Samples)
	}
	// The flame graph and the pprof are among the report files.
	svgs, _ := filepath.Glob(filepath.Join(cfg.dir, "reports", "*"+cpu.Key.Hash()+"*.svg"))
	if len(svgs) != 1 {
		t.Fatalf("want one flame graph SVG for the CPU alert, got %v", svgs)
	}
	svg, _ := os.ReadFile(svgs[0])
	if !strings.Contains(string(svg), "main.burnCPU") {
		t.Errorf("the flame graph does not show main.burnCPU")
	}
	if pbs, _ := filepath.Glob(strings.TrimSuffix(svgs[0], ".svg") + ".pb.gz"); len(pbs) != 1 {
		t.Errorf("no .pb.gz beside %s", svgs[0])
	}

	db := m["/slow/db"][0]
	if db.Breakdown == nil || len(db.Breakdown.Children) == 0 {
		t.Fatalf("the query-bound alert has no breakdown")
	}
	g := db.Breakdown.Children[0]
	if g.Count != 42 || g.Kind != "client" || !strings.HasPrefix(g.Description, "postgresql SELECT * FROM orders WHERE id = ?") {
		t.Errorf("breakdown group = %+v, want 42 x postgresql SELECT ... grouped", g)
	}
	if len(m["/users/{id}"]) != 1 {
		t.Errorf("/users/42 and /users/43 must share one key and alert once")
	}
}
