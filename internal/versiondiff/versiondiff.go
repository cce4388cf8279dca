// Package versiondiff says what changed inside an endpoint between two
// versions of a service: it compares an exemplar request of each version
// (its child spans and its CPU stacks) and lists the differences that
// explain a regression, the largest first ("+1.10 s postgresql SELECT *
// FROM audit WHERE id = ?", "+640 ms CPU in main.computeChecksums").
//
// Child spans are matched between versions by their normalised
// description: kind and description (or name when there is none), so "42 x
// SELECT orders" before and "12 x SELECT orders" after compare as one
// group. Functions are compared by their self CPU time: the share of the
// stack values with the function at the leaf, times the exemplar's CPU
// time.
//
// Compare is bounded whatever its input (at most MaxInputGroups groups and
// MaxInputStacks stacks a side are read, at most alert.MaxChanges changes
// returned) and deterministic: the same input gives the same output, in
// whatever order the groups and stacks come.
package versiondiff

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// The noise floor: a change smaller than NoiseFloor, or than NoiseRatio of
// the larger of its two times, is not listed (two requests of one version
// never take exactly the same time).
const (
	NoiseFloor = 5 * time.Millisecond
	NoiseRatio = 0.10
)

// Bounds of the input Compare reads, per side.
const (
	MaxInputGroups = 1000
	MaxInputStacks = 10000
)

// Compare lists what changed from before to after: child groups whose busy
// time (their total when busy is unknown) changed, appeared or
// disappeared, and functions whose self CPU time did; by impact (the
// absolute change) largest first, at most alert.MaxChanges, changes under
// the noise floor left out. Only what both sides know is compared: child
// groups when both have a breakdown, functions when both have CPU stacks
// (a side without its exemplar's profile is unknown, not idle).
func Compare(before, after alert.VersionSide) []alert.Change {
	var out []alert.Change
	if before.Breakdown != nil && after.Breakdown != nil {
		out = append(out, diff(alert.ChangeChild, groups(before.Breakdown), groups(after.Breakdown))...)
	}
	if len(before.Stacks) > 0 && len(after.Stacks) > 0 {
		out = append(out, diff(alert.ChangeFunction, selfTimes(before), selfTimes(after))...)
	}
	slices.SortFunc(out, func(a, b alert.Change) int {
		if c := cmp.Compare(abs(b.Delta()), abs(a.Delta())); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return cmp.Compare(a.Description, b.Description)
	})
	return out[:min(len(out), alert.MaxChanges)]
}

// Top words the change that explains the regression most, e.g. "+1.10 s
// postgresql SELECT * FROM audit WHERE id = ?" or "+640 ms CPU in
// main.computeChecksums"; "" when nothing changed. The text is plain and
// holds the app's text: escape it for the target.
func Top(changes []alert.Change) string {
	if len(changes) == 0 {
		return ""
	}
	lead, tail := figures.ChangeHeadline(changes[0])
	return lead + changes[0].Description + tail
}

// measure is one group or function on one side.
type measure struct {
	time  time.Duration
	count int
}

// diff compares two sides keyed by description.
func diff(kind alert.ChangeKind, before, after map[string]measure) []alert.Change {
	var out []alert.Change
	add := func(desc string, b, a measure, inBefore, inAfter bool) {
		d := abs(a.time - b.time)
		if d < NoiseFloor || float64(d) < NoiseRatio*float64(max(a.time, b.time)) {
			return
		}
		out = append(out, alert.Change{
			Kind: kind, Description: desc, Before: b.time, After: a.time,
			CountBefore: b.count, CountAfter: a.count,
			New: !inBefore, Gone: !inAfter,
		})
	}
	for desc, a := range after {
		b, ok := before[desc]
		add(desc, b, a, ok, true)
	}
	for desc, b := range before {
		if _, ok := after[desc]; !ok {
			add(desc, b, measure{}, true, false)
		}
	}
	return out
}

// groups sums a breakdown's child groups by normalised description.
func groups(b *alert.Breakdown) map[string]measure {
	if b == nil {
		return nil
	}
	m := make(map[string]measure)
	for _, c := range b.Children[:min(len(b.Children), MaxInputGroups)] {
		desc := c.Description
		if desc == "" {
			desc = c.Name
		}
		if c.Kind != "" && c.Kind != "client" {
			// Clients are the usual case and read best without a prefix;
			// other kinds are told apart from a client of the same name.
			desc = c.Kind + " " + desc
		}
		t := c.Busy
		if t <= 0 {
			t = c.Total
		}
		g := m[desc]
		g.time = satAdd(g.time, max(t, 0))
		g.count = satAddInt(g.count, max(c.Count, 0))
		m[desc] = g
	}
	return m
}

// selfTimes is each leaf function's self CPU time: its share of the stack
// values times the CPU time (the sum of the values when CPUTime is not
// set).
func selfTimes(s alert.VersionSide) map[string]measure {
	// Integer sums (saturating): the same whatever the order of the stacks.
	leaf := make(map[string]time.Duration)
	var total time.Duration
	for _, st := range s.Stacks[:min(len(s.Stacks), MaxInputStacks)] {
		if st.Value <= 0 || len(st.Frames) == 0 {
			continue
		}
		v := time.Duration(st.Value)
		name := st.Frames[len(st.Frames)-1]
		leaf[name] = satAdd(leaf[name], v)
		total = satAdd(total, v)
	}
	if total <= 0 {
		return nil
	}
	cpu := float64(s.CPUTime)
	if cpu <= 0 {
		cpu = float64(total)
	}
	m := make(map[string]measure, len(leaf))
	for name, v := range leaf {
		m[name] = measure{time: toDuration(float64(v) / float64(total) * cpu)}
	}
	return m
}

func toDuration(ns float64) time.Duration {
	if !(ns < math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Round(ns))
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		if d == math.MinInt64 {
			return math.MaxInt64
		}
		return -d
	}
	return d
}

func satAdd(a, b time.Duration) time.Duration {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satAddInt(a, b int) int {
	if b > 0 && a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}
