package profileindex

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// hostile is the shape of a message built to exhaust the index: many
// samples, each of its own span, over deep stacks of long function names.
type hostile struct {
	samples, stacks, depth, nameLen int
	// badLocations are out-of-range location indices leading each stack.
	badLocations int
	// times are the tick timestamps of each sample (a wall-clock profile).
	times int
	// lines gives each frame a file and a line number.
	lines bool
}

func (h hostile) build() pprofile.Profiles {
	b := newBuilder("nanoseconds")
	d := b.d
	funcs := make([]int32, h.depth)
	for i := range funcs {
		name := strings.Repeat(string(rune('a'+i%26)), h.nameLen) + "." + strings.Repeat("x", i%7)
		fn := d.FunctionTable().AppendEmpty()
		fn.SetNameStrindex(b.str(name))
		if h.lines {
			fn.SetFilenameStrindex(b.str("/src/" + name + ".go"))
		}
		funcs[i] = int32(d.FunctionTable().Len() - 1)
	}
	firstStack := int32(d.StackTable().Len())
	for s := range h.stacks {
		st := d.StackTable().AppendEmpty()
		for j := range h.badLocations {
			st.LocationIndices().Append(int32(1<<30 + j))
		}
		for i := range h.depth {
			loc := d.LocationTable().AppendEmpty()
			line := loc.Lines().AppendEmpty()
			line.SetFunctionIndex(funcs[(i+s)%len(funcs)])
			if h.lines {
				line.SetLine(int64(1000000 + i + s))
			}
			st.LocationIndices().Append(int32(d.LocationTable().Len() - 1))
		}
	}
	for i := range h.samples {
		l := d.LinkTable().AppendEmpty()
		l.SetTraceID(trace)
		l.SetSpanID(pcommon.SpanID{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 0xff})
		s := b.p.Samples().AppendEmpty()
		s.SetLinkIndex(int32(d.LinkTable().Len() - 1))
		s.SetStackIndex(firstStack + int32(i%max(h.stacks, 1)))
		s.Values().Append(int64(10 * time.Millisecond))
		for j := range h.times {
			s.TimestampsUnixNano().Append(uint64(j + 1))
		}
	}
	return b.pd
}

// TestHostileMessageStaysInBudget: a message whose samples would take
// hundreds of MiB as separate frame lists keeps the index within max_bytes,
// and Add allocates in proportion to the budget, not to the message.
func TestHostileMessageStaysInBudget(t *testing.T) {
	const maxBytes = 2 << 20
	for name, h := range map[string]hostile{
		"one deep stack":       {samples: 20000, stacks: 1, depth: 300, nameLen: 600},
		"many deep stacks":     {samples: 20000, stacks: 2000, depth: 300, nameLen: 600},
		"bad indices in front": {samples: 20000, stacks: 500, depth: 40, nameLen: 100, badLocations: 200},
		"many timestamps":      {samples: 20000, stacks: 50, depth: 10, nameLen: 10, times: 200},
		"deep stacks, lines":   {samples: 20000, stacks: 2000, depth: 300, nameLen: 600, lines: true},
		"lines and timestamps": {samples: 20000, stacks: 200, depth: 30, nameLen: 20, lines: true, times: 64},
	} {
		t.Run(name, func(t *testing.T) {
			pd := h.build()
			ix := New(Settings{MaxSamples: 1 << 20, MaxBytes: maxBytes, TTL: time.Minute})

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			st := ix.Add(pd, t0)
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(pd)

			assert.LessOrEqual(t, ix.Bytes(), int64(maxBytes), "accounted bytes within max_bytes")
			assert.Equal(t, h.samples, st.Kept+sum(st.Dropped[:]), "every sample is kept or counted as dropped")
			assert.Positive(t, st.Kept)
			checkAccounting(t, ix)
			retained := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("kept %d, dropped %v, accounted %d B, heap retained %d B, allocated %d B",
				st.Kept, st.Dropped, ix.Bytes(), retained, allocated)
			// Generous margins: GC timing and the runtime's own allocations.
			assert.Less(t, retained, ix.Bytes()+256<<10, "the accounted bytes bound the heap the index retains")
			assert.Less(t, retained, int64(2*maxBytes+1<<20), "heap retained by the index")
			assert.Less(t, allocated, uint64(4*maxBytes+1<<20), "heap allocated while reading the message")
		})
	}
}

// TestBudgetEvictsOlderSpansFirst: a later message makes room by evicting
// the oldest spans, never its own samples; what it cannot fit is counted.
func TestBudgetEvictsOlderSpansFirst(t *testing.T) {
	ix := New(Settings{MaxSamples: 1 << 20, MaxBytes: 256 << 10, TTL: time.Minute})
	first := ix.Add(hostile{samples: 100000, stacks: 1, depth: 3, nameLen: 10}.build(), t0)
	require.Positive(t, first.Dropped[DropMaxBytes], "the first message alone fills the budget")
	held := ix.Len()

	b := newBuilder("nanoseconds")
	b.linked(trace, span1, 100, "main.late")
	st := ix.Add(b.pd, t0.Add(time.Second))
	assert.Equal(t, 1, st.Kept, "room is made by evicting older spans")
	assert.NotNil(t, ix.Take(trace, span1))
	assert.Less(t, ix.Len(), held)
	assert.LessOrEqual(t, ix.Bytes(), int64(256<<10))
	checkAccounting(t, ix)
}

// TestOutOfRangeIndicesCostLinearWork: samples over stacks of out-of-range
// location indices cost work in proportion to the message, whatever the
// number of samples sharing a stack.
func TestOutOfRangeIndicesCostLinearWork(t *testing.T) {
	const badPerStack = 50000
	message := func(samples, stacks int) pprofile.Profiles {
		b := newBuilder("nanoseconds")
		for s := range stacks {
			st := b.d.StackTable().AppendEmpty()
			for j := range badPerStack / stacks {
				st.LocationIndices().Append(int32(-1 - j - s))
			}
		}
		l := b.d.LinkTable().AppendEmpty()
		l.SetTraceID(trace)
		l.SetSpanID(span1)
		for i := range samples {
			s := b.p.Samples().AppendEmpty()
			s.SetLinkIndex(1)
			s.SetStackIndex(int32(1 + i%stacks))
			s.Values().Append(5)
		}
		return b.pd
	}
	for _, tt := range []struct {
		name            string
		samples, stacks int
	}{
		{"one stack", 1000, 1},
		{"one stack, 4x samples", 4000, 1},
		{"many stacks", 4000, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pd := message(tt.samples, tt.stacks)
			ix := New(Settings{MaxSamples: 1 << 20, TTL: time.Minute})
			st := ix.Add(pd, t0)
			assert.Equal(t, tt.samples, st.Dropped[DropInvalid])
			// Each stack is walked once, at most maxFrames deep; each
			// sample costs a constant.
			limit := tt.samples + tt.stacks*maxFrames
			assert.LessOrEqual(t, ix.steps, limit, "entries visited for %d samples over %d location indices", tt.samples, badPerStack)

			allocs := testing.AllocsPerRun(3, func() { ix.Add(pd, t0) })
			assert.Less(t, allocs, float64(64), "allocations do not grow with the samples of a skipped stack")
		})
	}
}

// TestSharedLocationsCostLinearWork: the lines of a location are resolved
// once per message, however many stacks go through it and however many
// inlined lines it claims.
func TestSharedLocationsCostLinearWork(t *testing.T) {
	const inlined = 100000
	message := func(samples, stacks int) pprofile.Profiles {
		b := newBuilder("nanoseconds")
		b.stack("main.f /src/app/f.go:1")
		fn := b.funcs["main.f"]
		loc := b.d.LocationTable().AppendEmpty()
		for j := range inlined {
			l := loc.Lines().AppendEmpty()
			l.SetFunctionIndex(fn)
			l.SetLine(int64(j + 1))
		}
		shared := int32(b.d.LocationTable().Len() - 1)
		for range stacks {
			st := b.d.StackTable().AppendEmpty()
			for range 2 * maxFrames {
				st.LocationIndices().Append(shared)
			}
		}
		l := b.d.LinkTable().AppendEmpty()
		l.SetTraceID(trace)
		l.SetSpanID(span1)
		for i := range samples {
			s := b.p.Samples().AppendEmpty()
			s.SetLinkIndex(1)
			s.SetStackIndex(int32(2 + i%stacks))
			s.Values().Append(5)
		}
		return b.pd
	}
	for _, tt := range []struct {
		name            string
		samples, stacks int
	}{
		{"one stack", 1000, 1},
		{"many stacks", 4000, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pd := message(tt.samples, tt.stacks)
			ix := New(Settings{MaxSamples: 1 << 20, TTL: time.Minute})
			st := ix.Add(pd, t0)
			require.Equal(t, tt.samples, st.Kept)
			checkAccounting(t, ix)
			got := ix.Take(trace, span1).Samples[0]
			assert.Len(t, got.Frames, maxFrames)
			assert.Equal(t, "f.go:256", got.Lines[maxFrames-1])
			// Each stack walks at most maxFrames frames and a location per
			// frame; the shared location's lines are resolved once.
			limit := tt.samples + tt.stacks*2*maxFrames + maxFrames
			assert.LessOrEqual(t, ix.steps, limit)
		})
	}
}

func TestExpireReturnsTheBytes(t *testing.T) {
	ttl := time.Minute
	ix := New(Settings{MaxSamples: 100, TTL: ttl})
	b := newBuilder("nanoseconds")
	b.linked(trace, span1, 100, "main.f", "main.g")
	b.linked(trace, span2, 100, "main.f", "main.g")
	require.Equal(t, 2, ix.Add(b.pd, t0).Kept)
	require.Positive(t, ix.Bytes())

	for _, tt := range []struct {
		at        time.Time
		wantLen   int
		wantEmpty bool
	}{
		{at: t0.Add(ttl - time.Nanosecond), wantLen: 2},
		{at: t0.Add(ttl), wantLen: 0, wantEmpty: true},
	} {
		ix.Expire(tt.at)
		assert.Equal(t, tt.wantLen, ix.Len(), "at %v", tt.at.Sub(t0))
		if tt.wantEmpty {
			assert.Zero(t, ix.Bytes(), "expired samples leave no accounted bytes")
		}
		checkAccounting(t, ix)
	}
}

func TestDropReasons(t *testing.T) {
	for _, tt := range []struct {
		name       string
		settings   Settings
		build      func(b *builder)
		wantKept   int
		wantReason DropReason
		wantDrops  int
	}{
		{
			name: "no span",
			build: func(b *builder) {
				s := b.p.Samples().AppendEmpty()
				s.SetStackIndex(b.stack("main.f"))
				s.Values().Append(5)
			},
			wantReason: DropNoSpan, wantDrops: 1,
		},
		{
			name: "no stack",
			build: func(b *builder) {
				b.linked(trace, span1, 5)
				b.linked(trace, span1, 5, "main.f")
			},
			wantKept: 1, wantReason: DropInvalid, wantDrops: 1,
		},
		{
			name:     "no cpu",
			build:    func(b *builder) { b.linked(trace, span1, 0, "main.f") },
			wantKept: 0, wantReason: DropInvalid, wantDrops: 1,
		},
		{
			name:     "max samples",
			settings: Settings{MaxSamples: 2},
			build: func(b *builder) {
				for range 5 {
					b.linked(trace, span1, 5, "main.f")
				}
			},
			wantKept: 2, wantReason: DropMaxSamples, wantDrops: 3,
		},
		{
			name:     "max bytes",
			settings: Settings{MaxBytes: 4 << 10},
			build: func(b *builder) {
				for i := range 100 {
					b.linked(trace, pcommon.SpanID{byte(i + 1)}, 5, "main.f")
				}
			},
			wantReason: DropMaxBytes,
		},
		{
			name: "per span cap",
			build: func(b *builder) {
				for range maxSamplesPerSpan + 3 {
					b.linked(trace, span1, 5, "main.f")
				}
			},
			wantKept: maxSamplesPerSpan, wantReason: DropPerSpanCap, wantDrops: 3,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.settings
			if s.MaxSamples == 0 {
				s.MaxSamples = 1 << 20
			}
			s.TTL = time.Minute
			ix := New(s)
			b := newBuilder("nanoseconds")
			tt.build(b)
			st := ix.Add(b.pd, t0)
			assert.Equal(t, b.p.Samples().Len(), st.Kept+sum(st.Dropped[:]))
			assert.Equal(t, ix.Len(), st.Kept, "kept means held")
			if tt.wantDrops > 0 {
				assert.Equal(t, tt.wantKept, st.Kept)
				assert.Equal(t, tt.wantDrops, st.Dropped[tt.wantReason], "dropped as %s", tt.wantReason)
			} else {
				assert.Positive(t, st.Kept)
				assert.Positive(t, st.Dropped[tt.wantReason], "dropped as %s", tt.wantReason)
			}
			checkAccounting(t, ix)
		})
	}
}

// TestFramesAreShared: within a message, the samples of one stack share
// one frame slice, whichever spans they belong to.
func TestFramesAreShared(t *testing.T) {
	b := newBuilder("nanoseconds")
	st := b.stack("main.f /app/f.go:1", "main.g", "main.h /app/h.go:3")
	for i := range 3 {
		l := b.d.LinkTable().AppendEmpty()
		l.SetTraceID(trace)
		l.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s := b.p.Samples().AppendEmpty()
		s.SetLinkIndex(int32(b.d.LinkTable().Len() - 1))
		s.SetStackIndex(st)
		s.Values().Append(5)
	}
	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	require.Equal(t, 3, ix.Add(b.pd, t0).Kept)
	a := ix.Take(trace, pcommon.SpanID{1}).Samples[0]
	c := ix.Take(trace, pcommon.SpanID{3}).Samples[0]
	assert.Equal(t, []string{"main.f", "main.g", "main.h"}, a.Frames)
	assert.Equal(t, []string{"f.go:1", "", "h.go:3"}, a.Lines)
	assert.Same(t, &a.Frames[0], &c.Frames[0], "one frame slice for the stack")
	assert.Same(t, &a.Lines[0], &c.Lines[0], "one line slice for the stack")
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// checkAccounting recomputes what the index accounts from its entries.
func checkAccounting(t *testing.T, ix *Index) {
	t.Helper()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var bytes int64
	samples := 0
	chunks := map[*chunk]int{}
	for _, e := range ix.bySpan {
		bytes += e.bytes
		samples += len(e.s.Samples)
		for _, c := range e.chunks {
			chunks[c]++
		}
	}
	for c, refs := range chunks {
		assert.Equal(t, refs, c.refs, "chunk references")
		bytes += c.bytes
	}
	assert.Equal(t, bytes, ix.bytes, "accounted bytes")
	assert.Equal(t, samples, ix.total, "samples")
	assert.Equal(t, len(ix.bySpan), ix.order.Len(), "entries")
	assert.LessOrEqual(t, ix.bytes, ix.settings.MaxBytes)
}
