package markdown

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
	"github.com/slowspan/slowspan/internal/postcheck"
)

// hostileValues go into every untrusted field of an alert, one value per
// alert: mentions, raw HTML, links, images, autolinks, Slack markup,
// backtick runs, entities, zero-width and bidi characters, line breaks,
// tables, emoji, hashtags, channel links, LaTeX, invalid UTF-8 and very long
// text.
var hostileValues = []string{
	"@channel", "@here @all", "@alice", "＠channel ﹫here", "\\@channel", "&#64;channel &commat;here &#x40;all",
	"a@channel", "@@channel", "@channel.", "@channel: hi", "@all,@here",
	"<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b>bold</b>", "<!-- c -->", "<div>\n\nblock</div>",
	"[x](javascript:alert(1))", "[x](http://evil.example)", "[x][r]\n\n[r]: http://evil.example", "![i](http://x/y.png)",
	"<http://evil>", "<https://evil.example/@here>", "<a@evil.example>", "www.evil.com", "https://evil.com", "evil.com/x",
	"ftp://evil.example", "mailto:a@evil.example", "a@evil.example", "javascript:alert(1)",
	"http://x/)](javascript:alert(1))", "http://x/\"onmouseover=\"alert(1)",
	"<!channel> <!here> <!everyone> <@" + strings.Repeat("a", 26) + "> <http://evil|click> <#C123|chan>",
	"`", "``", "a`b``c```d", "` @here `", "```\n@channel\n```", "~~~\n@here\n~~~", "\\`@channel\\`",
	"&lt;b&gt; &amp; &quot; &#96;@here&#96;", "&#x5b;x&#x5d;(http://evil)",
	"zero\u200bwidth\u200c\u200d@\u200bhere \ufeff@all", "bidi \u202eevil\u202c \u2066x\u2069 \u200f@channel",
	"line1\nline2\r\n# heading\n- item\n> quote\n    indented\n---", "=====", "| a | b |\n|---|---|\n| c | d |", "a|b|c",
	":smile: :) ;) <3 x-d :D", "#hashtag #abc ~town-square ~off-topic", "$x^2$ and $@channel$", "**bold** _em_ ~~strike~~ *x*",
	"- [ ] task", "1. one", "2) two", "    four spaces", "   - x", ">quote", "***", "___", "=", "--", "== x", "\\", "\u0000nul\u0007bell", "\xff\xfe invalid \xc3",
	strings.Repeat("@channel [x](http://e) `", 1000),
}

// everywhere puts v into every field of a Full alert that comes from the
// app or its client.
func everywhere(v string, i int) alert.Alert {
	a := alerttest.Full()
	a.Key = alert.Key{Service: "svc " + v, Method: v, Route: "/r/" + v}
	a.Rule = v
	a.SpanName = v
	a.Attributes = map[string]string{"k " + v: v, "url.full": "http://x/" + v, "v": v}
	a.Resource = map[string]string{"service.name": v}
	a.Links = alert.Links{Trace: "http://trace.example/" + v, Profile: v}
	if i%2 == 1 {
		a.Links.Profile = "https://profile.example/?q=" + v
	}
	a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisKind(v), Text: v, Frame: v, Line: v + ":12"}
	a.Breakdown.Children[0].Description = v
	a.Breakdown.Children[1].Description, a.Breakdown.Children[1].Name = "", v
	a.Breakdown.Children[2].Kind = v
	a.Profile.HottestFrame = v
	a.Profile.TopFunctions = []alert.Function{{Name: v, Self: 0.5, Total: 0.6}, {Name: "main." + v, Self: 0.1}}
	return a
}

// variants are the layouts an alert can take: a single request, an open
// incident, a resolved incident and a storm summary.
func variants(a alert.Alert) map[string]alert.Alert {
	inc := alerttest.Incident()
	incident := a
	incident.Reason, incident.Incident, incident.Window = alert.ReasonQuantile, inc.Incident, inc.Window
	resolved := incident
	in := *inc.Incident
	in.State, in.ResolvedAt = alert.IncidentResolved, in.OpenedAt.Add(23*time.Minute)
	resolved.Reason, resolved.Incident = alert.ReasonResolved, &in
	storm := a
	storm.Reason = alert.ReasonStorm
	storm.Folded = &alert.Folded{Count: 120, Since: alerttest.Start, Omitted: 3, Endpoints: []alert.FoldedEndpoint{
		{Key: a.Key, Count: 100, MaxDuration: 3 * time.Second},
		{Key: alert.Key{Service: a.Key.Route, Route: a.Key.Service}, Count: 20, MaxDuration: time.Second},
	}}
	// A regression: the incident's layout plus what changed, with the
	// alert's hostile route in every text of the regression.
	regression := incident
	regression.Reason, regression.Regression = alert.ReasonRegression, figurestest.HostileRegression(a.Key.Route).Regression
	return map[string]alert.Alert{"request": a, "incident": incident, "resolved": resolved, "storm": storm, "regression": regression}
}

// expectations are the links a rendering of a may contain and the values it
// must show as whole code spans.
func expectations(a alert.Alert, webhook bool) ([]postcheck.Link, []string) {
	pre := func(s string) string {
		if webhook {
			s = Webhook(s)
		}
		return Clean(s)
	}
	links := []postcheck.Link{{Label: "Open trace", URL: pre(a.Links.Trace)}, {Label: "Open profile", URL: pre(a.Links.Profile)}}
	if a.Folded != nil {
		var code []string
		for _, e := range a.Folded.Endpoints {
			code = append(code, pre(figures.Endpoint(e.Key)), pre(e.Key.Service))
		}
		return links, code
	}
	code := []string{pre(figures.Endpoint(a.Key)), pre(a.Key.Service)}
	if figures.Resolved(a) {
		return links, code
	}
	code = append(code, pre(a.Rule), pre(a.TraceID), pre(a.SpanID))
	if a.Breakdown != nil {
		for _, c := range a.Breakdown.Children {
			if c.Description != "" {
				code = append(code, pre(c.Description))
			} else {
				code = append(code, pre(c.Name))
			}
		}
	}
	if a.Profile != nil {
		code = append(code, pre(a.Profile.HottestFrame))
		for _, f := range a.Profile.TopFunctions {
			code = append(code, pre(f.Name))
		}
	}
	for k, v := range a.Attributes {
		code = append(code, pre(k), pre(v))
	}
	if r := a.Regression; r != nil {
		code = append(code, pre(r.Before.Version), pre(r.After.Version))
		for _, c := range r.Changes[:min(len(r.Changes), maxChangesShown)] {
			code = append(code, pre(c.Description))
		}
	}
	return links, code
}

// userTemplate uses every helper of a message_template on untrusted values.
const userTemplate = `#### {{code .Key.Route}} on {{text .Key.Service}}
**{{duration .Duration}}** {{text .SpanName}} {{code (truncate 40 .SpanName)}} {{link "trace" .Links.Trace}} {{link "profile" .Links.Profile}}
{{range $k, $v := .Attributes}}- {{code $k}} {{text $v}}
{{end}}
{{text .SpanName}}
{{text .Rule}}
{{text .Key.Method}} {{text .Key.Route}}

{{default .}}`

// TestPostsRenderedByMattermostParser renders every layout of alerts carrying
// hostile values in every untrusted field, through the API and through a
// webhook, fitted to the server's limit and to a small one, and with a user
// template, then parses each message with Mattermost's own Markdown parser
// (internal/postcheck): no link, image or raw HTML from untrusted text, no
// live mention, every value a whole code span.
func TestPostsRenderedByMattermostParser(t *testing.T) {
	var posts []postcheck.Post
	values := append([]string{"plain", ""}, hostileValues...)
	for i, v := range values {
		for layout, a := range variants(everywhere(v, i)) {
			for _, webhook := range []bool{false, true} {
				links, code := expectations(a, webhook)
				name := fmt.Sprintf("value %d %q, %s, webhook=%t", i, postcheckName(v), layout, webhook)
				for _, max := range []int{0, 1200} {
					msg := Alert(a, Options{Webhook: webhook, MaxRunes: max})
					if webhook {
						msg = Webhook(msg) // as the exporter sends it
					}
					posts = append(posts, postcheck.Post{Name: fmt.Sprintf("%s, max=%d", name, max), Message: msg, Webhook: webhook, Links: links, Code: code})
				}
				tpl, err := NewTemplate(userTemplate, webhook)
				require.NoError(t, err)
				secs, err := tpl.Execute(a)
				require.NoError(t, err)
				tplLinks := append([]postcheck.Link{{Label: "trace", URL: links[0].URL}, {Label: "profile", URL: links[1].URL}}, links...)
				posts = append(posts, postcheck.Post{Name: name + ", template", Message: Fit(secs, MaxRunes), Webhook: webhook,
					Links: tplLinks, Code: []string{cleanFor(a.Key.Route, webhook)}})
			}
		}
	}
	t.Logf("%d posts", len(posts))
	postcheck.Check(t, posts)
}

func cleanFor(s string, webhook bool) string {
	if webhook {
		s = Webhook(s)
	}
	return Clean(s)
}

func postcheckName(v string) string { return Truncate(Clean(v), 40) }
