package profileindex

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/slowspan/slowspan/internal/safetext"
)

// DropReason says why a sample of a message was not kept.
type DropReason int

const (
	// DropNoSpan: the sample is linked to no span.
	DropNoSpan DropReason = iota
	// DropInvalid: no usable stack, or no time.
	DropInvalid
	// DropPerSpanCap: its span holds maxSamplesPerSpan samples already.
	DropPerSpanCap
	// DropMaxSamples: the samples of its own message fill max_samples.
	DropMaxSamples
	// DropMaxBytes: the samples of its own message fill max_bytes.
	DropMaxBytes

	numDropReasons
)

// DropReasons lists every reason, in the order of AddStats.Dropped.
var DropReasons = [numDropReasons]DropReason{DropNoSpan, DropInvalid, DropPerSpanCap, DropMaxSamples, DropMaxBytes}

var dropReasonNames = [numDropReasons]string{"no_span", "invalid", "per_span_cap", "max_samples", "max_bytes"}

// String is the reason as metrics name it.
func (r DropReason) String() string {
	if r < 0 || r >= numDropReasons {
		return "unknown"
	}
	return dropReasonNames[r]
}

// AddStats count what Add did with the samples of a message.
type AddStats struct {
	Kept    int
	Dropped [numDropReasons]int
}

// Add indexes the span-linked samples of pd. Malformed references (indices
// out of range) are skipped, never trusted. The budget is enforced sample by
// sample: the oldest spans that got no sample from pd are evicted to make
// room, and once pd's own samples fill it the rest of pd is counted as
// dropped without being read.
//
// The lock is held for the whole message so that the budget is exact; the
// work is linear in the size of pd and bounded per sample.
func (ix *Index) Add(pd pprofile.Profiles, now time.Time) AddStats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.expireLocked(now)
	ix.gen++
	a := adder{ix: ix, d: newDict(pd.Dictionary()), now: now}
	var st AddStats
	full := false
	var fullReason DropReason
	rps := pd.ResourceProfiles()
	for i := 0; i < rps.Len(); i++ {
		a.module = ""
		if !full {
			a.module = mainModule(rps.At(i).Resource())
		}
		sps := rps.At(i).ScopeProfiles()
		for j := 0; j < sps.Len(); j++ {
			profiles := sps.At(j).Profiles()
			for k := 0; k < profiles.Len(); k++ {
				p := profiles.At(k)
				samples := p.Samples()
				if full {
					st.Dropped[fullReason] += samples.Len()
					continue
				}
				unitNs, period := a.d.valueUnit(p)
				kind := a.d.kind(p)
				for m := 0; m < samples.Len(); m++ {
					r, ok := a.add(samples.At(m), kind, unitNs, period)
					if ok {
						st.Kept++
						continue
					}
					st.Dropped[r]++
					if r == DropMaxBytes || r == DropMaxSamples {
						full, fullReason = true, r
						st.Dropped[r] += samples.Len() - m - 1
						break
					}
				}
			}
		}
	}
	ix.steps += a.d.steps
	return st
}

// adder is the state of one Add.
type adder struct {
	ix    *Index
	d     *dict
	now   time.Time
	chunk *chunk // created with the first sample kept
	// module is the main module of the resource being read, "" when it
	// names none.
	module string
}

// MainModuleAttribute is the resource attribute spanprofiler sets to the
// app's Go main module path.
const MainModuleAttribute = "slowspan.go.main_module"

// maxModuleBytes bounds a main module path: real ones are far shorter.
const maxModuleBytes = 256

// mainModule reads the main module of a resource, sanitised, in a copy of
// its own so as not to pin the message.
func mainModule(r pcommon.Resource) string {
	v, ok := r.Attributes().Get(MainModuleAttribute)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	s, _ := safetext.Cut(v.Str(), 4*maxModuleBytes)
	s, _ = safetext.Clean(s, maxModuleBytes)
	return strings.Clone(s)
}

// add keeps one sample, or says why not.
func (a *adder) add(s pprofile.Sample, kind Kind, unitNs bool, period time.Duration) (DropReason, bool) {
	ix := a.ix
	traceID, spanID, source, ok := a.d.owner(s)
	if !ok {
		return DropNoSpan, false
	}
	e := ix.bySpan[spanID]
	if e != nil && len(e.s.Samples) >= maxSamplesPerSpan {
		return DropPerSpanCap, false
	}
	cpu := sampleCPU(s, unitNs, period)
	if cpu <= 0 {
		return DropInvalid, false
	}
	frames, lines, shared := a.d.stack(s.StackIndex())
	if len(frames) == 0 {
		return DropInvalid, false
	}
	if a.chunk == nil {
		shared += chunkBytes
	}
	var tbuf [maxTimesPerSample]int64
	times := readTimes(s.TimestampsUnixNano(), &tbuf)
	// extra: what the sample and its entry hold beyond their fixed size.
	extra := timesBytes(len(times))
	adopt := a.module != "" && (e == nil || e.s.MainModule == "")
	if adopt {
		extra += moduleBytes(a.module)
	}
	own := sampleBytes + extra
	needsRef := e == nil || e.gen != ix.gen
	if e == nil {
		own += entryBytes - chunkRefBytes
	}
	if needsRef {
		own += chunkRefBytes
	}
	if e != nil && e.gen != ix.gen {
		// Touched before making room, so that it is not the one evicted.
		a.touch(e)
	}
	if r, ok := a.makeRoom(own + shared); !ok {
		return r, false
	}

	if a.chunk == nil {
		a.chunk = &chunk{}
	}
	a.chunk.bytes += shared
	if e == nil {
		e = &entry{spanID: spanID, s: Samples{TraceID: traceID, Source: source}, bytes: entryBytes - chunkRefBytes}
		e.elem = ix.order.PushBack(e)
		ix.bySpan[spanID] = e
		a.touch(e)
	}
	if needsRef {
		e.chunks = append(e.chunks, a.chunk)
		a.chunk.refs++
		e.bytes += chunkRefBytes
	}
	if e.s.TraceID.IsEmpty() {
		e.s.TraceID = traceID
	}
	if adopt {
		e.s.MainModule = a.module
	}
	// Ticks this sample stands for: its timestamps, else its CPU time over
	// the period.
	count := int64(s.TimestampsUnixNano().Len())
	if count == 0 {
		count = max(1, int64((cpu+period/2)/period))
	}
	smp := Sample{Frames: frames, Lines: lines, CPU: cpu, Count: count, Kind: kind}
	if len(times) > 0 {
		smp.Times = append([]int64(nil), times...)
	}
	e.s.Samples = append(e.s.Samples, smp)
	e.bytes += sampleBytes + extra
	ix.bytes += own + shared
	ix.total++
	return 0, true
}

// touch marks e as added to by this Add: the newest, not to be evicted
// while the message is read.
func (a *adder) touch(e *entry) {
	e.gen = a.ix.gen
	e.added = a.now
	a.ix.order.MoveToBack(e.elem)
}

// makeRoom evicts the least recently added spans, never one this message
// added to, until cost bytes and one sample fit.
func (a *adder) makeRoom(cost int64) (DropReason, bool) {
	ix := a.ix
	for ix.bytes+cost > ix.settings.MaxBytes || ix.total+1 > ix.settings.MaxSamples {
		front := ix.order.Front()
		if front == nil || front.Value.(*entry).gen == ix.gen {
			if ix.bytes+cost > ix.settings.MaxBytes {
				return DropMaxBytes, false
			}
			return DropMaxSamples, false
		}
		ix.removeLocked(front.Value.(*entry))
	}
	return 0, true
}

// maxTimesPerSample bounds the tick timestamps kept per sample: enough to
// place a sample's ticks in the request's timeline, and a hostile sample
// with a million timestamps costs no more than this.
const maxTimesPerSample = 64

// readTimes reads at most maxTimesPerSample timestamps into buf, skipping
// those that are no unix time (0, or past the int64 range).
func readTimes(ts pcommon.UInt64Slice, buf *[maxTimesPerSample]int64) []int64 {
	n := 0
	for i := 0; i < min(ts.Len(), maxTimesPerSample); i++ {
		if v := int64(ts.At(i)); v > 0 {
			buf[n] = v
			n++
		}
	}
	return buf[:n]
}
