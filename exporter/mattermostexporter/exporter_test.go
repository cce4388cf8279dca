package mattermostexporter

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

func TestAPIPostsAlertWithAttachments(t *testing.T) {
	s := newFake(t)
	exp, l := start(t, apiConfig(s))
	a := profiledAlert(0)
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)))

	posts := requireSafePosts(t, s, 1)
	p := posts[0]
	assert.Contains(t, p.Message, "Slow request `GET /orders/0/{id}` on `checkout`")
	assert.Contains(t, p.Message, "**2.40 s** against a threshold of 500 ms")
	assert.Contains(t, p.Message, "[Open trace](http://localhost:16686/trace/"+a.TraceID+")")
	assert.Contains(t, p.Message, "`postgresql SELECT orders WHERE id = ?` 42×")
	assert.Contains(t, p.Message, "`main.loadOrder`")
	assert.Equal(t, pendingPostID(chanID, "", a.ID), p.PendingPostID)
	assert.Regexp(t, `^slowspan:[0-9a-f]{32}$`, p.PendingPostID)
	assert.Empty(t, p.RootID)

	require.Len(t, p.FileIDs, 2, "flame graph and profile attached")
	files := s.Files()
	require.Len(t, files, 2)
	byExt := map[string]mattermostfake.StoredFile{}
	for _, f := range files {
		assert.Equal(t, p.ID, f.PostID)
		byExt[f.Extension] = f
	}
	assert.True(t, bytes.HasPrefix(byExt["png"].Data, []byte("\x89PNG\r\n\x1a\n")), "a PNG, previewed without any server setting")
	gz := files[0]
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".pb.gz") {
			gz = f
		}
	}
	assert.True(t, bytes.HasPrefix(gz.Data, []byte{0x1f, 0x8b}), "gzipped pprof")
	assert.NotContains(t, p.Message, "Attached:", "Mattermost lists the files under the post")
	assert.Equal(t, 1, l.count("Posting alerts to Mattermost"))
}

func TestRegressionPostAttachesTheDifferentialFlameGraph(t *testing.T) {
	s := newFake(t)
	exp, _ := start(t, apiConfig(s))
	a := figurestest.Regression()
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)))

	posts := requireSafePosts(t, s, 1)
	p := posts[0]
	assert.Contains(t, p.Message, "Slower since `1.5.0`")
	assert.Contains(t, p.Message, "**What changed in `1.5.0`** (from `1.4.2`, p95 180 ms → 1.30 s, 7.2x): +1.10 s `postgresql SELECT * FROM audit WHERE id = ?`")
	require.Len(t, p.FileIDs, 1, "the differential flame graph (the alert has no profile of its own)")
	f := s.Files()[0]
	assert.True(t, strings.HasSuffix(f.Name, ".diff.png"), f.Name)
	assert.True(t, bytes.HasPrefix(f.Data, []byte("\x89PNG\r\n\x1a\n")))
}

func TestAPIIdempotent(t *testing.T) {
	s := newFake(t)
	td := alerttest.Traces(t, numberedAlert(0), numberedAlert(1))
	exp, _ := start(t, apiConfig(s))
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	// The same batch again (a retry after a lost answer): remembered.
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	// Another exporter (a restart without storage) within 30 s: the
	// server's pending_post_id dedup returns the same posts.
	exp2, _ := start(t, apiConfig(s))
	require.NoError(t, exp2.ConsumeTraces(context.Background(), td))
	requireSafePosts(t, s, 2)
	creates := 0
	for _, r := range s.Requests() {
		if r.Method == "POST" && r.Path == "/api/v4/posts" {
			creates++
		}
	}
	assert.Equal(t, 4, creates, "the second exporter sent, the server deduplicated")
}

func TestAPIPartialBatchRetriesOnlyWhatIsMissing(t *testing.T) {
	s := newFake(t)
	exp, _ := start(t, apiConfig(s))
	td := alerttest.Traces(t, numberedAlert(0), numberedAlert(1), numberedAlert(2))
	// Alert 0 is posted; then in one batch alert 0 is skipped (posted
	// already), alert 1 hits a 503 and alert 2 is posted; the retry posts
	// only alert 1.
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0))))
	s.FailNext(1, 503)
	err := exp.ConsumeTraces(context.Background(), td)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	requireSafePosts(t, s, 3)
}

// TestErrorClasses: each failure maps to exporterhelper's policy and its
// message says what to fix.
func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name      string
		fail      mattermostfake.Failure
		permanent bool
		contains  []string
	}{
		{name: "429 Retry-After", fail: mattermostfake.Failure{Status: 429, RetryAfter: 7, RateLimitReset: 2}, contains: []string{"Throttle (7s)", "HTTP 429", "rate limited"}},
		{name: "429 X-RateLimit-Reset", fail: mattermostfake.Failure{Status: 429, RateLimitReset: 3}, contains: []string{"Throttle (3s)"}},
		{name: "500", fail: mattermostfake.Failure{Status: 500}, contains: []string{"HTTP 500", "mattermostfake.injected_failure", "retrying"}},
		{name: "502 proxy", fail: mattermostfake.Failure{Status: 502}, contains: []string{"HTTP 502"}},
		{name: "503", fail: mattermostfake.Failure{Status: 503}, contains: []string{"HTTP 503"}},
		{name: "401", fail: mattermostfake.Failure{Status: 401}, permanent: true, contains: []string{"HTTP 401", "the token was rejected: check token"}},
		{name: "413", fail: mattermostfake.Failure{Status: 413}, permanent: true, contains: []string{"too large"}},
		{name: "501", fail: mattermostfake.Failure{Status: 501}, permanent: true, contains: []string{"HTTP 501"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			exp, _ := start(t, apiConfig(s))
			s.FailNextWith(1, tt.fail)
			err := exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0)))
			require.Error(t, err)
			assert.Equal(t, tt.permanent, consumererror.IsPermanent(err), "%v", err)
			for _, c := range tt.contains {
				assert.Contains(t, err.Error(), c)
			}
			if !tt.permanent {
				require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0))), "retried")
				requireSafePosts(t, s, 1)
			}
		})
	}
}

func TestErrorBotNotInChannel(t *testing.T) {
	id := channelID()
	s := newFake(t, mattermostfake.WithChannel(mattermostfake.Channel{ID: id, Name: "ro", NoPost: true}))
	cfg := apiConfig(s)
	cfg.ChannelID = id
	exp, _ := start(t, cfg) // readable: the start check passes
	err := exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0)))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "HTTP 403 api.context.permissions.app_error")
	assert.Contains(t, err.Error(), "add the bot to the team and the channel")
}

func TestErrorArchivedChannelAtRuntime(t *testing.T) {
	// Archived after start: exercise the push directly.
	id := channelID()
	s := newFake(t, mattermostfake.WithChannel(mattermostfake.Channel{ID: id, Name: "old", Archived: true}))
	cfg := apiConfig(s)
	cfg.ChannelID = id
	e := unstarted(t, cfg)
	err := e.pushTraces(context.Background(), alerttest.Traces(t, numberedAlert(0)))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "api.post.create_post.can_not_post_to_deleted.error")
	assert.Contains(t, err.Error(), "the channel is archived: unarchive it or set another channel_id")
}

func TestNetworkErrorAndTimeoutAreRetried(t *testing.T) {
	s := newFake(t)
	cfg := apiConfig(s)
	cfg.Timeout = 2 * time.Second
	exp, _ := start(t, cfg)

	down(t, s)
	err := exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	require.NoError(t, s.Up())

	s.Hang()
	done := make(chan error, 1)
	go func() { done <- exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0))) }()
	require.NoError(t, s.WaitHanging(context.Background(), 1))
	err = <-done // the exporterhelper timeout ends the wait
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	s.Unhang()

	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0))))
	requireSafePosts(t, s, 1)
}

func TestStartChecks(t *testing.T) {
	noRead, archived := channelID(), channelID()
	s := newFake(t,
		mattermostfake.WithChannel(mattermostfake.Channel{ID: noRead, Name: "private", Type: "P", NoRead: true}),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: archived, Name: "old", Archived: true}),
	)
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bad token", func(c *Config) { c.Token = "not-a-token-at-all" }, "the token was rejected: check token"},
		{"missing channel", func(c *Config) { c.ChannelID = channelID() }, "channel_id does not exist on this server"},
		{"unreadable channel", func(c *Config) { c.ChannelID = noRead }, "the bot cannot read channel_id: add the bot"},
		{"archived channel", func(c *Config) { c.ChannelID = archived }, "is archived: unarchive it or set another channel_id"},
		{"missing routed channel", func(c *Config) { c.Channels = []ChannelRule{{Services: []string{"x"}, ChannelID: channelID()}} },
			"channels[].channel_id does not exist on this server"},
		{"archived routed channel", func(c *Config) { c.Channels = []ChannelRule{{Services: []string{"x"}, ChannelID: archived}} },
			"channels[].channel_id " + archived + " (old) is archived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := apiConfig(s)
			tt.edit(cfg)
			set, _ := newSettings("")
			exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
			require.NoError(t, err)
			err = exp.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			require.NoError(t, exp.Shutdown(context.Background()))
		})
	}
}

func TestStartWithServerDownOnlyWarns(t *testing.T) {
	s := newFake(t)
	down(t, s)
	_, l := start(t, apiConfig(s))
	assert.Equal(t, 1, l.count("Mattermost is not reachable at start"))
	require.NoError(t, s.Up())
}

func TestUploadsRefusedPostsWithoutFilesAndLogsOnce(t *testing.T) {
	s := newFake(t, mattermostfake.WithUploadsDisabled())
	exp, l := start(t, apiConfig(s))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(0))))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(1))))
	posts := requireSafePosts(t, s, 2)
	for _, p := range posts {
		assert.Empty(t, p.FileIDs)
		assert.NotContains(t, p.Message, "Attached:")
	}
	assert.Equal(t, 1, l.count("refused the upload"))
	assert.Empty(t, s.Files())
}

// TestOversizedFilesSkipOnlyThatAlert: a 413 on an upload means these
// files are too large, not that uploads are off: the alert is posted without
// them, and the next alert tries its own upload.
func TestOversizedFilesSkipOnlyThatAlert(t *testing.T) {
	s := newFake(t, mattermostfake.WithMaxFileSize(64))
	exp, _ := start(t, apiConfig(s))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(0))))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(1))))
	for _, p := range requireSafePosts(t, s, 2) {
		assert.Empty(t, p.FileIDs, "too large: posted without files")
	}
	uploads := 0
	for _, r := range s.Requests() {
		if r.Path == "/api/v4/files" {
			assert.Equal(t, 413, r.Status)
			uploads++
		}
	}
	assert.Equal(t, 2, uploads, "each alert tried its own upload")
}

func TestNoFilesWhenAttachOff(t *testing.T) {
	s := newFake(t)
	cfg := apiConfig(s)
	cfg.Attach = AttachConfig{}
	exp, _ := start(t, cfg)
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(0))))
	requireSafePosts(t, s, 1)
	assert.Empty(t, s.Files())
}

func TestMessageTemplate(t *testing.T) {
	s := newFake(t)
	cfg := apiConfig(s)
	cfg.MessageTemplate = "{{code .Key.Route}} took {{duration .Duration}} ({{text .Key.Service}})\n\n{{link \"trace\" .Links.Trace}}"
	exp, _ := start(t, cfg)
	a := numberedAlert(0)
	a.Key.Route = "/@channel"
	a.Key.Service = "@here"
	a.Links.Trace = "http://x/@all"
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)))
	p := requireSafePosts(t, s, 1)[0]
	assert.True(t, strings.HasPrefix(p.Message, "`/@channel` took 2.40 s (@\u200bhere)"), p.Message)
}

func TestNonAlertSpansIgnored(t *testing.T) {
	s := newFake(t)
	exp, _ := start(t, apiConfig(s))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t)))
	requireSafePosts(t, s, 0)
}

// TestSchema2And1AlertsPosted: an incident alert (schema 2) posts like any
// alert, and a span written by a schema-1 processor still posts.
func TestSchema2And1AlertsPosted(t *testing.T) {
	s := newFake(t)
	exp, _ := start(t, apiConfig(s))
	inc := ownEndpoint(alerttest.Incident(), 0)
	old := numberedAlert(1)
	td := alerttest.Traces(t, inc, old)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := range spans.Len() {
		if a, ok := alert.Decode(td.ResourceSpans().At(0).Resource(), spans.At(i)); ok && a.ID == old.ID {
			spans.At(i).Attributes().PutInt(alert.AttrSchema, 1)
		}
	}
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	posts := requireSafePosts(t, s, 2)
	var messages []string
	for _, p := range posts {
		messages = append(messages, p.Message)
	}
	assert.Contains(t, strings.Join(messages, "\n"), "quantile")
	assert.Contains(t, strings.Join(messages, "\n"), "`GET /orders/1/{id}`")
}
