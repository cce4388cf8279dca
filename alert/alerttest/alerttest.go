// Package alerttest builds alert spans from alert.Alert values, the way the
// slowspan processor emits them, and holds the fixture alerts that the tests
// of several packages share, for the tests of anything that consumes alerts
// (exporters, renderers, tools reading the contract).
package alerttest

import (
	"encoding/hex"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
)

// Append adds a's span to td: its resource, a server span with a's ids,
// times, name and attributes, and the slowspan.* attributes (alert.Encode).
// alert.Decode reads it back as a.
func Append(td ptrace.Traces, a alert.Alert) error {
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	if _, err := hex.Decode(tid[:], []byte(a.TraceID)); err != nil {
		return fmt.Errorf("alert %s: trace id %q: %w", a.ID, a.TraceID, err)
	}
	if _, err := hex.Decode(sid[:], []byte(a.SpanID)); err != nil {
		return fmt.Errorf("alert %s: span id %q: %w", a.ID, a.SpanID, err)
	}
	rs := td.ResourceSpans().AppendEmpty()
	for k, v := range a.Resource {
		rs.Resource().Attributes().PutStr(k, v)
	}
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName(a.SpanName)
	span.SetKind(ptrace.SpanKindServer)
	span.SetTraceID(tid)
	span.SetSpanID(sid)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(a.Start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(a.Start.Add(a.Duration)))
	for k, v := range a.Attributes {
		span.Attributes().PutStr(k, v)
	}
	alert.Encode(a, span)
	return nil
}
