package mattermostexporter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures"
)

// hostileAlerts each carry one hostile input from the issue.
func hostileAlerts() map[string]alert.Alert {
	out := map[string]alert.Alert{}
	add := func(name string, i int, edit func(*alert.Alert)) {
		a := profiledAlert(i)
		edit(&a)
		out[name] = a
	}
	add("route /@channel", 0, func(a *alert.Alert) { a.Key.Route = "/@channel"; a.SpanName = "GET /@channel" })
	add("<!channel> in attribute", 1, func(a *alert.Alert) {
		a.Attributes["user_agent.original"] = "<!channel> <!here> <@" + strings.Repeat("a", 26) + ">"
	})
	add("@here in attribute", 2, func(a *alert.Alert) { a.Attributes["http.request.header.x"] = "@here @alice &#64;all \\@channel" })
	add("markdown link", 3, func(a *alert.Alert) {
		a.Key.Route = "/[x](http://evil)"
		a.Attributes["q"] = "[x](http://evil) <http://evil|click>"
		a.Profile.TopFunctions[0].Name = "[x](http://evil)"
	})
	add("backtick runs", 4, func(a *alert.Alert) {
		a.Key.Route = "/a`b``c```@channel````"
		a.Attributes["x"] = "` @here `"
		a.Profile.HottestFrame = "``@all``"
		a.Breakdown.Children[0].Description = "```\n@channel\n```"
	})
	// alert.Decode caps strings at alert.MaxValueLength on the way in; the
	// uncapped 20000-character case is covered in internal/markdown.
	add("20000-char URL", 5, func(a *alert.Alert) {
		long := "http://evil.example/" + strings.Repeat("@channel/", 20000/9)
		a.Links.Trace = long
		a.Links.Profile = long
		a.Attributes["url.full"] = long
	})
	add("invalid UTF-8", 6, func(a *alert.Alert) {
		a.Key.Route = "/\xff\xfe@channel"
		a.Key.Service = "svc\xc3"
		a.Attributes["bad"] = "a\xffb @here"
		a.Profile.TopFunctions[0].Name = "main.\xff"
	})
	add("function names", 7, func(a *alert.Alert) {
		a.Profile.TopFunctions = []alert.Function{{Name: "main.(*T).@channel", Self: 0.5}, {Name: "@alice", Self: 0.1}}
		a.Profile.Stacks[0].Frames = []string{"@channel", "<!here>"}
	})
	// The diagnosis and its evidence: sentence, frame, app-code groups,
	// blocking calls and a child group's pattern, after the alert's own
	// encoding and decoding.
	add("diagnosis", 8, func(a *alert.Alert) {
		h := "@channel [x](http://evil) <!here> ``@all`` <script>\n@here"
		a.Diagnosis = &alert.Diagnosis{Kind: "<!channel>", Text: h, Frame: h, Line: h,
			Time: alert.TimeAccount{OffCPU: time.Second}}
		a.Profile.HottestLine = h
		a.Profile.ByAppCode = []alert.CodeGroup{{Function: h, Line: h, Share: 0.5, Library: []alert.Function{{Name: h, Self: 0.5}}}}
		a.Profile.Waiting = []alert.Blocker{{Call: h, Caller: h, Line: h, Time: time.Second}}
		a.Breakdown.Children[0].Pattern = h
	})
	add("sleep-only diagnosis", 9, func(a *alert.Alert) {
		a.Profile = &alert.Profile{Source: "otlp_link", WallTime: a.Duration, OffCPUTime: a.Duration, WallSamples: 100,
			Waiting: []alert.Blocker{{Call: "time.Sleep", Caller: "main.@channel", Line: "x.go:1", Time: a.Duration}}}
		a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisWaiting, Text: "Waiting: @here", Time: alert.TimeAccount{OffCPU: a.Duration}}
	})
	return out
}

func TestHostileInputsAPI(t *testing.T) {
	for name, a := range hostileAlerts() {
		t.Run(name, func(t *testing.T) {
			s := newFake(t)
			exp, _ := start(t, apiConfig(s))
			require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)), "the post is accepted")
			p := requireSafePosts(t, s, 1)[0]
			assert.False(t, p.Mentions.Fired())
			if a.Diagnosis != nil {
				lines := strings.Split(p.Message, "\n")
				require.Greater(t, len(lines), 2)
				assert.True(t, strings.HasPrefix(lines[1], "**") && strings.HasSuffix(lines[1], "**"), "the diagnosis survives the trip: %q", lines[1])
				assert.Contains(t, lines[2], figures.TimeLine(a.Diagnosis.Time, a.Duration))
			}
			if len(a.Profile.Stacks) > 0 {
				assert.Len(t, p.FileIDs, 2)
			} else { // slept only: no flame graph, no pprof
				assert.Empty(t, p.FileIDs)
				assert.Contains(t, p.Message, "Waited in: `time.Sleep` from `main.@channel (x.go:1)`")
			}
		})
	}
}

func TestHostileInputsWebhook(t *testing.T) {
	for name, a := range hostileAlerts() {
		t.Run(name, func(t *testing.T) {
			s := newFake(t)
			exp, _ := start(t, hookConfig(s))
			require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)), "the post is accepted")
			// The fake applies the Slack translation (<!channel> -> @channel)
			// before detecting mentions, as a real server does.
			p := requireSafePosts(t, s, 1)[0]
			assert.True(t, p.FromWebhook)
			assert.NotContains(t, p.Message, "<!")
			assert.NotContains(t, p.Message, "<@")
		})
	}
}

func TestHostileInputsWithChannelMentionsAllowed(t *testing.T) {
	// Even where the bot may notify the channel, nothing does.
	s := newFake(t)
	exp, _ := start(t, apiConfig(s))
	var all []alert.Alert
	for _, a := range hostileAlerts() {
		all = append(all, a)
	}
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, all...)))
	for _, p := range requireSafePosts(t, s, len(all)) {
		assert.False(t, p.Mentions.ChannelWide())
		assert.NotContains(t, p.Props, "mentionHighlightDisabled")
	}
}
