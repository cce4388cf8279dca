package alert

import "time"

// Breakdown says where the wall time of the slow span went: its own time and
// its slowest child spans, repeated children grouped (the N+1 case).
type Breakdown struct {
	// SelfTime is the span's duration not covered by any child span.
	SelfTime time.Duration
	Children []ChildGroup
}

// ChildGroup is one child span, or several alike (same kind, name and
// description) folded together.
type ChildGroup struct {
	Kind string // client, internal, producer, ...
	Name string
	// Description is a short summary: db.system and the summarised query,
	// HTTP method, host and route, or the messaging destination.
	Description string
	Count       int
	// Total is the sum of the durations of the group's spans; Max the
	// longest one.
	Total time.Duration
	Max   time.Duration
	// Offset is when the first span of the group started, relative to the
	// start of the slow span (for a waterfall).
	Offset time.Duration
}

// Profile is the CPU profile of the very request that was slow.
type Profile struct {
	// Source says how samples were tied to the span, e.g. "otlp_link" or
	// "pprof_label".
	Source string
	// CPUTime is the CPU time sampled for the span; WallTime its duration.
	CPUTime  time.Duration
	WallTime time.Duration
	Samples  int64
	// TopFunctions are sorted by self share, highest first.
	TopFunctions []Function
	// HottestFrame is the function with the most self time outside the
	// runtime and the standard library: usually the line to look at.
	HottestFrame string
	// Stacks are the heaviest collapsed stacks, root first, frames joined by
	// ';' (the folded format of flame graph tools).
	Stacks []Stack
	// Pprof is the span's samples as a gzipped pprof profile, size-capped.
	// It travels as its own bytes attribute and is not part of the JSON form.
	Pprof []byte
}

// Function is one function's share of the span's samples.
type Function struct {
	Name string
	// Self is the share of samples with the function at the leaf; Total the
	// share with it anywhere on the stack. Both are in [0, 1].
	Self  float64
	Total float64
}

// Stack is one collapsed stack and its weight (samples).
type Stack struct {
	Frames []string // root first
	Value  int64
}
