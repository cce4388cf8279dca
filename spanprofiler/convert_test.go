package spanprofiler

import (
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
)

var (
	traceA = mustTraceID("0102030405060708090a0b0c0d0e0f10")
	spanA  = mustSpanID("1111111111111111")
	traceB = mustTraceID("a1a2a3a4a5a6a7a8a9aaabacadaeafb0")
	spanB  = mustSpanID("2222222222222222") // no trace_id label: resolved through the index
	spanC  = mustSpanID("3333333333333333") // no trace_id label, unknown to the index
)

func mustTraceID(s string) trace.TraceID {
	t, err := trace.TraceIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustSpanID(s string) trace.SpanID {
	t, err := trace.SpanIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return t
}

// testProfile is a Go-style CPU profile: main -> handler -> work (leaf), a second stack sharing
// functions, one unlabelled sample, one span without trace label.
func testProfile() *profile.Profile {
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x800000, File: "/app", BuildID: "abc123", HasFunctions: true}
	fMain := &profile.Function{ID: 1, Name: "main.main", SystemName: "main.main", Filename: "main.go", StartLine: 10}
	fHandler := &profile.Function{ID: 2, Name: "main.handler", SystemName: "main.handler", Filename: "main.go", StartLine: 20}
	fWork := &profile.Function{ID: 3, Name: "main.work", SystemName: "main.work", Filename: "work.go", StartLine: 5}
	// A second *Function with the same content, as a merged profile may have: must dedup.
	fWork2 := &profile.Function{ID: 4, Name: "main.work", SystemName: "main.work", Filename: "work.go", StartLine: 5}
	lMain := &profile.Location{ID: 1, Mapping: m, Address: 0x401000, Line: []profile.Line{{Function: fMain, Line: 12}}}
	lHandler := &profile.Location{ID: 2, Mapping: m, Address: 0x402000, Line: []profile.Line{{Function: fHandler, Line: 22}}}
	lWork := &profile.Location{ID: 3, Mapping: m, Address: 0x403000, Line: []profile.Line{{Function: fWork, Line: 7}}}
	lWork2 := &profile.Location{ID: 4, Mapping: m, Address: 0x403100, Line: []profile.Line{{Function: fWork2, Line: 9}}}
	return &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        10_000_000,
		TimeNanos:     1_700_000_000_000_000_000,
		DurationNanos: 10_000_000_000,
		Mapping:       []*profile.Mapping{m},
		Function:      []*profile.Function{fMain, fHandler, fWork, fWork2},
		Location:      []*profile.Location{lMain, lHandler, lWork, lWork2},
		Sample: []*profile.Sample{
			{ // span A, full labels
				Location: []*profile.Location{lWork, lHandler, lMain},
				Value:    []int64{3, 30_000_000},
				Label:    map[string][]string{"span_id": {spanA.String()}, "trace_id": {traceA.String()}, "span_name": {"GET /a"}},
			},
			{ // span A again on another stack, same functions through lWork2
				Location: []*profile.Location{lWork2, lHandler, lMain},
				Value:    []int64{1, 10_000_000},
				Label:    map[string][]string{"span_id": {spanA.String()}, "trace_id": {traceA.String()}, "span_name": {"GET /a"}},
			},
			{ // span B, trace id only through the index
				Location: []*profile.Location{lHandler, lMain},
				Value:    []int64{2, 20_000_000},
				Label:    map[string][]string{"span_id": {spanB.String()}},
			},
			{ // span C, trace unknown: kept, unlinked, with the span_id attribute
				Location: []*profile.Location{lMain},
				Value:    []int64{1, 10_000_000},
				Label:    map[string][]string{"span_id": {spanC.String()}},
			},
			{ // no span: dropped by default
				Location: []*profile.Location{lWork, lMain},
				Value:    []int64{5, 50_000_000},
				Label:    map[string][]string{"span_name": {"unsampled"}},
			},
		},
	}
}

type sampleView struct {
	link   pprofile.Link
	linked bool
	attrs  map[string]string
	funcs  []string // leaf first
	value  int64
}

func view(t *testing.T, pd pprofile.Profiles) []sampleView {
	t.Helper()
	d := pd.Dictionary()
	str := func(i int32) string { return d.StringTable().At(int(i)) }
	var out []sampleView
	require.Equal(t, 1, pd.ResourceProfiles().Len())
	p := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
	for _, s := range p.Samples().All() {
		v := sampleView{attrs: map[string]string{}, linked: s.LinkIndex() != 0}
		v.link = d.LinkTable().At(int(s.LinkIndex()))
		for _, ai := range s.AttributeIndices().All() {
			a := d.AttributeTable().At(int(ai))
			v.attrs[str(a.KeyStrindex())] = a.Value().Str()
		}
		for _, li := range d.StackTable().At(int(s.StackIndex())).LocationIndices().All() {
			loc := d.LocationTable().At(int(li))
			for _, ln := range loc.Lines().All() {
				v.funcs = append(v.funcs, str(d.FunctionTable().At(int(ln.FunctionIndex())).NameStrindex()))
			}
		}
		require.Equal(t, 1, s.Values().Len())
		v.value = s.Values().At(0)
		out = append(out, v)
	}
	return out
}

func TestConvertLinksAndStacks(t *testing.T) {
	idx := NewRingIndex(8)
	idx.Put(spanB, traceB)
	res := resource.NewSchemaless(attribute.String("service.name", "shop"), attribute.Int("n", 3))
	pd, n, err := Convert(testProfile(), ConvertOptions{Spans: idx, Resource: res})
	require.NoError(t, err)
	assert.Equal(t, 4, n)

	rp := pd.ResourceProfiles().At(0)
	name, ok := rp.Resource().Attributes().Get("service.name")
	require.True(t, ok)
	assert.Equal(t, "shop", name.Str())
	nv, _ := rp.Resource().Attributes().Get("n")
	assert.Equal(t, int64(3), nv.Int())
	assert.Equal(t, ScopeName, rp.ScopeProfiles().At(0).Scope().Name())

	p := rp.ScopeProfiles().At(0).Profiles().At(0)
	d := pd.Dictionary()
	assert.Equal(t, "cpu", d.StringTable().At(int(p.SampleType().TypeStrindex())))
	assert.Equal(t, "nanoseconds", d.StringTable().At(int(p.SampleType().UnitStrindex())))
	assert.Equal(t, int64(10_000_000), p.Period())
	assert.Equal(t, pcommon.Timestamp(1_700_000_000_000_000_000), p.Time())
	assert.Equal(t, uint64(10_000_000_000), p.DurationNano())
	assert.False(t, p.ProfileID().IsEmpty())

	s := view(t, pd)
	require.Len(t, s, 4)
	// Span A: linked with the labelled trace id, leaf first, cpu ns preserved.
	assert.True(t, s[0].linked)
	assert.Equal(t, pcommon.TraceID(traceA), s[0].link.TraceID())
	assert.Equal(t, pcommon.SpanID(spanA), s[0].link.SpanID())
	assert.Equal(t, []string{"main.work", "main.handler", "main.main"}, s[0].funcs)
	assert.Equal(t, int64(30_000_000), s[0].value)
	assert.Equal(t, map[string]string{"span_id": spanA.String(), "span_name": "GET /a"}, s[0].attrs)
	assert.Equal(t, s[0].link, s[1].link)
	assert.Equal(t, int64(10_000_000), s[1].value)
	// Span B: trace id from the index.
	assert.True(t, s[2].linked)
	assert.Equal(t, pcommon.TraceID(traceB), s[2].link.TraceID())
	assert.Equal(t, pcommon.SpanID(spanB), s[2].link.SpanID())
	assert.Equal(t, []string{"main.handler", "main.main"}, s[2].funcs)
	// Span C: no trace id anywhere, so no link, but the span id survives as an attribute.
	assert.False(t, s[3].linked)
	assert.Equal(t, spanC.String(), s[3].attrs["span_id"])
	// Same-sample links share one table entry: zero entry + A + B.
	assert.Equal(t, 3, d.LinkTable().Len())
}

func TestConvertDictionary(t *testing.T) {
	pd, _, err := Convert(testProfile(), ConvertOptions{})
	require.NoError(t, err)
	d := pd.Dictionary()

	// Index 0 of every table is the zero value.
	assert.Equal(t, "", d.StringTable().At(0))
	assert.True(t, d.FunctionTable().At(0).Equal(pprofile.NewFunction()))
	assert.True(t, d.LocationTable().At(0).Equal(pprofile.NewLocation()))
	assert.True(t, d.MappingTable().At(0).Equal(pprofile.NewMapping()))
	assert.True(t, d.LinkTable().At(0).Equal(pprofile.NewLink()))
	assert.Equal(t, 0, d.StackTable().At(0).LocationIndices().Len())
	assert.True(t, d.AttributeTable().At(0).Equal(pprofile.NewKeyValueAndUnit()))

	// Dedup: each string once, main.work once although two *Function carry it.
	seen := map[string]bool{}
	for _, s := range d.StringTable().All() {
		assert.False(t, seen[s], "string %q twice", s)
		seen[s] = true
	}
	names := map[string]int{}
	for i, f := range d.FunctionTable().All() {
		if i > 0 {
			names[d.StringTable().At(int(f.NameStrindex()))]++
		}
	}
	assert.Equal(t, map[string]int{"main.main": 1, "main.handler": 1, "main.work": 1}, names)
	// Both work locations point at the one main.work function.
	w1 := d.LocationTable().At(int(d.StackTable().At(1).LocationIndices().At(0)))
	assert.Equal(t, "main.work", d.StringTable().At(int(d.FunctionTable().At(int(w1.Lines().At(0).FunctionIndex())).NameStrindex())))
	assert.Equal(t, 2, d.MappingTable().Len())
	m := d.MappingTable().At(1)
	assert.Equal(t, uint64(0x400000), m.MemoryStart())
	assert.Equal(t, "/app", d.StringTable().At(int(m.FilenameStrindex())))
	require.Equal(t, 1, m.AttributeIndices().Len())
	ba := d.AttributeTable().At(int(m.AttributeIndices().At(0)))
	assert.Equal(t, AttrBuildID, d.StringTable().At(int(ba.KeyStrindex())))
	assert.Equal(t, "abc123", ba.Value().Str())

	// The result survives the wire format (which also validates indices on the receiving side).
	buf, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(pd)
	require.NoError(t, err)
	back, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(buf)
	require.NoError(t, err)
	assert.Equal(t, view(t, pd), view(t, back))
}

func TestConvertUnlabelled(t *testing.T) {
	prof := testProfile()
	_, n, err := Convert(prof, ConvertOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4, n, "unlabelled sample dropped")

	pd, n, err := Convert(prof, ConvertOptions{KeepUnlabelled: true})
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	last := view(t, pd)[4]
	assert.False(t, last.linked)
	assert.Empty(t, last.attrs)
	assert.Equal(t, int64(50_000_000), last.value)
}

func TestConvertAggregatesCollapsedSamples(t *testing.T) {
	prof := testProfile()
	// Same stack and span as sample 0 but another label we do not export: one OTLP sample.
	extra := *prof.Sample[0]
	extra.Label = map[string][]string{"span_id": {spanA.String()}, "trace_id": {traceA.String()}, "span_name": {"GET /a"}, "other": {"x"}}
	prof.Sample = append(prof.Sample, &extra)
	pd, n, err := Convert(prof, ConvertOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, int64(60_000_000), view(t, pd)[0].value)
}

func TestConvertErrors(t *testing.T) {
	_, _, err := Convert(nil, ConvertOptions{})
	assert.Error(t, err)
	_, _, err = Convert(&profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}}, ConvertOptions{})
	assert.Error(t, err)
}

func TestRingIndexBounded(t *testing.T) {
	idx := NewRingIndex(2)
	idx.Put(spanA, traceA)
	idx.Put(spanB, traceB)
	idx.Put(spanB, traceB) // refresh does not evict
	_, ok := idx.TraceID(spanA)
	assert.True(t, ok)
	idx.Put(spanC, traceA) // evicts A, the oldest
	_, ok = idx.TraceID(spanA)
	assert.False(t, ok)
	tb, ok := idx.TraceID(spanB)
	assert.True(t, ok)
	assert.Equal(t, traceB, tb)
	assert.Equal(t, 2, idx.Len())
}

func TestConvertMainModule(t *testing.T) {
	pd, _, err := Convert(testProfile(), ConvertOptions{MainModule: "example.com/shop"})
	require.NoError(t, err)
	v, ok := pd.ResourceProfiles().At(0).Resource().Attributes().Get(AttrMainModule)
	require.True(t, ok)
	assert.Equal(t, "example.com/shop", v.Str())

	pd, _, err = Convert(testProfile(), ConvertOptions{})
	require.NoError(t, err)
	_, ok = pd.ResourceProfiles().At(0).Resource().Attributes().Get(AttrMainModule)
	assert.False(t, ok, "omitted when unknown")
}

func TestConvertDedupsMappingsAndLocationsByContent(t *testing.T) {
	// Two parses of the same binary's profile carry distinct pointers for the same mapping and PC.
	prof := testProfile()
	m2 := *prof.Mapping[0]
	l2 := *prof.Sample[0].Location[0]
	l2.Mapping = &m2
	prof.Sample[0].Location = append([]*profile.Location{&l2}, prof.Sample[0].Location[1:]...)
	pd, _, err := Convert(prof, ConvertOptions{})
	require.NoError(t, err)
	d := pd.Dictionary()
	assert.Equal(t, 2, d.MappingTable().Len(), "zero entry + one mapping")
	addrs := map[uint64]int{}
	for i, l := range d.LocationTable().All() {
		if i > 0 {
			addrs[l.Address()]++
		}
	}
	for a, n := range addrs {
		assert.Equal(t, 1, n, "address %#x twice", a)
	}
}
