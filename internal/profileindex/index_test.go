package profileindex

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

var (
	t0    = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	trace = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	span1 = pcommon.SpanID{1, 1, 1, 1, 1, 1, 1, 1}
	span2 = pcommon.SpanID{2, 2, 2, 2, 2, 2, 2, 2}
)

// builder writes an OTLP profile the way an exporter would: every table
// starts with its zero entry.
type builder struct {
	pd      pprofile.Profiles
	d       pprofile.ProfilesDictionary
	p       pprofile.Profile
	strings map[string]int32
	funcs   map[string]int32
}

func newBuilder(unit string) *builder {
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("")
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	b := &builder{pd: pd, d: d, strings: map[string]int32{"": 0}, funcs: map[string]int32{}}
	b.p = pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	b.setType("cpu", unit, int64(10*time.Millisecond))
	return b
}

// resource starts a new resource in the message, with the main module
// attribute when module is not empty, and a CPU profile in it.
func (b *builder) resource(module string) {
	rp := b.pd.ResourceProfiles().AppendEmpty()
	if module != "" {
		rp.Resource().Attributes().PutStr(MainModuleAttribute, module)
	}
	b.p = rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	b.setType("cpu", "nanoseconds", int64(10*time.Millisecond))
}

// profile starts another profile in the current resource, of the given
// sample type (unit nanoseconds) and period.
func (b *builder) profile(typ string, period time.Duration) {
	rp := b.pd.ResourceProfiles().At(b.pd.ResourceProfiles().Len() - 1)
	b.p = rp.ScopeProfiles().At(0).Profiles().AppendEmpty()
	b.setType(typ, "nanoseconds", int64(period))
}

func (b *builder) setType(typ, unit string, period int64) {
	b.p.SampleType().SetTypeStrindex(b.str(typ))
	b.p.SampleType().SetUnitStrindex(b.str(unit))
	b.p.PeriodType().SetTypeStrindex(b.str(typ))
	b.p.PeriodType().SetUnitStrindex(b.str("nanoseconds"))
	b.p.SetPeriod(period)
}

// last is the sample added last.
func (b *builder) last() pprofile.Sample { return b.p.Samples().At(b.p.Samples().Len() - 1) }

func (b *builder) str(s string) int32 {
	if i, ok := b.strings[s]; ok {
		return i
	}
	b.d.StringTable().Append(s)
	i := int32(b.d.StringTable().Len() - 1)
	b.strings[s] = i
	return i
}

// stack adds a stack of functions, leaf first, and returns its index. A
// frame may carry its file and line: "main.f /src/app/f.go:42".
func (b *builder) stack(leafFirst ...string) int32 {
	st := b.d.StackTable().AppendEmpty()
	for _, frame := range leafFirst {
		name, at, _ := strings.Cut(frame, " ")
		file, line := at, int64(0)
		if colon := strings.LastIndexByte(at, ':'); colon >= 0 {
			file = at[:colon]
			line, _ = strconv.ParseInt(at[colon+1:], 10, 64)
		}
		fi, ok := b.funcs[name]
		if !ok {
			f := b.d.FunctionTable().AppendEmpty()
			f.SetNameStrindex(b.str(name))
			f.SetFilenameStrindex(b.str(file))
			fi = int32(b.d.FunctionTable().Len() - 1)
			b.funcs[name] = fi
		}
		loc := b.d.LocationTable().AppendEmpty()
		l := loc.Lines().AppendEmpty()
		l.SetFunctionIndex(fi)
		l.SetLine(line)
		st.LocationIndices().Append(int32(b.d.LocationTable().Len() - 1))
	}
	return int32(b.d.StackTable().Len() - 1)
}

func (b *builder) linked(tid pcommon.TraceID, sid pcommon.SpanID, value int64, leafFirst ...string) {
	l := b.d.LinkTable().AppendEmpty()
	l.SetTraceID(tid)
	l.SetSpanID(sid)
	s := b.p.Samples().AppendEmpty()
	s.SetLinkIndex(int32(b.d.LinkTable().Len() - 1))
	s.SetStackIndex(b.stack(leafFirst...))
	s.Values().Append(value)
}

func (b *builder) labelled(key, spanHex string, value int64, leafFirst ...string) {
	a := b.d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(b.str(key))
	a.Value().SetStr(spanHex)
	s := b.p.Samples().AppendEmpty()
	s.AttributeIndices().Append(int32(b.d.AttributeTable().Len() - 1))
	s.SetStackIndex(b.stack(leafFirst...))
	s.Values().Append(value)
}

func TestIndexByLinkAndAttribute(t *testing.T) {
	b := newBuilder("nanoseconds")
	b.linked(trace, span1, int64(30*time.Millisecond), "main.burn", "main.handler", "net/http.(*conn).serve")
	b.linked(trace, span1, int64(10*time.Millisecond), "runtime.mallocgc", "main.handler", "net/http.(*conn).serve")
	b.labelled("process.context.label.span_id", "0202020202020202", int64(20*time.Millisecond), "main.other")
	// Unlinked and unlabelled: dropped.
	s := b.p.Samples().AppendEmpty()
	s.SetStackIndex(b.stack("main.nobody"))
	s.Values().Append(5)

	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	assert.Equal(t, 3, ix.Add(b.pd, t0).Kept)
	assert.Equal(t, 3, ix.Len())

	got := ix.Take(trace, span1)
	require.NotNil(t, got)
	assert.Equal(t, SourceLink, got.Source)
	require.Len(t, got.Samples, 2)
	assert.Equal(t, []string{"main.burn", "main.handler", "net/http.(*conn).serve"}, got.Samples[0].Frames)
	assert.Equal(t, 30*time.Millisecond, got.Samples[0].CPU)
	assert.EqualValues(t, 3, got.Samples[0].Count, "30 ms of CPU at a 10 ms period: 3 ticks")
	assert.EqualValues(t, 4, Summarize(got, time.Second).Samples, "3 + 1 ticks, not 2 aggregated records")
	assert.Nil(t, ix.Take(trace, span1), "taken once")

	got = ix.Take(trace, span2)
	require.NotNil(t, got, "attribute samples carry no trace id: any trace matches")
	assert.Equal(t, SourceAttribute, got.Source)
	assert.Equal(t, 0, ix.Len())
}

func TestTraceMismatchIsNotReturned(t *testing.T) {
	b := newBuilder("nanoseconds")
	b.linked(trace, span1, 100, "main.f")
	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	ix.Add(b.pd, t0)
	assert.Nil(t, ix.Take(pcommon.TraceID{9}, span1))
}

func TestCountValuesUseThePeriod(t *testing.T) {
	b := newBuilder("count")
	b.linked(trace, span1, 3, "main.f")
	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	ix.Add(b.pd, t0)
	assert.Equal(t, 30*time.Millisecond, ix.Take(trace, span1).Samples[0].CPU)
}

func TestBounds(t *testing.T) {
	ix := New(Settings{MaxSamples: 3, TTL: time.Minute})
	for i := range 5 {
		b := newBuilder("nanoseconds")
		b.linked(trace, pcommon.SpanID{byte(i + 1)}, 100, "main.f")
		ix.Add(b.pd, t0.Add(time.Duration(i)*time.Second))
	}
	assert.Equal(t, 3, ix.Len())
	assert.Nil(t, ix.Take(trace, pcommon.SpanID{1}), "oldest evicted by the sample bound")
	assert.NotNil(t, ix.Take(trace, pcommon.SpanID{5}))

	ix.Expire(t0.Add(10 * time.Minute))
	assert.Equal(t, 0, ix.Len(), "expired by the TTL")
}

func TestHostileIndicesAreSkipped(t *testing.T) {
	b := newBuilder("nanoseconds")
	b.linked(trace, span1, 100, "main.f")
	s := b.p.Samples().AppendEmpty()
	s.SetLinkIndex(999)
	s.SetStackIndex(-4)
	s.AttributeIndices().Append(77, -1)
	s.Values().Append(5)
	s = b.p.Samples().AppendEmpty()
	s.SetLinkIndex(1)
	s.SetStackIndex(9999)
	st := b.d.StackTable().AppendEmpty()
	st.LocationIndices().Append(12345, -2, 0)
	s = b.p.Samples().AppendEmpty()
	s.SetLinkIndex(1)
	s.SetStackIndex(int32(b.d.StackTable().Len() - 1))
	s.Values().Append(5)
	fn := b.d.FunctionTable().AppendEmpty()
	fn.SetNameStrindex(4242)
	loc := b.d.LocationTable().AppendEmpty()
	loc.Lines().AppendEmpty().SetFunctionIndex(int32(b.d.FunctionTable().Len() - 1))
	loc.Lines().AppendEmpty().SetFunctionIndex(-9)
	st = b.d.StackTable().AppendEmpty()
	st.LocationIndices().Append(int32(b.d.LocationTable().Len() - 1))
	s = b.p.Samples().AppendEmpty()
	s.SetLinkIndex(1)
	s.SetStackIndex(int32(b.d.StackTable().Len() - 1))
	s.Values().Append(5)

	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	assert.Equal(t, 2, ix.Add(b.pd, t0).Kept)
	got := ix.Take(trace, span1)
	require.NotNil(t, got)
	assert.Equal(t, []string{"[unknown]", "[unknown]"}, got.Samples[1].Frames)
}

func TestSummarize(t *testing.T) {
	s := &Samples{Source: SourceLink, Samples: []Sample{
		{Frames: []string{"main.burn", "main.handler", "net/http.(*conn).serve"}, CPU: 60 * time.Millisecond},
		{Frames: []string{"main.burn", "main.handler", "net/http.(*conn).serve"}, CPU: 30 * time.Millisecond},
		{Frames: []string{"runtime.mallocgc", "main.handler", "net/http.(*conn).serve"}, CPU: 10 * time.Millisecond},
	}}
	p := Summarize(s, 2*time.Second)
	require.NotNil(t, p)
	assert.Equal(t, 100*time.Millisecond, p.CPUTime)
	assert.Equal(t, 2*time.Second, p.WallTime)
	assert.EqualValues(t, 3, p.Samples)
	assert.Equal(t, "main.burn", p.TopFunctions[0].Name)
	assert.InDelta(t, 0.9, p.TopFunctions[0].Self, 1e-9)
	assert.Equal(t, "runtime.mallocgc", p.TopFunctions[1].Name)
	assert.Equal(t, "main.burn", p.HottestFrame)
	require.Len(t, p.Stacks, 2)
	assert.Equal(t, []string{"net/http.(*conn).serve", "main.handler", "main.burn"}, p.Stacks[0].Frames, "root first")
	assert.EqualValues(t, 90*time.Millisecond, p.Stacks[0].Value)

	parsed, err := profile.Parse(bytes.NewReader(p.Pprof))
	require.NoError(t, err)
	var fns []string
	for _, f := range parsed.Function {
		fns = append(fns, f.Name)
	}
	assert.Contains(t, fns, "main.burn")
	assert.Len(t, parsed.Sample, 3)

	assert.Nil(t, Summarize(nil, time.Second))
	assert.Nil(t, Summarize(&Samples{}, time.Second))
}

func TestIsAppCode(t *testing.T) {
	for name, want := range map[string]bool{
		"main.burn":                              true,
		"main.(*server).handle":                  true,
		"github.com/acme/shop/cart.(*Cart).Sum":  true,
		"example.com/app.work.func1":             true,
		"runtime.mallocgc":                       false,
		"net/http.(*conn).serve":                 false,
		"encoding/json.Marshal":                  false,
		"internal/poll.(*FD).Read":               false,
		"[unknown]":                              false,
		"":                                       false,
		"golang.org/x/net/http2.(*Framer).Write": true,
	} {
		assert.Equal(t, want, IsAppCode(name), name)
	}
}

func TestSamplesPerSpanAreCapped(t *testing.T) {
	b := newBuilder("nanoseconds")
	for range maxSamplesPerSpan + 50 {
		b.linked(trace, span1, 100, "main.f")
	}
	ix := New(Settings{MaxSamples: 1 << 20, TTL: time.Minute})
	assert.Equal(t, maxSamplesPerSpan, ix.Add(b.pd, t0).Kept)
	assert.Len(t, ix.Take(trace, span1).Samples, maxSamplesPerSpan)
}

func TestKinds(t *testing.T) {
	for _, tt := range []struct {
		typ  string
		want Kind
	}{
		{"wall", KindWall},
		{"off_cpu", KindOffCPU}, // the OpenTelemetry eBPF profiler
		{"offcpu", KindOffCPU},
		{"off-cpu", KindOffCPU},
		{"cpu", KindCPU},
		{"samples", KindCPU},
		{"", KindCPU},
		{"Wall", KindCPU},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			b := newBuilder("nanoseconds")
			b.linked(trace, span1, int64(10*time.Millisecond), "main.cpu")
			b.profile(tt.typ, 10*time.Millisecond)
			b.linked(trace, span1, int64(20*time.Millisecond), "main.other")
			ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
			require.Equal(t, 2, ix.Add(b.pd, t0).Kept)
			got := ix.Take(trace, span1).Samples
			assert.Equal(t, KindCPU, got[0].Kind, "the first profile is CPU")
			assert.Equal(t, tt.want, got[1].Kind)
			assert.Equal(t, 20*time.Millisecond, got[1].CPU)
		})
	}
}

func TestTimes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		times     []uint64
		wantTimes []int64
		wantCount int64
	}{
		{name: "none", wantCount: 3},
		{name: "each tick", times: []uint64{100, 300, 200}, wantTimes: []int64{100, 300, 200}, wantCount: 3},
		{name: "no unix times skipped", times: []uint64{0, 1 << 63, 7}, wantTimes: []int64{7}, wantCount: 3},
		{name: "none usable", times: []uint64{0}, wantCount: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBuilder("nanoseconds")
			b.profile("wall", 10*time.Millisecond)
			b.linked(trace, span1, int64(30*time.Millisecond), "runtime.gopark", "time.Sleep", "main.f")
			b.last().TimestampsUnixNano().FromRaw(tt.times)
			ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
			require.Equal(t, 1, ix.Add(b.pd, t0).Kept)
			got := ix.Take(trace, span1).Samples[0]
			assert.Equal(t, tt.wantTimes, got.Times)
			assert.Equal(t, tt.wantCount, got.Count)
			assert.Equal(t, KindWall, got.Kind)
		})
	}
}

// TestTimesAreCapped: a sample with a million timestamps keeps
// maxTimesPerSample of them, and the index accounts for what it keeps.
func TestTimesAreCapped(t *testing.T) {
	bytesOf := func(n int) (int64, Sample) {
		b := newBuilder("nanoseconds")
		b.profile("wall", 10*time.Millisecond)
		b.linked(trace, span1, int64(time.Second), "main.f")
		ts := make([]uint64, n)
		for i := range ts {
			ts[i] = uint64(i + 1)
		}
		b.last().TimestampsUnixNano().FromRaw(ts)
		ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
		require.Equal(t, 1, ix.Add(b.pd, t0).Kept)
		checkAccounting(t, ix)
		return ix.Bytes(), ix.Take(trace, span1).Samples[0]
	}
	without, _ := bytesOf(0)
	with, got := bytesOf(1_000_000)
	assert.Len(t, got.Times, maxTimesPerSample)
	assert.Equal(t, int64(maxTimesPerSample), got.Times[maxTimesPerSample-1])
	assert.EqualValues(t, 1_000_000, got.Count, "the ticks are still counted")
	assert.Equal(t, timesBytes(maxTimesPerSample), with-without, "the timestamps are accounted")
}

func TestMainModule(t *testing.T) {
	long := "github.com/acme/" + strings.Repeat("x", 1000)
	b := newBuilder("nanoseconds")
	b.linked(trace, span1, 100, "main.f") // a resource without the attribute
	b.resource("github.com/acme/shop")
	b.linked(trace, span1, 100, "main.f")
	b.linked(trace, span2, 100, "main.f")
	b.resource("github.com/acme/other")
	b.linked(trace, span2, 100, "main.f")
	b.resource("evil\x1b[31m\xff")
	b.linked(trace, pcommon.SpanID{3}, 100, "main.f")
	b.resource(long)
	b.linked(trace, pcommon.SpanID{4}, 100, "main.f")
	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	require.Equal(t, 6, ix.Add(b.pd, t0).Kept)
	checkAccounting(t, ix)
	assert.Equal(t, "github.com/acme/shop", ix.Take(trace, span1).MainModule, "set by a later resource")
	assert.Equal(t, "github.com/acme/shop", ix.Take(trace, span2).MainModule, "the first non-empty wins")
	assert.Equal(t, "evil[31m\uFFFD", ix.Take(trace, pcommon.SpanID{3}).MainModule, "sanitised")
	assert.Len(t, ix.Take(trace, pcommon.SpanID{4}).MainModule, maxModuleBytes, "capped")

	// A later message sets it on a span that had none.
	b = newBuilder("nanoseconds")
	b.linked(trace, span1, 100, "main.f")
	ix.Add(b.pd, t0)
	b = newBuilder("nanoseconds")
	b.resource("github.com/acme/shop")
	b.linked(trace, span1, 100, "main.f")
	ix.Add(b.pd, t0)
	checkAccounting(t, ix)
	got := ix.Take(trace, span1)
	assert.Len(t, got.Samples, 2)
	assert.Equal(t, "github.com/acme/shop", got.MainModule)
}

func TestLines(t *testing.T) {
	for _, tt := range []struct {
		name   string
		frames []string
		want   []string
	}{
		{
			name:   "file and line",
			frames: []string{"main.burn /src/app/burn.go:42", "main.handler /src/app/h.go:7"},
			want:   []string{"burn.go:42", "h.go:7"},
		},
		{
			name:   "some unknown",
			frames: []string{"runtime.futex", "main.burn /src/app/burn.go:0", "main.handler C:\\app\\h.go:7"},
			want:   []string{"", "", "h.go:7"},
		},
		{
			name:   "none known",
			frames: []string{"main.burn", "main.handler /src/app/:3"},
			want:   nil,
		},
		{
			name:   "hostile file name",
			frames: []string{"main.f /src/" + strings.Repeat("\xff", 5000) + "\x1bx.go:9"},
			want:   []string{"\uFFFDx.go:9"},
		},
		{
			name:   "long file name",
			frames: []string{"main.f /src/" + strings.Repeat("a", 5000) + ".go:9"},
			want:   []string{strings.Repeat("a", maxNameBytes) + ":9"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBuilder("nanoseconds")
			b.linked(trace, span1, 100, tt.frames...)
			ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
			require.Equal(t, 1, ix.Add(b.pd, t0).Kept)
			checkAccounting(t, ix)
			got := ix.Take(trace, span1).Samples[0]
			assert.Equal(t, tt.want, got.Lines)
			assert.Len(t, got.Frames, len(tt.frames))
		})
	}
}

// TestInlinedLines: a location's inlined functions each get their line,
// innermost first, and a location without lines gets "".
func TestInlinedLines(t *testing.T) {
	b := newBuilder("nanoseconds")
	b.stack("main.inner /app/a.go:1", "main.outer /app/b.go:2", "main.caller /app/c.go:3")
	// One location holding the three functions: inner inlined into outer.
	loc := b.d.LocationTable().AppendEmpty()
	for i, name := range []string{"main.inner", "main.outer"} {
		l := loc.Lines().AppendEmpty()
		l.SetFunctionIndex(b.funcs[name])
		l.SetLine(int64(10 + i))
	}
	inlined := int32(b.d.LocationTable().Len() - 1)
	b.d.LocationTable().AppendEmpty() // no lines: [unknown]
	st := b.d.StackTable().AppendEmpty()
	st.LocationIndices().Append(inlined, inlined+1, 3)
	l := b.d.LinkTable().AppendEmpty()
	l.SetTraceID(trace)
	l.SetSpanID(span1)
	s := b.p.Samples().AppendEmpty()
	s.SetLinkIndex(int32(b.d.LinkTable().Len() - 1))
	s.SetStackIndex(int32(b.d.StackTable().Len() - 1))
	s.Values().Append(100)

	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	require.Equal(t, 1, ix.Add(b.pd, t0).Kept)
	got := ix.Take(trace, span1).Samples[0]
	assert.Equal(t, []string{"main.inner", "main.outer", "[unknown]", "main.caller"}, got.Frames)
	assert.Equal(t, []string{"a.go:10", "b.go:11", "", "c.go:3"}, got.Lines)
}
