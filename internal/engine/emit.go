package engine

import (
	"encoding/hex"
	"strings"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/profileindex"
)

// newCandidate copies an alerting slow span out with its resource and
// scope, redacted: the alert's own copy, which the later stages complete.
func (e *Engine) newCandidate(s *keptSpan, dec dedup.Decision) *candidate {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	s.rs.Resource().CopyTo(rs.Resource())
	rs.SetSchemaUrl(s.rs.SchemaUrl())
	ss := rs.ScopeSpans().AppendEmpty()
	s.ss.Scope().CopyTo(ss.Scope())
	ss.SetSchemaUrl(s.ss.SchemaUrl())
	cp := ss.Spans().AppendEmpty()
	s.span.CopyTo(cp)
	e.redactSpan(cp)

	key := s.key
	tid, sid := cp.TraceID(), cp.SpanID()
	traceHex, spanHex := hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:])
	return &candidate{
		td:       td,
		span:     cp,
		traceID:  tid,
		spanID:   sid,
		decision: dec,
		children: newChildren(cp),
		alert: alert.Alert{
			ID:         alert.NewID(traceHex, spanHex, dec.Reason),
			Key:        key,
			Reason:     dec.Reason,
			Rule:       s.rule,
			Threshold:  s.threshold,
			Suppressed: dec.Suppressed,
		},
		link: linkData{
			TraceID:        traceHex,
			SpanID:         spanHex,
			Service:        key.Service,
			Method:         key.Method,
			Route:          key.Route,
			Start:          cp.StartTimestamp().AsTime(),
			End:            cp.EndTimestamp().AsTime(),
			StartUnixMilli: cp.StartTimestamp().AsTime().UnixMilli(),
			EndUnixMilli:   cp.EndTimestamp().AsTime().UnixMilli(),
			ProfileID:      attrStr(cp.Attributes(), "pyroscope.profile.id"),
		},
	}
}

// redactSpan removes what must never reach an alert from the copy: listed
// credentials, query strings, and any slowspan.* attribute the app sent (only
// we write those).
func (e *Engine) redactSpan(span ptrace.Span) {
	attrs := span.Attributes()
	attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
		if k == "url.query" || strings.HasPrefix(k, "slowspan.") {
			return true
		}
		_, ok := e.redact[strings.ToLower(k)]
		return ok
	})
	for _, k := range [...]string{"url.full", "http.url", "http.target"} {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			if s, cut := stripQuery(v.Str()); cut {
				v.SetStr(s)
			}
		}
	}
	if s, cut := stripQuery(span.Name()); cut {
		span.SetName(s)
	}
}

func stripQuery(s string) (string, bool) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i], true
	}
	return s, false
}

// finalize attaches the breakdown, the profile and the links, and writes
// the alert onto its span: the candidate becomes an alert span.
func (e *Engine) finalize(c *candidate) ptrace.Traces {
	if c.synthetic {
		// No request behind it: nothing to diagnose.
		finishRegression(&c.alert)
		alert.Encode(c.alert, c.span)
		return c.td
	}
	wall := time.Duration(c.span.EndTimestamp() - c.span.StartTimestamp())
	samples := e.profiles.Take(c.traceID, c.spanID)
	c.alert.Profile = profileindex.Summarize(samples, wall)
	c.alert.Breakdown, c.alert.Diagnosis = c.children.diagnose(c.alert.Profile, samples)
	finishRegression(&c.alert)
	if e.traceLink != nil {
		c.alert.Links.Trace = e.renderLink(e.traceLink, c.link)
	}
	if e.profileLink != nil {
		c.alert.Links.Profile = e.renderLink(e.profileLink, c.link)
	}
	alert.Encode(c.alert, c.span)
	return c.td
}

func (e *Engine) renderLink(t *template.Template, data linkData) string {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		e.logger.Debug("link template failed", zap.String("template", t.Name()), zap.Error(err))
		return ""
	}
	return b.String()
}
