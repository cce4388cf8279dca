package report

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/flamegraph"
	"github.com/slowspan/slowspan/internal/versiondiff"
)

// regressionView is the "What changed in <version>" section of a
// regression alert: the headline, both versions' figures side by side, the
// changes and the differential flame graph. Text from the alert is set as
// plain strings (html/template escapes it); the words are figures'.
type regressionView struct {
	Before, After string
	Factor        string
	Headline      *changeView
	Rows          []versionRow
	Changes       []changeView
	DiffSVG       template.HTML
}

type versionRow struct{ Label, Before, After string }

// changeView is a change as lead, the app's text (Desc) and tail.
type changeView struct {
	Lead, Desc, Tail string
	Grew             bool
}

func makeRegression(r *alert.Regression, diffSVG []byte) *regressionView {
	v := &regressionView{
		Before: validUTF8(figures.Version(r.Before.Version)),
		After:  validUTF8(figures.Version(r.After.Version)),
		Factor: figures.RegressionFactor(r),
	}
	changes := r.Changes
	if len(changes) == 0 {
		// An alert from a writer that left them out: work them out here.
		changes = versiondiff.Compare(r.Before, r.After)
	}
	changes = changes[:min(len(changes), alert.MaxChanges)]
	if len(changes) > 0 {
		lead, tail := figures.ChangeHeadline(changes[0])
		v.Headline = &changeView{Lead: lead, Desc: validUTF8(changes[0].Description), Tail: tail, Grew: changes[0].Delta() > 0}
	}
	for _, c := range changes {
		lead, tail := figures.ChangeLine(c)
		v.Changes = append(v.Changes, changeView{Lead: lead, Desc: validUTF8(c.Description), Tail: tail, Grew: c.Delta() > 0})
	}
	bw, aw := r.Before.Window, r.After.Window
	if bw != nil || aw != nil {
		q := 0.0
		if aw != nil {
			q = aw.Quantile
		}
		if q <= 0 && bw != nil {
			q = bw.Quantile
		}
		label := "p95"
		if q > 0 {
			label = figures.QuantileLabel(q)
		}
		fig := func(w *alert.WindowFigures, f func(*alert.WindowFigures) string) string {
			if w == nil {
				return "–"
			}
			return f(w)
		}
		quantile := func(w *alert.WindowFigures) string {
			if q > 0 && w.Quantile == q {
				return figures.Duration(w.QuantileValue)
			}
			return figures.Duration(w.P95)
		}
		v.Rows = append(v.Rows,
			versionRow{label, fig(bw, quantile), fig(aw, quantile)},
			versionRow{"Requests", fig(bw, func(w *alert.WindowFigures) string { return fmt.Sprint(w.Count) }),
				fig(aw, func(w *alert.WindowFigures) string { return fmt.Sprint(w.Count) })},
			versionRow{"Slowest", fig(bw, func(w *alert.WindowFigures) string { return figures.Duration(w.Max) }),
				fig(aw, func(w *alert.WindowFigures) string { return figures.Duration(w.Max) })},
		)
	}
	if r.Before.CPUTime > 0 || r.After.CPUTime > 0 {
		v.Rows = append(v.Rows, versionRow{"Exemplar's CPU time", figures.Duration(r.Before.CPUTime), figures.Duration(r.After.CPUTime)})
	}
	if diffSVG != nil {
		// Escaped and script-free like the flame graph (checked in Build).
		v.DiffSVG = template.HTML(stripProlog(diffSVG)) //nolint:gosec // see above
	}
	return v
}

// diffFlameGraph renders the differential flame graph of a regression as
// SVG; nil when the new version's exemplar has no stacks.
func diffFlameGraph(r *alert.Regression, name string) ([]byte, error) {
	after := cleanStacks(r.After.Stacks)
	if len(after) == 0 {
		return nil, nil
	}
	title := "CPU change: " + validUTF8(figures.Version(r.Before.Version)) + " → " + validUTF8(figures.Version(r.After.Version))
	g := flamegraph.BuildDiff(cleanStacks(r.Before.Stacks), after, flamegraph.Options{Title: title})
	var svg bytes.Buffer
	if err := g.WriteSVG(&svg); err != nil {
		return nil, fmt.Errorf("report %s: differential flame graph: %w", name, err)
	}
	if !safeSVG(svg.Bytes()) {
		return nil, fmt.Errorf("report %s: differential flame graph SVG rejected: it holds script or a javascript: URL", name)
	}
	return svg.Bytes(), nil
}
