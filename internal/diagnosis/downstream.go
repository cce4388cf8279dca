package diagnosis

import (
	"strconv"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// downstream: calls to other services (HTTP, RPC, messaging) and database
// calls no other detector explained. It names the group that ran longest.
func downstream(r *Request, patterns []string) (finding, bool) {
	eligible := func(g int) bool {
		return r.Groups[g].Class == ClassRemote || r.Groups[g].Class == ClassDB && patterns[g] == ""
	}
	calls := callsWhere(r, eligible)
	explains := union(calls)
	if explains <= 0 {
		return finding{}, false
	}
	worst, worstBusy, groups := -1, time.Duration(0), 0
	for i := range r.Groups {
		if !eligible(i) {
			continue
		}
		groups++
		if busy := union(callsWhere(r, func(j int) bool { return j == i })); busy > worstBusy {
			worst, worstBusy = i, busy
		}
	}
	g := r.Groups[worst]
	what := g.Description
	if what == "" {
		what = g.Name
	}
	if g.Count > 1 {
		what = strconv.Itoa(g.Count) + " x " + what
	}
	text := "Downstream: " + what + " took " + figures.Duration(worstBusy) + of(r)
	if groups > 1 {
		text += "; " + figures.Duration(explains) + " in all calls to other services"
	}
	return finding{
		kind:     alert.DiagnosisDownstream,
		explains: explains,
		text:     text,
		short:    figures.Duration(explains) + " in calls to other services",
	}, true
}
