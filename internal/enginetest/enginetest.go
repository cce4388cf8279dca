// Package enginetest builds the inputs the engine's and the pipeline's
// tests share: slow server spans and span-linked profiles.
package enginetest

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// LinkedProfile is an OTLP profile with samples linked to (tid, sid): each
// stack leaf first, each sample 10 ms of CPU.
func LinkedProfile(tid pcommon.TraceID, sid pcommon.SpanID, stacks ...[]string) pprofile.Profiles {
	pd, p := Linked("cpu", tid, sid)
	d := pd.Dictionary()
	for _, frames := range stacks {
		st := d.StackTable().AppendEmpty()
		for _, f := range frames {
			d.StringTable().Append(f)
			fn := d.FunctionTable().AppendEmpty()
			fn.SetNameStrindex(int32(d.StringTable().Len() - 1))
			loc := d.LocationTable().AppendEmpty()
			loc.Lines().AppendEmpty().SetFunctionIndex(int32(d.FunctionTable().Len() - 1))
			st.LocationIndices().Append(int32(d.LocationTable().Len() - 1))
		}
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(int32(d.StackTable().Len() - 1))
		s.SetLinkIndex(1)
		s.Values().Append(int64(10 * time.Millisecond))
	}
	return pd
}

// Linked is an OTLP profiles message with one profile of sampleType
// (values in nanoseconds) and link 1 to (tid, sid): every table starts with
// its zero entry, strings 1 and 2 are sampleType and "nanoseconds".
func Linked(sampleType string, tid pcommon.TraceID, sid pcommon.SpanID) (pprofile.Profiles, pprofile.Profile) {
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", sampleType, "nanoseconds")
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	l := d.LinkTable().AppendEmpty()
	l.SetTraceID(tid)
	l.SetSpanID(sid)
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(1)
	p.SampleType().SetUnitStrindex(2)
	return pd, p
}

// ServerSpan is a batch of one server span of service on route lasting dur,
// with the given ids.
func ServerSpan(service, route string, dur time.Duration, tid pcommon.TraceID, sid pcommon.SpanID) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetName("GET " + route)
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
	sp.Attributes().PutStr("http.route", route)
	sp.Attributes().PutStr("http.request.method", "GET")
	return td
}
