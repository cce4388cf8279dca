package mattermostexporter

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/exporter/mattermostexporter/internal/metadata"
	"github.com/slowspan/slowspan/internal/markdown"
	"github.com/slowspan/slowspan/internal/mattermostfake"
	"github.com/slowspan/slowspan/internal/postcheck"
)

const (
	chanID  = "4xp9fdt77pncbef59f4k1qe83o"
	hookKey = "hooksecretkey4242"
	token   = "s3cr3t-bot-token-XYZ"
)

// channelID returns a fresh valid channel id for a variant channel.
func channelID() string { return mattermostfake.NewID() }

// newFake starts a fake Mattermost with the alerts channel (chanID), a bot
// with our token, a user "alice" (so "@alice" would be a real mention) and a
// webhook. Variants of the channel go under other ids (see channelID).
func newFake(t *testing.T, opts ...mattermostfake.Option) *mattermostfake.Server {
	t.Helper()
	base := []mattermostfake.Option{
		mattermostfake.WithToken(token),
		mattermostfake.WithUser(mattermostfake.User{ID: mattermostfake.NewID(), Username: "alice"}, ""),
		mattermostfake.WithWebhook(mattermostfake.Webhook{Key: hookKey, ChannelID: chanID}),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: chanID, Name: "alerts"}),
	}
	s := mattermostfake.New(append(base, opts...)...)
	t.Cleanup(s.Close)
	// Runs before Close (cleanups run last first).
	t.Cleanup(func() { record(t.Name(), s.Posts("")) })
	return s
}

// recorded holds every post the fakes of this package's tests created, for
// TestMain to render with Mattermost's own parser (internal/postcheck).
var recorded struct {
	sync.Mutex
	posts []postcheck.Post
}

func record(test string, posts []mattermostfake.Post) {
	recorded.Lock()
	defer recorded.Unlock()
	// The default layout's links and TestMessageTemplate's.
	links := append([]postcheck.Link{{Label: "trace"}}, postcheck.DefaultLinks...)
	recorded.posts = append(recorded.posts, postcheck.FromFake(test, posts, links...)...)
}

// checkRecordedPosts renders every recorded post with Mattermost's parser;
// it fails (node or its package missing included) whenever there is one.
func checkRecordedPosts() int {
	recorded.Lock()
	posts := recorded.posts
	recorded.Unlock()
	if len(posts) == 0 {
		return 0
	}
	if err := postcheck.Verify("mattermostexporter", posts); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the posts of the mattermost exporter's tests, rendered by Mattermost's parser:\n%v\n", err)
		return 1
	}
	return 0
}

// apiConfig delivers synchronously and fails fast: ConsumeTraces returns
// the push error as exporterhelper would hand it to its retry sender.
func apiConfig(s *mattermostfake.Server) *Config {
	cfg := createDefaultConfig()
	cfg.Endpoint = s.URL()
	cfg.Token = token
	cfg.ChannelID = chanID
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.BackOffConfig.Enabled = false
	return cfg
}

func hookConfig(s *mattermostfake.Server) *Config {
	cfg := createDefaultConfig()
	cfg.WebhookURL = configopaque.String(s.URL() + "/hooks/" + hookKey)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.BackOffConfig.Enabled = false
	return cfg
}

type logs struct{ *observer.ObservedLogs }

func newSettings(id string) (exporter.Settings, logs) {
	core, obs := observer.New(zapcore.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	if id != "" {
		set.ID = component.NewIDWithName(metadata.Type, id)
	}
	return set, logs{obs}
}

// all renders every entry with its fields, for leak checks.
func (l logs) all() string {
	var b strings.Builder
	for _, e := range l.All() {
		fmt.Fprintf(&b, "%s %s %v\n", e.Level, e.Message, e.ContextMap())
	}
	return b.String()
}

func (l logs) count(substr string) int {
	n := 0
	for _, e := range l.All() {
		if strings.Contains(e.Message, substr) {
			n++
		}
	}
	return n
}

func startExporter(t *testing.T, cfg *Config, set exporter.Settings, host component.Host) exporter.Traces {
	t.Helper()
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func start(t *testing.T, cfg *Config) (exporter.Traces, logs) {
	t.Helper()
	set, l := newSettings("")
	return startExporter(t, cfg, set, componenttest.NewNopHost()), l
}

// numberedAlert is alerttest.Numbered(i) on an endpoint of its own, so it
// starts a thread of its own.
func numberedAlert(i int) alert.Alert { return ownEndpoint(alerttest.Numbered(i), i) }

// profiledAlert is alerttest.Profiled(i) (a breakdown and a profile with
// stacks, so a flame graph and a pprof file to attach) on an endpoint of its
// own.
func profiledAlert(i int) alert.Alert { return ownEndpoint(alerttest.Profiled(i), i) }

func ownEndpoint(a alert.Alert, i int) alert.Alert {
	a.Key.Route = fmt.Sprintf("/orders/%d/{id}", i)
	return a
}

// followUp is a later alert of the same endpoint as numberedAlert(i).
func followUp(i, n int, reason alert.Reason) alert.Alert {
	a := numberedAlert(i)
	a.TraceID = fmt.Sprintf("%032x", 1000*(n+1)+i)
	a.SpanID = fmt.Sprintf("%016x", 1000*(n+1)+i)
	a.Reason = reason
	a.ID = alert.NewID(a.TraceID, a.SpanID, reason)
	a.Suppressed = alert.Suppressed{Count: 3, MaxDuration: 3 * time.Second, Since: alerttest.Start}
	return a
}

// requireSafePosts checks every post a real server would have created: no
// mention of anyone, valid UTF-8, within the limit, and no contract
// violation in any request.
func requireSafePosts(t *testing.T, s *mattermostfake.Server, want int) []mattermostfake.Post {
	t.Helper()
	posts := s.Posts(chanID)
	require.Len(t, posts, want)
	for _, p := range posts {
		require.False(t, p.Mentions.Any(), "mentions %+v in post:\n%s", p.Mentions, p.Message)
		require.False(t, mattermostfake.DetectMentions(p.Message, []string{"alice", "slowspan-bot"}).Any())
		require.True(t, utf8.ValidString(p.Message))
		require.LessOrEqual(t, utf8.RuneCountInString(p.Message), markdown.MaxRunes)
	}
	require.Empty(t, s.Violations())
	return posts
}

// unstarted builds an exporter with its client but without the start-up
// checks, to exercise a push against a server that changed after start.
func unstarted(t *testing.T, cfg *Config) *mattermostExporter {
	t.Helper()
	set, _ := newSettings("")
	e := newMattermostExporter(cfg, set)
	hc, err := cfg.ClientConfig.ToClient(context.Background(), nil, set.TelemetrySettings)
	require.NoError(t, err)
	t.Cleanup(hc.CloseIdleConnections)
	e.c = &client{http: hc, base: cfg.Endpoint, token: string(cfg.Token), hookURL: string(cfg.WebhookURL)}
	e.router, err = newRouter(cfg)
	require.NoError(t, err)
	return e
}

// down takes the fake down after one served request. Up replaces the
// httptest listener that the serve goroutine read at start; a served
// request (its handler takes the fake's lock, as Down and Up do) orders that
// read before Up's write, which the race detector otherwise reports: a bug
// of mattermostfake.Up, worked around here.
func down(t *testing.T, s *mattermostfake.Server) {
	t.Helper()
	res, err := http.Get(s.URL() + "/api/v4/system/ping")
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	http.DefaultClient.CloseIdleConnections()
	s.Down()
}
