package markdown

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
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
)

// Options tune AlertSections and Alert.
type Options struct {
	// Webhook neutralises Slack markup in every value (see Webhook).
	Webhook bool
	// MaxRunes is the message limit; < 1 means MaxRunes.
	MaxRunes int
	// Attachments lists the files attached to the post (file names), shown
	// as a hint; empty for none.
	Attachments []string
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
// has two seconds: what (service, method and route), how bad (duration
// against threshold), why now (reason, what was suppressed since the last
// alert), where the time went (slowest child spans, top functions) and where
// to look (trace and profile links). Every value from the alert is in a code
// span or escaped.
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

	// Header: always kept.
	endpoint := a.Key.Route
	if a.Key.Method != "" {
		endpoint = a.Key.Method + " " + a.Key.Route
	}
	head := fmt.Sprintf("#### :snail: Slow request %s on %s", r.code(endpoint, maxRoute), r.code(a.Key.Service, maxShort))
	line2 := fmt.Sprintf("**%s** against a threshold of %s", Duration(a.Duration), Duration(a.Threshold))
	if a.Threshold > 0 && a.Duration > 0 {
		line2 += fmt.Sprintf(" (%s×)", ratio(a.Duration, a.Threshold))
	}
	if a.Rule != "" {
		line2 += " from rule " + r.code(a.Rule, maxShort)
	}
	add(100, head, line2, reasonLine(a))

	// Links: nearly always kept.
	var links []string
	if a.Links.Trace != "" {
		links = append(links, r.link("Open trace", a.Links.Trace))
	}
	if a.Links.Profile != "" {
		links = append(links, r.link("Open profile", a.Links.Profile))
	}
	ids := "trace " + r.code(a.TraceID, 64) + " span " + r.code(a.SpanID, 32)
	if len(links) > 0 {
		add(90, strings.Join(links, " · ")+" · "+ids)
	} else {
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
			lines = append(lines, fmt.Sprintf("- %s%s %s%s", Duration(c.Total), kind, r.code(desc, maxValue), count))
		}
		if n := len(b.Children) - len(children); n > 0 {
			lines = append(lines, fmt.Sprintf("- … and %d more", n))
		}
		add(70, lines...)
	}

	if p := a.Profile; p != nil && (len(p.TopFunctions) > 0 || p.HottestFrame != "") {
		lines := []string{fmt.Sprintf("**Top functions** (CPU %s of %s wall, %d samples)", Duration(p.CPUTime), Duration(p.WallTime), p.Samples)}
		if p.HottestFrame != "" {
			lines = append(lines, "Hottest frame: "+r.code(p.HottestFrame, maxShort))
		}
		fns := p.TopFunctions
		if len(fns) > maxFunctions {
			fns = fns[:maxFunctions]
		}
		for _, f := range fns {
			lines = append(lines, fmt.Sprintf("- %s self, %s total %s", percent(f.Self), percent(f.Total), r.code(f.Name, maxShort)))
		}
		add(60, lines...)
	}

	if len(o.Attachments) > 0 {
		names := make([]string, len(o.Attachments))
		for i, n := range o.Attachments {
			names[i] = r.code(n, maxShort)
		}
		add(50, "Attached: "+strings.Join(names, ", "))
	}

	if len(a.Attributes) > 0 {
		keys := make([]string, 0, len(a.Attributes))
		for k := range a.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		lines := []string{"**Attributes**"}
		for i, k := range keys {
			if i == maxAttributes {
				lines = append(lines, fmt.Sprintf("- … and %d more", len(keys)-i))
				break
			}
			lines = append(lines, "- "+r.code(k, maxShort)+" "+r.code(a.Attributes[k], maxValue))
		}
		add(40, lines...)
	}
	return out
}

func reasonLine(a alert.Alert) string {
	var s string
	switch a.Reason {
	case alert.ReasonFirst:
		s = "First alert for this endpoint."
	case alert.ReasonWindowExpired:
		s = "Slow again after the dedup window."
	case alert.ReasonEscalation:
		s = "Escalation: much slower than the last alert."
	case alert.ReasonQuantile:
		s = "Incident: the endpoint's quantile over the window crossed the threshold."
	case alert.ReasonRatio:
		s = "Incident: the endpoint's slow ratio over the window crossed the threshold."
	case alert.ReasonResolved:
		s = "Incident resolved."
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
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0 ms"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%d ms", d/time.Millisecond)
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", d/time.Minute, (d%time.Minute)/time.Second)
	default:
		return fmt.Sprintf("%dh %02dm", d/time.Hour, (d%time.Hour)/time.Minute)
	}
}

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
