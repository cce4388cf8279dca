package mattermostexporter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/exporter/mattermostexporter/internal/metadata"
	"github.com/slowspan/slowspan/internal/markdown"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

const (
	chanID  = "4xp9fdt77pncbef59f4k1qe83o"
	hookKey = "hooksecretkey4242"
	token   = "s3cr3t-bot-token-XYZ"
)

// channelID returns a fresh valid channel id for a variant channel.
func channelID() string { return mattermostfake.NewID() }

var testStart = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

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
	return s
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

// numberedAlert is a small alert with its own trace, so its own ID.
func numberedAlert(i int) alert.Alert {
	traceID := fmt.Sprintf("%032x", i+1)
	spanID := fmt.Sprintf("%016x", i+1)
	return alert.Alert{
		ID:         alert.NewID(traceID, spanID, alert.ReasonFirst),
		Key:        alert.Key{Service: "checkout", Method: "GET", Route: fmt.Sprintf("/orders/%d/{id}", i)},
		Reason:     alert.ReasonFirst,
		SpanName:   "GET /orders/{id}",
		Duration:   2400 * time.Millisecond,
		Threshold:  500 * time.Millisecond,
		TraceID:    traceID,
		SpanID:     spanID,
		Start:      testStart.Add(time.Duration(i) * time.Second),
		Attributes: map[string]string{"http.route": "/orders/{id}"},
		Resource:   map[string]string{"service.name": "checkout"},
	}
}

// profiledAlert has a breakdown and a profile with stacks (so a flame
// graph and a pprof file to attach).
func profiledAlert(i int) alert.Alert {
	a := numberedAlert(i)
	a.Links = alert.Links{Trace: "http://localhost:16686/trace/" + a.TraceID}
	a.Breakdown = &alert.Breakdown{SelfTime: 400 * time.Millisecond, Children: []alert.ChildGroup{
		{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT orders WHERE id = ?", Count: 42,
			Total: 1500 * time.Millisecond, Max: 90 * time.Millisecond, Offset: 50 * time.Millisecond},
	}}
	a.Profile = &alert.Profile{
		Source: "otlp_link", CPUTime: 620 * time.Millisecond, WallTime: 2400 * time.Millisecond, Samples: 62,
		TopFunctions: []alert.Function{{Name: "main.loadOrder", Self: 0.2, Total: 0.9}},
		HottestFrame: "main.loadOrder",
		Stacks: []alert.Stack{
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder"}, Value: 38},
			{Frames: []string{"net/http.(*conn).serve", "runtime.mallocgc"}, Value: 24},
		},
	}
	return a
}

// followUp is a later alert of the same endpoint as numberedAlert(i).
func followUp(i, n int, reason alert.Reason) alert.Alert {
	a := numberedAlert(i)
	a.TraceID = fmt.Sprintf("%032x", 1000*(n+1)+i)
	a.SpanID = fmt.Sprintf("%016x", 1000*(n+1)+i)
	a.Reason = reason
	a.ID = alert.NewID(a.TraceID, a.SpanID, reason)
	a.Suppressed = alert.Suppressed{Count: 3, MaxDuration: 3 * time.Second, Since: testStart}
	return a
}

// tracesOf carries the alerts as the processor emits them, plus a span that
// is not an alert (which the exporter must ignore).
func tracesOf(t *testing.T, alerts ...alert.Alert) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	for _, a := range alerts {
		require.NoError(t, alerttest.Append(td, a))
	}
	plain := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	plain.SetName("GET /health")
	plain.SetTraceID(pcommon.TraceID{9, 9, 9})
	plain.SetSpanID(pcommon.SpanID{9, 9})
	return td
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
