package alerttest

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
)

// Traces carries alerts as the processor emits them (see Append), plus one
// span that is not an alert, which consumers of alerts must ignore.
func Traces(tb testing.TB, alerts ...alert.Alert) ptrace.Traces {
	tb.Helper()
	td := ptrace.NewTraces()
	for _, a := range alerts {
		if err := Append(td, a); err != nil {
			tb.Fatal(err)
		}
	}
	plain := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	plain.SetName("GET /health")
	plain.SetTraceID(pcommon.TraceID{9, 9, 9})
	plain.SetSpanID(pcommon.SpanID{9, 9})
	plain.Attributes().PutStr("http.route", "/health")
	return td
}
