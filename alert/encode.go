package alert

import (
	"encoding/hex"
	"encoding/json"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/internal/safetext"
)

// Encode writes the alert's slowspan.* attributes onto span, which should be
// the copy of the slow span that carries the alert. Fields that come from the
// span itself (ids, times, name, attributes) are not written.
func Encode(a Alert, span ptrace.Span) {
	attrs := span.Attributes()
	attrs.PutInt(AttrSchema, SchemaVersion)
	attrs.PutStr(AttrID, a.ID)
	attrs.PutStr(AttrReason, string(a.Reason))
	attrs.PutStr(AttrService, a.Key.Service)
	attrs.PutStr(AttrMethod, a.Key.Method)
	attrs.PutStr(AttrRoute, a.Key.Route)
	if a.Rule != "" {
		attrs.PutStr(AttrRule, a.Rule)
	}
	attrs.PutInt(AttrThresholdNs, int64(a.Threshold))
	attrs.PutInt(AttrSuppressedCount, a.Suppressed.Count)
	if a.Suppressed.Count > 0 {
		attrs.PutInt(AttrSuppressedMaxDuration, int64(a.Suppressed.MaxDuration))
	}
	if !a.Suppressed.Since.IsZero() {
		attrs.PutInt(AttrSuppressedSince, a.Suppressed.Since.UnixNano())
	}
	if a.Links.Trace != "" {
		attrs.PutStr(AttrLinkTrace, a.Links.Trace)
	}
	if a.Links.Profile != "" {
		attrs.PutStr(AttrLinkProfile, a.Links.Profile)
	}
	encodeDiagnosis(a.Diagnosis, attrs)
	if a.Breakdown != nil {
		if data, err := json.Marshal(a.Breakdown.toJSON()); err == nil {
			attrs.PutStr(AttrBreakdown, string(data))
		}
	}
	if a.Profile != nil {
		if data, err := json.Marshal(a.Profile.toJSON()); err == nil {
			attrs.PutStr(AttrProfile, string(data))
		}
		if len(a.Profile.Pprof) > 0 {
			attrs.PutEmptyBytes(AttrProfilePprof).FromRaw(a.Profile.Pprof)
		}
	}
	if a.Folded != nil {
		if data, err := json.Marshal(a.Folded.toJSON()); err == nil {
			attrs.PutStr(AttrFolded, string(data))
		}
	}
	if a.Incident != nil {
		if data, err := json.Marshal(a.Incident.toJSON()); err == nil {
			attrs.PutStr(AttrIncident, string(data))
		}
	}
	if a.Window != nil {
		if data, err := json.Marshal(a.Window.toJSON()); err == nil {
			attrs.PutStr(AttrWindow, string(data))
		}
	}
	if a.Regression != nil {
		if data, err := json.Marshal(a.Regression.toJSON()); err == nil {
			attrs.PutStr(AttrRegression, string(data))
		}
	}
}

// IsAlert reports whether span carries an alert, without decoding it.
func IsAlert(span ptrace.Span) bool {
	_, ok := span.Attributes().Get(AttrSchema)
	return ok
}

// Decode reads the alert carried by span. ok is false when the span is not an
// alert (no slowspan.schema). Decode is lenient: an attribute of the wrong
// type reads as its zero value, so a damaged alert is still delivered rather
// than lost.
func Decode(resource pcommon.Resource, span ptrace.Span) (a Alert, ok bool) {
	attrs := span.Attributes()
	if _, ok := attrs.Get(AttrSchema); !ok {
		return Alert{}, false
	}
	a.ID = str(attrs, AttrID)
	a.Reason = Reason(str(attrs, AttrReason))
	a.Key = Key{
		Service: str(attrs, AttrService),
		Method:  str(attrs, AttrMethod),
		Route:   str(attrs, AttrRoute),
	}
	a.Rule = str(attrs, AttrRule)
	a.Threshold = time.Duration(integer(attrs, AttrThresholdNs))
	a.Suppressed.Count = integer(attrs, AttrSuppressedCount)
	a.Suppressed.MaxDuration = time.Duration(integer(attrs, AttrSuppressedMaxDuration))
	if ns := integer(attrs, AttrSuppressedSince); ns > 0 {
		a.Suppressed.Since = time.Unix(0, ns).UTC()
	}
	a.Links.Trace = str(attrs, AttrLinkTrace)
	a.Links.Profile = str(attrs, AttrLinkProfile)
	a.Diagnosis = decodeDiagnosis(attrs)
	a.Breakdown, a.Profile = decodeDetails(attrs)
	if v, ok := attrs.Get(AttrFolded); ok && v.Type() == pcommon.ValueTypeStr {
		var j jsonFolded
		if json.Unmarshal([]byte(v.Str()), &j) == nil {
			a.Folded = j.fromJSON()
		}
	}
	a.Incident, a.Window = decodeIncident(attrs)
	if v, ok := attrs.Get(AttrRegression); ok && v.Type() == pcommon.ValueTypeStr {
		var j jsonRegression
		if json.Unmarshal([]byte(v.Str()), &j) == nil {
			a.Regression = j.fromJSON()
		}
	}

	a.SpanName = stripControl(capString(span.Name()))
	start, end := span.StartTimestamp(), span.EndTimestamp()
	if end > start {
		a.Duration = time.Duration(end - start)
	}
	a.Start = start.AsTime().UTC()
	if tid := span.TraceID(); !tid.IsEmpty() {
		a.TraceID = hex.EncodeToString(tid[:])
	}
	if sid := span.SpanID(); !sid.IsEmpty() {
		a.SpanID = hex.EncodeToString(sid[:])
	}
	if a.ID == "" {
		a.ID = NewID(a.TraceID, a.SpanID, a.Reason)
	}
	a.Attributes = stringMap(attrs, true)
	a.Resource = stringMap(resource.Attributes(), false)
	return a, true
}

// All yields every alert in td, in order.
func All(td ptrace.Traces) iter.Seq[Alert] {
	return func(yield func(Alert) bool) {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			sss := rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					if a, ok := Decode(rs.Resource(), spans.At(k)); ok {
						if !yield(a) {
							return
						}
					}
				}
			}
		}
	}
}

// Count returns how many alerts td carries.
func Count(td ptrace.Traces) int {
	n := 0
	for range All(td) {
		n++
	}
	return n
}

// decodeDetails reads the breakdown and the profile. They are not capped
// like other strings (the processor bounds them), and a damaged document is
// dropped rather than failing the alert.
func decodeDetails(attrs pcommon.Map) (*Breakdown, *Profile) {
	var b *Breakdown
	if v, ok := attrs.Get(AttrBreakdown); ok && v.Type() == pcommon.ValueTypeStr {
		var j jsonBreakdown
		if json.Unmarshal([]byte(v.Str()), &j) == nil {
			b = j.fromJSON()
		}
	}
	var p *Profile
	if v, ok := attrs.Get(AttrProfile); ok && v.Type() == pcommon.ValueTypeStr {
		var j jsonProfile
		if json.Unmarshal([]byte(v.Str()), &j) == nil {
			p = j.fromJSON()
		}
	}
	if v, ok := attrs.Get(AttrProfilePprof); ok && v.Type() == pcommon.ValueTypeBytes && p != nil {
		p.Pprof = v.Bytes().AsRaw()
	}
	return b, p
}

// decodeIncident reads the incident and window documents; a damaged one is
// dropped, and what is read is bounded (see their fromJSON).
func decodeIncident(attrs pcommon.Map) (*Incident, *WindowFigures) {
	var in *Incident
	if v, ok := attrs.Get(AttrIncident); ok && v.Type() == pcommon.ValueTypeStr {
		var j jsonIncident
		if json.Unmarshal([]byte(v.Str()), &j) == nil {
			in = j.fromJSON()
		}
	}
	var w *WindowFigures
	if v, ok := attrs.Get(AttrWindow); ok && v.Type() == pcommon.ValueTypeStr {
		var j jsonWindow
		if json.Unmarshal([]byte(v.Str()), &j) == nil {
			w = j.fromJSON()
		}
	}
	return in, w
}

func str(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	return capString(v.Str())
}

func integer(m pcommon.Map, key string) int64 {
	v, ok := m.Get(key)
	if !ok {
		return 0
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		return int64(v.Double())
	}
	return 0
}

func stringMap(m pcommon.Map, skipOwn bool) map[string]string {
	out := make(map[string]string, min(m.Len(), MaxAttributes))
	for k, v := range m.All() {
		if len(out) >= MaxAttributes {
			break
		}
		if skipOwn && strings.HasPrefix(k, attrPrefix) {
			continue
		}
		out[capString(k)] = capString(v.AsString())
	}
	return out
}

// stripControl removes control characters (a span name is one line of
// text; an escape sequence in it would act on a terminal that prints it).
func stripControl(s string) string {
	if strings.IndexFunc(s, safetext.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if safetext.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// capString makes s valid UTF-8 and at most MaxValueLength bytes, cut on a
// rune boundary, so every consumer can print it safely. Attribute values
// keep their line breaks: renderers escape them.
func capString(s string) string {
	s = safetext.CutMarked(s, MaxValueLength, "…")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
