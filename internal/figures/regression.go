package figures

import (
	"strconv"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// Signed formats a change of time with its sign: "+1.10 s", "−80 ms",
// "±0 ms".
func Signed(d time.Duration) string {
	switch {
	case d > 0:
		return "+" + Duration(d)
	case d < 0:
		if d == time.Duration(-1<<63) {
			d++ // -MinInt64 overflows
		}
		return "−" + Duration(-d)
	}
	return "±0 ms"
}

// ChangeHeadline words the change that explains a regression most, as a
// lead and a tail around the change's Description (text from the app, for
// the caller to escape): "+1.10 s " + "postgresql SELECT * FROM audit WHERE
// id = ?" + "", or "+640 ms CPU in " + "main.computeChecksums" + "".
func ChangeHeadline(c alert.Change) (lead, tail string) {
	if c.Kind == alert.ChangeFunction {
		return Signed(c.Delta()) + " CPU in ", ""
	}
	return Signed(c.Delta()) + " ", ""
}

// ChangeLine words one change for a list, lead and tail around its
// Description as ChangeHeadline: "+120 ms " postgresql SELECT ... " (1 →
// 12 x)" for a child group whose count changed, "new: 12 x " GET inventory
// /items/{id} " (+1.10 s)" for a new one, "gone: 3 x " ... " (−80 ms)" for
// one that is no longer there; "+640 ms CPU in " main.x " (new)" for a
// function.
func ChangeLine(c alert.Change) (lead, tail string) {
	if c.Kind == alert.ChangeFunction {
		lead = Signed(c.Delta()) + " CPU in "
		switch {
		case c.New:
			tail = " (new)"
		case c.Gone:
			tail = " (gone)"
		}
		return lead, tail
	}
	switch {
	case c.New:
		return "new: " + strconv.Itoa(max(c.CountAfter, 1)) + " x ", " (" + Signed(c.Delta()) + ")"
	case c.Gone:
		return "gone: " + strconv.Itoa(max(c.CountBefore, 1)) + " x ", " (" + Signed(c.Delta()) + ")"
	}
	lead = Signed(c.Delta()) + " "
	if c.CountBefore != c.CountAfter {
		tail = " (" + strconv.Itoa(c.CountBefore) + " → " + strconv.Itoa(c.CountAfter) + " x)"
	}
	return lead, tail
}

// Version names a service.version for display: "(no version)" when it is
// empty. The result is alert text, for the caller to escape.
func Version(v string) string {
	if v == "" {
		return "(no version)"
	}
	return v
}

// VersionFigures sums up a version's window for a side-by-side: "p95 1.30 s
// · 870 requests over 5m"; "" without a window.
func VersionFigures(w *alert.WindowFigures) string {
	if w == nil {
		return ""
	}
	s := QuantileLabel(w.Quantile) + " " + Duration(w.QuantileValue)
	if w.Quantile <= 0 {
		s = "p95 " + Duration(w.P95)
	}
	s += " · " + Requests(w.Count, "")
	if w.Over > 0 {
		s += " over " + Span(w.Over)
	}
	return s
}

// RegressionFigures sums the change of the versions' figures up: "p95 180
// ms → 1.30 s, 7.2x"; "" unless both windows are known.
func RegressionFigures(r *alert.Regression) string {
	if r == nil || r.Before.Window == nil || r.After.Window == nil {
		return ""
	}
	label := "p95"
	if q := r.After.Window.Quantile; q > 0 {
		label = QuantileLabel(q)
	}
	s := label + " " + Duration(versionFigure(r.Before.Window)) + " → " + Duration(versionFigure(r.After.Window))
	if f := RegressionFactor(r); f != "" {
		s += ", " + f
	}
	return s
}

// RegressionFactor is how many times slower the new version's figure is
// than the previous one's, "7.2x", "" when either is unknown.
func RegressionFactor(r *alert.Regression) string {
	if r == nil || r.Before.Window == nil || r.After.Window == nil {
		return ""
	}
	b, a := versionFigure(r.Before.Window), versionFigure(r.After.Window)
	if b <= 0 || a <= 0 {
		return ""
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', 1, 64) + "x"
}

func versionFigure(w *alert.WindowFigures) time.Duration {
	if w.Quantile > 0 {
		return w.QuantileValue
	}
	return w.P95
}
