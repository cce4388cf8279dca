package markdown

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// Bounds of the default layout: every value is cut so that the sections a
// person needs first (header, links) always fit together.
const (
	maxShort      = 200 // service, method, names
	maxRoute      = 512
	maxValue      = 300 // attribute values, descriptions
	maxChildren   = 8
	maxFunctions  = 8
	maxAttributes = 16
	maxLibrary    = 3 // library leafs under one app-code group
	maxWaiting    = 5
)

// Options tune AlertSections and Alert.
type Options struct {
	// Webhook neutralises Slack markup in every value (see Webhook).
	Webhook bool
	// MaxRunes is the message limit; < 1 means MaxRunes.
	MaxRunes int
	// Attributes, when not nil, lists the attributes shown, in this order:
	// each is looked up in the span's attributes, then the resource's
	// (service.version, deployment.environment.name live there). Nil shows
	// every span attribute.
	Attributes []string
	// ReportURL is the link to the alert's report ("" for none).
	ReportURL string
}

type renderer struct{ webhook bool }

func (r renderer) pre(s string) string {
	if r.webhook {
		return Webhook(s)
	}
	return s
}
func (r renderer) code(s string, max int) string { return Code(r.pre(s), max) }
func (r renderer) text(s string, max int) string { return Text(r.pre(s), max) }
func (r renderer) link(label, u string) string   { return Link(label, r.pre(u)) }

// Alert renders a with the default layout, fitted to o.MaxRunes.
func Alert(a alert.Alert, o Options) string {
	return Fit(AlertSections(a, o), o.MaxRunes)
}

// AlertSections is the default layout, section by section, for a reader who
// has two seconds: what (service, method and route), why it was slow (the
// diagnosis, when the alert has one), how bad (duration against threshold),
// why now (reason, what was suppressed since the last alert), where the time
// went (slowest child spans, the app's code on CPU, where it waited) and
// where to look (trace and profile links). Every value from the alert is in
// a code span or escaped.
func AlertSections(a alert.Alert, o Options) []Section {
	r := renderer{webhook: o.Webhook}
	var out []Section
	add := func(p int, lines ...string) {
		if len(lines) > 0 {
			out = append(out, Section{Text: strings.Join(lines, "\n"), Priority: p})
		}
	}
	if a.Folded != nil {
		stormSections(r, a.Folded, add)
		return out
	}
	endpoint := r.code(figures.Endpoint(a.Key), maxRoute)
	service := r.code(a.Key.Service, maxShort)
	if figures.Resolved(a) {
		// A closed incident needs no more than this: the thread it replies
		// in has the details.
		add(100, figures.ResolvedLine(a, endpoint, service))
		return out
	}

	rule := ""
	if a.Rule != "" {
		rule = " from rule " + r.code(a.Rule, maxShort)
	}
	dur, against := Duration(a.Duration), " against a threshold of "+Duration(a.Threshold)
	if a.Threshold > 0 && a.Duration > 0 {
		against += fmt.Sprintf(" (%s×)", ratio(a.Duration, a.Threshold))
	}
	ids := "trace " + r.code(a.TraceID, 64) + " span " + r.code(a.SpanID, 32)
	if links := withReport(r, linkList(r, a.Links), o.ReportURL); links != "" {
		ids = links + " · " + ids
	}

	if headline := figures.Headline(a); headline != "" {
		// An incident judged over a window: the window's figures first,
		// then the worst request in it, which the rest of the message is
		// about.
		head := fmt.Sprintf("#### :rotating_light: Slow endpoint %s on %s", endpoint, service)
		if reg := a.Regression; reg != nil {
			head = fmt.Sprintf("#### :rotating_light: Slower since %s: %s on %s", r.code(figures.Version(reg.After.Version), maxShort), endpoint, service)
		}
		line2 := fmt.Sprintf("**%s** (%s mode)%s", headline, r.text(string(figures.Mode(a)), maxShort), rule)
		add(100, append(append([]string{head}, diagnosisLines(r, a)...), line2, reasonLine(a)+incidentLine(a))...)
		add(97, regressionLines(r, a)...)
		add(95, windowLine(a.Window))
		add(90, "**Worst request** in the window: "+dur+against, ids)
	} else {
		head := fmt.Sprintf("#### :snail: Slow request %s on %s", endpoint, service)
		add(100, append(append([]string{head}, diagnosisLines(r, a)...), "**"+dur+"**"+against+rule, reasonLine(a)+incidentLine(a))...)
		add(97, regressionLines(r, a)...)
		add(90, ids)
	}

	// Where the time went.
	if b := a.Breakdown; b != nil && len(b.Children) > 0 {
		lines := []string{"**Slowest child spans** (self time " + Duration(b.SelfTime) + ")"}
		children := b.Children
		if len(children) > maxChildren {
			children = children[:maxChildren]
		}
		for _, c := range children {
			desc := c.Description
			if desc == "" {
				desc = c.Name
			}
			count := ""
			if c.Count > 1 {
				count = fmt.Sprintf(" %d×, max %s", c.Count, Duration(c.Max))
			}
			kind := ""
			if c.Kind != "" {
				kind = " " + r.text(c.Kind, 20)
			}
			marker := ""
			if m := figures.Pattern(c.Pattern); m != "" {
				marker = " · **" + m + "**"
			}
			lines = append(lines, fmt.Sprintf("- %s%s %s%s%s", Duration(c.Total), kind, r.code(desc, maxValue), count, marker))
		}
		if n := len(b.Children) - len(children); n > 0 {
			lines = append(lines, fmt.Sprintf("- … and %d more", n))
		}
		add(70, lines...)
	}

	if p := a.Profile; p != nil && (len(p.TopFunctions) > 0 || p.HottestFrame != "" || len(p.ByAppCode) > 0 || len(p.Waiting) > 0) {
		add(60, profileLines(r, p)...)
	}

	if keys, values := shownAttributes(a, o.Attributes); len(keys) > 0 {
		lines := []string{"**Attributes**"}
		for i, k := range keys {
			if i == maxAttributes {
				lines = append(lines, fmt.Sprintf("- … and %d more", len(keys)-i))
				break
			}
			lines = append(lines, "- "+r.code(k, maxShort)+" "+r.code(values[k], maxValue))
		}
		add(40, lines...)
	}
	return out
}

// diagnosisLines answer "why was it slow?" under the title: the verdict
// and its sentence, then the time accounting (and the frame to look at);
// none without a diagnosis.
func diagnosisLines(r renderer, a alert.Alert) []string {
	d := a.Diagnosis
	if d == nil {
		return nil
	}
	// The sentence starts with its own label ("N+1: 30 x …"); the
	// verdict's label stands in only for an alert without one.
	verdict := "**" + figures.Verdict(d.Kind) + "**"
	if d.Text != "" {
		verdict = "**" + r.text(d.Text, maxValue) + "**"
	}
	accounting := figures.TimeLine(d.Time, a.Duration)
	if d.Frame != "" {
		accounting += " · look at " + r.code(figures.At(d.Frame, d.Line), maxShort)
	}
	return []string{verdict, accounting}
}

// profileLines are the profile's evidence: the CPU grouped by the app's own
// code (or, for an alert without it, the flat top functions), the hottest
// frame, and where the request waited off CPU.
func profileLines(r renderer, p *alert.Profile) []string {
	title := "**Profile**"
	switch {
	case len(p.ByAppCode) > 0:
		title = "**" + figures.YourCode + "**"
	case len(p.TopFunctions) > 0:
		title = "**Top functions**"
	}
	lines := []string{title + " (" + figures.ProfileLine(p) + ")"}
	if len(p.ByAppCode) > 0 {
		groups := p.ByAppCode
		if len(groups) > maxFunctions {
			groups = groups[:maxFunctions]
		}
		for _, g := range groups {
			name := figures.NoAppFrame
			if g.Function != "" {
				name = r.code(figures.CodeGroupName(g), maxShort)
			}
			lines = append(lines, "- "+name+" "+figures.Share(g.Share))
			lib := g.Library
			if len(lib) > maxLibrary {
				lib = lib[:maxLibrary]
			}
			for _, f := range lib {
				lines = append(lines, "  - "+r.code(f.Name, maxShort)+" "+figures.Share(f.Self))
			}
		}
		if n := len(p.ByAppCode) - len(groups); n > 0 {
			lines = append(lines, fmt.Sprintf("- … and %d more", n))
		}
	}
	if p.HottestFrame != "" {
		lines = append(lines, figures.HottestFrame+": "+r.code(figures.At(p.HottestFrame, p.HottestLine), maxShort))
	}
	if len(p.ByAppCode) == 0 {
		fns := p.TopFunctions
		if len(fns) > maxFunctions {
			fns = fns[:maxFunctions]
		}
		for _, f := range fns {
			lines = append(lines, fmt.Sprintf("- %s self, %s total %s", percent(f.Self), percent(f.Total), r.code(f.Name, maxShort)))
		}
	}
	waiting := p.Waiting
	if len(waiting) > maxWaiting {
		waiting = waiting[:maxWaiting]
	}
	for _, b := range waiting {
		from := ""
		if b.Caller != "" {
			from = " from " + r.code(figures.At(b.Caller, b.Line), maxShort)
		}
		lines = append(lines, figures.WaitedIn+": "+r.code(b.Call, maxShort)+from+" "+Duration(b.Time))
	}
	if n := len(p.Waiting) - len(waiting); n > 0 {
		lines = append(lines, fmt.Sprintf("%s: … and %d more", figures.WaitedIn, n))
	}
	return lines
}

// linkList is the alert's links, " · " between them; "" for none.
func linkList(r renderer, l alert.Links) string {
	var links []string
	if l.Trace != "" {
		links = append(links, r.link("Open trace", l.Trace))
	}
	if l.Profile != "" {
		links = append(links, r.link("Open profile", l.Profile))
	}
	return strings.Join(links, " · ")
}

// windowLine is the window's figures on one line: "**Window** (5m) 1184
// requests, 84 slow (7.1%) · p50 120 ms · … · max 3.40 s".
func windowLine(w *alert.WindowFigures) string {
	var b strings.Builder
	b.WriteString("**Window**")
	if w.Over > 0 {
		b.WriteString(" (" + figures.Span(w.Over) + ")")
	}
	b.WriteString(" " + figures.Requests(w.Count, "") + ", " + strconv.FormatInt(w.SlowCount, 10) + " slow")
	if w.Count > 0 && w.SlowCount >= 0 {
		b.WriteString(" (" + figures.Percent(float64(w.SlowCount)/float64(w.Count)) + ")")
	}
	for _, p := range []struct {
		label string
		d     time.Duration
	}{{"p50", w.P50}, {"p90", w.P90}, {"p95", w.P95}, {"p99", w.P99}, {"max", w.Max}} {
		b.WriteString(" · " + p.label + " " + Duration(p.d))
	}
	return b.String()
}

// incidentLine follows the reason while an incident is open: since when,
// its peak and its slow requests so far. It starts with a space; "" when
// there is no open incident.
func incidentLine(a alert.Alert) string {
	in := a.Incident
	if in == nil || in.State != alert.IncidentFiring {
		return ""
	}
	s := " Open"
	if !in.OpenedAt.IsZero() {
		s += " since " + in.OpenedAt.UTC().Format("15:04 MST")
		if d := a.Start.Sub(in.OpenedAt); !a.Start.IsZero() && d > 0 {
			s += " (" + figures.Lasted(d) + ")"
		}
	}
	return s + ": " + figures.Peak(a) + ", " + figures.Requests(in.SlowCount, "slow") + " so far."
}

func reasonLine(a alert.Alert) string {
	var s string
	incident := a.Incident != nil && a.Incident.State == alert.IncidentFiring
	switch a.Reason {
	case alert.ReasonFirst:
		s = "First alert for this endpoint."
	case alert.ReasonWindowExpired:
		s = "Slow again after the dedup window."
		if incident {
			s = "Still slow: a reminder after the dedup window."
		}
	case alert.ReasonEscalation:
		s = "Escalation: much slower than the last alert."
		if incident {
			s = "Escalation: the incident got worse."
		}
	case alert.ReasonQuantile:
		s = "Incident opened: the endpoint's quantile over the window crossed the threshold."
	case alert.ReasonRatio:
		s = "Incident opened: the endpoint's share of slow requests over the window crossed the ratio."
	case alert.ReasonRegression:
		s = "Incident opened: a new version of the endpoint is slower than the previous one."
	default:
		s = "Alert."
	}
	if c := a.Suppressed.Count; c > 0 {
		s += fmt.Sprintf(" **%d** slow request(s) suppressed", c)
		if !a.Suppressed.Since.IsZero() && !a.Start.IsZero() && a.Start.After(a.Suppressed.Since) {
			s += " in the " + Ago(a.Start.Sub(a.Suppressed.Since)) + " since the last alert"
		} else {
			s += " since the last alert"
		}
		if a.Suppressed.MaxDuration > 0 {
			s += " (slowest " + Duration(a.Suppressed.MaxDuration) + ")"
		}
		s += "."
	}
	return s
}

// Duration formats d for people: "850 ms", "2.40 s", "3m 05s", "2h 10m".
func Duration(d time.Duration) string { return figures.Duration(d) }

// Ago formats a span of time coarsely: "45 minutes", "5 hours", "10 days".
func Ago(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
}

func ratio(d, t time.Duration) string {
	x := float64(d) / float64(t)
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func percent(x float64) string {
	if math.IsNaN(x) || x < 0 {
		x = 0
	}
	if x > 1 {
		x = 1
	}
	return fmt.Sprintf("%.0f%%", x*100)
}

// maxStormLines is how many folded endpoints a storm post lists; the
// report and the alert file have them all.
const maxStormLines = 20

// stormSections lays out a storm summary: how many alerts, since when, and
// which endpoints, most alerts first.
func stormSections(r renderer, f *alert.Folded, add func(int, ...string)) {
	head := fmt.Sprintf("#### :rotating_light: Alert storm: **%d** slow-request alerts in one minute, folded into this one", f.Count)
	line2 := "Past `alerts.max_per_minute`; the endpoints below are inside their dedup window now."
	if !f.Since.IsZero() {
		line2 = "Minute from " + f.Since.UTC().Format("15:04 MST") + ". " + line2
	}
	add(100, head, line2)
	lines := []string{"**Endpoints** (alerts, slowest request)"}
	shown := f.Endpoints
	if len(shown) > maxStormLines {
		shown = shown[:maxStormLines]
	}
	for _, e := range shown {
		endpoint := e.Key.Route
		if e.Key.Method != "" {
			endpoint = e.Key.Method + " " + e.Key.Route
		}
		lines = append(lines, fmt.Sprintf("- %s on %s: %d, %s", r.code(endpoint, maxRoute), r.code(e.Key.Service, maxShort), e.Count, Duration(e.MaxDuration)))
	}
	if n := len(f.Endpoints) - len(shown) + f.Omitted; n > 0 {
		lines = append(lines, fmt.Sprintf("- … and %d more endpoints", n))
	}
	add(80, lines...)
}
