package diagnosis

import (
	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// unknown: time in the app itself (outside child spans, or in its own
// internal spans) with no profile sample to say whether it went on CPU or
// waiting.
func unknown(r *Request, acc split) (finding, bool) {
	if profiled(r) {
		return finding{}, false
	}
	where := " outside any child span"
	own := r.Wall - acc.Children
	if internal := callsWhere(r, func(g int) bool { return r.Groups[g].Class == ClassInternal }); len(internal) > 0 {
		where = " in the app's own code and spans"
		own = r.Wall - union(callsWhere(r, func(g int) bool { return r.Groups[g].Class != ClassInternal }))
	}
	if own <= 0 {
		return finding{}, false
	}
	return finding{
		kind:     alert.DiagnosisUnknown,
		explains: own,
		text: "Unknown: " + figures.Duration(own) + of(r) + where + ", and no profile sample of " +
			"this request reached the collector to tell CPU from waiting",
		short: figures.Duration(own) + where + " (no profile)",
	}, true
}
