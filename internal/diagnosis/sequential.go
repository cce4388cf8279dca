package diagnosis

import (
	"strconv"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// Sequential queries: different queries run one after another (none
// overlapping the next), where running them together would have saved at
// least minSaving of the request. Spans do not show whether a query needs
// the result of the one before; the text says so.
const (
	minSaving = 0.25
	// overlapSlack: a query that starts this little before the previous
	// one ended still follows it (clock skew between spans).
	overlapSlack = time.Millisecond
)

func sequential(r *Request, patterns []string) (finding, bool) {
	calls := callsWhere(r, func(g int) bool {
		return r.Groups[g].Class == ClassDB && (patterns[g] == "" || patterns[g] == alert.PatternSlowQuery)
	})
	var best []Call
	var bestSum time.Duration
	for start := 0; start < len(calls); {
		end := start + 1
		for end < len(calls) && calls[end].Start >= calls[end-1].End-overlapSlack {
			end++
		}
		run := calls[start:end]
		if sum := summed(run); qualifies(r, run) && sum > bestSum {
			best, bestSum = run, sum
		}
		start = end
	}
	if best == nil {
		return finding{}, false
	}
	groups := map[int]bool{}
	var longest time.Duration
	sys := ""
	for _, c := range best {
		groups[c.Group] = true
		longest = max(longest, c.End-c.Start)
		if s := system(r.Groups[c.Group]); sys == "" || sys == s {
			sys = s
		} else {
			sys = "database"
		}
	}
	for g := range groups {
		if patterns[g] == "" {
			patterns[g] = alert.PatternSequential
		}
	}
	what := strconv.Itoa(len(best)) + " " + sys + " queries"
	if len(groups) < len(best) {
		what += " (" + strconv.Itoa(len(groups)) + " different)"
	}
	return finding{
		kind:     alert.DiagnosisSequentialQueries,
		explains: min(bestSum, r.Wall),
		text: "Sequential queries: " + what + " ran one after another, " + figures.Duration(bestSum) + of(r) +
			"; if independent, in parallel they would take about " + figures.Duration(longest),
		short: figures.Duration(bestSum) + " in " + what + " one after another",
	}, true
}

// qualifies: at least two different queries, and running them in parallel
// (the longest alone) saves enough.
func qualifies(r *Request, run []Call) bool {
	if len(run) < 2 {
		return false
	}
	different := false
	var longest time.Duration
	for _, c := range run {
		different = different || c.Group != run[0].Group
		longest = max(longest, c.End-c.Start)
	}
	return different && float64(summed(run)-longest) >= minSaving*float64(r.Wall)
}
