// Package profileindex keeps recent CPU profile samples indexed by the span
// they belong to, so that an alert for a slow span can carry the profile of
// that very request.
//
// Samples arrive as OTLP profiles. A sample belongs to a span through its
// link ({trace_id, span_id} in the dictionary's link table), or else through
// a span_id sample attribute (process.context.label.span_id as the eBPF
// profiler reports Go pprof labels, or span_id), checked against a trace_id
// attribute when one is present. Memory is bounded by a sample count and a
// time to live; the oldest spans' samples go first.
package profileindex

import (
	"container/list"
	"encoding/hex"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// Settings bound an Index.
type Settings struct {
	MaxSamples int
	TTL        time.Duration
}

// Sample is one stack with its CPU time. Profilers often aggregate: one
// sample may stand for several CPU ticks (Count).
type Sample struct {
	Frames []string // leaf first
	CPU    time.Duration
	Count  int64
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
}

type entry struct {
	spanID pcommon.SpanID
	s      Samples
	added  time.Time
	elem   *list.Element
}

// Index is safe for concurrent use.
type Index struct {
	settings Settings

	mu     sync.Mutex
	bySpan map[pcommon.SpanID]*entry
	order  *list.List // oldest first
	total  int
}

// New returns an empty Index.
func New(s Settings) *Index {
	return &Index{settings: s, bySpan: make(map[pcommon.SpanID]*entry), order: list.New()}
}

// Bounds on what one sample and one span may hold, against hostile or
// broken input. 10,000 samples is 100 s of CPU at 100 Hz: more than any
// request an alert is about.
const (
	maxFrames         = 256
	maxNameBytes      = 512
	maxSamplesPerSpan = 10000
)

// Add indexes the span-linked samples of pd and returns how many it kept.
// Malformed references (indices out of range) are skipped, never trusted.
func (ix *Index) Add(pd pprofile.Profiles, now time.Time) int {
	d := newDict(pd.Dictionary())
	type found struct {
		spanID pcommon.SpanID
		s      Samples
	}
	var batch []found
	pos := map[pcommon.SpanID]int{}

	rps := pd.ResourceProfiles()
	for i := 0; i < rps.Len(); i++ {
		sps := rps.At(i).ScopeProfiles()
		for j := 0; j < sps.Len(); j++ {
			profiles := sps.At(j).Profiles()
			for k := 0; k < profiles.Len(); k++ {
				p := profiles.At(k)
				unitNs, period := d.valueUnit(p)
				samples := p.Samples()
				for m := 0; m < samples.Len(); m++ {
					s := samples.At(m)
					traceID, spanID, source, ok := d.owner(s)
					if !ok {
						continue
					}
					frames := d.frames(s.StackIndex())
					if len(frames) == 0 {
						continue
					}
					cpu := sampleCPU(s, unitNs, period)
					if cpu <= 0 {
						continue
					}
					// Ticks this sample stands for: its timestamps, else its
					// CPU time over the period.
					count := int64(s.TimestampsUnixNano().Len())
					if count == 0 {
						count = max(1, int64((cpu+period/2)/period))
					}
					at, seen := pos[spanID]
					if !seen {
						at = len(batch)
						pos[spanID] = at
						batch = append(batch, found{spanID: spanID, s: Samples{TraceID: traceID, Source: source}})
					}
					batch[at].s.Samples = append(batch[at].s.Samples, Sample{Frames: frames, CPU: cpu, Count: count})
				}
			}
		}
	}
	if len(batch) == 0 {
		ix.Expire(now)
		return 0
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	kept := 0
	for _, f := range batch {
		e, ok := ix.bySpan[f.spanID]
		if !ok {
			e = &entry{spanID: f.spanID, s: Samples{TraceID: f.s.TraceID, Source: f.s.Source}}
			ix.bySpan[f.spanID] = e
			e.elem = ix.order.PushBack(e)
		}
		e.added = now
		ix.order.MoveToBack(e.elem)
		add := f.s.Samples[:min(len(f.s.Samples), max(maxSamplesPerSpan-len(e.s.Samples), 0))]
		e.s.Samples = append(e.s.Samples, add...)
		if e.s.TraceID.IsEmpty() {
			e.s.TraceID = f.s.TraceID
		}
		ix.total += len(add)
		kept += len(add)
	}
	ix.expireLocked(now)
	return kept
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

// Expire drops samples older than the TTL.
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

func (ix *Index) expireLocked(now time.Time) {
	for ix.order.Len() > 0 {
		e := ix.order.Front().Value.(*entry)
		if ix.total <= ix.settings.MaxSamples && now.Sub(e.added) < ix.settings.TTL {
			return
		}
		ix.removeLocked(e)
	}
}

func (ix *Index) removeLocked(e *entry) {
	ix.order.Remove(e.elem)
	delete(ix.bySpan, e.spanID)
	ix.total -= len(e.s.Samples)
}

// dict reads a ProfilesDictionary defensively.
type dict struct {
	d       pprofile.ProfilesDictionary
	strings pcommon.StringSlice
	names   map[int32]string // function index -> sanitised name
}

func newDict(d pprofile.ProfilesDictionary) *dict {
	return &dict{d: d, strings: d.StringTable(), names: map[int32]string{}}
}

func (d *dict) str(i int32) string {
	if i <= 0 || int(i) >= d.strings.Len() {
		return ""
	}
	return d.strings.At(int(i))
}

// valueUnit reports whether sample values are nanoseconds, and the period
// (nanoseconds per counted sample) for values that are counts.
func (d *dict) valueUnit(p pprofile.Profile) (unitNs bool, period time.Duration) {
	unitNs = d.str(p.SampleType().UnitStrindex()) == "nanoseconds"
	period = 10 * time.Millisecond // 100 Hz, the usual CPU profiling rate
	if p.Period() > 0 && d.str(p.PeriodType().UnitStrindex()) == "nanoseconds" {
		period = time.Duration(p.Period())
	}
	return unitNs, period
}

func sampleCPU(s pprofile.Sample, unitNs bool, period time.Duration) time.Duration {
	values := s.Values()
	if values.Len() == 0 {
		// Timestamps only: each one is one sample.
		return time.Duration(s.TimestampsUnixNano().Len()) * period
	}
	var v int64
	for i := 0; i < values.Len(); i++ {
		v += values.At(i)
	}
	if unitNs {
		return time.Duration(v)
	}
	return time.Duration(v) * period
}

// owner finds the span a sample belongs to.
func (d *dict) owner(s pprofile.Sample) (pcommon.TraceID, pcommon.SpanID, string, bool) {
	links := d.d.LinkTable()
	if li := s.LinkIndex(); li > 0 && int(li) < links.Len() {
		l := links.At(int(li))
		if !l.SpanID().IsEmpty() {
			return l.TraceID(), l.SpanID(), SourceLink, true
		}
	}
	var spanID pcommon.SpanID
	var traceID pcommon.TraceID
	attrs := d.d.AttributeTable()
	idx := s.AttributeIndices()
	for i := 0; i < idx.Len(); i++ {
		ai := idx.At(i)
		if ai <= 0 || int(ai) >= attrs.Len() {
			continue
		}
		kv := attrs.At(int(ai))
		switch d.str(kv.KeyStrindex()) {
		case "span_id", "process.context.label.span_id":
			decodeHex(kv.Value(), spanID[:])
		case "trace_id", "process.context.label.trace_id":
			decodeHex(kv.Value(), traceID[:])
		}
	}
	if spanID.IsEmpty() {
		return traceID, spanID, "", false
	}
	return traceID, spanID, SourceAttribute, true
}

func decodeHex(v pcommon.Value, dst []byte) {
	if v.Type() != pcommon.ValueTypeStr || len(v.Str()) != 2*len(dst) {
		return
	}
	var tmp [16]byte
	if _, err := hex.Decode(tmp[:len(dst)], []byte(v.Str())); err == nil {
		copy(dst, tmp[:len(dst)])
	}
}

// frames resolves a stack into function names, leaf first. Inlined
// functions of a location come innermost first, as in pprof.
func (d *dict) frames(stackIndex int32) []string {
	stacks := d.d.StackTable()
	if stackIndex <= 0 || int(stackIndex) >= stacks.Len() {
		return nil
	}
	locs := d.d.LocationTable()
	funcs := d.d.FunctionTable()
	idx := stacks.At(int(stackIndex)).LocationIndices()
	out := make([]string, 0, min(idx.Len(), maxFrames))
	for i := 0; i < idx.Len() && len(out) < maxFrames; i++ {
		li := idx.At(i)
		if li <= 0 || int(li) >= locs.Len() {
			continue
		}
		lines := locs.At(int(li)).Lines()
		if lines.Len() == 0 {
			out = append(out, "[unknown]")
			continue
		}
		for j := 0; j < lines.Len() && len(out) < maxFrames; j++ {
			fi := lines.At(j).FunctionIndex()
			name, ok := d.names[fi]
			if !ok {
				name = "[unknown]"
				if fi > 0 && int(fi) < funcs.Len() {
					if n := d.str(funcs.At(int(fi)).NameStrindex()); n != "" {
						name = clean(n)
					}
				}
				d.names[fi] = name
			}
			out = append(out, name)
		}
	}
	return out
}

// clean makes a function name valid UTF-8 and bounded.
func clean(s string) string {
	if len(s) > maxNameBytes {
		cut := maxNameBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.Clone(strings.ToValidUTF8(s, "\uFFFD"))
}
