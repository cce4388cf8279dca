package alert

import (
	"encoding/json"
	"fmt"
	"math"
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
	Attributes  map[string]string `json:"attributes,omitempty"`
	Resource    map[string]string `json:"resource,omitempty"`
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
