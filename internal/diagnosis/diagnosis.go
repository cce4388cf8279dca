// Package diagnosis answers "why was this request slow?" in one line. It
// splits the request's wall time into time on CPU (its profile samples),
// time in child spans and the rest (waiting off CPU), runs one detector per
// cause over the request's child spans and profile (cpu.go, nplusone.go,
// sequential.go, slowquery.go, downstream.go, waiting.go), and picks the
// cause that explains most of the time.
//
// The rules, in short (README of the slowspan processor):
//   - Each detector that recognises its cause says how much of the wall
//     time the cause explains.
//   - The largest wins when it explains at least half of the wall time, or
//     when it is the only one; otherwise the verdict is mixed and the text
//     names the two largest.
//   - With neither child spans nor profile samples to go by, the verdict is
//     unknown: nothing tells CPU from waiting.
package diagnosis

import (
	"cmp"
	"slices"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/safetext"
)

// Class says what a child span did, for the detectors.
type Class uint8

const (
	// ClassInternal: work inside the app (an internal span).
	ClassInternal Class = iota
	// ClassDB: a database call (db.system set).
	ClassDB
	// ClassRemote: a call to another service: HTTP, RPC, messaging, or any
	// client or producer span.
	ClassRemote
)

// Group is alike child spans (same kind, name and description).
type Group struct {
	Class Class
	// System is the database system (postgresql) for ClassDB.
	System string
	// Name and Description say what the spans did (the summarised query
	// for a database call).
	Name, Description string
	// Count is how many spans the group had, including those beyond the
	// calls kept.
	Count int
}

// Call is one child span, placed in the request's time: Start and End are
// offsets from the request's start (Diagnose clips them to the request).
type Call struct {
	Group      int
	Start, End time.Duration
}

// Request is what is known about the slow request.
type Request struct {
	// Start is the request's start (unix nanos) and Wall its duration.
	Start int64
	Wall  time.Duration
	// Groups and Calls are its child spans; Calls may be fewer than the
	// groups' counts when there were too many to keep.
	Groups []Group
	Calls  []Call
	// Profile is the summary of its profile samples (nil without any) and
	// Samples the samples themselves, for placing wall-clock ticks in time.
	Profile *alert.Profile
	Samples *profileindex.Samples
}

// Result is a diagnosis, and per group (parallel to Request.Groups) what
// it recognised in the group (a ChildGroup.Pattern, or "") and the group's
// busy time (concurrent calls once).
type Result struct {
	Diagnosis *alert.Diagnosis
	Patterns  []string
	Busy      []time.Duration
	// Time is the accounting, set even when nothing could be diagnosed.
	Time alert.TimeAccount
}

// finding is one detector's answer.
type finding struct {
	kind alert.DiagnosisKind
	// explains is how much of the wall time the cause accounts for.
	explains time.Duration
	// text is the verdict's sentence; short the phrase a mixed verdict
	// uses ("0.60 s on CPU under main.x").
	text, short string
	frame, line string
}

// dominant is the share of the wall time a cause must explain to be the
// verdict on its own.
const dominant = 0.5

// Diagnose explains r.
func Diagnose(r Request) Result {
	res := Result{Patterns: make([]string, len(r.Groups)), Busy: make([]time.Duration, len(r.Groups))}
	if r.Wall <= 0 {
		return res
	}
	r.Calls = clipped(r.Calls, r.Wall)
	for i := range r.Groups {
		res.Busy[i] = union(callsWhere(&r, func(g int) bool { return g == i }))
	}
	acc := account(&r)
	res.Time = acc.TimeAccount
	var found []finding
	add := func(f finding, ok bool) {
		if ok && f.explains > 0 {
			found = append(found, f)
		}
	}
	add(nPlusOne(&r, res.Patterns))
	add(slowQuery(&r, res.Patterns))
	add(sequential(&r, res.Patterns))
	add(downstream(&r, res.Patterns))
	add(onCPU(&r, acc))
	add(waiting(&r, acc))
	add(unknown(&r, acc))
	if len(found) == 0 {
		return res
	}
	// Stable: on a tie the detector listed first (the more specific) wins.
	slices.SortStableFunc(found, func(a, b finding) int { return cmp.Compare(b.explains, a.explains) })
	best := found[0]
	d := &alert.Diagnosis{Kind: best.kind, Text: best.text, Frame: best.frame, Line: best.line, Time: acc.TimeAccount}
	if len(found) > 1 && float64(best.explains) < dominant*float64(r.Wall) {
		second := found[1]
		d.Kind = alert.DiagnosisMixed
		d.Text = "Mixed: " + best.short + "; " + second.short + ", of " + figures.Duration(r.Wall)
	}
	d.Text, _ = safetext.Clean(d.Text, MaxText)
	d.Frame, _ = safetext.Clean(d.Frame, MaxText)
	d.Line, _ = safetext.Clean(d.Line, MaxText)
	res.Diagnosis = d
	return res
}

// MaxText bounds the diagnosis's strings: one line in a chat message. The
// names and queries in it are already bounded; this is the last guard.
const MaxText = 512

// clipped is a sorted copy of calls clipped to [0, wall]: a child span
// outside its parent (clock skew, a broken exporter) counts only within it.
func clipped(calls []Call, wall time.Duration) []Call {
	out := make([]Call, len(calls))
	for i, c := range calls {
		s := min(max(c.Start, 0), wall)
		out[i] = Call{Group: c.Group, Start: s, End: min(max(c.End, s), wall)}
	}
	slices.SortFunc(out, func(a, b Call) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// split is the time accounting, plus starved: the part of the off-CPU
// time the wall-clock samples saw the request running, not parked, so it
// was runnable but waiting for a CPU (CPU throttling, a crowded host).
type split struct {
	alert.TimeAccount
	starved time.Duration
}

// account splits the wall time. CPU time comes from the CPU profile; a
// request with wall-clock samples but no CPU samples has its running ticks
// counted instead.
func account(r *Request) split {
	acc := alert.TimeAccount{Children: union(callsWhere(r, func(int) bool { return true }))}
	var running, tick time.Duration
	wall := false
	if r.Samples != nil {
		running, tick, wall = runningTicks(r.Samples)
	}
	if r.Profile != nil {
		acc.OnCPU = r.Profile.CPUTime
	}
	if acc.OnCPU == 0 {
		// No CPU samples: the running ticks stand in, within the time
		// outside child spans (a 200 ms tick must not claim a request
		// that spent all but 2 ms in its queries).
		acc.OnCPU = min(running, max(0, r.Wall-acc.Children))
	}
	acc.OnCPU = min(acc.OnCPU, r.Wall)
	acc.OffCPU = max(0, r.Wall-acc.Children-acc.OnCPU)
	sp := split{TimeAccount: acc}
	// One tick caught running is sampling noise (200 ms at 5 Hz): starved
	// time counts only when it is at least a tick's worth beyond the CPU
	// time.
	if starved := min(acc.OffCPU, max(0, running-acc.OnCPU)); wall && starved >= starvedTicks*tick {
		sp.starved = starved
	}
	return sp
}

// starvedTicks is how many wall-clock ticks of running beyond the CPU time
// it takes to call a request CPU-starved.
const starvedTicks = 1

// runningTicks is the time wall-clock samples saw the request running, the
// time one tick stands for (the shortest seen), and whether it has
// wall-clock samples at all.
func runningTicks(s *profileindex.Samples) (running, tick time.Duration, wall bool) {
	for _, smp := range s.Samples {
		if smp.Kind != profileindex.KindWall {
			continue
		}
		wall = true
		if t := smp.CPU / time.Duration(max(smp.Count, 1)); tick == 0 || t < tick {
			tick = t
		}
		if !profileindex.Waiting(smp) {
			running += smp.CPU
		}
	}
	return running, tick, wall
}

// union is the time at least one of calls ran: concurrent calls count
// once. It sorts calls.
func union(calls []Call) time.Duration {
	var total time.Duration
	for _, s := range merged(calls) {
		total += s.End - s.Start
	}
	return total
}

// callsWhere are the calls whose group passes keep.
func callsWhere(r *Request, keep func(g int) bool) []Call {
	var out []Call
	for _, c := range r.Calls {
		if c.Group >= 0 && c.Group < len(r.Groups) && keep(c.Group) {
			out = append(out, c)
		}
	}
	return out
}

// of is "of 1.22 s", the wall time a figure is part of.
func of(r *Request) string { return " of " + figures.Duration(r.Wall) }

// at formats a frame and its line: "main.x (x.go:42)", or "main.x".
func at(frame, line string) string {
	if line == "" {
		return frame
	}
	return frame + " (" + line + ")"
}
