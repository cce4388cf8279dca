package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

//go:embed report.html.tmpl
var pageTemplate string

// flameScript makes the inline flame graph interactive (zoom, search,
// reset). It is the page's only script, allowed by its hash in the
// Content-Security-Policy; the page reads well without it.
//
//go:embed flame.js
var flameScript string

// csp is the page's Content-Security-Policy: nothing from the network,
// inline styles, and the one inline script by its hash.
var csp = func() string {
	sum := sha256.Sum256([]byte(flameScript))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
}()

// words are the labels the page shares with the Markdown post.
var words = template.FuncMap{
	"yourCode":     func() string { return figures.YourCode },
	"waitedIn":     func() string { return figures.WaitedIn },
	"hottestFrame": func() string { return figures.HottestFrame },
	"csp":          func() string { return csp },
	"maxSpans":     func() int { return alert.MaxTimelineSpans },
}

var page = template.Must(template.New("report").Funcs(words).Parse(pageTemplate))

type view struct {
	Name, ID                      string
	Key, Service, Method, Route   string
	Reason, Rule, SpanName        string
	Duration, Threshold, Ratio    string
	Start                         string
	TraceID, SpanID               string
	SuppressedCount               int64
	SuppressedMax, SuppressedFrom string
	SuppressedAgo                 string
	Links                         []link
	Attributes, Resource          []kv
	Breakdown                     *breakdownView
	Timeline                      *timelineView
	ReasonText, Started           string
	Suppressed                    string
	// CPUFirst puts the flame graph before the waterfall: the evidence of
	// a CPU-bound verdict first.
	CPUFirst bool
	// Script is the flame graph's script, set with the flame graph.
	Script   template.JS
	Profile  *profileView
	FlameSVG template.HTML
	Files    []fileLink
	Storm    *stormView
	// Title is the page's title; Resolved, for an alert that closes an
	// incident, is its one line (the page is then short: no request).
	Title, Resolved string
	Incident        *incidentView
	Window          *windowView
	Diagnosis       *diagnosisView
	// Regression is the "What changed" section of a regression alert.
	Regression *regressionView
}

// diagnosisView is why the request was slow, shown under the title.
type diagnosisView struct {
	Verdict, Text string
	Time          string // the time accounting
	At            string // the frame to look at and its line
}

// incidentView is the incident an alert belongs to.
type incidentView struct {
	ID, State, Mode         string
	Opened, Closed, OpenFor string
	Fired, Peak             string
	SlowCount               int64
}

// windowView is the figures of the window that fired (or resolved) an
// incident, and its histogram.
type windowView struct {
	Headline, Mode, Threshold string
	Over                      string
	Count, SlowCount          int64
	SlowShare                 string
	P50, P90, P95, P99        string
	Max                       string
	Quantile, Ratio           string // "p99 2.10 s", "7.1% of 5.0%": set in their mode
	Histogram                 template.HTML
	Overflow                  string // the lower bound of an unbounded last bucket
}

// stormView is the page of a storm summary: the folded endpoints.
type stormView struct {
	Count     int64
	Since     string
	Endpoints []stormRow
	Omitted   int
}

type stormRow struct {
	Service, Method, Route, Slowest string
	Count                           int64
}

type link struct {
	Label string
	// URL is set only for absolute http and https URLs; anything else is
	// shown as text.
	URL  string
	Text string
}

type kv struct{ Key, Value string }

type fileLink struct{ Label, Href string }

type breakdownView struct{ SelfTime, SelfPct string }

type profileView struct {
	Source, CPUTime, WallTime string
	SourceText                string // in plain words
	Samples                   int64
	Hottest                   string // with its line
	// OffCPU is the wall-clock samples' off-CPU time, "" without them.
	OffCPU string
	// AppCode is the CPU by the app's own code; Top, the flat top
	// functions, is shown only without it (alerts from before it).
	AppCode []codeView
	Top     []functionView
	Waiting []blockerView
}

type functionView struct{ Name, Self, Total string }

type codeView struct {
	Name, Share string
	NoApp       bool // Name is our label for the CPU outside the app's code
	Library     []functionView
}

type blockerView struct{ Call, From, Time string }

func renderHTML(a alert.Alert, s *Set, diffSVG []byte) ([]byte, error) {
	v := view{
		Name:            s.Name,
		ID:              validUTF8(a.ID),
		Key:             validUTF8(a.Key.String()),
		Service:         validUTF8(a.Key.Service),
		Method:          validUTF8(a.Key.Method),
		Route:           validUTF8(a.Key.Route),
		Reason:          validUTF8(string(a.Reason)),
		Rule:            validUTF8(a.Rule),
		SpanName:        validUTF8(a.SpanName),
		Duration:        fmtDuration(a.Duration),
		Threshold:       fmtDuration(a.Threshold),
		Start:           fmtTime(a.Start),
		TraceID:         validUTF8(a.TraceID),
		SpanID:          validUTF8(a.SpanID),
		SuppressedCount: a.Suppressed.Count,
		Attributes:      sortedKV(a.Attributes),
		Resource:        sortedKV(a.Resource),
	}
	if a.Threshold > 0 {
		v.Ratio = fmt.Sprintf("%.1f", float64(a.Duration)/float64(a.Threshold))
	}
	if a.Suppressed.MaxDuration > 0 {
		v.SuppressedMax = fmtDuration(a.Suppressed.MaxDuration)
	}
	if !a.Suppressed.Since.IsZero() {
		v.SuppressedFrom = fmtTime(a.Suppressed.Since)
		if ago := a.Start.Sub(a.Suppressed.Since); ago > 0 {
			v.SuppressedAgo = fmtAgo(ago)
		}
	}
	v.Links = append(v.Links, makeLink("Trace", a.Links.Trace), makeLink("Profile", a.Links.Profile))
	if a.Breakdown != nil {
		v.Breakdown = &breakdownView{SelfTime: figures.Duration(a.Breakdown.SelfTime)}
		if a.Duration > 0 {
			v.Breakdown.SelfPct = fmt.Sprintf("%.0f", 100*clamp(float64(a.Breakdown.SelfTime)/float64(a.Duration), 0, 1))
		}
		v.Timeline = makeTimeline(a.Breakdown, a.Duration)
	}
	v.ReasonText = figures.ReasonText(a.Reason)
	v.Suppressed = suppressedLine(v)
	v.CPUFirst = a.Diagnosis != nil && a.Diagnosis.Kind == alert.DiagnosisCPU
	if a.Profile != nil {
		v.Profile = makeProfile(a.Profile)
	}
	if f := a.Folded; f != nil {
		v.Storm = &stormView{Count: f.Count, Since: fmtTime(f.Since), Omitted: f.Omitted}
		for _, e := range f.Endpoints {
			v.Storm.Endpoints = append(v.Storm.Endpoints, stormRow{
				Service: validUTF8(e.Key.Service), Method: validUTF8(e.Key.Method), Route: validUTF8(e.Key.Route),
				Slowest: fmtDuration(e.MaxDuration), Count: e.Count,
			})
		}
	}
	v.Title = "Slow request: " + v.Key
	switch {
	case a.Folded != nil:
		v.Title = fmt.Sprintf("Alert storm: %d alerts folded", a.Folded.Count)
	case figures.Resolved(a):
		v.Resolved = figures.ResolvedLine(a, validUTF8(figures.Endpoint(a.Key)), v.Service)
		v.Title = v.Resolved
	case a.Regression != nil:
		v.Title = "Slower since " + validUTF8(figures.Version(a.Regression.After.Version)) + ": " + v.Key
	case a.Window != nil && figures.Headline(a) != "":
		v.Title = "Slow endpoint: " + v.Key
	}
	if a.Regression != nil && !figures.Resolved(a) && a.Folded == nil {
		v.Regression = makeRegression(a.Regression, diffSVG)
	}
	if d := a.Diagnosis; d != nil {
		v.Diagnosis = &diagnosisView{Verdict: figures.Verdict(d.Kind), Text: validUTF8(d.Text),
			Time: figures.TimeLine(d.Time, a.Duration)}
		if d.Frame != "" {
			v.Diagnosis.At = validUTF8(figures.At(d.Frame, d.Line))
		}
	}
	if a.Incident != nil {
		v.Incident = makeIncident(a)
	}
	if a.Window != nil {
		v.Window = makeWindow(a)
	}
	if s.SVG != nil {
		// The flame graph escapes its text and carries no script (checked
		// again in Build), so it can be inlined as markup.
		v.FlameSVG = template.HTML(stripProlog(s.SVG)) //nolint:gosec // see above
		// A constant: no alert text ever reaches the script, which reads
		// the frames from the SVG's text nodes.
		v.Script = template.JS(flameScript) //nolint:gosec // see above
		v.Files = append(v.Files, fileLink{"Flame graph (SVG)", s.Name + ExtSVG}, fileLink{"Collapsed stacks (folded)", s.Name + ExtFolded})
	}
	if s.Pprof != nil {
		v.Files = append(v.Files, fileLink{"Profile (pprof, go tool pprof)", s.Name + ExtPprof})
	}
	var b bytes.Buffer
	if err := page.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// suppressedLine says what the dedup held back before this alert.
func suppressedLine(v view) string {
	if v.SuppressedCount == 0 {
		if v.SuppressedFrom == "" {
			return "none (first alert for this endpoint)"
		}
		return "none since " + v.SuppressedFrom
	}
	s := figures.Requests(v.SuppressedCount, "slow")
	if v.SuppressedMax != "" {
		s += ", the slowest " + v.SuppressedMax
	}
	if v.SuppressedFrom != "" {
		s += " since " + v.SuppressedFrom
		if v.SuppressedAgo != "" {
			s += " (" + v.SuppressedAgo + " earlier)"
		}
	}
	return s
}

func makeIncident(a alert.Alert) *incidentView {
	in := a.Incident
	v := &incidentView{
		ID: validUTF8(in.ID), State: validUTF8(string(in.State)), Mode: validUTF8(string(in.Mode)),
		Opened: fmtTime(in.OpenedAt), Closed: fmtTime(in.ResolvedAt),
		Fired: figures.Fired(a), Peak: strings.TrimPrefix(figures.Peak(a), "peak "), SlowCount: in.SlowCount,
	}
	end := in.ResolvedAt
	if end.IsZero() {
		end = a.Start
	}
	if !in.OpenedAt.IsZero() && end.After(in.OpenedAt) {
		v.OpenFor = figures.Lasted(end.Sub(in.OpenedAt))
	}
	return v
}

func makeWindow(a alert.Alert) *windowView {
	w := a.Window
	v := &windowView{
		Headline: figures.Headline(a), Mode: string(figures.Mode(a)), Threshold: figures.Duration(a.Threshold),
		Count: w.Count, SlowCount: w.SlowCount,
		P50: figures.Duration(w.P50), P90: figures.Duration(w.P90), P95: figures.Duration(w.P95),
		P99: figures.Duration(w.P99), Max: figures.Duration(w.Max),
	}
	if w.Over > 0 {
		v.Over = figures.Span(w.Over)
	}
	if w.Count > 0 && w.SlowCount >= 0 {
		v.SlowShare = figures.Percent(float64(w.SlowCount) / float64(w.Count))
	}
	if w.Quantile > 0 {
		v.Quantile = figures.QuantileLabel(w.Quantile) + " " + figures.Duration(w.QuantileValue)
	}
	if w.Ratio > 0 {
		v.Ratio = figures.Percent(w.SlowRatio) + " slow, against a ratio of " + figures.Percent(w.Ratio)
	}
	if svg := HistogramSVG(w, a.Threshold); svg != "" && safeSVG([]byte(svg)) {
		// Numbers and our own labels only, escaped (see HistogramSVG).
		v.Histogram = template.HTML(svg) //nolint:gosec // see above
		if last := w.Histogram[len(w.Histogram)-1]; last.UpperBound == alert.Unbounded && len(w.Histogram) > 1 {
			v.Overflow = figures.Duration(w.Histogram[len(w.Histogram)-2].UpperBound)
		}
	}
	return v
}

// stripProlog drops an XML declaration or doctype before the <svg> element:
// both are fine in a standalone file and wrong inside HTML.
func stripProlog(svg []byte) string {
	s := string(svg)
	if i := strings.Index(s, "<svg"); i > 0 {
		return s[i:]
	}
	return s
}

func makeLink(label, raw string) link {
	if raw == "" {
		return link{Label: label}
	}
	raw = validUTF8(raw)
	l := link{Label: label, Text: raw}
	if u, err := url.Parse(raw); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		l.URL = u.String()
	}
	return l
}

// minBarPct keeps a very short child visible as a sliver.
const minBarPct = 0.5

// barGeometry places a child group on the request's time axis: it starts at
// its offset and is as long as its total time (the sum over the group, which
// for repeated sequential calls is the stretch they occupy), clamped to the
// request.
func barGeometry(offset, sum, total time.Duration) (left, width float64) {
	if total <= 0 {
		return 0, 100
	}
	left = clamp(100*float64(offset)/float64(total), 0, 100-minBarPct)
	width = clamp(100*float64(sum)/float64(total), minBarPct, 100-left)
	return left, width
}

func clamp(x, lo, hi float64) float64 {
	if math.IsNaN(x) {
		return lo
	}
	return math.Min(math.Max(x, lo), hi)
}

func makeProfile(p *alert.Profile) *profileView {
	v := &profileView{
		Source: validUTF8(p.Source), SourceText: figures.ProfileSource(p.Source), CPUTime: fmtDuration(p.CPUTime), WallTime: fmtDuration(p.WallTime),
		Samples: p.Samples,
	}
	if p.HottestFrame != "" {
		v.Hottest = validUTF8(figures.At(p.HottestFrame, p.HottestLine))
	}
	if p.OffCPUTime > 0 || p.WallSamples > 0 {
		v.OffCPU = fmtDuration(p.OffCPUTime)
		if p.WallSamples > 0 {
			v.OffCPU += fmt.Sprintf(", %d wall-clock samples", p.WallSamples)
		}
	}
	for _, g := range p.ByAppCode {
		c := codeView{Name: validUTF8(figures.CodeGroupName(g)), Share: figures.Share(g.Share), NoApp: g.Function == ""}
		for _, f := range g.Library {
			c.Library = append(c.Library, functionView{Name: validUTF8(f.Name), Self: figures.Share(f.Self)})
		}
		v.AppCode = append(v.AppCode, c)
	}
	if len(v.AppCode) == 0 {
		for _, f := range p.TopFunctions {
			v.Top = append(v.Top, functionView{Name: validUTF8(f.Name), Self: pct(f.Self), Total: pct(f.Total)})
		}
	}
	for _, b := range p.Waiting {
		w := blockerView{Call: validUTF8(b.Call), Time: fmtDuration(b.Time)}
		if b.Caller != "" {
			w.From = validUTF8(figures.At(b.Caller, b.Line))
		}
		v.Waiting = append(v.Waiting, w)
	}
	return v
}

func pct(share float64) string { return fmt.Sprintf("%.1f%%", 100*clamp(share, 0, 1)) }

func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{validUTF8(k), validUTF8(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// fmtAgo writes a long interval the way people say it ("10 days 3 h").
func fmtAgo(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < day:
		return fmt.Sprintf("%d h %d min", d/time.Hour, d%time.Hour/time.Minute)
	}
	days, hours := d/day, d%day/time.Hour
	unit := "days"
	if days == 1 {
		unit = "day"
	}
	if hours == 0 {
		return fmt.Sprintf("%d %s", days, unit)
	}
	return fmt.Sprintf("%d %s %d h", days, unit, hours)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}
