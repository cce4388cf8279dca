package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

// The quantile scenarios judge apps/goapp's /users/{id}, whose latency the
// ?delay= parameter sets. The slow traffic is the slowest of all, so the
// window's worst request (the firing alert's span) is one of it.
const (
	quantileThreshold = 200 * time.Millisecond
	quantileRoute     = "/users/{id}"
	fastDelay         = time.Millisecond
	outlierDelay      = 400 * time.Millisecond
	slowDelay         = 500 * time.Millisecond
	// slowRequests is well past min_count; calmRequests brings the 30
	// slow ones (and the outlier) under 5 % of the window, so p95 drops
	// below the threshold.
	slowRequests = 30
	calmRequests = 800
	// The first user id of each kind of traffic: the firing alert's
	// url.path tells which request it shows.
	fastIDs    = 1000
	slowIDs    = 2000
	calmIDs    = 3000
	outlierID  = 5000
	slowIDs2nd = 10000 // and up: the later rounds of slow traffic
)

// quantileConfig: the slowspan processor in quantile mode (p95 over 10 s,
// min_count 20) in front of alertfile, with open incidents in file_storage.
// Routes under /marker/ stay in span mode: a marker's alert, which waits out
// correlation.wait like any, proves that what came before it was processed.
// The alert file has no sending queue, so alerts reach it in the order they
// are delivered, and an alert is in the file before its delivery commits.
type quantileConfig struct {
	grpcPort     int
	dir          string
	resolveAfter time.Duration
	// mattermost, when set, is the URL of a fake Mattermost the alerts
	// also go to (API mode, threads in file_storage).
	mattermost string
}

func (c *quantileConfig) render(httpPort int) string {
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
    threshold: %s
    trigger:
      mode: quantile
      quantile: 0.95
      over: 10s
      min_count: 20
    resolve:
      after: %s
    routes:
      - match: /marker/*
        threshold: %s
        trigger: {mode: span}
    dedup:
      storage: file_storage
    correlation:
      wait: 500ms
exporters:
  alertfile:
    path: %q
    sending_queue:
      enabled: false
%s  nop:
service:
  extensions: [file_storage]
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [alertfile%s]
    profiles:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [nop]
  telemetry:
    metrics:
      level: none
`, c.grpcPort, httpPort, filepath.Join(c.dir, "state"), quantileThreshold, c.resolveAfter, quantileThreshold,
		c.alertFile(), c.mattermostExporter(), c.mattermostInPipeline())
}

func (c *quantileConfig) mattermostExporter() string {
	if c.mattermost == "" {
		return ""
	}
	return fmt.Sprintf(`  mattermost:
    endpoint: %s
    token: %s
    channel_id: %s
    storage: file_storage
    sending_queue:
      enabled: false
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 0s
`, c.mattermost, mmToken, mmChannel)
}

func (c *quantileConfig) mattermostInPipeline() string {
	if c.mattermost == "" {
		return ""
	}
	return ", mattermost"
}

func (c *quantileConfig) alertFile() string { return filepath.Join(c.dir, "alerts.jsonl") }

// startQuantileCollector starts (or restarts, on the same state and gRPC
// port) the collector of cfg.
func startQuantileCollector(t *testing.T, cfg *quantileConfig) *collector {
	t.Helper()
	if cfg.dir == "" {
		cfg.dir = t.TempDir()
	}
	render := cfg.render
	if cfg.grpcPort == 0 {
		render = func(httpPort int) string {
			cfg.grpcPort = freePort(t)
			return cfg.render(httpPort)
		}
	}
	return startCollector(t, render, "--feature-gates=service.profilesSupport")
}

// quantileRun is one collector of a scenario and the goapp sending to it.
type quantileRun struct {
	t   *testing.T
	cfg *quantileConfig
	c   *collector
	app *app
}

func (r *quantileRun) startApp() {
	r.app = startGoApp(r.t, fmt.Sprintf("127.0.0.1:%d", r.cfg.grpcPort), "quantile-shop")
}

// drive sends n requests to /users/<first+i> taking delay each, parallel at a
// time, then flushes the app's spans. The ids are numbers: the app sets no
// http.route, and the processor normalises a numeric segment to {id}. The
// flush returns once the collector's pipeline took the export, so the
// processor has recorded (and judged) them.
func (r *quantileRun) drive(first, n int, delay time.Duration, parallel int) {
	r.t.Helper()
	paths := make(chan string, n)
	for i := range n {
		paths <- fmt.Sprintf("/users/%d?delay=%s", first+i, delay)
	}
	close(paths)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				errs <- getOK("http://" + r.app.addr + p)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.app.flush()
}

// getOK is one request that must answer 200; safe in any goroutine.
func getOK(url string) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := appClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// mark sends one slow span on /marker/<name> (span mode) over OTLP HTTP and
// waits for its alert. Everything processed before it whose alert was due
// no later is then in the file: alerts leave in due order, one delivery at
// a time, and the file is written synchronously. It returns the /users/{id}
// alerts so far.
func (r *quantileRun) mark(name string) []alert.Alert {
	r.t.Helper()
	route := "/marker/" + name
	s := newSpanSender(r.t, r.c, "quantile-marker")
	s.serverSpan("GET", route, time.Second)
	s.flush()
	got := waitAlerts(r.t, r.c, r.cfg.alertFile(), "the marker alert of "+route, func(as []alert.Alert) bool {
		for _, a := range as {
			if a.Key.Route == route {
				return true
			}
		}
		return false
	})
	return usersAlerts(got)
}

// waitUsers waits for a /users/{id} alert of reason.
func (r *quantileRun) waitUsers(reason alert.Reason) {
	r.t.Helper()
	waitAlerts(r.t, r.c, r.cfg.alertFile(), "a "+string(reason)+" alert for "+quantileRoute, func(as []alert.Alert) bool {
		for _, a := range usersAlerts(as) {
			if a.Reason == reason {
				return true
			}
		}
		return false
	})
}

func usersAlerts(as []alert.Alert) []alert.Alert {
	var out []alert.Alert
	for _, a := range as {
		if a.Key.Route == quantileRoute {
			out = append(out, a)
		}
	}
	return out
}

func reasonsOf(as []alert.Alert) []alert.Reason {
	var out []alert.Reason
	for _, a := range as {
		out = append(out, a.Reason)
	}
	return out
}

// checkFiring checks the alert that opened the incident: its window is over
// the threshold at p95 and its span is one of the slow requests.
func checkFiring(t *testing.T, a alert.Alert) {
	t.Helper()
	if a.Reason != alert.ReasonQuantile || a.Key.Service != "quantile-shop" || a.Key.Method != "GET" {
		t.Errorf("firing alert = %v %s, want quantile-shop GET %s quantile", a.Key, a.Reason, quantileRoute)
	}
	if a.Threshold != quantileThreshold {
		t.Errorf("firing alert threshold %v, want %v", a.Threshold, quantileThreshold)
	}
	inc := a.Incident
	if inc == nil || len(inc.ID) != 32 || inc.State != alert.IncidentFiring || inc.Mode != alert.ModeQuantile || inc.OpenedAt.IsZero() {
		t.Errorf("firing alert incident = %+v, want a 32-digit id, state firing, mode quantile, opened_at", inc)
	}
	w := a.Window
	if w == nil {
		t.Fatalf("the firing alert has no window")
	}
	if w.P95 < quantileThreshold || w.Quantile != 0.95 || w.QuantileValue < quantileThreshold {
		t.Errorf("firing window p95 %v, quantile %v = %v; want p95 >= %v", w.P95, w.Quantile, w.QuantileValue, quantileThreshold)
	}
	if w.Count < 20 || w.SlowCount < 1 || w.Over != 10*time.Second || len(w.Histogram) == 0 || w.Max < slowDelay {
		t.Errorf("firing window count %d slow %d over %v max %v, %d histogram buckets", w.Count, w.SlowCount, w.Over, w.Max, len(w.Histogram))
	}
	// The window's worst request: one of the slow traffic (the outlier is
	// faster), a real span of the app.
	var id int
	_, err := fmt.Sscanf(a.Attributes["url.path"], "/users/%d", &id)
	if err != nil || id < slowIDs || id >= slowIDs+slowRequests || a.Duration < slowDelay || len(a.TraceID) != 32 {
		t.Errorf("firing alert span: %v, url.path %q, trace %q; want one of the slow requests /users/%d.. (>= %v)",
			a.Duration, a.Attributes["url.path"], a.TraceID, slowIDs, slowDelay)
	}
}

// checkResolved checks the alert that closed the incident opened by firing.
func checkResolved(t *testing.T, firing, a alert.Alert) {
	t.Helper()
	inc := a.Incident
	if inc == nil || firing.Incident == nil {
		t.Fatalf("resolved alert incident = %+v", inc)
	}
	if inc.ID != firing.Incident.ID || inc.State != alert.IncidentResolved || inc.ResolvedAt.IsZero() || !inc.OpenedAt.Equal(firing.Incident.OpenedAt) {
		t.Errorf("resolved incident = %+v, want the id %s and opened_at of the firing one, state resolved, resolved_at", inc, firing.Incident.ID)
	}
	// No request to show: the span is made for the alert.
	if a.Duration != 0 || a.TraceID == firing.TraceID {
		t.Errorf("resolved alert span: duration %v trace %s, want a synthetic span", a.Duration, a.TraceID)
	}
	if w := a.Window; w != nil && w.P95 >= quantileThreshold {
		t.Errorf("resolved with window p95 %v >= %v", w.P95, quantileThreshold)
	}
}

// TestQuantileIncidentEndToEnd: the real goapp against quantile mode. Fast
// traffic and one slow outlier: no alert. Slow traffic: one quantile alert
// (p95 over the threshold, the worst slow request as its span), silent
// repeats. Fast traffic again: one resolved alert with the same incident id.
func TestQuantileIncidentEndToEnd(t *testing.T) {
	cfg := &quantileConfig{resolveAfter: 2 * time.Second}
	r := &quantileRun{t: t, cfg: cfg, c: startQuantileCollector(t, cfg)}
	r.startApp()

	// 1. Fast, then one outlier: judged on the window, p95 stays fast.
	r.drive(fastIDs, 100, fastDelay, 10)
	r.drive(outlierID, 1, outlierDelay, 1)
	if got := r.mark("quiet"); len(got) != 0 {
		t.Fatalf("fast traffic and one outlier gave %v alerts; quantile mode ignores an outlier", reasonsOf(got))
	}

	// 2. Slow traffic: the incident opens, once.
	r.drive(slowIDs, slowRequests, slowDelay, 10)
	r.waitUsers(alert.ReasonQuantile)
	got := r.mark("fired")
	if len(got) != 1 {
		t.Fatalf("alerts for %s after the slow traffic: %v, want exactly one quantile", quantileRoute, reasonsOf(got))
	}
	firing := got[0]
	checkFiring(t, firing)

	// 3. Calm: p95 falls under the threshold, and resolve.after later the
	// incident closes.
	r.drive(calmIDs, calmRequests, fastDelay, 20)
	r.waitUsers(alert.ReasonResolved)
	got = r.mark("after")
	if len(got) != 2 || got[1].Reason != alert.ReasonResolved {
		t.Fatalf("alerts for %s: %v, want quantile then resolved, nothing else", quantileRoute, reasonsOf(got))
	}
	checkResolved(t, firing, got[1])
}

// TestQuantileIncidentSurvivesSIGKILL: the collector is killed while the
// incident is open, and has been for longer than resolve.after. After the
// restart the incident is loaded from file_storage: slow traffic again does
// not fire it anew, and calm resolves it with the id it opened with.
func TestQuantileIncidentSurvivesSIGKILL(t *testing.T) {
	// resolve.after covers the restart: the incident is judged on an empty
	// window until the app's traffic is back, and its last true condition
	// was saved up to 5 s (the pipeline's save period) before the kill.
	const resolveAfter = 12 * time.Second
	cfg := &quantileConfig{resolveAfter: resolveAfter}
	r := &quantileRun{t: t, cfg: cfg, c: startQuantileCollector(t, cfg)}
	r.startApp()

	r.drive(slowIDs, slowRequests, slowDelay, 10)
	r.waitUsers(alert.ReasonQuantile)
	got := r.mark("fired")
	if len(got) != 1 {
		t.Fatalf("alerts for %s: %v, want exactly one quantile", quantileRoute, reasonsOf(got))
	}
	firing := got[0]
	checkFiring(t, firing)

	// Still slow, past resolve.after since the firing alert: what a restart
	// must keep is when the condition was last true, not when it alerted.
	id := slowIDs2nd
	for time.Since(firing.Incident.OpenedAt) <= resolveAfter+time.Second {
		r.drive(id, slowRequests, slowDelay, 10)
		id += slowRequests
	}
	if got := r.mark("held"); len(got) != 1 {
		t.Fatalf("alerts for %s while the incident is open: %v, want only the first quantile", quantileRoute, reasonsOf(got))
	}

	// A new app after the restart: the old one's exporter would reconnect
	// with a backoff of seconds.
	r.app.stop()
	r.c.kill()
	killed := time.Now()
	r.c = startQuantileCollector(t, cfg)
	r.startApp()

	r.drive(id, slowRequests, slowDelay, 15)
	if got := r.mark("restarted"); len(got) != 1 {
		t.Fatalf("alerts for %s after SIGKILL, restart (%v) and slow traffic: %v, want only the first quantile (the incident is still open)",
			quantileRoute, time.Since(killed).Round(time.Millisecond), reasonsOf(got))
	}

	r.drive(calmIDs, calmRequests, fastDelay, 20)
	r.waitUsers(alert.ReasonResolved)
	got = r.mark("after")
	if len(got) != 2 || got[1].Reason != alert.ReasonResolved {
		t.Fatalf("alerts for %s across both runs: %v, want quantile then resolved, nothing else", quantileRoute, reasonsOf(got))
	}
	checkResolved(t, firing, got[1])
}

// TestQuantileIncidentResolvesAfterRestart: the collector is killed while
// the incident is open and comes back to no traffic at all: the incident
// loaded from file_storage resolves on the timer, resolve.after after its
// condition was last true, with its id, before any span arrives (this
// crashed the collector: the alert had no pipeline yet to go to).
func TestQuantileIncidentResolvesAfterRestart(t *testing.T) {
	cfg := &quantileConfig{resolveAfter: 2 * time.Second}
	r := &quantileRun{t: t, cfg: cfg, c: startQuantileCollector(t, cfg)}
	r.startApp()

	r.drive(slowIDs, slowRequests, slowDelay, 10)
	r.waitUsers(alert.ReasonQuantile)
	got := r.mark("fired")
	if len(got) != 1 {
		t.Fatalf("alerts for %s: %v, want exactly one quantile", quantileRoute, reasonsOf(got))
	}
	firing := got[0]
	checkFiring(t, firing)

	r.app.stop()
	r.c.kill()
	r.c = startQuantileCollector(t, cfg)
	r.waitUsers(alert.ReasonResolved)
	got = r.mark("after")
	if len(got) != 2 || got[1].Reason != alert.ReasonResolved {
		t.Fatalf("alerts for %s across both runs: %v, want quantile then resolved, nothing else", quantileRoute, reasonsOf(got))
	}
	checkResolved(t, firing, got[1])
}

// TestQuantileIncidentMattermostPost: the same incident, also sent to a
// (fake) Mattermost: it is one post, edited in place when the incident
// resolves, with the resolution as a reply in its thread.
func TestQuantileIncidentMattermostPost(t *testing.T) {
	f := newFakeMattermost(t)
	cfg := &quantileConfig{resolveAfter: 2 * time.Second, mattermost: f.URL()}
	r := &quantileRun{t: t, cfg: cfg, c: startQuantileCollector(t, cfg)}
	r.startApp()

	r.drive(slowIDs, slowRequests, slowDelay, 10)
	r.waitUsers(alert.ReasonQuantile)
	// Slower still: the window's p95 passes twice the figure it fired at.
	r.drive(slowIDs2nd, slowRequests, 3*slowDelay, 10)
	r.waitUsers(alert.ReasonEscalation)
	// Enough fast traffic that the 60 slow requests are under 5 %.
	r.drive(calmIDs, 2*calmRequests, fastDelay, 20)
	r.waitUsers(alert.ReasonResolved)
	r.mark("after")

	// The alert file is written first; wait for the post to be edited
	// twice (escalated, resolved) and replied to twice.
	var root *mattermostfake.Post
	var replies []mattermostfake.Post
	r.c.waitLog(alertTimeout, "the incident post edited to escalated then resolved, and two replies", func(string) bool {
		root, replies = nil, nil
		posts := f.Posts(mmChannel)
		for i := range posts {
			p := &posts[i]
			if !strings.Contains(p.Message, quantileRoute) {
				continue
			}
			switch {
			case p.RootID == "" && root == nil:
				root = p
			case root != nil && p.RootID == root.ID:
				replies = append(replies, *p)
			}
		}
		return root != nil && len(replies) >= 2 && root.Edits >= 2
	})
	incidentPosts := 0
	for _, p := range f.Posts(mmChannel) {
		if p.RootID == "" && strings.Contains(p.Message, quantileRoute) {
			incidentPosts++
		}
	}
	if incidentPosts != 1 {
		t.Errorf("%d root posts about %s, want the one incident post", incidentPosts, quantileRoute)
	}
	if root.Edits != 2 || len(replies) != 2 {
		t.Errorf("incident post edited %d times with %d replies, want 2 and 2 (escalation, resolution)", root.Edits, len(replies))
	}
	if !strings.HasPrefix(root.Message, "**Status: :white_check_mark: resolved**") || root.EditAt == 0 {
		t.Errorf("incident post (edit_at %d) =\n%s\nwant it edited to resolved", root.EditAt, root.Message)
	}
	if !strings.Contains(root.Message, "(quantile mode)") {
		t.Errorf("incident post lost the incident's figures:\n%s", root.Message)
	}
	if !strings.Contains(replies[len(replies)-1].Message, "✅ Resolved:") {
		t.Errorf("last reply in the incident's thread = %q, want the resolution", replies[len(replies)-1].Message)
	}
}
