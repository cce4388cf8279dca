package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Regression compares an endpoint's previous service.version (Before) with
// the one that made it slower (After): the window figures of each, the child
// spans and CPU stacks of an exemplar request of each, and what changed
// between them. It is set on a ReasonRegression alert (schema 2, additive).
type Regression struct {
	Before VersionSide
	After  VersionSide
	// Changes are the differences that explain the regression, the largest
	// impact first, at most MaxChanges (internal/versiondiff computes them).
	Changes []Change
}

// VersionSide is what is known about one version of an endpoint.
type VersionSide struct {
	// Version is the resource's service.version.
	Version string
	// Window holds the version's window figures; nil when unknown.
	Window *WindowFigures
	// Breakdown is the child-span breakdown of the version's exemplar (its
	// worst request); nil when unknown.
	Breakdown *Breakdown
	// Stacks are the exemplar's CPU stacks, root first, values in CPU
	// nanoseconds; at most MaxRegressionStacks.
	Stacks []Stack
	// CPUTime is the exemplar's CPU time (the sum of its stack values, or
	// more when stacks were left out).
	CPUTime time.Duration
}

// ChangeKind says what a Change compares.
type ChangeKind string

const (
	// ChangeChild compares a group of child spans, matched by its
	// normalised description (kind and description, or name).
	ChangeChild ChangeKind = "child"
	// ChangeFunction compares a function's self CPU time.
	ChangeFunction ChangeKind = "function"
)

// Change is one difference between the two versions' exemplars.
type Change struct {
	Kind ChangeKind
	// Description is the child group's description (or name), or the
	// function's name: text from the app, to render as untrusted.
	Description string
	// Before and After are the time in each version: a child group's busy
	// time (its total when busy is unknown), a function's self CPU time.
	Before, After time.Duration
	// CountBefore and CountAfter are a child group's span counts; 0 for
	// functions.
	CountBefore, CountAfter int
	// New is set when the group or function is absent before; Gone when
	// it is absent after.
	New, Gone bool
}

// Delta is After - Before.
func (c Change) Delta() time.Duration { return c.After - c.Before }

// Bounds of a decoded Regression (on write and on read).
const (
	// MaxChanges bounds Regression.Changes.
	MaxChanges = 10
	// MaxRegressionStacks bounds VersionSide.Stacks; MaxRegressionFrames
	// the frames of one stack.
	MaxRegressionStacks = 500
	MaxRegressionFrames = 256
	// MaxRegressionChildren bounds a side's Breakdown.Children.
	MaxRegressionChildren = 64
	// maxVersionLength bounds a version; maxChangeText a description and a
	// frame name.
	maxVersionLength = 128
	maxChangeText    = 512
)

type jsonRegression struct {
	Before  jsonVersionSide `json:"before"`
	After   jsonVersionSide `json:"after"`
	Changes []jsonChange    `json:"changes,omitempty"`
}

type jsonVersionSide struct {
	Version   string                 `json:"version"`
	Window    lenient[jsonWindow]    `json:"window,omitzero"`
	Breakdown lenient[jsonBreakdown] `json:"breakdown,omitzero"`
	CPUTimeMs float64                `json:"cpu_time_ms,omitempty"`
	Stacks    []jsonStack            `json:"stacks,omitempty"`
}

type jsonChange struct {
	Kind        string  `json:"kind"`
	Description string  `json:"description"`
	BeforeMs    float64 `json:"before_ms"`
	AfterMs     float64 `json:"after_ms"`
	CountBefore int     `json:"count_before,omitempty"`
	CountAfter  int     `json:"count_after,omitempty"`
	New         bool    `json:"new,omitempty"`
	Gone        bool    `json:"gone,omitempty"`
}

func (r *Regression) toJSON() *jsonRegression {
	if r == nil {
		return nil
	}
	j := &jsonRegression{Before: r.Before.toJSON(), After: r.After.toJSON()}
	for _, c := range r.Changes[:min(len(r.Changes), MaxChanges)] {
		j.Changes = append(j.Changes, jsonChange{
			Kind: string(c.Kind), Description: c.Description,
			BeforeMs: toMs(c.Before), AfterMs: toMs(c.After),
			CountBefore: c.CountBefore, CountAfter: c.CountAfter, New: c.New, Gone: c.Gone,
		})
	}
	return j
}

func (s VersionSide) toJSON() jsonVersionSide {
	j := jsonVersionSide{
		Version:   s.Version,
		Window:    lenient[jsonWindow]{s.Window.toJSON()},
		Breakdown: lenient[jsonBreakdown]{capChildren(s.Breakdown).toJSON()},
		CPUTimeMs: toMs(s.CPUTime),
	}
	for _, st := range s.Stacks[:min(len(s.Stacks), MaxRegressionStacks)] {
		frames := st.Frames[:min(len(st.Frames), MaxRegressionFrames)]
		j.Stacks = append(j.Stacks, jsonStack{Stack: strings.Join(frames, ";"), Value: st.Value})
	}
	return j
}

// capChildren returns b with at most MaxRegressionChildren groups (a copy
// when it cuts), dropping the timeline spans of the groups cut.
func capChildren(b *Breakdown) *Breakdown {
	if b == nil || len(b.Children) <= MaxRegressionChildren {
		return b
	}
	c := *b
	c.Children = b.Children[:MaxRegressionChildren]
	c.Spans = nil
	for _, sp := range b.Spans {
		if sp.Group >= MaxRegressionChildren {
			sp.Group = -1
		}
		c.Spans = append(c.Spans, sp)
	}
	return &c
}

// fromJSON reads a document that may come from anywhere: versions and
// descriptions are cut and stripped of control characters, the lists are
// bounded, a damaged window or breakdown is dropped.
func (j *jsonRegression) fromJSON() *Regression {
	if j == nil {
		return nil
	}
	r := &Regression{Before: j.Before.fromJSON(), After: j.After.fromJSON()}
	for _, c := range j.Changes[:min(len(j.Changes), MaxChanges)] {
		r.Changes = append(r.Changes, Change{
			Kind:        ChangeKind(sanitiseShort(c.Kind)),
			Description: sanitiseText(c.Description, maxChangeText),
			Before:      max(fromMs(c.BeforeMs), 0),
			After:       max(fromMs(c.AfterMs), 0),
			CountBefore: max(c.CountBefore, 0),
			CountAfter:  max(c.CountAfter, 0),
			New:         c.New,
			Gone:        c.Gone,
		})
	}
	return r
}

func (j jsonVersionSide) fromJSON() VersionSide {
	s := VersionSide{
		Version:   sanitiseText(j.Version, maxVersionLength),
		Window:    j.Window.v.fromJSON(),
		Breakdown: capChildren(j.Breakdown.v.fromJSON()),
		CPUTime:   max(fromMs(j.CPUTimeMs), 0),
	}
	for _, st := range j.Stacks[:min(len(j.Stacks), MaxRegressionStacks)] {
		if st.Value <= 0 {
			continue
		}
		var frames []string
		if st.Stack != "" {
			// Split no more than needed: a hostile stack of a million
			// frames is not materialised.
			frames = strings.SplitN(st.Stack, ";", MaxRegressionFrames+1)
			frames = frames[:min(len(frames), MaxRegressionFrames)]
			for i, f := range frames {
				frames[i] = sanitiseText(f, maxChangeText)
			}
		}
		s.Stacks = append(s.Stacks, Stack{Frames: frames, Value: st.Value})
	}
	return s
}

// MarshalVersionSide is s in the JSON form of a side of
// slowspan.regression, bounded as in an alert.
func MarshalVersionSide(s VersionSide) ([]byte, error) {
	return json.Marshal(s.toJSON())
}

// UnmarshalVersionSide reads a side written by MarshalVersionSide, from
// wherever it was kept (another collector may have written it): bounded
// and sanitised as an alert's, a damaged window or breakdown dropped. Only
// a document that is not a JSON object is an error.
func UnmarshalVersionSide(data []byte) (VersionSide, error) {
	var j jsonVersionSide
	if err := json.Unmarshal(data, &j); err != nil {
		return VersionSide{}, fmt.Errorf("decoding a version side: %w", err)
	}
	return j.fromJSON(), nil
}
