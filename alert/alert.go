// Package alert is the contract between the slowspan processor (or connector)
// and the exporters that deliver its alerts.
//
// An alert travels through the collector as the slow server span itself,
// copied out with its resource and scope and carrying slowspan.* attributes
// (see README.md). Any trace exporter can therefore receive alerts, and ours
// read them back with Decode or All. The attribute names and the JSON form are
// an API, versioned by SchemaVersion.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// SchemaVersion is written to every alert span as slowspan.schema. It changes
// when an attribute changes meaning or disappears, or when a value appears
// that older readers cannot interpret; adding an optional attribute does not.
// Version 2 added the reasons quantile, ratio and resolved (and the optional
// incident and window documents); an alert without them reads as in version
// 1. Readers accept 1 and 2.
const SchemaVersion = 2

// Reason says why an alert fired instead of being suppressed.
type Reason string

const (
	// ReasonFirst means no alert for the key is remembered.
	ReasonFirst Reason = "first"
	// ReasonWindowExpired means the previous alert for the key is older than
	// the dedup window.
	ReasonWindowExpired Reason = "window_expired"
	// ReasonEscalation means that, inside the window, the span is
	// escalation_factor times slower than the last alerted one.
	ReasonEscalation Reason = "escalation"
	// ReasonStorm marks a summary of the alerts past alerts.max_per_minute in
	// one minute (see Alert.Folded), sent instead of them.
	ReasonStorm Reason = "storm"
	// ReasonQuantile opens an incident (see Alert.Incident): the endpoint's
	// configured quantile over the window crossed the threshold.
	ReasonQuantile Reason = "quantile"
	// ReasonRatio opens an incident: the endpoint's share of slow requests
	// over the window crossed the configured ratio.
	ReasonRatio Reason = "ratio"
	// ReasonResolved closes an incident: the endpoint is back under its
	// threshold.
	ReasonResolved Reason = "resolved"
	// ReasonRegression opens an incident: a new service.version of the
	// endpoint is slower than the previous one (see Alert.Regression).
	ReasonRegression Reason = "regression"
)

// Reasons lists every reason, in a stable order (for metrics and docs).
// New reasons are appended, never inserted.
var Reasons = []Reason{ReasonFirst, ReasonWindowExpired, ReasonEscalation, ReasonStorm,
	ReasonQuantile, ReasonRatio, ReasonResolved, ReasonRegression}

// Valid reports whether r is one of the known reasons.
func (r Reason) Valid() bool {
	switch r {
	case ReasonFirst, ReasonWindowExpired, ReasonEscalation, ReasonStorm,
		ReasonQuantile, ReasonRatio, ReasonResolved, ReasonRegression:
		return true
	}
	return false
}

// OpensIncident reports whether r is a reason that opens an incident
// (quantile, ratio, regression).
func (r Reason) OpensIncident() bool {
	return r == ReasonQuantile || r == ReasonRatio || r == ReasonRegression
}

// Key identifies an endpoint: at most one alert per key per dedup window.
type Key struct {
	Service string
	Method  string
	Route   string
}

// String is the human form, e.g. "checkout GET /orders/{id}".
func (k Key) String() string {
	var b strings.Builder
	b.Grow(len(k.Service) + len(k.Method) + len(k.Route) + 2)
	b.WriteString(k.Service)
	b.WriteByte(' ')
	if k.Method != "" {
		b.WriteString(k.Method)
		b.WriteByte(' ')
	}
	b.WriteString(k.Route)
	return b.String()
}

// Hash is a stable 16-hex-digit digest of the key, safe in file names and
// storage keys whatever the route holds. Its definition is part of the schema:
// sha256 over service, method and route separated by NUL bytes.
func (k Key) Hash() string {
	h := sha256.New()
	h.Write([]byte(k.Service))
	h.Write([]byte{0})
	h.Write([]byte(k.Method))
	h.Write([]byte{0})
	h.Write([]byte(k.Route))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Suppressed summarises the slow spans of a key that did not alert since the
// previous alert for that key.
type Suppressed struct {
	Count       int64
	MaxDuration time.Duration
	// Since is when the previous alert for the key fired; zero for a first
	// alert.
	Since time.Time
}

// Links point a person to the trace (and later the profile) in their tools.
type Links struct {
	Trace   string
	Profile string
}

// Alert is one slow request, ready to deliver.
type Alert struct {
	// ID is deterministic (trace id, span id, reason), so a redelivered alert
	// keeps its ID and exporters can make delivery idempotent.
	ID     string
	Key    Key
	Reason Reason
	// Rule is the routes[].match glob whose threshold applied; empty when the
	// global threshold did.
	Rule      string
	SpanName  string
	Duration  time.Duration
	Threshold time.Duration
	TraceID   string // 32 lower-case hex digits
	SpanID    string // 16 lower-case hex digits
	Start     time.Time
	// Attributes are the span's attributes as strings, redacted by the
	// processor and capped by Decode (see MaxAttributes, MaxValueLength).
	Attributes map[string]string
	// Resource holds the resource attributes as strings, capped the same way.
	Resource   map[string]string
	Suppressed Suppressed
	Links      Links
	// Diagnosis is the one-line answer to "why was it slow?"; nil on
	// alerts that are not about one request (storm summaries, incident
	// alerts without a worst request).
	Diagnosis *Diagnosis
	// Breakdown and Profile are set when the processor found child spans
	// of the span or profile samples linked to it (in its batch, in the
	// profile index, or during correlation.wait); nil otherwise.
	Breakdown *Breakdown
	Profile   *Profile
	// Folded is set on a storm summary (ReasonStorm) only.
	Folded *Folded
	// Incident is set on the alerts of an incident: the one that opens it
	// (ReasonQuantile, ReasonRatio), its escalations and the one that closes
	// it (ReasonResolved); nil otherwise.
	Incident *Incident
	// Window describes the endpoint's requests over the window that fired
	// or resolved the incident; nil when the alert is not about a window.
	Window *WindowFigures
	// Regression is set on a ReasonRegression alert: the previous and the
	// new version of the endpoint side by side and what changed; nil
	// otherwise.
	Regression *Regression
}

// NewID derives the alert ID from the span identity and the reason.
func NewID(traceID, spanID string, reason Reason) string {
	h := sha256.New()
	h.Write([]byte(traceID))
	h.Write([]byte{0})
	h.Write([]byte(spanID))
	h.Write([]byte{0})
	h.Write([]byte(reason))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
