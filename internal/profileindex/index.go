// Package profileindex keeps recent profile samples indexed by the span
// they belong to, so that an alert for a slow span can carry the profile of
// that very request.
//
// Samples arrive as OTLP profiles. A sample belongs to a span through its
// link ({trace_id, span_id} in the dictionary's link table), or else through
// a span_id sample attribute (process.context.label.span_id as the eBPF
// profiler reports Go pprof labels, or span_id), checked against a trace_id
// attribute when one is present.
//
// Each sample keeps its kind, read from its profile's sample type: "wall"
// (spanprofiler's wall-clock profile, sent beside the CPU one in the same
// message) is KindWall, "off_cpu" (the OpenTelemetry eBPF profiler's
// off-CPU profile; "offcpu" and "off-cpu" too) is KindOffCPU, anything else
// is CPU time. Summarize takes its CPU figures from the CPU samples only,
// and from the others the time the request waited and where. A sample also
// keeps each frame's "file.go:42" when the profile has line numbers, and
// the first maxTimesPerSample timestamps of its ticks, so that a tick can
// be placed in the request's timeline. The slowspan.go.main_module resource
// attribute, the app's Go main module path, tells the app's own code from
// its dependencies (AppCode).
//
// Memory is bounded in bytes and in samples, both enforced while a message
// is read: the oldest spans' samples make room first, and once the samples
// of the message being read fill the budget, the rest of the message is
// dropped unread. Names, lines, timestamps and main modules count in the
// bytes. The work is bounded per message: each stack, location and function
// of a message is resolved once. Samples also expire after a time to live.
package profileindex

import (
	"container/list"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// DefaultMaxBytes is the default memory budget of an Index.
const DefaultMaxBytes = 32 << 20

// Settings bound an Index.
type Settings struct {
	MaxSamples int
	// MaxBytes bounds the memory the index holds; <= 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	TTL      time.Duration
}

// Kind says what a sample measures.
type Kind uint8

const (
	// KindCPU: time on CPU (a CPU profile).
	KindCPU Kind = iota
	// KindWall: wall-clock time, whether the goroutine ran or waited (a
	// goroutine-sampling profile such as spanprofiler's "wall" profile).
	// Whether it waited is read from its leaf frames (see Waiting).
	KindWall
	// KindOffCPU: time off CPU only (an off-CPU profile).
	KindOffCPU
)

// Sample is one stack with its time. Profilers often aggregate: one sample
// may stand for several ticks (Count).
type Sample struct {
	// Frames, leaf first, are shared by the samples of the same stack:
	// read only. Lines, when not nil, is parallel to Frames: each frame's
	// "file.go:42", or "" when unknown; shared and read only as well.
	Frames []string
	Lines  []string
	// CPU is the sample's time: on CPU for KindCPU, wall-clock or off-CPU
	// time for the other kinds.
	CPU   time.Duration
	Count int64
	Kind  Kind
	// Times are the unix nanos of the sample's ticks when the profiler
	// recorded them (at most maxTimesPerSample), so a tick can be placed
	// inside or outside a child span; nil otherwise.
	Times []int64
}

// Source names how samples were tied to spans.
const (
	SourceLink      = "otlp_link"
	SourceAttribute = "span_id_attribute"
)

// Samples are the samples of one span.
type Samples struct {
	TraceID pcommon.TraceID
	Source  string
	Samples []Sample
	// MainModule is the Go main module path of the app the samples came
	// from (a resource attribute spanprofiler sets), empty when unknown:
	// it tells the app's own code from third-party modules.
	MainModule string
}

// maxSamplesPerSpan bounds one span: 10,000 samples is 100 s of CPU at
// 100 Hz, more than any request an alert is about.
const maxSamplesPerSpan = 10000

// chunk is the memory one message's samples share: the frame slices and
// function names resolved from its dictionary. It is accounted once, while
// any entry holds samples of the message.
type chunk struct {
	bytes int64
	refs  int
}

type entry struct {
	spanID pcommon.SpanID
	s      Samples
	added  time.Time
	elem   *list.Element
	bytes  int64    // the entry and its samples, without the chunks
	chunks []*chunk // the messages its samples came from
	gen    uint64   // the last Add that touched it
}

// Index is safe for concurrent use.
type Index struct {
	settings Settings

	mu     sync.Mutex
	bySpan map[pcommon.SpanID]*entry
	order  *list.List // least recently added to first
	total  int
	bytes  int64
	gen    uint64
	steps  int // dictionary entries visited, for the tests of the work bound
}

// New returns an empty Index.
func New(s Settings) *Index {
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	return &Index{settings: s, bySpan: make(map[pcommon.SpanID]*entry), order: list.New()}
}

// Take removes and returns the samples of the span, nil when there are none.
// A sample recorded under another trace id is not returned.
func (ix *Index) Take(traceID pcommon.TraceID, spanID pcommon.SpanID) *Samples {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e, ok := ix.bySpan[spanID]
	if !ok || (!e.s.TraceID.IsEmpty() && e.s.TraceID != traceID) {
		return nil
	}
	ix.removeLocked(e)
	s := e.s
	return &s
}

// Expire drops the samples of spans that got none for the TTL. The
// component calls it on a timer, so memory is returned even when no more
// profiles arrive.
func (ix *Index) Expire(now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.expireLocked(now)
}

// Len is the number of samples held.
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.total
}

// Bytes is the memory the index accounts for what it holds.
func (ix *Index) Bytes() int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.bytes
}

func (ix *Index) expireLocked(now time.Time) {
	for ix.order.Len() > 0 {
		e := ix.order.Front().Value.(*entry)
		if ix.total <= ix.settings.MaxSamples && ix.bytes <= ix.settings.MaxBytes && now.Sub(e.added) < ix.settings.TTL {
			return
		}
		ix.removeLocked(e)
	}
}

func (ix *Index) removeLocked(e *entry) {
	ix.order.Remove(e.elem)
	delete(ix.bySpan, e.spanID)
	ix.total -= len(e.s.Samples)
	ix.bytes -= e.bytes
	for _, c := range e.chunks {
		ix.release(c)
	}
	e.chunks = nil
}

func (ix *Index) release(c *chunk) {
	c.refs--
	if c.refs == 0 {
		ix.bytes -= c.bytes
	}
}
