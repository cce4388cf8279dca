package report

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
)

var (
	scriptRE = regexp.MustCompile(`(?i)<\s*script`)
	jsHrefRE = regexp.MustCompile(`(?i)href\s*=\s*["']?\s*(javascript|data|vbscript):`)
)

// withoutOwnScript is page without its one script (the flame graph's,
// a constant): what is left must hold no script at all.
func withoutOwnScript(page string) string {
	return strings.Replace(page, "<script>"+flameScript+"</script>", "", 1)
}

// checkMarkup tokenizes page the way a browser does and fails on a script
// element, an event handler attribute, or a link that is neither http(s) nor
// one of the report's own files.
func checkMarkup(t *testing.T, page, name string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(withoutOwnScript(page)))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch strings.ToLower(tok.Data) {
			case "script", "iframe", "object", "embed", "img", "link", "base", "form", "meta":
				if tok.Data != "meta" {
					t.Fatalf("report holds a <%s> element", tok.Data)
				}
			}
			for _, at := range tok.Attr {
				key := strings.ToLower(at.Key)
				if strings.HasPrefix(key, "on") {
					t.Fatalf("report holds an event handler attribute %s=%q on <%s>", at.Key, at.Val, tok.Data)
				}
				if key == "href" || key == "xlink:href" || key == "src" {
					h := at.Val
					if !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") && !strings.HasPrefix(h, name+".") {
						t.Fatalf("report links to %q: only http(s) and its own files are allowed", h)
					}
				}
			}
		}
	}
}

// FuzzReport feeds hostile text into every client-controlled field (the
// diagnosis and its evidence included): the page
// must render without panicking, hold no script, no javascript: link, no
// event handler attribute, and link only to http(s) URLs or its own files.
func FuzzReport(f *testing.F) {
	f.Add("/<script>alert(1)</script>", "javascript:alert(1)", "<img src=x onerror=alert(1)>", "main.<script>", "client", "\xff\xfe")
	f.Add("/a\"><svg onload=alert(1)>", "JaVaScRiPt:alert(1)", "</style><script>x</script>", "a;b\nc", "<b>", "ok")
	f.Add("/orders/{id}", "http://jaeger/trace/1\" onmouseover=\"x", "{{.}}", "</svg><script>", "internal", "--><script>")
	f.Add("", " javascript:alert(1)", "\x00", "", "", "")
	f.Add("/x", "data:text/html;base64,PHNjcmlwdD4=", "&lt;script&gt;", "\u2028", "server", "https://ok.example/x?<script>")
	f.Add("/a</script><script>alert(1)</script>", "]]><script>x</script>", "'\"`</script>", strings.Repeat("crypto/sha256.block", 60),
		"client", strings.Repeat("</script>", 7))
	f.Fuzz(func(t *testing.T, route, link, attr, frame, kind, misc string) {
		a := alerttest.Full()
		a.ID = misc
		a.Key.Route = route
		a.Key.Service = misc
		a.SpanName = route
		a.Rule = attr
		a.Reason = alert.Reason(misc)
		a.Links = alert.Links{Trace: link, Profile: misc}
		a.Attributes = map[string]string{attr: route, "url.full": link, misc: frame}
		a.Resource = map[string]string{"service.name": misc}
		a.Breakdown.Children = append(a.Breakdown.Children, alert.ChildGroup{
			Kind: kind, Name: attr, Description: route, Count: len(misc), Total: time.Duration(len(route)) * time.Millisecond,
			Offset: -time.Duration(len(link)) * time.Second,
		})
		a.Profile.Source = misc
		a.Profile.HottestFrame = frame
		a.Profile.TopFunctions = append(a.Profile.TopFunctions, alert.Function{Name: frame, Self: -1, Total: 7})
		a.Profile.Stacks = append(a.Profile.Stacks, alert.Stack{Frames: []string{"root", frame, route}, Value: 5})
		a.Profile.Pprof = []byte(misc)
		// The diagnosis and its evidence, a fuzzed kind and pattern
		// included; every other run's profile only slept.
		a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisKind(kind), Text: attr, Frame: frame, Line: misc,
			Time: alert.TimeAccount{OnCPU: time.Duration(len(route)), OffCPU: -time.Duration(len(link))}}
		a.Profile.HottestLine = misc
		a.Profile.ByAppCode = []alert.CodeGroup{{Function: frame, Line: attr, Share: float64(len(misc)) - 3,
			Library: []alert.Function{{Name: route, Self: -1}}}, {Library: []alert.Function{{Name: link}}}}
		a.Profile.Waiting = []alert.Blocker{{Call: frame, Caller: attr, Line: route, Time: time.Duration(len(misc))}}
		a.Profile.OffCPUTime, a.Profile.WallSamples = time.Duration(len(attr)), int64(len(kind))
		a.Breakdown.Children[0].Pattern = kind
		// A timeline: as many spans as misc is long (one row each up to
		// 40, one row per group beyond), in fuzzed groups, offsets and
		// durations, some out of the request or of the groups.
		a.Breakdown.SpansOmitted = len(attr) - 3
		for i := range len(misc) % 90 {
			a.Breakdown.Spans = append(a.Breakdown.Spans, alert.ChildSpan{
				Group:    i%(len(a.Breakdown.Children)+2) - 1,
				Offset:   time.Duration(i*len(route)-len(link)) * time.Millisecond,
				Duration: time.Duration(len(frame)-i) * 40 * time.Millisecond,
			})
		}
		if len(link)%2 == 1 {
			a.Profile.CPUTime, a.Profile.Samples, a.Profile.Stacks, a.Profile.ByAppCode = 0, 0, nil, nil
		}
		// Half the runs are incident alerts, firing or resolved, with
		// fuzzed identifiers (decoded ones are capped, not escaped).
		if len(misc)%2 == 1 {
			inc := alerttest.Incident()
			a.Incident, a.Window = inc.Incident, inc.Window
			a.Incident.ID, a.Incident.Mode = misc, alert.Mode(kind)
			if len(route)%2 == 0 {
				a.Incident.State = alert.IncidentResolved
			}
		}
		// A third of the runs are regression alerts with fuzzed texts.
		if len(attr)%3 == 0 {
			r := figurestest.HostileRegression(frame)
			a.Reason, a.Regression = alert.ReasonRegression, r.Regression
			a.Regression.After.Version, a.Regression.Before.Version = route, link
			a.Regression.After.Stacks = append(a.Regression.After.Stacks, alert.Stack{Frames: []string{attr, misc}, Value: int64(len(kind))})
			if len(kind)%2 == 1 {
				a.Regression.Changes = nil // worked out by the report
			}
		}

		set, err := Build(a)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if !strings.Contains(string(set.HTML), "<script>"+flameScript+"</script>") && set.SVG != nil {
			t.Fatalf("the flame graph's script is missing or altered")
		}
		page := withoutOwnScript(string(set.HTML))
		if scriptRE.MatchString(page) {
			t.Fatalf("report holds a script tag:\n%s", page)
		}
		if jsHrefRE.MatchString(page) {
			t.Fatalf("report holds a script URL in a link:\n%s", page)
		}
		checkMarkup(t, page, set.Name)
		if set.SVG != nil && scriptRE.Match(set.SVG) {
			t.Fatalf("flame graph SVG holds a script tag")
		}
		if !memberRE.MatchString(set.Name + ExtHTML) {
			t.Fatalf("report name %q is not a safe file name", set.Name)
		}
	})
}
