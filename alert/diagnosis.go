package alert

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// DiagnosisKind is the verdict on why a request was slow.
type DiagnosisKind string

// The verdicts. README.md documents the rules that pick one.
const (
	// DiagnosisCPU: most of the time was spent on CPU in the request's own
	// goroutines.
	DiagnosisCPU DiagnosisKind = "cpu"
	// DiagnosisNPlusOne: the same query (literals aside), run one after
	// another many times, took most of the time.
	DiagnosisNPlusOne DiagnosisKind = "n_plus_one"
	// DiagnosisSequentialQueries: several different queries ran one after
	// another, none waiting for another's result, and together took most of
	// the time: they could run in parallel.
	DiagnosisSequentialQueries DiagnosisKind = "sequential_queries"
	// DiagnosisSlowQuery: one query took most of the time.
	DiagnosisSlowQuery DiagnosisKind = "slow_query"
	// DiagnosisDownstream: calls to other services (HTTP, RPC, messaging)
	// took most of the time.
	DiagnosisDownstream DiagnosisKind = "downstream"
	// DiagnosisWaiting: most of the time was off CPU outside any child span
	// (sleep, lock, channel, I/O without a span).
	DiagnosisWaiting DiagnosisKind = "waiting"
	// DiagnosisMixed: no single cause took most of the time; the text names
	// the two largest.
	DiagnosisMixed DiagnosisKind = "mixed"
	// DiagnosisUnknown: no child span and no profile reached the collector,
	// so nothing says where the time went.
	DiagnosisUnknown DiagnosisKind = "unknown"
)

// Diagnosis answers "why was it slow?" in one line, with the time
// accounting it is computed from.
type Diagnosis struct {
	Kind DiagnosisKind
	// Text is one sentence, e.g. "N+1: 30 x the same postgresql query took
	// 1.21 s of 1.22 s".
	Text string
	// Frame is the function in the app's own code the verdict points at
	// (the hottest one, or the caller of the blocking call), and Line its
	// file:line; empty when the verdict names none.
	Frame string
	Line  string
	// Time splits the request's wall time.
	Time TimeAccount
}

// TimeAccount splits a request's wall time. Concurrent child spans count
// once, so Children never exceeds the wall time; OnCPU + Children +
// OffCPU can, when CPU time was spent inside child spans.
type TimeAccount struct {
	// OnCPU is the CPU time of the span's profile samples.
	OnCPU time.Duration
	// Children is the time at least one child span was running.
	Children time.Duration
	// OffCPU is the rest: neither in a child span nor on CPU (waiting on a
	// sleep, a lock, a channel or I/O without a span). Without a CPU
	// profile it is the whole time outside child spans.
	OffCPU time.Duration
}

// Attribute names of the diagnosis (flat, so any backend can filter on
// them).
const (
	AttrDiagnosisKind       = "slowspan.diagnosis.kind"
	AttrDiagnosisText       = "slowspan.diagnosis.text"
	AttrDiagnosisFrame      = "slowspan.diagnosis.frame"
	AttrDiagnosisLine       = "slowspan.diagnosis.line"
	AttrDiagnosisOnCPUNs    = "slowspan.diagnosis.on_cpu_ns"
	AttrDiagnosisChildrenNs = "slowspan.diagnosis.children_ns"
	AttrDiagnosisOffCPUNs   = "slowspan.diagnosis.off_cpu_ns"
)

func encodeDiagnosis(d *Diagnosis, attrs pcommon.Map) {
	if d == nil {
		return
	}
	attrs.PutStr(AttrDiagnosisKind, string(d.Kind))
	attrs.PutStr(AttrDiagnosisText, d.Text)
	if d.Frame != "" {
		attrs.PutStr(AttrDiagnosisFrame, d.Frame)
	}
	if d.Line != "" {
		attrs.PutStr(AttrDiagnosisLine, d.Line)
	}
	attrs.PutInt(AttrDiagnosisOnCPUNs, int64(d.Time.OnCPU))
	attrs.PutInt(AttrDiagnosisChildrenNs, int64(d.Time.Children))
	attrs.PutInt(AttrDiagnosisOffCPUNs, int64(d.Time.OffCPU))
}

// decodeDiagnosis reads the diagnosis back; nil without a kind. Strings are
// capped like the other attributes.
func decodeDiagnosis(attrs pcommon.Map) *Diagnosis {
	kind := str(attrs, AttrDiagnosisKind)
	if kind == "" {
		return nil
	}
	return &Diagnosis{
		Kind:  DiagnosisKind(kind),
		Text:  str(attrs, AttrDiagnosisText),
		Frame: str(attrs, AttrDiagnosisFrame),
		Line:  str(attrs, AttrDiagnosisLine),
		Time: TimeAccount{
			OnCPU:    nonNegative(integer(attrs, AttrDiagnosisOnCPUNs)),
			Children: nonNegative(integer(attrs, AttrDiagnosisChildrenNs)),
			OffCPU:   nonNegative(integer(attrs, AttrDiagnosisOffCPUNs)),
		},
	}
}

func nonNegative(ns int64) time.Duration { return time.Duration(max(ns, 0)) }

type jsonDiagnosis struct {
	Kind       DiagnosisKind `json:"kind"`
	Text       string        `json:"text"`
	Frame      string        `json:"frame,omitempty"`
	Line       string        `json:"line,omitempty"`
	OnCPUMs    float64       `json:"on_cpu_ms"`
	ChildrenMs float64       `json:"children_ms"`
	OffCPUMs   float64       `json:"off_cpu_ms"`
}

func (d *Diagnosis) toJSON() *jsonDiagnosis {
	if d == nil {
		return nil
	}
	return &jsonDiagnosis{
		Kind: d.Kind, Text: d.Text, Frame: d.Frame, Line: d.Line,
		OnCPUMs: toMs(d.Time.OnCPU), ChildrenMs: toMs(d.Time.Children), OffCPUMs: toMs(d.Time.OffCPU),
	}
}

func (j *jsonDiagnosis) fromJSON() *Diagnosis {
	if j == nil || j.Kind == "" {
		return nil
	}
	return &Diagnosis{
		Kind: j.Kind, Text: capString(j.Text), Frame: capString(j.Frame), Line: capString(j.Line),
		Time: TimeAccount{
			OnCPU:    max(fromMs(j.OnCPUMs), 0),
			Children: max(fromMs(j.ChildrenMs), 0),
			OffCPU:   max(fromMs(j.OffCPUMs), 0),
		},
	}
}
