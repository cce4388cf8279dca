package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/mattermostfake"
	"github.com/slowspan/slowspan/internal/postcheck"
)

const (
	mmToken   = "it-bot-token-0123456789"
	mmChannel = "o4rqmwe9xprjbfy5dtnzhe3ckr" // 26 characters, as Mattermost ids are
)

// newFakeMattermost starts the contract-faithful fake (in this process; the
// collector under test posts to it over loopback).
func newFakeMattermost(t *testing.T) *mattermostfake.Server {
	t.Helper()
	f := mattermostfake.New(
		mattermostfake.WithToken(mmToken),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: mmChannel, Name: "alerts", DisplayName: "Alerts"}),
	)
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range f.Requests() {
				t.Logf("fake mattermost: %s %s -> %d", r.Method, r.Path, r.Status)
			}
		}
		if v := f.Violations(); len(v) > 0 {
			t.Errorf("contract violations seen by the fake Mattermost: %v", v)
		}
		// Every post the collector made, rendered by Mattermost's parser.
		if posts := f.Posts(""); len(posts) > 0 {
			postcheck.Check(t, postcheck.FromFake(t.Name(), posts))
		}
		f.Close()
	})
	return f
}

// withMattermost adds the mattermost exporter (API mode, persistent queue,
// threads) to the alerts pipeline, retrying fast so tests stay short.
func withMattermost(cfg *appsConfig, f *mattermostfake.Server) {
	cfg.exporters = fmt.Sprintf(`  mattermost:
    endpoint: %s
    token: %s
    channel_id: %s
    storage: file_storage
    sending_queue:
      storage: file_storage
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 0s`, f.URL(), mmToken, mmChannel)
	cfg.alertsExtraTo = []string{"mattermost"}
}

func waitPosts(t *testing.T, c *collector, f *mattermostfake.Server, what string, n int) []mattermostfake.Post {
	t.Helper()
	var got []mattermostfake.Post
	c.waitLog(alertTimeout, what, func(string) bool {
		got = f.Posts(mmChannel)
		return len(got) >= n
	})
	return got
}

// TestMattermostDelivery: the Go app's slow endpoints reach the channel once
// each, with the route template, and the CPU alert has its flame graph
// attached.
func TestMattermostDelivery(t *testing.T) {
	f := newFakeMattermost(t)
	cfg := &appsConfig{}
	withMattermost(cfg, f)
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "mm-shop")
	for _, p := range []string{"/slow/cpu", "/users/7", "/users/8", "/health", "/fast"} {
		a.request("GET", p)
	}
	a.flush()

	posts := waitPosts(t, c, f, "two posts", 2)
	if len(posts) != 2 {
		t.Fatalf("%d posts, want 2 (/slow/cpu, /users/{id})", len(posts))
	}
	var sawCPU, sawUsers bool
	for _, p := range posts {
		switch {
		case strings.Contains(p.Message, "/slow/cpu"):
			sawCPU = true
			if len(p.FileIDs) == 0 {
				t.Errorf("the CPU alert has no attachment (flame graph, profile)")
			}
			if !strings.Contains(p.Message, "main.burnCPU") {
				t.Errorf("the CPU alert's post does not name main.burnCPU:\n%s", p.Message)
			}
		case strings.Contains(p.Message, "/users/{id}"):
			sawUsers = true
		}
		if p.Mentions.Any() {
			t.Errorf("a post fires a mention: %+v", p.Mentions)
		}
	}
	if !sawCPU || !sawUsers {
		t.Errorf("posts do not cover /slow/cpu and /users/{id}")
	}
	var pngs int
	for _, file := range f.Files() {
		if strings.HasSuffix(file.Name, ".png") {
			pngs++
		}
	}
	if pngs == 0 {
		t.Errorf("no flame graph PNG was uploaded")
	}
}

// TestMattermostOutages: 5xx for a while, then 429 with Retry-After: every
// alert arrives exactly once, and the 429 is honoured.
func TestMattermostOutages(t *testing.T) {
	f := newFakeMattermost(t)
	cfg := &appsConfig{wait: time.Millisecond}
	withMattermost(cfg, f)
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "mm-outage")

	f.FailNext(4, 503)
	a.request("GET", "/users/1")
	a.flush()
	waitPosts(t, c, f, "the alert after the 503s", 1)

	f.FailNextWith(1, mattermostfake.Failure{Status: 429, RetryAfter: 1})
	a.request("GET", "/slow/db")
	a.flush()
	posts := waitPosts(t, c, f, "the alert after the 429", 2)
	if len(posts) != 2 {
		t.Fatalf("%d posts, want 2: each alert exactly once", len(posts))
	}
	// The retry after the 429 came no sooner than Retry-After allows. The
	// 429 may hit a file upload or the post: compare with the next request
	// on the same path.
	var throttledAt, retriedAt time.Time
	throttledPath := ""
	for _, r := range f.Requests() {
		switch {
		case r.Status == 429 && throttledPath == "":
			throttledAt, throttledPath = r.At, r.Path
		case throttledPath != "" && r.Path == throttledPath && retriedAt.IsZero():
			retriedAt = r.At
		}
	}
	if throttledAt.IsZero() || retriedAt.IsZero() {
		t.Fatalf("no 429 followed by a retry in the request log")
	}
	if gap := retriedAt.Sub(throttledAt); gap < 900*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
}

// TestMattermostDownAcrossACrash: Mattermost is down, the collector is
// killed with alerts queued, restarted, and Mattermost comes back: the
// queued alerts arrive (persistent queue), none twice.
func TestMattermostDownAcrossACrash(t *testing.T) {
	f := newFakeMattermost(t)
	cfg := &appsConfig{wait: time.Millisecond}
	withMattermost(cfg, f)
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "mm-crash")

	// Prime the connection, then take Mattermost down.
	a.request("GET", "/users/1")
	a.flush()
	waitPosts(t, c, f, "the first post", 1)
	f.Down()

	for _, p := range []string{"/slow/db", "/slow/cpu"} {
		a.request("GET", p)
	}
	a.flush()
	// Both alerts are in the alert file, so they went through the processor
	// into both exporters' queues.
	waitAlerts(t, c, cfg.alertFile(), "three alerts in the file", func(as []alert.Alert) bool { return len(as) == 3 })
	c.kill()

	c = startAppsCollector(t, cfg)
	if err := f.Up(); err != nil {
		t.Fatal(err)
	}
	posts := waitPosts(t, c, f, "the queued alerts", 3)
	seen := map[string]int{}
	for _, p := range posts {
		for _, r := range []string{"/users/{id}", "/slow/db", "/slow/cpu"} {
			if strings.Contains(p.Message, r) {
				seen[r]++
			}
		}
	}
	if len(posts) != 3 || seen["/users/{id}"] != 1 || seen["/slow/db"] != 1 || seen["/slow/cpu"] != 1 {
		t.Errorf("posts per route %v (%d posts), want each exactly once", seen, len(posts))
	}
}

// TestMattermostHostileTraffic: hostile paths through the app reach the
// channel without firing any mention (exporter/mattermostexporter/PROTOCOL.md section 10), and every post
// is accepted.
func TestMattermostHostileTraffic(t *testing.T) {
	f := newFakeMattermost(t)
	cfg := &appsConfig{wait: time.Millisecond}
	withMattermost(cfg, f)
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "mm-hostile@here")
	for _, p := range hostilePaths {
		a.request("GET", p)
	}
	a.flush()
	posts := waitPosts(t, c, f, "the hostile alerts", len(hostilePaths))
	for _, p := range posts {
		if p.Mentions.Any() {
			b, _ := json.Marshal(p.Mentions)
			t.Errorf("post fires mentions %s:\n%s", b, p.Message)
		}
	}
	for _, r := range f.Requests() {
		if r.Path == "/api/v4/posts" && r.Status >= 400 {
			t.Errorf("a post was refused: %d", r.Status)
		}
	}
}
