package alert

import "time"

// Breakdown says where the wall time of the slow span went: its own time and
// its slowest child spans, repeated children grouped (the N+1 case).
type Breakdown struct {
	// SelfTime is the span's duration not covered by any child span.
	SelfTime time.Duration
	Children []ChildGroup
	// Spans place the child spans on the request's timeline (a
	// waterfall), by start, at most MaxTimelineSpans; SpansOmitted counts
	// those left out.
	Spans        []ChildSpan
	SpansOmitted int
}

// MaxTimelineSpans bounds Breakdown.Spans: enough to see 30 queries run one
// after another, small enough for a JSON line.
const MaxTimelineSpans = 200

// ChildSpan is one child span on the timeline.
type ChildSpan struct {
	// Group is the index of its group in Breakdown.Children, -1 when its
	// group is not among those listed.
	Group int
	// Offset is its start from the request's start.
	Offset   time.Duration
	Duration time.Duration
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
	// Busy is the time at least one span of the group ran: concurrent
	// spans of the group count once, so Busy <= Total.
	Busy time.Duration
	// Pattern is what the diagnosis recognised in the group:
	// PatternNPlusOne, PatternSequential, PatternSlowQuery, or empty.
	Pattern string
}

// Patterns of ChildGroup.Pattern.
const (
	// PatternNPlusOne: the same query run one after another, many times.
	PatternNPlusOne = "n_plus_one"
	// PatternSequential: one of several different queries that ran one
	// after another and could have run in parallel.
	PatternSequential = "sequential"
	// PatternSlowQuery: the one query that took most of the time.
	PatternSlowQuery = "slow_query"
)

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
	// HottestLine is HottestFrame's file:line ("checksum.go:42") when the
	// profile carries line numbers.
	HottestLine string
	// ByAppCode groups the CPU time by the first frame in the app's own
	// code (from the leaf), heaviest first: "your code first".
	ByAppCode []CodeGroup
	// OffCPUTime is the time wall-clock samples saw the span's goroutines
	// waiting (off CPU); WallSamples is how many wall-clock samples the
	// span had. Both zero without a wall-clock profile.
	OffCPUTime  time.Duration
	WallSamples int64
	// Waiting are the calls the span waited in, longest first.
	Waiting []Blocker
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

// CodeGroup is the CPU time under one function of the app's own code.
type CodeGroup struct {
	// Function is the first app frame from the leaf; empty for samples
	// with no app frame at all (runtime, GC).
	Function string
	// Line is the file:line in Function the most time was under.
	Line string
	// Share is the group's share of the CPU time, in [0, 1].
	Share float64
	// Library are the leaf functions under Function (library and runtime
	// code the app called), by self share of the whole CPU time.
	Library []Function
}

// Blocker is a call a request waited in: Call is the blocking function
// (time.Sleep, sync.(*Mutex).Lock, net.(*conn).Read ...), Caller the app
// function that called it and Line the caller's file:line.
type Blocker struct {
	Call   string
	Caller string
	Line   string
	Time   time.Duration
}

// Stack is one collapsed stack and its weight (samples).
type Stack struct {
	Frames []string // root first
	Value  int64
}
