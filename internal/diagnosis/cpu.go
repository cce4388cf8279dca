package diagnosis

import (
	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// onCPU: the request's goroutines ran on CPU, or were runnable but waited
// for one (CPU-starved). It names the app function most of the CPU time was
// under ("your code first"), else the hottest app frame.
func onCPU(r *Request, acc split) (finding, bool) {
	if acc.OnCPU+acc.starved <= 0 {
		return finding{}, false
	}
	f := finding{kind: alert.DiagnosisCPU, explains: acc.OnCPU + acc.starved}
	where := ""
	if p := r.Profile; p != nil {
		if g, ok := topAppGroup(p); ok {
			f.frame, f.line = g.Function, g.Line
			where = ", " + figures.Share(g.Share) + " under " + at(g.Function, g.Line)
		} else if p.HottestFrame != "" {
			f.frame, f.line = p.HottestFrame, p.HottestLine
			where = ", hottest in " + at(p.HottestFrame, p.HottestLine)
		}
	}
	f.text = "CPU-bound: " + figures.Duration(acc.OnCPU) + of(r) + " on CPU" + where
	if float64(acc.starved) >= starvedShare*float64(r.Wall) {
		f.text += "; runnable but waiting for a CPU for " + figures.Duration(acc.starved) +
			" more (CPU-starved: throttled, or a busy host)"
	}
	f.short = figures.Duration(acc.OnCPU+acc.starved) + " on CPU or waiting for one"
	if acc.starved == 0 {
		f.short = figures.Duration(acc.OnCPU) + " on CPU"
	}
	if f.frame != "" {
		f.short += " in " + f.frame
	}
	return f, true
}

// starvedShare: below this share of the wall time, runnable-but-not-running
// time is sampling noise and goes unmentioned.
const starvedShare = 0.1

// topAppGroup is the heaviest group of CPU time under an app function;
// the group of samples with no app frame (runtime, GC) is skipped.
func topAppGroup(p *alert.Profile) (alert.CodeGroup, bool) {
	for _, g := range p.ByAppCode {
		if g.Function != "" {
			return g, true
		}
	}
	return alert.CodeGroup{}, false
}
