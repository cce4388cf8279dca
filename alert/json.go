package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// The JSON form is what the alertfile exporter writes, one object per line.
// Field names are an API (README.md). Durations are float milliseconds, the
// unit people filter on (jq '.duration_ms > 2000'); times are RFC 3339 UTC.
type jsonAlert struct {
	Schema      int               `json:"schema"`
	ID          string            `json:"id"`
	Reason      Reason            `json:"reason"`
	Service     string            `json:"service"`
	Method      string            `json:"method"`
	Route       string            `json:"route"`
	KeyHash     string            `json:"key"`
	Rule        string            `json:"rule,omitempty"`
	SpanName    string            `json:"span_name"`
	DurationMs  float64           `json:"duration_ms"`
	ThresholdMs float64           `json:"threshold_ms"`
	TraceID     string            `json:"trace_id"`
	SpanID      string            `json:"span_id"`
	Start       time.Time         `json:"start"`
	Suppressed  jsonSuppressed    `json:"suppressed"`
	Links       *jsonLinks        `json:"links,omitempty"`
	Diagnosis   *jsonDiagnosis    `json:"diagnosis,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Resource    map[string]string `json:"resource,omitempty"`
	Breakdown   *jsonBreakdown    `json:"breakdown,omitempty"`
	Profile     *jsonProfile      `json:"profile,omitempty"`
	Folded      *jsonFolded       `json:"folded,omitempty"`
	// The documents of schema 2 are read leniently: a damaged one is
	// dropped, not the whole line.
	Incident lenient[jsonIncident] `json:"incident,omitzero"`
	Window   lenient[jsonWindow]   `json:"window,omitzero"`
	// Regression is additive to schema 2, read as leniently.
	Regression lenient[jsonRegression] `json:"regression,omitzero"`
}

// lenient holds an optional object of the JSON form that a reader drops,
// rather than failing the whole alert, when it does not decode.
type lenient[T any] struct{ v *T }

func (l lenient[T]) MarshalJSON() ([]byte, error) { return json.Marshal(l.v) }

func (l *lenient[T]) UnmarshalJSON(data []byte) error {
	l.v = nil
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	var v T
	if json.Unmarshal(data, &v) == nil {
		l.v = &v
	}
	return nil
}

type jsonBreakdown struct {
	SelfTimeMs   float64          `json:"self_time_ms"`
	Children     []jsonChildGroup `json:"children"`
	Spans        []jsonChildSpan  `json:"spans,omitempty"`
	SpansOmitted int              `json:"spans_omitted,omitempty"`
}

type jsonChildSpan struct {
	Group      int     `json:"group"`
	OffsetMs   float64 `json:"offset_ms"`
	DurationMs float64 `json:"duration_ms"`
}

type jsonChildGroup struct {
	Kind        string  `json:"kind"`
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Count       int     `json:"count"`
	TotalMs     float64 `json:"total_ms"`
	MaxMs       float64 `json:"max_ms"`
	OffsetMs    float64 `json:"offset_ms"`
	BusyMs      float64 `json:"busy_ms,omitempty"`
	Pattern     string  `json:"pattern,omitempty"`
}

type jsonProfile struct {
	Source       string         `json:"source"`
	CPUTimeMs    float64        `json:"cpu_time_ms"`
	WallTimeMs   float64        `json:"wall_time_ms"`
	Samples      int64          `json:"samples"`
	HottestFrame string         `json:"hottest_frame,omitempty"`
	HottestLine  string         `json:"hottest_line,omitempty"`
	TopFunctions []jsonFunction `json:"top_functions"`
	ByAppCode    []jsonCode     `json:"by_app_code,omitempty"`
	OffCPUTimeMs float64        `json:"off_cpu_time_ms,omitempty"`
	WallSamples  int64          `json:"wall_samples,omitempty"`
	Waiting      []jsonBlocker  `json:"waiting,omitempty"`
	Stacks       []jsonStack    `json:"stacks,omitempty"`
}

type jsonCode struct {
	Function string         `json:"function"`
	Line     string         `json:"line,omitempty"`
	Share    float64        `json:"share"`
	Library  []jsonFunction `json:"library,omitempty"`
}

type jsonBlocker struct {
	Call   string  `json:"call"`
	Caller string  `json:"caller,omitempty"`
	Line   string  `json:"line,omitempty"`
	TimeMs float64 `json:"time_ms"`
}

type jsonFunction struct {
	Name  string  `json:"name"`
	Self  float64 `json:"self"`
	Total float64 `json:"total"`
}

type jsonStack struct {
	Stack string `json:"stack"` // folded: frames root first, joined by ';'
	Value int64  `json:"value"`
}

func (b *Breakdown) toJSON() *jsonBreakdown {
	if b == nil {
		return nil
	}
	j := &jsonBreakdown{SelfTimeMs: toMs(b.SelfTime), Children: make([]jsonChildGroup, 0, len(b.Children))}
	for _, c := range b.Children {
		j.Children = append(j.Children, jsonChildGroup{
			Kind: c.Kind, Name: c.Name, Description: c.Description, Count: c.Count,
			TotalMs: toMs(c.Total), MaxMs: toMs(c.Max), OffsetMs: toMs(c.Offset),
			BusyMs: toMs(c.Busy), Pattern: c.Pattern,
		})
	}
	for _, sp := range b.Spans {
		j.Spans = append(j.Spans, jsonChildSpan{Group: sp.Group, OffsetMs: toMs(sp.Offset), DurationMs: toMs(sp.Duration)})
	}
	j.SpansOmitted = b.SpansOmitted
	return j
}

func (j *jsonBreakdown) fromJSON() *Breakdown {
	if j == nil {
		return nil
	}
	b := &Breakdown{SelfTime: fromMs(j.SelfTimeMs)}
	for _, c := range j.Children {
		b.Children = append(b.Children, ChildGroup{
			Kind: c.Kind, Name: c.Name, Description: c.Description, Count: c.Count,
			Total: fromMs(c.TotalMs), Max: fromMs(c.MaxMs), Offset: fromMs(c.OffsetMs),
			Busy: fromMs(c.BusyMs), Pattern: c.Pattern,
		})
	}
	// Read back bounded, with a group index that points at a listed group
	// or is -1, so a renderer can index Children without checking.
	for _, sp := range j.Spans[:min(len(j.Spans), MaxTimelineSpans)] {
		g := sp.Group
		if g < 0 || g >= len(b.Children) {
			g = -1
		}
		b.Spans = append(b.Spans, ChildSpan{Group: g, Offset: max(fromMs(sp.OffsetMs), 0), Duration: max(fromMs(sp.DurationMs), 0)})
	}
	b.SpansOmitted = max(j.SpansOmitted, 0) + max(len(j.Spans)-MaxTimelineSpans, 0)
	return b
}

func (p *Profile) toJSON() *jsonProfile {
	if p == nil {
		return nil
	}
	j := &jsonProfile{
		Source: p.Source, CPUTimeMs: toMs(p.CPUTime), WallTimeMs: toMs(p.WallTime), Samples: p.Samples,
		HottestFrame: p.HottestFrame, HottestLine: p.HottestLine,
		TopFunctions: make([]jsonFunction, 0, len(p.TopFunctions)),
		OffCPUTimeMs: toMs(p.OffCPUTime), WallSamples: p.WallSamples,
	}
	for _, f := range p.TopFunctions {
		j.TopFunctions = append(j.TopFunctions, jsonFunction(f))
	}
	for _, g := range p.ByAppCode {
		jc := jsonCode{Function: g.Function, Line: g.Line, Share: g.Share}
		for _, f := range g.Library {
			jc.Library = append(jc.Library, jsonFunction(f))
		}
		j.ByAppCode = append(j.ByAppCode, jc)
	}
	for _, b := range p.Waiting {
		j.Waiting = append(j.Waiting, jsonBlocker{Call: b.Call, Caller: b.Caller, Line: b.Line, TimeMs: toMs(b.Time)})
	}
	for _, s := range p.Stacks {
		j.Stacks = append(j.Stacks, jsonStack{Stack: strings.Join(s.Frames, ";"), Value: s.Value})
	}
	return j
}

func (j *jsonProfile) fromJSON() *Profile {
	if j == nil {
		return nil
	}
	p := &Profile{
		Source: j.Source, CPUTime: fromMs(j.CPUTimeMs), WallTime: fromMs(j.WallTimeMs), Samples: j.Samples,
		HottestFrame: j.HottestFrame, HottestLine: j.HottestLine,
		OffCPUTime: fromMs(j.OffCPUTimeMs), WallSamples: j.WallSamples,
	}
	for _, f := range j.TopFunctions {
		p.TopFunctions = append(p.TopFunctions, Function(f))
	}
	for _, g := range j.ByAppCode {
		c := CodeGroup{Function: g.Function, Line: g.Line, Share: g.Share}
		for _, f := range g.Library {
			c.Library = append(c.Library, Function(f))
		}
		p.ByAppCode = append(p.ByAppCode, c)
	}
	for _, b := range j.Waiting {
		p.Waiting = append(p.Waiting, Blocker{Call: b.Call, Caller: b.Caller, Line: b.Line, Time: fromMs(b.TimeMs)})
	}
	for _, s := range j.Stacks {
		var frames []string
		if s.Stack != "" {
			frames = strings.Split(s.Stack, ";")
		}
		p.Stacks = append(p.Stacks, Stack{Frames: frames, Value: s.Value})
	}
	return p
}

type jsonSuppressed struct {
	Count         int64      `json:"count"`
	MaxDurationMs float64    `json:"max_duration_ms,omitempty"`
	Since         *time.Time `json:"since,omitempty"`
}

type jsonLinks struct {
	Trace   string `json:"trace,omitempty"`
	Profile string `json:"profile,omitempty"`
}

// MarshalJSON writes the documented JSON form.
func (a Alert) MarshalJSON() ([]byte, error) {
	j := jsonAlert{
		Schema:      SchemaVersion,
		ID:          a.ID,
		Reason:      a.Reason,
		Service:     a.Key.Service,
		Method:      a.Key.Method,
		Route:       a.Key.Route,
		KeyHash:     a.Key.Hash(),
		Rule:        a.Rule,
		SpanName:    a.SpanName,
		DurationMs:  toMs(a.Duration),
		ThresholdMs: toMs(a.Threshold),
		TraceID:     a.TraceID,
		SpanID:      a.SpanID,
		Start:       a.Start.UTC(),
		Suppressed: jsonSuppressed{
			Count:         a.Suppressed.Count,
			MaxDurationMs: toMs(a.Suppressed.MaxDuration),
		},
		Attributes: a.Attributes,
		Resource:   a.Resource,
		Diagnosis:  a.Diagnosis.toJSON(),
		Breakdown:  a.Breakdown.toJSON(),
		Profile:    a.Profile.toJSON(),
		Folded:     a.Folded.toJSON(),
		Incident:   lenient[jsonIncident]{a.Incident.toJSON()},
		Window:     lenient[jsonWindow]{a.Window.toJSON()},
		Regression: lenient[jsonRegression]{a.Regression.toJSON()},
	}
	if !a.Suppressed.Since.IsZero() {
		since := a.Suppressed.Since.UTC()
		j.Suppressed.Since = &since
	}
	if a.Links != (Links{}) {
		j.Links = &jsonLinks{Trace: a.Links.Trace, Profile: a.Links.Profile}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the JSON form back (for tools that consume the alert
// log). Unknown fields are ignored, so newer writers stay readable.
func (a *Alert) UnmarshalJSON(data []byte) error {
	var j jsonAlert
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if j.Schema < 1 {
		return fmt.Errorf("alert: not a slowspan alert: schema is %d, want >= 1", j.Schema)
	}
	*a = Alert{
		ID:         j.ID,
		Key:        Key{Service: j.Service, Method: j.Method, Route: j.Route},
		Reason:     j.Reason,
		Rule:       j.Rule,
		SpanName:   j.SpanName,
		Duration:   fromMs(j.DurationMs),
		Threshold:  fromMs(j.ThresholdMs),
		TraceID:    j.TraceID,
		SpanID:     j.SpanID,
		Start:      j.Start,
		Attributes: j.Attributes,
		Resource:   j.Resource,
		Diagnosis:  j.Diagnosis.fromJSON(),
		Breakdown:  j.Breakdown.fromJSON(),
		Profile:    j.Profile.fromJSON(),
		Folded:     j.Folded.fromJSON(),
		Incident:   j.Incident.v.fromJSON(),
		Window:     j.Window.v.fromJSON(),
		Regression: j.Regression.v.fromJSON(),
		Suppressed: Suppressed{
			Count:       j.Suppressed.Count,
			MaxDuration: fromMs(j.Suppressed.MaxDurationMs),
		},
	}
	if j.Suppressed.Since != nil {
		a.Suppressed.Since = *j.Suppressed.Since
	}
	if j.Links != nil {
		a.Links = Links{Trace: j.Links.Trace, Profile: j.Links.Profile}
	}
	return nil
}

func toMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fromMs rounds to the nanosecond so that a marshal/unmarshal round trip is
// exact for any duration below about 100 days.
func fromMs(ms float64) time.Duration {
	ns := math.Round(ms * float64(time.Millisecond))
	if ns >= math.MaxInt64 || ns <= math.MinInt64 || math.IsNaN(ns) {
		return 0
	}
	return time.Duration(ns)
}
