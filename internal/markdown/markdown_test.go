package markdown

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

var users = []string{"slowspan-bot", "alice"}

func requireInert(t *testing.T, msg string) {
	t.Helper()
	m := mattermostfake.DetectMentions(msg, users)
	require.False(t, m.Any(), "mentions %+v in:\n%s", m, msg)
	require.True(t, utf8.ValidString(msg))
	require.LessOrEqual(t, utf8.RuneCountInString(msg), MaxRunes)
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"/orders/{id}": "`/orders/{id}`",
		"a`b":          "``a`b``",
		"``x":          "``` ``x ```",
		"x`":           "`` x` ``",
		"":             "` `",
		"a\nb":         "`a b`",
		" lead":        "`  lead `", //nolint:gocritic // mapKey: the leading space is the case under test
	} {
		assert.Equal(t, want, Code(in, 0), "%q", in)
	}
	assert.Equal(t, "`ab…`", Code("abcdef", 3))
	for _, hostile := range []string{"@channel", "`@channel`", "``@here``", "` @all `", "\\`@channel", "&#64;channel"} {
		requireInert(t, "see "+Code(hostile, 0)+" now")
	}
}

func TestText(t *testing.T) {
	for _, hostile := range []string{"@channel", "@here", "@all", "@alice", "\\@channel", "&#64;channel", "&commat;here",
		"[x](http://evil)", "＠channel", "a@channel", "@@channel", "@channel."} {
		out := Text(hostile, 0)
		requireInert(t, "x "+out+" y")
		assert.NotContains(t, out, "](")
	}
	assert.Equal(t, "a\\_b", Text("a_b", 0))
}

func TestWebhook(t *testing.T) {
	in := "<!channel> <@USERID> <http://evil|click>"
	out := Webhook(in)
	assert.Equal(t, out, Webhook(out), "idempotent")
	translated := mattermostfake.ProcessSlackText(out, map[string]string{"USERID": "alice"})
	assert.Equal(t, out, translated, "no Slack markup left to translate")
	requireInert(t, Code(out, 0))
}

func TestLink(t *testing.T) {
	assert.Equal(t, "[Open trace](http://jaeger:16686/trace/abc?x=1&y=2)", Link("Open trace", "http://jaeger:16686/trace/abc?x=1&y=2"))
	assert.Equal(t, "[t](http://evil/%40channel%20%28x%29)", Link("t", "http://evil/@channel (x)"))
	assert.Equal(t, "[t](http://e/&#64%3Bhere)", Link("t", "http://e/&#64;here"))
	js := Link("t", "javascript:alert(1)")
	assert.NotContains(t, js, "](")
	long := Link("t", "http://x/"+strings.Repeat("a", 20000))
	assert.NotContains(t, long, "](")
	assert.Less(t, utf8.RuneCountInString(long), 300)
	for _, u := range []string{"http://x/@here", "https://u@channel/x", "http://x/<!channel>", "http://x/)[@all](y"} {
		requireInert(t, Link("trace", u))
	}
}

func TestFitDropsWholeSectionsByPriority(t *testing.T) {
	secs := []Section{
		{Text: "head", Priority: 100},
		{Text: strings.Repeat("a", 100), Priority: 10},
		{Text: "links", Priority: 90},
		{Text: strings.Repeat("b", 50), Priority: 20},
	}
	out := Fit(secs, 160)
	assert.LessOrEqual(t, utf8.RuneCountInString(out), 160)
	assert.Contains(t, out, "head")
	assert.Contains(t, out, "links")
	assert.Contains(t, out, strings.Repeat("b", 50))
	assert.NotContains(t, out, "aaaa")
	assert.Contains(t, out, "1 section(s) left out")
	assert.Equal(t, Fit(secs, 0), "head\n\n"+strings.Repeat("a", 100)+"\n\nlinks\n\n"+strings.Repeat("b", 50))
}

func TestFitNeverCutsInsideAFence(t *testing.T) {
	block := "intro\n````\n" + strings.Repeat("@channel line\n", 100) + "````"
	out := Fit([]Section{{Text: block}}, 300)
	assert.LessOrEqual(t, utf8.RuneCountInString(out), 300)
	assert.True(t, strings.HasPrefix(out, "intro\n````\n"))
	assert.Contains(t, out, "@channel line\n````\n\n_")
	requireInert(t, out)
	// One giant line is dropped, not cut.
	out = Fit([]Section{{Text: Code(strings.Repeat("@here ", 5000), 0)}}, 1000)
	requireInert(t, out)
	assert.NotContains(t, out, "`")
}

func TestSplitSections(t *testing.T) {
	secs := SplitSections("a\n\nb\n```\nx\n\ny\n```\n\nc\n```\nopen")
	require.Len(t, secs, 3)
	assert.Equal(t, "b\n```\nx\n\ny\n```", secs[1].Text)
	assert.Equal(t, "c\n```\nopen\n```", secs[2].Text, "an open fence is closed")
	assert.Greater(t, secs[0].Priority, secs[2].Priority)
}

func hostileAlert() alert.Alert {
	a := alerttest.Full()
	a.Key.Route = "/@channel/[x](http://evil)/```/<!channel>"
	a.Key.Service = "@here"
	a.Rule = "@all"
	a.Attributes = map[string]string{
		"user_agent.original": "<!channel> @here",
		"url.full":            "http://x/" + strings.Repeat("@channel", 2500),
		"bad":                 "a\xff@channel\xfe",
		"@here":               "`@all`",
	}
	a.Links = alert.Links{Trace: "http://x/" + strings.Repeat("a", 20000), Profile: "http://p/@here?q=<!here>"}
	a.Breakdown.Children[0].Description = "SELECT '@channel' -- ``` [x](http://evil)"
	a.Profile.TopFunctions = []alert.Function{{Name: "main.(*T).@channel", Self: 0.5, Total: 0.9}, {Name: "``@here``", Self: 2, Total: -1}}
	a.Profile.HottestFrame = "@all"
	return a
}

func TestDefaultLayout(t *testing.T) {
	out := Alert(alerttest.Full(), Options{Attachments: []string{"flamegraph.png"}})
	for _, want := range []string{
		"Slow request `GET /orders/{id}` on `checkout`",
		"**2.40 s** against a threshold of 500 ms (4.8×) from rule `/orders/*`",
		"Slow again after the dedup window. **41** slow request(s) suppressed in the 10 days since the last alert (slowest 3.10 s).",
		"[Open trace](http://localhost:16686/trace/0102030405060708090a0b0c0d0e0f10)",
		"- 1.50 s client `postgresql SELECT orders WHERE id = ?` 42×, max 90 ms",
		"- 20% self, 90% total `main.loadOrder`",
		"Attached: `flamegraph.png`",
	} {
		assert.Contains(t, out, want)
	}
	requireInert(t, out)
}

func TestHostileAlert(t *testing.T) {
	for _, webhook := range []bool{false, true} {
		out := Alert(hostileAlert(), Options{Webhook: webhook})
		requireInert(t, out)
		if webhook {
			requireInert(t, mattermostfake.ProcessSlackText(out, nil))
			assert.NotContains(t, out, "<!")
		}
		assert.Contains(t, out, "````GET /@channel/[x](http://evil)/```/<")
	}
}

func TestTemplate(t *testing.T) {
	tpl, err := NewTemplate("{{code .Key.Route}} took {{duration .Duration}} {{text .Key.Service}}\n\n{{link \"trace\" .Links.Trace}}", true)
	require.NoError(t, err)
	secs, err := tpl.Execute(hostileAlert())
	require.NoError(t, err)
	out := Fit(secs, 0)
	requireInert(t, out)
	requireInert(t, mattermostfake.ProcessSlackText(out, nil))
	_, err = NewTemplate("{{", false)
	require.Error(t, err)
	tpl, _ = NewTemplate("{{if false}}x{{end}}", false)
	_, err = tpl.Execute(alerttest.Full())
	require.Error(t, err)
	tpl, _ = NewTemplate("{{default .}}", false)
	secs, err = tpl.Execute(alerttest.Full())
	require.NoError(t, err)
	assert.Equal(t, Alert(alerttest.Full(), Options{}), Fit(secs, 0))
}

func TestStormSummary(t *testing.T) {
	a := alert.Alert{Reason: alert.ReasonStorm, Key: alert.Key{Service: "slowspan", Route: "alert storm"},
		Folded: &alert.Folded{Count: 240, Since: time.Date(2026, 12, 1, 10, 4, 0, 0, time.UTC), Omitted: 3}}
	for i := range 25 {
		a.Folded.Endpoints = append(a.Folded.Endpoints, alert.FoldedEndpoint{
			Key: alert.Key{Service: "shop", Method: "GET", Route: fmt.Sprintf("/search/@channel%d", i)}, Count: 9, MaxDuration: 1500 * time.Millisecond})
	}
	got := Alert(a, Options{})
	assert.Contains(t, got, "Alert storm: **240** slow-request alerts")
	assert.Contains(t, got, "`GET /search/@channel0` on `shop`: 9, 1.50 s")
	assert.Contains(t, got, "… and 8 more endpoints")
	assert.NotContains(t, got, "Slow request")
}

// Incident alerts (schema 2) are not laid out yet, but render like any
// alert and say why they fired.
func TestIncidentAlertRenders(t *testing.T) {
	for _, c := range []struct {
		reason alert.Reason
		want   string
	}{
		{alert.ReasonQuantile, "quantile"},
		{alert.ReasonRatio, "ratio"},
		{alert.ReasonResolved, "resolved"},
	} {
		t.Run(string(c.reason), func(t *testing.T) {
			a := alerttest.Incident()
			a.Reason = c.reason
			for _, o := range []Options{{}, {Webhook: true}, {MaxRunes: 300}} {
				got := Alert(a, o)
				assert.Contains(t, got, c.want, "%+v", o)
				assert.Contains(t, got, "Slow request")
				requireInert(t, got)
			}
			tpl, err := NewTemplate("{{default .}}", false)
			require.NoError(t, err)
			secs, err := tpl.Execute(a)
			require.NoError(t, err)
			assert.Equal(t, Alert(a, Options{}), Fit(secs, 0))
		})
	}
	// Empty and hostile documents are no problem either.
	a := alerttest.Incident()
	a.Incident, a.Window = &alert.Incident{ID: "@channel"}, &alert.WindowFigures{Histogram: []alert.HistogramBucket{{}}}
	requireInert(t, Alert(a, Options{}))
}
