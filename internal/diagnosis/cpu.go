package diagnosis

import (
	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// onCPU: the request's goroutines ran on CPU. It names the app function
// most of the CPU time was under ("your code first"), else the hottest app
// frame.
func onCPU(r *Request, acc alert.TimeAccount) (finding, bool) {
	if acc.OnCPU <= 0 {
		return finding{}, false
	}
	f := finding{kind: alert.DiagnosisCPU, explains: acc.OnCPU}
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
	f.short = figures.Duration(acc.OnCPU) + " on CPU"
	if f.frame != "" {
		f.short += " in " + f.frame
	}
	return f, true
}

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
