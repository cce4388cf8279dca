package mattermostexporter

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

// withStorageLogs is withStorage that also returns the exporter's logs.
func withStorageLogs(t *testing.T, cfg *Config, dir string, fn func(consume func(...alert.Alert) error)) logs {
	t.Helper()
	storageID := storagetest.NewStorageID("file_storage")
	cfg.Storage = &storageID
	host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dir)
	set, l := newSettings("incidents")
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
	return l
}

func patches(s *mattermostfake.Server) (n int) {
	for _, r := range s.Requests() {
		if r.Method == "PUT" && strings.HasSuffix(r.Path, "/patch") {
			n++
		}
	}
	return n
}

// TestIncidentPostEditedInPlace: firing, escalation, resolved leave one
// incident post, edited twice (its status ends resolved, with the figures
// of the last firing alert below), and two replies in its thread that
// notify its followers.
func TestIncidentPostEditedInPlace(t *testing.T) {
	s := newFake(t)
	opened := alerttest.Start.Add(-10 * time.Minute)
	withStorage(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)))
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonEscalation, 1)))
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonResolved, 2)))
	})
	posts := requireSafePosts(t, s, 3)
	root := posts[0]
	assert.Empty(t, root.RootID)
	assert.Equal(t, 2, root.Edits, "escalation and resolution edit the incident's post")
	assert.NotZero(t, root.EditAt)
	assert.True(t, strings.HasPrefix(root.Message, "**Status: :white_check_mark: resolved** at 10:13 UTC after 23m — peak p99 2.60 s, 84 slow requests\n\n"), root.Message)
	assert.Contains(t, root.Message, "**p99 2.10 s over 5m ≥ threshold 500 ms**", "the latest figures stay under the status")
	assert.Contains(t, root.Message, "Escalation: the incident got worse.", "the body is the last firing alert's")
	assert.NotEmpty(t, root.FileIDs, "the opening alert's files")

	assert.Equal(t, root.ID, posts[1].RootID)
	assert.Contains(t, posts[1].Message, "Escalation: the incident got worse.")
	assert.NotEmpty(t, posts[1].FileIDs, "the escalation's own files go with its reply")
	assert.Equal(t, root.ID, posts[2].RootID)
	assert.True(t, strings.HasPrefix(posts[2].Message, "✅ Resolved:"), posts[2].Message)
	assert.Equal(t, 2, patches(s))
}

// TestIncidentStatusLine: the post's status follows the incident: firing
// when it opens, escalated from an escalation on (a reminder keeps it).
func TestIncidentStatusLine(t *testing.T) {
	s := newFake(t)
	opened := alerttest.Start.Add(-10 * time.Minute)
	var status []string
	rootStatus := func() string {
		status, _, _ := strings.Cut(s.Posts(chanID)[0].Message, "\n")
		return status
	}
	withStorage(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		for i, r := range []alert.Reason{alert.ReasonQuantile, alert.ReasonEscalation, alert.ReasonWindowExpired} {
			require.NoError(t, consume(incidentEvent(opened, r, i)))
			status = append(status, rootStatus())
		}
	})
	assert.Equal(t, []string{
		"**Status: :red_circle: firing** since 09:50 UTC · updated 10:00 UTC",
		"**Status: :large_orange_diamond: escalated** · firing since 09:50 UTC · updated 10:00 UTC",
		"**Status: :large_orange_diamond: escalated** · firing since 09:50 UTC · updated 10:00 UTC",
	}, status)
	requireSafePosts(t, s, 3)
}

// TestIncidentEditTimeLimit: past PostEditTimeLimit the server refuses the
// edit (400): the escalation is posted in the thread, not lost, and the
// resolution goes there too without trying to edit again.
func TestIncidentEditTimeLimit(t *testing.T) {
	var clock atomic.Int64
	clock.Store(alerttest.Start.UnixNano())
	s := newFake(t, mattermostfake.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }),
		mattermostfake.WithPostEditTimeLimit(time.Minute))
	opened := alerttest.Start.Add(-10 * time.Minute)
	l := withStorageLogs(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)))
		clock.Add(int64(2 * time.Minute))
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonEscalation, 1)))
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonResolved, 2)))
	})
	posts := requireSafePosts(t, s, 3)
	assert.Zero(t, posts[0].Edits)
	assert.Contains(t, posts[0].Message, "**Status: :red_circle: firing**")
	assert.Equal(t, posts[0].ID, posts[1].RootID)
	assert.Contains(t, posts[1].Message, "Escalation: the incident got worse.", "the event is not lost")
	assert.Equal(t, posts[0].ID, posts[2].RootID)
	assert.Contains(t, posts[2].Message, "✅ Resolved:")
	assert.Equal(t, 1, patches(s), "no edit tried after the server refused one")
	assert.Equal(t, 1, l.count("older than the server's edit time limit"))
	assert.NotContains(t, l.all(), token, "the logs never show the token")
}

// TestIncidentPostDeleted: a deleted incident post cannot be edited (403):
// the escalation becomes the incident's new post, which the resolution
// then edits and replies to.
func TestIncidentPostDeleted(t *testing.T) {
	s := newFake(t)
	opened := alerttest.Start.Add(-10 * time.Minute)
	l := withStorageLogs(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)))
		require.True(t, s.DeletePost(s.Posts(chanID)[0].ID))
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonEscalation, 1)))
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonResolved, 2)))
	})
	posts := requireSafePosts(t, s, 3)
	assert.NotZero(t, posts[0].DeleteAt)
	second := posts[1]
	assert.Empty(t, second.RootID, "a new incident post")
	assert.Equal(t, 1, second.Edits, "the resolution edits the new post")
	assert.Contains(t, second.Message, "**Status: :white_check_mark: resolved**")
	assert.Contains(t, second.Message, "Escalation: the incident got worse.")
	assert.Equal(t, second.ID, posts[2].RootID)
	assert.Equal(t, 1, l.count("cannot be edited"))
	assert.NotContains(t, l.all(), token, "the logs never show the token")
}

// TestIncidentPostAfterRestart: the incident's post is remembered in
// storage, so after a restart its alerts still edit it.
func TestIncidentPostAfterRestart(t *testing.T) {
	s := newFake(t)
	dir := t.TempDir()
	opened := alerttest.Start.Add(-10 * time.Minute)
	withStorage(t, apiConfig(s), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)))
	})
	withStorage(t, apiConfig(s), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)), "a redelivery is not posted again")
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonEscalation, 1)))
	})
	withStorage(t, apiConfig(s), dir, func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonResolved, 2)))
	})
	posts := requireSafePosts(t, s, 3)
	assert.Equal(t, 2, posts[0].Edits)
	assert.Contains(t, posts[0].Message, "**Status: :white_check_mark: resolved**")
	assert.Equal(t, posts[0].ID, posts[1].RootID)
	assert.Equal(t, posts[0].ID, posts[2].RootID)
}

// TestIncidentPatchRetried: a 5xx or a 429 on the edit fails the delivery
// as a retryable error (a 429 after its Retry-After); the retry edits and
// replies once.
func TestIncidentPatchRetried(t *testing.T) {
	s := newFake(t)
	opened := alerttest.Start.Add(-10 * time.Minute)
	withStorage(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)))
		esc := incidentEvent(opened, alert.ReasonEscalation, 1)
		esc.Profile = nil // no upload: the failure hits the edit
		s.FailNext(1, 503)
		err := consume(esc)
		require.Error(t, err)
		assert.False(t, consumererror.IsPermanent(err))
		assert.Contains(t, err.Error(), "PUT /api/v4/posts/{post_id}/patch: HTTP 503")
		assert.NotContains(t, err.Error(), token)
		s.FailNextWith(1, mattermostfake.Failure{Status: 429, RetryAfter: 7})
		err = consume(esc)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Throttle (7s)")
		assert.Contains(t, err.Error(), "PUT /api/v4/posts/{post_id}/patch: HTTP 429")
		require.NoError(t, consume(esc))
	})
	posts := requireSafePosts(t, s, 2)
	assert.Equal(t, 1, posts[0].Edits)
	assert.Equal(t, posts[0].ID, posts[1].RootID)
}

// TestWebhookIncidentPostsAnew: a webhook cannot edit: every alert of an
// incident is a post of its own.
func TestWebhookIncidentPostsAnew(t *testing.T) {
	s := newFake(t)
	exp, _ := start(t, hookConfig(s))
	opened := alerttest.Start.Add(-10 * time.Minute)
	for i, r := range []alert.Reason{alert.ReasonQuantile, alert.ReasonEscalation, alert.ReasonResolved} {
		require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, incidentEvent(opened, r, i))))
	}
	posts := requireSafePosts(t, s, 3)
	for _, p := range posts {
		assert.Empty(t, p.RootID)
		assert.Zero(t, p.Edits)
	}
	assert.Zero(t, patches(s))
}

// TestIncidentPostNotEditable: a 403 on the post that replaced a refused
// one means the bot may not edit posts (edit_post), not a deleted post:
// the alert replies in its thread instead of making yet another post.
func TestIncidentPostNotEditable(t *testing.T) {
	s := newFake(t)
	opened := alerttest.Start.Add(-10 * time.Minute)
	l := withStorageLogs(t, apiConfig(s), t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(incidentEvent(opened, alert.ReasonQuantile, 0)))
		for i, reason := range []alert.Reason{alert.ReasonEscalation, alert.ReasonResolved} {
			ev := incidentEvent(opened, reason, i+1)
			ev.Profile = nil // no upload: the 403 hits the edit
			s.FailNextWith(1, mattermostfake.Failure{Status: 403})
			require.NoError(t, consume(ev))
		}
	})
	posts := requireSafePosts(t, s, 3)
	assert.Empty(t, posts[0].RootID)
	assert.Empty(t, posts[1].RootID, "the first 403: a new incident post")
	assert.Equal(t, posts[1].ID, posts[2].RootID, "the second: a reply in its thread, not a third post")
	assert.Contains(t, posts[2].Message, "Resolved")
	assert.Equal(t, 1, l.count("cannot be edited either"))
}
