// Package figures words the numbers of an alert for people, once for both
// renderers (internal/markdown for Mattermost, internal/report for the HTML
// report), so a post and a report say the same thing.
//
// Its results hold only our own words and numbers, never text from the
// alert (routes, service names, ids), so they are safe in Markdown and in
// HTML alike. The exceptions: ResolvedLine composes a sentence with such
// text, taken already escaped by the caller, and At, CodeGroupName and
// Version return alert text (function names, file:line, a service.version)
// for the caller to escape. ChangeLine and ChangeHeadline return the words
// around a change's description, which the caller escapes and puts between.
package figures // import "github.com/slowspan/slowspan/internal/figures"

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// Resolved reports whether a closes an incident: by its reason, or by its
// incident's state (a reader may meet either alone on a damaged alert).
func Resolved(a alert.Alert) bool {
	return a.Reason == alert.ReasonResolved || (a.Incident != nil && a.Incident.State == alert.IncidentResolved)
}

// Mode is the mode a is judged in: the incident's, else inferred from the
// window figures (a quantile or a ratio is set only in its mode), else "".
func Mode(a alert.Alert) alert.Mode {
	if a.Incident != nil && a.Incident.Mode.Valid() {
		return a.Incident.Mode
	}
	if w := a.Window; w != nil {
		switch {
		case w.Quantile > 0:
			return alert.ModeQuantile
		case w.Ratio > 0:
			return alert.ModeRatio
		}
	}
	if a.Incident != nil {
		return alert.ModeSpan
	}
	return ""
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

// Span formats a stretch of wall time compactly, to the second: "45s", "5m",
// "1m 30s", "2h 05m", "3d 4h".
func Span(d time.Duration) string {
	const day = 24 * time.Hour
	d = d.Round(time.Second)
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		if s := d % time.Minute / time.Second; s != 0 {
			return fmt.Sprintf("%dm %02ds", d/time.Minute, s)
		}
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < day:
		if m := d % time.Hour / time.Minute; m != 0 {
			return fmt.Sprintf("%dh %02dm", d/time.Hour, m)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	default:
		if h := d % day / time.Hour; h != 0 {
			return fmt.Sprintf("%dd %dh", d/day, h)
		}
		return fmt.Sprintf("%dd", d/day)
	}
}

// Lasted is how long an incident was open, as people say it: to the minute
// once it is ten minutes long ("23m", not "23m 07s").
func Lasted(d time.Duration) string {
	if d >= 10*time.Minute {
		d = d.Round(time.Minute)
	}
	return Span(d)
}

// Percent formats a share in [0, 1] ("7.1%", "0.05%"); anything else reads
// as 0 or 1.
func Percent(x float64) string {
	if math.IsNaN(x) || x < 0 {
		x = 0
	}
	x = math.Min(x, 1) * 100
	if x > 0 && x < 0.1 {
		return strconv.FormatFloat(x, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(x, 'f', 1, 64) + "%"
}

// QuantileLabel names a quantile: 0.95 is "p95", 0.999 "p99.9"; anything
// outside (0, 1) is "quantile".
func QuantileLabel(q float64) string {
	if !(q > 0 && q < 1) {
		return "quantile"
	}
	s := strconv.FormatFloat(q*100, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return "p" + s
}

// quantileOf names a's quantile, from its window ("quantile" without one).
func quantileOf(a alert.Alert) string {
	if a.Window != nil {
		return QuantileLabel(a.Window.Quantile)
	}
	return QuantileLabel(0)
}

// Headline is what fired (or resolved) a window incident, e.g. "p95 1.24 s
// over 5m ≥ threshold 1.00 s" or "7.1% slow over 5m ≥ ratio 5.0% (threshold
// 500 ms)". It is "" for an alert without window figures or in span mode,
// which the caller words from the span.
func Headline(a alert.Alert) string {
	w := a.Window
	if w == nil {
		return ""
	}
	over := ""
	if w.Over > 0 {
		over = " over " + Span(w.Over)
	}
	switch Mode(a) {
	case alert.ModeQuantile:
		return fmt.Sprintf("%s %s%s %s threshold %s", QuantileLabel(w.Quantile), Duration(w.QuantileValue), over,
			cmp(w.QuantileValue >= a.Threshold), Duration(a.Threshold))
	case alert.ModeRatio:
		return fmt.Sprintf("%s slow%s %s ratio %s (threshold %s)", Percent(w.SlowRatio), over,
			cmp(w.SlowRatio >= w.Ratio), Percent(w.Ratio), Duration(a.Threshold))
	}
	return ""
}

func cmp(atLeast bool) string {
	if atLeast {
		return "≥"
	}
	return "<"
}

// Peak is the worst figure of a's incident: "peak p95 1.42 s" in quantile
// mode, "peak 12.5% slow" in ratio mode, "peak 2.40 s" (the slowest span) in
// span mode; "" without an incident.
func Peak(a alert.Alert) string {
	in := a.Incident
	if in == nil {
		return ""
	}
	switch Mode(a) {
	case alert.ModeQuantile:
		return "peak " + quantileOf(a) + " " + Duration(in.Peak.Duration)
	case alert.ModeRatio:
		return "peak " + Percent(in.Peak.Ratio) + " slow"
	}
	return "peak " + Duration(in.Peak.Duration)
}

// Fired is the figure a's incident fired at, worded as Peak ("fired at p95
// 1.24 s"); "" without an incident.
func Fired(a alert.Alert) string {
	in := a.Incident
	if in == nil {
		return ""
	}
	switch Mode(a) {
	case alert.ModeQuantile:
		return quantileOf(a) + " " + Duration(in.Fired.Duration)
	case alert.ModeRatio:
		return Percent(in.Fired.Ratio) + " slow"
	}
	return Duration(in.Fired.Duration)
}

// Requests words a count of requests: "1 slow request", "312 slow
// requests" (adjective "slow"), "1184 requests" (adjective "").
func Requests(n int64, adjective string) string {
	noun := "requests"
	if n == 1 {
		noun = "request"
	}
	if adjective != "" {
		noun = adjective + " " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun
}

// ResolvedLine is the one line that says an incident closed:
// "✅ Resolved: GET /api/x on checkout after 23m — peak p95 1.42 s, 312 slow
// requests". endpoint and service come from the alert and must be escaped
// for the target by the caller; the rest is ours.
func ResolvedLine(a alert.Alert, endpoint, service string) string {
	var b strings.Builder
	b.WriteString("✅ Resolved: ")
	b.WriteString(endpoint)
	b.WriteString(" on ")
	b.WriteString(service)
	if in := a.Incident; in != nil {
		if !in.OpenedAt.IsZero() && in.ResolvedAt.After(in.OpenedAt) {
			b.WriteString(" after ")
			b.WriteString(Lasted(in.ResolvedAt.Sub(in.OpenedAt)))
		}
		b.WriteString(" — ")
		b.WriteString(Peak(a))
		b.WriteString(", ")
		b.WriteString(Requests(in.SlowCount, "slow"))
	}
	return b.String()
}

// Endpoint is the key's method and route ("GET /orders/{id}"), unescaped.
func Endpoint(k alert.Key) string {
	if k.Method != "" {
		return k.Method + " " + k.Route
	}
	return k.Route
}
