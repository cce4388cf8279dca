package diagnosis

import (
	"cmp"
	"slices"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/profileindex"
)

// waiting: time neither on CPU nor in a child span. With wall-clock
// samples it names the blocking call and the app function that made it,
// from the waiting ticks that fall outside calls to databases and other
// services (waiting inside those is their time, not the app's).
func waiting(r *Request, acc split) (finding, bool) {
	parked := acc.OffCPU - acc.starved // the starved part is the CPU's
	if parked <= 0 || !profiled(r) {
		return finding{}, false
	}
	f := finding{kind: alert.DiagnosisWaiting, explains: parked}
	where := " outside child spans"
	if len(r.Calls) == 0 {
		where = " with no child span"
	}
	f.text = "Waiting: " + figures.Duration(parked) + of(r) + " off-CPU" + where
	f.short = figures.Duration(parked) + " waiting off-CPU"
	b, ok := blockedIn(r)
	switch {
	case ok && b.Caller != "":
		f.frame, f.line = b.Caller, b.Line
		f.text += "; blocked in " + b.Call + " from " + at(b.Caller, b.Line)
		f.short += " in " + b.Call + " from " + b.Caller
	case ok:
		f.text += "; blocked in " + b.Call
		f.short += " in " + b.Call
	case hasWall(r):
		f.text += " (no wall-clock tick caught where it waited)"
	default:
		f.text += " (no wall-clock profile says where it waited)"
	}
	return f, true
}

// hasWall: the request has wall-clock samples.
func hasWall(r *Request) bool {
	_, _, wall := runningTicks(r.Samples)
	return wall
}

// profiled: some profile sample of the request reached the collector, so
// time not seen on CPU was off CPU.
func profiled(r *Request) bool {
	return r.Samples != nil && len(r.Samples.Samples) > 0
}

// blockedIn is where the request waited longest outside remote calls.
func blockedIn(r *Request) (alert.Blocker, bool) {
	app := profileindex.AppCode{MainModule: r.Samples.MainModule}
	remote := merged(callsWhere(r, func(g int) bool { return r.Groups[g].Class != ClassInternal }))
	type point struct{ call, caller string }
	byPoint := map[point]*alert.Blocker{}
	heaviest := map[point]time.Duration{}
	for _, s := range r.Samples.Samples {
		if !profileindex.Waiting(s) {
			continue
		}
		d := outside(r, s, remote)
		if d <= 0 {
			continue
		}
		call, caller, line := profileindex.WaitPoint(s, app)
		if call == "" {
			continue
		}
		k := point{call, caller}
		b := byPoint[k]
		if b == nil {
			b = &alert.Blocker{Call: call, Caller: caller}
			byPoint[k] = b
		}
		b.Time += d
		if d > heaviest[k] {
			heaviest[k], b.Line = d, line
		}
	}
	var best *alert.Blocker
	for _, b := range byPoint {
		if best == nil || cmp.Or(cmp.Compare(b.Time, best.Time), cmp.Compare(best.Call+best.Caller, b.Call+b.Caller)) > 0 {
			best = b
		}
	}
	if best == nil {
		return alert.Blocker{}, false
	}
	return *best, true
}

// outside is the part of s's time whose ticks fall outside the remote
// calls; all of it when the ticks carry no times.
func outside(r *Request, s profileindex.Sample, remote []Call) time.Duration {
	if len(s.Times) == 0 || len(remote) == 0 {
		return s.CPU
	}
	n := 0
	for _, t := range s.Times {
		at := time.Duration(t - r.Start)
		if !within(remote, at) {
			n++
		}
	}
	return time.Duration(int64(s.CPU) * int64(n) / int64(len(s.Times)))
}

// within reports whether at falls in one of spans, disjoint and sorted:
// a binary search, since a request may hold thousands of calls and ticks.
func within(spans []Call, at time.Duration) bool {
	i, _ := slices.BinarySearchFunc(spans, at, func(c Call, t time.Duration) int { return cmp.Compare(c.Start, t) })
	// spans[i-1] is the last one starting at or before at (i itself when
	// it starts exactly at at).
	if i < len(spans) && spans[i].Start == at {
		return spans[i].End > at
	}
	return i > 0 && spans[i-1].End > at
}

// merged is calls as disjoint spans sorted by start.
func merged(calls []Call) []Call {
	slices.SortFunc(calls, func(a, b Call) int { return cmp.Compare(a.Start, b.Start) })
	var out []Call
	for _, c := range calls {
		if c.End <= c.Start {
			continue
		}
		if n := len(out); n > 0 && c.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, c.End)
			continue
		}
		out = append(out, Call{Start: c.Start, End: c.End})
	}
	return out
}
