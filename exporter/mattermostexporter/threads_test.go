package mattermostexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

// withStorage runs fn with an exporter whose threads live in a file_storage
// extension under dir, shut down (extension too) when fn returns.
func withStorage(t *testing.T, cfg *Config, dir string, fn func(consume func(...alert.Alert) error)) {
	t.Helper()
	storageID := storagetest.NewStorageID("file_storage")
	cfg.Storage = &storageID
	host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dir)
	set, _ := newSettings("threads")
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	fn(func(as ...alert.Alert) error {
		return exp.ConsumeTraces(context.Background(), alerttest.Traces(t, as...))
	})
	require.NoError(t, exp.Shutdown(context.Background()))
	for _, ext := range host.GetExtensions() {
		require.NoError(t, ext.Shutdown(context.Background()))
	}
}

func TestThreads(t *testing.T) {
	var clock atomic.Int64
	clock.Store(alerttest.Start.UnixNano())
	s := newFake(t, mattermostfake.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	dir := t.TempDir()
	withStorage(t, apiConfig(s), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(numberedAlert(0), numberedAlert(1)))
		require.NoError(t, consume(followUp(0, 1, alert.ReasonEscalation)))
		require.NoError(t, consume(followUp(0, 2, alert.ReasonWindowExpired), followUp(1, 2, alert.ReasonEscalation)))
	})
	posts := requireSafePosts(t, s, 5)
	root0, root1 := posts[0], posts[1]
	assert.Empty(t, root0.RootID)
	assert.Empty(t, root1.RootID)
	assert.Equal(t, root0.ID, posts[2].RootID, "escalation replies in the thread of the key's first post")
	assert.Equal(t, root0.ID, posts[3].RootID, "window_expired too")
	assert.Equal(t, root1.ID, posts[4].RootID)
	assert.Equal(t, pendingPostID(chanID, root0.ID, followUp(0, 1, alert.ReasonEscalation).ID), posts[2].PendingPostID)

	// After a restart, more than 30 s later (no pending_post_id dedup any
	// more): the thread is remembered, and a redelivered alert is not
	// even sent again.
	clock.Add(int64(time.Minute))
	before := len(s.Requests())
	withStorage(t, apiConfig(s), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(followUp(0, 1, alert.ReasonEscalation), followUp(0, 3, alert.ReasonEscalation)))
	})
	posts = requireSafePosts(t, s, 6)
	assert.Equal(t, root0.ID, posts[5].RootID)
	creates := 0
	for _, r := range s.Requests()[before:] {
		if r.Path == "/api/v4/posts" {
			creates++
		}
	}
	assert.Equal(t, 1, creates, "the redelivered alert was remembered in storage")
}

func TestThreadRootDeletedFallsBackToNewPost(t *testing.T) {
	dir := t.TempDir()
	// The first server (and so the root post) is gone; the storage still
	// names its post.
	old := newFake(t)
	withStorage(t, apiConfig(old), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(numberedAlert(0)))
	})
	goneRoot := old.Posts(chanID)[0].ID

	s := newFake(t)
	withStorage(t, apiConfig(s), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(followUp(0, 1, alert.ReasonWindowExpired)))
		require.NoError(t, consume(followUp(0, 2, alert.ReasonEscalation)))
	})
	posts := requireSafePosts(t, s, 2)
	assert.Empty(t, posts[0].RootID, "a deleted root falls back to a new post")
	assert.Equal(t, posts[0].ID, posts[1].RootID, "which is remembered as the new root")
	var rootErrors int
	for _, r := range s.Requests() {
		if r.Path == "/api/v4/posts" && r.Status == 400 {
			rootErrors++
			assert.Contains(t, string(r.Body), goneRoot)
		}
	}
	assert.Equal(t, 1, rootErrors)
}

// exporterhelperRetryMsg is what exporterhelper logs when a delivery failed
// and will be retried.
const exporterhelperRetryMsg = "Exporting failed. Will retry the request after interval."

// TestPersistentQueueRestart: the server is down, alerts are queued on
// file_storage, the exporter is shut down and a new one started on the same
// storage, the server comes back: every alert is posted exactly once.
func TestPersistentQueueRestart(t *testing.T) {
	s := newFake(t)
	down(t, s)
	dir := filepath.Join(t.TempDir(), "storage")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	storageID := storagetest.NewStorageID("file_storage")
	newCfg := func() *Config {
		cfg := apiConfig(s)
		q := createDefaultConfig().QueueConfig
		q.Get().StorageID = &storageID
		q.Get().NumConsumers = 2
		cfg.QueueConfig = q
		cfg.BackOffConfig.Enabled = true
		cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
		cfg.BackOffConfig.MaxInterval = 50 * time.Millisecond
		cfg.BackOffConfig.MaxElapsedTime = time.Minute
		return cfg
	}
	var alerts []alert.Alert
	for i := range 6 {
		alerts = append(alerts, profiledAlert(i))
	}
	run := func(after func(logs), batches ...[]alert.Alert) {
		host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dir)
		set, l := newSettings("queue") // a fixed ID: the restarted exporter finds its queue
		exp, err := NewFactory().CreateTraces(context.Background(), set, newCfg())
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), host))
		for _, b := range batches {
			require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, b...)), "queued while the server is down")
		}
		after(l)
		require.NoError(t, exp.Shutdown(context.Background()))
		for _, ext := range host.GetExtensions() {
			require.NoError(t, ext.Shutdown(context.Background()))
		}
	}
	run(func(l logs) {
		// Shut down only once deliveries are being retried against the
		// closed port: exporterhelper logs each failed attempt it will
		// retry, so the queue has handed batches to the exporter, which
		// kept them (a permanent error would have dropped them instead).
		retrying := func() int { return l.FilterMessage(exporterhelperRetryMsg).Len() }
		require.Eventually(t, func() bool { return retrying() >= 2 }, 10*time.Second, 5*time.Millisecond,
			"no delivery attempt was retried while the server was down")
		for _, e := range l.FilterMessage(exporterhelperRetryMsg).All() {
			assert.Contains(t, e.ContextMap()["error"], "connection refused", "retried because the server is down")
		}
		assert.Zero(t, l.FilterMessageSnippet("Dropping data").Len(), "nothing dropped while the server was down")
	}, alerts[:2], alerts[2:5], alerts[5:])
	require.Empty(t, s.Posts(chanID))

	run(func(logs) {
		require.NoError(t, s.Up())
		require.Eventually(t, func() bool { return len(s.Posts(chanID)) >= len(alerts) }, 20*time.Second, 10*time.Millisecond)
	})
	posts := requireSafePosts(t, s, len(alerts))
	seen := map[string]int{}
	for _, p := range posts {
		seen[p.PendingPostID]++
	}
	for _, a := range alerts {
		assert.Equal(t, 1, seen[pendingPostID(chanID, "", a.ID)], "alert %s", a.ID)
	}
}

// incidentEvent is an event of an incident on the endpoint of
// profiledAlert(0), as the engine emits it: reason quantile or ratio opens
// it (the alert span is the window's worst request, with breakdown and
// profile), escalation and window_expired keep it firing, resolved closes
// it (a synthetic span; it keeps a profile here to show that the exporter,
// not only the engine, leaves files off). n makes the span, and so the alert
// ID, its own.
func incidentEvent(openedAt time.Time, reason alert.Reason, n int) alert.Alert {
	a := profiledAlert(0)
	inc := alerttest.Incident()
	a.TraceID = fmt.Sprintf("%032x", 5000+n)
	a.SpanID = fmt.Sprintf("%016x", 5000+n)
	a.Reason = reason
	a.ID = alert.NewID(a.TraceID, a.SpanID, reason)
	a.Window = inc.Window
	a.Incident = inc.Incident
	a.Incident.ID = alert.NewIncidentID(a.Key, openedAt)
	a.Incident.OpenedAt = openedAt
	if reason == alert.ReasonRatio {
		a.Incident.Mode = alert.ModeRatio
		a.Window.Quantile, a.Window.QuantileValue, a.Window.Ratio, a.Window.SlowRatio = 0, 0, 0.05, 0.07
	}
	if reason == alert.ReasonResolved {
		a.Incident.State = alert.IncidentResolved
		a.Incident.ResolvedAt = openedAt.Add(23 * time.Minute)
		a.Duration, a.Breakdown = 0, nil
	}
	return a
}

// TestIncidentThreads: each incident of an endpoint has a thread of its own:
// the alert that opens it is the root, its escalation, reminder and
// resolution reply in it; the resolution is one line without files.
func TestIncidentThreads(t *testing.T) {
	s := newFake(t)
	first := alerttest.Start.Add(-time.Hour)
	second := alerttest.Start
	withStorage(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(first, alert.ReasonQuantile, 0)))
		require.NoError(t, consume(incidentEvent(first, alert.ReasonEscalation, 1), incidentEvent(first, alert.ReasonWindowExpired, 2)))
		require.NoError(t, consume(incidentEvent(first, alert.ReasonResolved, 3)))
		require.NoError(t, consume(incidentEvent(second, alert.ReasonRatio, 4)))
		require.NoError(t, consume(incidentEvent(second, alert.ReasonResolved, 5)))
	})
	posts := requireSafePosts(t, s, 6)
	tests := []struct {
		name     string
		root     int // index of the post it replies to, -1 for a root
		files    bool
		contains string
	}{
		{name: "quantile opens", root: -1, files: true, contains: "**p99 2.10 s over 5m ≥ threshold 500 ms**"},
		{name: "escalation", root: 0, files: true, contains: "Escalation: the incident got worse."},
		{name: "reminder", root: 0, files: true, contains: "Still slow: a reminder after the dedup window."},
		{name: "resolved", root: 0, contains: "✅ Resolved: `GET /orders/0/{id}` on `checkout` after 23m — peak p99 2.60 s, 84 slow requests"},
		{name: "second incident opens", root: -1, files: true, contains: "(ratio mode)"},
		{name: "second resolved", root: 4, contains: "✅ Resolved:"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := posts[i]
			if tt.root < 0 {
				assert.Empty(t, p.RootID)
			} else {
				assert.Equal(t, posts[tt.root].ID, p.RootID)
			}
			assert.Equal(t, tt.files, len(p.FileIDs) > 0, "files attached")
			assert.Contains(t, p.Message, tt.contains)
		})
	}
	for _, i := range []int{3, 5} {
		assert.NotContains(t, posts[i].Message, "\n", "a resolved alert is one line")
	}
	uploads := 0
	for _, r := range s.Requests() {
		if r.Path == "/api/v4/files" {
			uploads++
		}
	}
	assert.Equal(t, 4, uploads, "one upload per firing alert, none for the resolutions")
}

// TestSpanModeIncidentThread: in span mode an incident opens with today's
// reasons; a new incident ID starts a new thread even with reason first.
func TestSpanModeIncidentThread(t *testing.T) {
	s := newFake(t)
	spanMode := func(a alert.Alert, openedAt time.Time, state alert.IncidentState) alert.Alert {
		a.Incident = &alert.Incident{ID: alert.NewIncidentID(a.Key, openedAt), State: state, Mode: alert.ModeSpan,
			OpenedAt: openedAt, Peak: alert.Figure{Duration: 3 * time.Second}, SlowCount: 4}
		if state == alert.IncidentResolved {
			a.Reason, a.ID = alert.ReasonResolved, alert.NewID(a.TraceID, a.SpanID, alert.ReasonResolved)
			a.Incident.ResolvedAt = openedAt.Add(time.Hour)
		}
		return a
	}
	one, two := alerttest.Start, alerttest.Start.Add(2*time.Hour)
	withStorage(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(spanMode(numberedAlert(0), one, alert.IncidentFiring)))
		require.NoError(t, consume(spanMode(followUp(0, 1, alert.ReasonEscalation), one, alert.IncidentFiring)))
		require.NoError(t, consume(spanMode(followUp(0, 2, alert.ReasonWindowExpired), one, alert.IncidentResolved)))
		require.NoError(t, consume(spanMode(followUp(0, 3, alert.ReasonFirst), two, alert.IncidentFiring)))
		require.NoError(t, consume(followUp(0, 4, alert.ReasonEscalation)), "an alert without incident, as before")
	})
	posts := requireSafePosts(t, s, 5)
	assert.Empty(t, posts[0].RootID)
	assert.Equal(t, posts[0].ID, posts[1].RootID)
	assert.Equal(t, posts[0].ID, posts[2].RootID)
	assert.Equal(t, "✅ Resolved: `GET /orders/0/{id}` on `checkout` after 1h — peak 3.00 s, 4 slow requests", posts[2].Message)
	assert.Empty(t, posts[3].RootID, "a new incident, a new thread")
	assert.Equal(t, posts[3].ID, posts[4].RootID, "a later alert without incident replies in the key's thread")
}

func TestThreadRoot(t *testing.T) {
	const channel, other = "chan", "other"
	withIncident := func(reason alert.Reason, id string, state alert.IncidentState) alert.Alert {
		return alert.Alert{Reason: reason, Incident: &alert.Incident{ID: id, State: state}}
	}
	old := threadRecord{ChannelID: channel, RootID: "root"}
	inc := threadRecord{ChannelID: channel, RootID: "root", IncidentID: "A"}
	tests := []struct {
		name string
		rec  threadRecord
		a    alert.Alert
		want string
	}{
		{"no record", threadRecord{}, alert.Alert{Reason: alert.ReasonEscalation}, ""},
		{"first starts a thread", old, alert.Alert{Reason: alert.ReasonFirst}, ""},
		{"follow-up replies", old, alert.Alert{Reason: alert.ReasonWindowExpired}, "root"},
		{"follow-up replies in an incident's thread too", inc, alert.Alert{Reason: alert.ReasonEscalation}, "root"},
		{"another channel", threadRecord{ChannelID: other, RootID: "root", IncidentID: "A"}, withIncident(alert.ReasonEscalation, "A", alert.IncidentFiring), ""},
		{"quantile opens", inc, withIncident(alert.ReasonQuantile, "B", alert.IncidentFiring), ""},
		{"ratio opens even with the same id", inc, withIncident(alert.ReasonRatio, "A", alert.IncidentFiring), ""},
		{"escalation of the incident", inc, withIncident(alert.ReasonEscalation, "A", alert.IncidentFiring), "root"},
		{"reminder of the incident", inc, withIncident(alert.ReasonWindowExpired, "A", alert.IncidentFiring), "root"},
		{"resolution of the incident", inc, withIncident(alert.ReasonResolved, "A", alert.IncidentResolved), "root"},
		{"span-mode first of the incident", inc, withIncident(alert.ReasonFirst, "A", alert.IncidentFiring), "root"},
		{"firing alert of an unknown incident", inc, withIncident(alert.ReasonEscalation, "B", alert.IncidentFiring), ""},
		{"resolution of an unknown incident", inc, withIncident(alert.ReasonResolved, "B", alert.IncidentResolved), ""},
		{"incident on a record from before incidents", old, withIncident(alert.ReasonEscalation, "A", alert.IncidentFiring), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.rec.threadRoot(tt.a, channel))
		})
	}
}

func TestThreadRecordJSON(t *testing.T) {
	var old threadRecord
	require.NoError(t, json.Unmarshal([]byte(`{"channel_id":"c","root_id":"r","posted":[{"alert_id":"a","post_id":"p"}]}`), &old))
	assert.Equal(t, threadRecord{ChannelID: "c", RootID: "r", Posted: []postedAlert{{AlertID: "a", PostID: "p"}}}, old, "a record from before incidents reads")
	data, err := json.Marshal(old)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "incident_id", "omitted when empty")
	data, err = json.Marshal(threadRecord{ChannelID: "c", RootID: "r", IncidentID: "i"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"channel_id":"c","root_id":"r","incident_id":"i"}`, string(data))
}
