package diagnosis

import (
	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// slowQuery: one execution of one query took at least half the request.
func slowQuery(r *Request, patterns []string) (finding, bool) {
	var worst Call
	found := false
	for _, c := range callsWhere(r, func(g int) bool { return r.Groups[g].Class == ClassDB && patterns[g] == "" }) {
		if !found || c.End-c.Start > worst.End-worst.Start {
			worst, found = c, true
		}
	}
	d := worst.End - worst.Start
	if !found || float64(d) < dominant*float64(r.Wall) {
		return finding{}, false
	}
	g := r.Groups[worst.Group]
	patterns[worst.Group] = alert.PatternSlowQuery
	text := "Slow query: one " + system(g) + " query took " + figures.Duration(d) + of(r)
	if q := label(g); q != "" {
		text += ": " + q
	}
	return finding{
		kind:     alert.DiagnosisSlowQuery,
		explains: d,
		text:     text,
		short:    figures.Duration(d) + " in one " + system(g) + " query",
	}, true
}
