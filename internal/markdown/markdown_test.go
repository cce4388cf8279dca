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
	out := Alert(alerttest.Full(), Options{})
	for _, want := range []string{
		"Slow request `GET /orders/{id}` on `checkout`",
		"**2.40 s** against a threshold of 500 ms (4.8×) from rule `/orders/*`",
		"Slow again after the dedup window. **41** slow request(s) suppressed in the 10 days since the last alert (slowest 3.10 s).",
		"[Open trace](http://localhost:16686/trace/0102030405060708090a0b0c0d0e0f10)",
		"- 1.50 s client `postgresql SELECT orders WHERE id = ?` 42×, max 90 ms",
		"- 20% self, 90% total `main.loadOrder`",
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

// incidentAlert is alerttest.Incident in reason and state, with the worst
// request's breakdown and profile, as the engine emits it.
func incidentAlert(reason alert.Reason) alert.Alert {
	a := alerttest.Incident()
	full := alerttest.Full()
	a.Reason, a.Breakdown, a.Profile = reason, full.Breakdown, full.Profile
	switch reason {
	case alert.ReasonRatio:
		a.Incident.Mode = alert.ModeRatio
		a.Incident.Fired, a.Incident.Peak = alert.Figure{Ratio: 0.071}, alert.Figure{Ratio: 0.125}
		a.Window.Quantile, a.Window.QuantileValue, a.Window.Ratio, a.Window.SlowRatio = 0, 0, 0.05, 0.071
	case alert.ReasonResolved:
		a.Incident.State = alert.IncidentResolved
		a.Incident.ResolvedAt = a.Incident.OpenedAt.Add(23 * time.Minute)
		a.Incident.SlowCount = 312
		a.Breakdown, a.Profile, a.Duration = nil, nil, 0
	}
	return a
}

func TestIncidentLayout(t *testing.T) {
	spanMode := alerttest.Full()
	spanMode.Reason = alert.ReasonEscalation
	spanMode.Incident = &alert.Incident{ID: "x", State: alert.IncidentFiring, Mode: alert.ModeSpan,
		OpenedAt: alerttest.Start.Add(-time.Hour), Peak: alert.Figure{Duration: 2400 * time.Millisecond}, SlowCount: 3}
	spanResolved := spanMode
	spanResolved.Reason = alert.ReasonResolved
	spanResolved.Incident = &alert.Incident{State: alert.IncidentResolved, Mode: alert.ModeSpan,
		OpenedAt: alerttest.Start.Add(-time.Hour), ResolvedAt: alerttest.Start.Add(30 * time.Second),
		Peak: alert.Figure{Duration: 2400 * time.Millisecond}, SlowCount: 1}
	reminder := incidentAlert(alert.ReasonWindowExpired)
	escalation := incidentAlert(alert.ReasonEscalation)
	tests := []struct {
		name  string
		a     alert.Alert
		want  []string // in this order
		avoid []string
		exact string // the whole message, when set
	}{
		{name: "quantile fires", a: incidentAlert(alert.ReasonQuantile), want: []string{
			"#### :rotating_light: Slow endpoint `GET /orders/{id}` on `checkout`",
			"**p99 2.10 s over 5m ≥ threshold 500 ms** (quantile mode) from rule `/orders/*`",
			"Incident opened: the endpoint's quantile over the window crossed the threshold. Open since 09:50 UTC (10m): peak p99 2.60 s, 84 slow requests so far.",
			"**Window** (5m) 1184 requests, 84 slow (7.1%) · p50 120 ms · p90 480 ms · p95 900 ms · p99 2.10 s · max 3.40 s",
			"**Worst request** in the window: 2.40 s against a threshold of 500 ms (4.8×)",
			"[Open trace](http://localhost:16686/trace/0102030405060708090a0b0c0d0e0f10)",
			"**Slowest child spans**",
			"**Top functions**",
		}, avoid: []string{"Slow request"}},
		{name: "ratio fires", a: incidentAlert(alert.ReasonRatio), want: []string{
			"**7.1% slow over 5m ≥ ratio 5.0% (threshold 500 ms)** (ratio mode)",
			"share of slow requests over the window crossed the ratio. Open since 09:50 UTC (10m): peak 12.5% slow, 84 slow requests so far.",
			"**Window**", "**Worst request** in the window",
		}},
		{name: "escalation", a: escalation, want: []string{"Escalation: the incident got worse.", "**Window**", "**Worst request**"}},
		{name: "reminder", a: reminder, want: []string{"Still slow: a reminder after the dedup window.", "**Window**"}},
		{name: "span mode escalation", a: spanMode, want: []string{
			"Slow request `GET /orders/{id}` on `checkout`",
			"Escalation: the incident got worse. **41** slow request(s) suppressed",
			"Open since 09:00 UTC (1h): peak 2.40 s, 3 slow requests so far.",
		}, avoid: []string{"**Window**", "Worst request"}},
		{name: "quantile resolved", a: incidentAlert(alert.ReasonResolved),
			exact: "✅ Resolved: `GET /orders/{id}` on `checkout` after 23m — peak p99 2.60 s, 312 slow requests"},
		{name: "ratio resolved", a: func() alert.Alert {
			a := incidentAlert(alert.ReasonRatio)
			r := incidentAlert(alert.ReasonResolved)
			a.Reason, a.Incident.State, a.Incident.ResolvedAt = r.Reason, r.Incident.State, r.Incident.ResolvedAt
			return a
		}(), exact: "✅ Resolved: `GET /orders/{id}` on `checkout` after 23m — peak 12.5% slow, 84 slow requests"},
		{name: "span resolved", a: spanResolved,
			exact: "✅ Resolved: `GET /orders/{id}` on `checkout` after 1h 01m — peak 2.40 s, 1 slow request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Alert(tt.a, Options{})
			requireInert(t, got)
			if tt.exact != "" {
				assert.Equal(t, tt.exact, got)
				assert.Equal(t, tt.exact, Alert(tt.a, Options{Webhook: true}), "nothing to neutralise")
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				require.GreaterOrEqual(t, i, 0, "%q missing (or out of order) in\n%s", w, got)
				rest = rest[i+len(w):]
			}
			for _, w := range tt.avoid {
				assert.NotContains(t, got, w)
			}
			small := Alert(tt.a, Options{MaxRunes: 400})
			requireInert(t, small)
			assert.LessOrEqual(t, utf8.RuneCountInString(small), 400)
			tpl, err := NewTemplate("{{default .}}", false)
			require.NoError(t, err)
			secs, err := tpl.Execute(tt.a)
			require.NoError(t, err)
			assert.Equal(t, Alert(tt.a, Options{}), Fit(secs, 0))
		})
	}
}

// TestIncidentHostile: damaged or hostile incident documents render, mention
// nobody, and a hostile route stays in its code span in the resolved line.
func TestIncidentHostile(t *testing.T) {
	empty := alerttest.Incident()
	empty.Incident, empty.Window = &alert.Incident{ID: "@channel", Mode: "@here"}, &alert.WindowFigures{Histogram: []alert.HistogramBucket{{}}}
	negative := alerttest.Incident()
	negative.Window.Count, negative.Window.SlowCount, negative.Window.Over = -5, -1000, -time.Hour
	negative.Incident.OpenedAt = alerttest.Start.Add(time.Hour)
	resolved := incidentAlert(alert.ReasonResolved)
	resolved.Key = hostileAlert().Key
	for name, a := range map[string]alert.Alert{"empty": empty, "negative": negative, "resolved": resolved} {
		t.Run(name, func(t *testing.T) {
			for _, webhook := range []bool{false, true} {
				out := Alert(a, Options{Webhook: webhook})
				requireInert(t, out)
				if webhook {
					requireInert(t, mattermostfake.ProcessSlackText(out, nil))
				}
			}
		})
	}
	assert.NotContains(t, Alert(resolved, Options{}), "\n", "one line")
}
