package mattermostexporter

import (
	"context"
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
