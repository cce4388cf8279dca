package spanprofiler

import (
	"context"
	"sync"

	otelpyroscope "github.com/grafana/otel-profiling-go"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// Label keys set by github.com/grafana/otel-profiling-go v0.7.0 on the first local span of a request
// (its "local root", e.g. the otelhttp server span). Child goroutines and child spans inherit them.
// trace_id is only set on sampled spans, as is span_id; span_name is set even on unsampled ones.
const (
	LabelSpanID   = "span_id"
	LabelSpanName = "span_name"
	LabelTraceID  = "trace_id"
)

// SpanIndex resolves the trace id of a local root span from its span id. Conversion uses it when a
// sample carries a span_id label but no trace_id label (other labelers, or older otel-profiling-go).
type SpanIndex interface {
	TraceID(spanID trace.SpanID) (trace.TraceID, bool)
}

// RingIndex is a bounded SpanIndex: it remembers the last capacity local root spans and forgets the
// oldest first, so memory stays fixed however many requests the app serves.
type RingIndex struct {
	mu   sync.Mutex
	m    map[trace.SpanID]trace.TraceID
	ring []trace.SpanID
	next int
}

// NewRingIndex returns an index remembering up to capacity spans (minimum 1).
func NewRingIndex(capacity int) *RingIndex {
	capacity = max(capacity, 1)
	return &RingIndex{m: make(map[trace.SpanID]trace.TraceID, capacity), ring: make([]trace.SpanID, capacity)}
}

// Put records span -> trace, evicting the oldest entry when full.
func (r *RingIndex) Put(spanID trace.SpanID, traceID trace.TraceID) {
	r.mu.Lock()
	if _, ok := r.m[spanID]; !ok {
		if old := r.ring[r.next]; old.IsValid() {
			delete(r.m, old)
		}
		r.ring[r.next] = spanID
		r.next = (r.next + 1) % len(r.ring)
	}
	r.m[spanID] = traceID
	r.mu.Unlock()
}

// TraceID implements SpanIndex.
func (r *RingIndex) TraceID(spanID trace.SpanID) (trace.TraceID, bool) {
	r.mu.Lock()
	t, ok := r.m[spanID]
	r.mu.Unlock()
	return t, ok
}

// Len reports how many spans are remembered.
func (r *RingIndex) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// defaultIndexSize covers 10 s windows up to ~3,000 requests/s; beyond that the trace_id label,
// which otel-profiling-go v0.7.0 sets anyway, is what links samples. 32k entries is about 2 MB.
const defaultIndexSize = 1 << 15

// DefaultSpanIndex is filled by WrapTracerProvider and read by every Profiler.
var DefaultSpanIndex = NewRingIndex(defaultIndexSize)

// WrapTracerProvider returns tp wrapped so that the first local span of each request labels the
// goroutine's CPU samples with span_id / span_name / trace_id (otel-profiling-go) and its span id
// is remembered in DefaultSpanIndex. Install the result as the provider otelhttp uses.
func WrapTracerProvider(tp trace.TracerProvider, opts ...otelpyroscope.Option) trace.TracerProvider {
	return &tracerProvider{tp: otelpyroscope.NewTracerProvider(tp, opts...), index: DefaultSpanIndex}
}

type tracerProvider struct {
	embedded.TracerProvider
	tp    trace.TracerProvider
	index *RingIndex
}

func (p *tracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &tracer{tr: p.tp.Tracer(name, opts...), index: p.index}
}

type tracer struct {
	embedded.Tracer
	tr    trace.Tracer
	index *RingIndex
}

func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	// Only local roots need remembering: they are the spans otel-profiling-go puts in span_id.
	// Checking before Start keeps the per-span cost of every child span at one context lookup.
	parent := trace.SpanContextFromContext(ctx)
	localRoot := !parent.IsValid() || parent.IsRemote()
	ctx, span := t.tr.Start(ctx, name, opts...)
	if localRoot {
		if sc := span.SpanContext(); sc.IsSampled() {
			t.index.Put(sc.SpanID(), sc.TraceID())
		}
	}
	return ctx, span
}
