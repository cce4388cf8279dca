package markdown

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

// FuzzRender: whatever the route, attribute values, function names and
// diagnosis (kind, text, frame, app-code groups, blocking calls), the
// default layout mentions nobody (per the fake's faithful mention parser,
// also after webhook Slack translation), is valid UTF-8 and fits the limit.
func FuzzRender(f *testing.F) {
	f.Add("/@channel", "<!channel> @here", "main.@all", "http://x/@here", 1)
	f.Add("[x](http://evil)", "````", "``@here``", strings.Repeat("a", 20000), 3)
	f.Add("a\xff@channel", "&#64;channel", "\\@all", "javascript:@here", 200)
	f.Add("`", "` @channel `", "<@USERID>", "http://e/&#64;here", 0)
	f.Add("orders.go:17\n@here", "N+1: [x](http://evil)\n# @all", "time.Sleep<script>", "", 5)
	f.Fuzz(func(t *testing.T, route, attr, fn, link string, n int) {
		a := alerttest.Full()
		a.Key.Route = route
		a.Key.Service = attr
		a.Rule = fn
		a.SpanName = route
		a.Attributes = map[string]string{attr: attr, "r": route, "f": fn}
		a.Links = alert.Links{Trace: link, Profile: route}
		a.Breakdown.Children[0].Description = attr
		a.Breakdown.Children[0].Kind = fn
		a.Profile.HottestFrame = fn
		a.Profile.TopFunctions = []alert.Function{{Name: fn}, {Name: route}}
		// The diagnosis and its evidence, with a fuzzed kind and shares.
		a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisKind(fn), Text: attr, Frame: fn, Line: route,
			Time: alert.TimeAccount{OnCPU: time.Duration(n), OffCPU: time.Duration(-n)}}
		a.Profile.HottestLine = attr
		a.Profile.ByAppCode = []alert.CodeGroup{{Function: fn, Line: attr, Share: float64(n) / 7,
			Library: []alert.Function{{Name: route, Self: -float64(n)}}}, {Library: []alert.Function{{Name: attr}}}}
		a.Profile.Waiting = []alert.Blocker{{Call: fn, Caller: route, Line: attr, Time: time.Duration(n)}}
		a.Breakdown.Children[0].Pattern = fn
		if n%5 == 0 { // a request that only slept
			a.Profile.CPUTime, a.Profile.Samples, a.Profile.ByAppCode, a.Profile.TopFunctions = 0, 0, nil, nil
		}
		if n < 0 {
			n = -n
		}
		for i := 0; i < n%300; i++ {
			a.Breakdown.Children = append(a.Breakdown.Children, alert.ChildGroup{Description: strings.Repeat(attr, 3)})
			a.Attributes[fn+strings.Repeat("x", i)] = strings.Repeat(route, 10)
		}
		// Every other run is an incident alert in one of its states, with
		// a fuzzed mode and counts.
		if inc := alerttest.Incident(); n%2 == 1 {
			a.Incident, a.Window = inc.Incident, inc.Window
			a.Incident.Mode = alert.Mode(fn)
			a.Window.Count, a.Window.SlowCount = int64(n), int64(-n)
			if n%3 == 0 {
				a.Incident.State = alert.IncidentResolved
			}
			// A third of those are regressions, with fuzzed texts.
			if n%7 < 3 {
				a.Reason, a.Regression = alert.ReasonRegression, figurestest.HostileRegression(fn).Regression
				a.Regression.Before.Version, a.Regression.After.Version = route, attr
				if n%7 == 0 {
					a.Regression.Changes = nil
				}
			}
		}
		for _, webhook := range []bool{false, true} {
			out := Alert(a, Options{Webhook: webhook, MaxRunes: 1000 + n%20000})
			check(t, out, webhook)
		}
	})
}

func check(t *testing.T, out string, webhook bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("invalid UTF-8: %q", out)
	}
	if n := utf8.RuneCountInString(out); n > MaxRunes {
		t.Fatalf("%d runes", n)
	}
	if m := mattermostfake.DetectMentions(out, users); m.Any() {
		t.Fatalf("mentions %+v in\n%s", m, out)
	}
	if webhook {
		tr := mattermostfake.ProcessSlackText(out, map[string]string{"USERID": "alice"})
		if m := mattermostfake.DetectMentions(tr, users); m.Any() {
			t.Fatalf("mentions after Slack translation %+v in\n%s", m, tr)
		}
	}
}
