package diagnosis

import (
	"strconv"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// N+1: the same query (literals aside: the group's description is the
// summarised statement) run at least nPlusOneMin times, one after another.
// Other spans between the repeats (connects, other queries) do not hide it,
// since the repeats are grouped wherever they fall.
const (
	nPlusOneMin = 5
	// sequentialShare: the repeats are one after another when the time at
	// least one ran is at least this share of their summed durations; a
	// concurrent fan-out runs them together and is not an N+1.
	sequentialShare = 0.8
)

func nPlusOne(r *Request, patterns []string) (finding, bool) {
	var groups []int
	worst, worstBusy := -1, time.Duration(0)
	for i, g := range r.Groups {
		if g.Class != ClassDB || g.Count < nPlusOneMin {
			continue
		}
		calls := callsWhere(r, func(j int) bool { return j == i })
		total := summed(calls)
		busy := union(calls)
		// The repeats kept (a request with thousands of children keeps
		// the first 4,096) must show them one after another, not the
		// count alone.
		if len(calls) < nPlusOneMin || total <= 0 || float64(busy) < sequentialShare*float64(total) {
			continue
		}
		groups = append(groups, i)
		patterns[i] = alert.PatternNPlusOne
		if busy > worstBusy {
			worst, worstBusy = i, busy
		}
	}
	if worst < 0 {
		return finding{}, false
	}
	in := map[int]bool{}
	for _, g := range groups {
		in[g] = true
	}
	explains := union(callsWhere(r, func(g int) bool { return in[g] }))
	g := r.Groups[worst]
	what := strconv.Itoa(g.Count) + " x the same " + system(g) + " query"
	text := "N+1: " + what + " took " + figures.Duration(worstBusy) + of(r)
	if q := label(g); q != "" {
		text += ": " + q
	}
	if len(groups) > 1 {
		text += " (" + strconv.Itoa(len(groups)-1) + " more repeated queries, " + figures.Duration(explains) + " in all)"
	}
	return finding{
		kind:     alert.DiagnosisNPlusOne,
		explains: explains,
		text:     text,
		short:    figures.Duration(worstBusy) + " in " + what,
	}, true
}

// summed is the sum of the calls' durations.
func summed(calls []Call) time.Duration {
	var d time.Duration
	for _, c := range calls {
		d += max(0, c.End-c.Start)
	}
	return d
}

// system names a group's database, "database" when it is not known.
func system(g Group) string {
	if g.System != "" {
		return g.System
	}
	return "database"
}

// label is what a group did: its description (the summarised query, the
// HTTP call), else its span name. A query's description starts with its
// system, which the sentences name already.
func label(g Group) string {
	if g.Description == "" {
		return g.Name
	}
	if g.Class == ClassDB && g.System != "" {
		if q, ok := strings.CutPrefix(g.Description, g.System+" "); ok {
			return q
		}
	}
	return g.Description
}
