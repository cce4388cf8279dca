package spanprofiler

import (
	"crypto/rand"
	"errors"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
)

// Names this package writes into OTLP profiles: the contract with the collector side.
const (
	// AttrSpanID is the sample attribute holding the span_id label (16 hex digits), kept beside the
	// link so a consumer can match samples whose trace id could not be resolved.
	AttrSpanID = "span_id"
	// AttrSpanName is the sample attribute holding the span_name label (the local root span's name).
	AttrSpanName = "span_name"
	// AttrMainModule is the resource attribute holding the app's main module path (from
	// runtime/debug.ReadBuildInfo), so the collector can tell the app's own code from dependencies.
	AttrMainModule = "slowspan.go.main_module"
	// AttrBuildID is the mapping attribute for the executable's GNU build id (what runtime/pprof reports).
	AttrBuildID = "process.executable.build_id.gnu"

	// ScopeName is the instrumentation scope of the exported profiles.
	ScopeName = "github.com/slowspan/slowspan/spanprofiler"
)

// ConvertOptions tunes Convert.
type ConvertOptions struct {
	// Spans resolves trace ids for samples labelled with span_id but not trace_id. May be nil.
	Spans SpanIndex
	// Resource becomes the OTLP resource (service.name etc.). Nil means no attributes.
	Resource *resource.Resource
	// KeepUnlabelled keeps samples without a span_id label (unlinked). Default: drop them, since only
	// span-linked samples are useful to slowspan and they are usually the bulk of a profile.
	KeepUnlabelled bool
	// MainModule becomes the resource attribute AttrMainModule when not empty.
	MainModule string
}

// Convert turns a Go CPU profile into one OTLP profile. Each sample labelled span_id gets a link
// {trace_id, span_id} (trace id from the trace_id label, else opts.Spans) and the attributes
// span_id and span_name. It returns the profiles and the number of samples written.
func Convert(prof *profile.Profile, opts ConvertOptions) (pprofile.Profiles, int, error) {
	out, c, sp := newOutput(opts)
	if prof == nil {
		return out, 0, errors.New("spanprofiler: nil profile")
	}
	n, err := c.cpuProfile(sp.Profiles(), prof, opts)
	return out, n, err
}

// newOutput starts a message: the resource (with the main module), the scope and the dictionary.
func newOutput(opts ConvertOptions) (pprofile.Profiles, *converter, pprofile.ScopeProfiles) {
	out := pprofile.NewProfiles()
	c := newConverter(out.Dictionary())
	rp := out.ResourceProfiles().AppendEmpty()
	if opts.Resource != nil {
		putResource(rp.Resource().Attributes(), opts.Resource)
	}
	if opts.MainModule != "" {
		rp.Resource().Attributes().PutStr(AttrMainModule, opts.MainModule)
	}
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.Scope().SetName(ScopeName)
	return out, c, sp
}

// newProfile appends a profile with a random id, its time range and its sample and period type.
func (c *converter) newProfile(dst pprofile.ProfilesSlice, typ string, timeNanos, durNanos, period int64) pprofile.Profile {
	p := dst.AppendEmpty()
	var id pprofile.ProfileID
	_, _ = rand.Read(id[:])
	p.SetProfileID(id)
	p.SetTime(pcommon.Timestamp(timeNanos))
	p.SetDurationNano(uint64(max(durNanos, 0)))
	p.SampleType().SetTypeStrindex(c.str(typ))
	p.SampleType().SetUnitStrindex(c.str("nanoseconds"))
	p.PeriodType().SetTypeStrindex(c.str(typ))
	p.PeriodType().SetUnitStrindex(c.str("nanoseconds"))
	p.SetPeriod(period)
	return p
}

// cpuProfile appends the CPU profile of prof and returns its number of samples.
func (c *converter) cpuProfile(dst pprofile.ProfilesSlice, prof *profile.Profile, opts ConvertOptions) (int, error) {
	vi, period, err := cpuValueIndex(prof)
	if err != nil {
		return 0, err
	}
	p := c.newProfile(dst, "cpu", prof.TimeNanos, prof.DurationNanos, period)

	// Go already aggregates samples per (stack, labels); after dropping labels we do not export,
	// two pprof samples can collapse onto one OTLP key, so aggregate again.
	type sampleKey struct {
		stack, link int32
		attrs       string
	}
	byKey := map[sampleKey]int{}
	samples := p.Samples()
	for _, s := range prof.Sample {
		if vi >= len(s.Value) || s.Value[vi] == 0 {
			continue
		}
		link, attrs, labelled := c.spanRefs(firstLabel(s, LabelSpanID), firstLabel(s, LabelTraceID), firstLabel(s, LabelSpanName), opts.Spans)
		if !labelled && !opts.KeepUnlabelled {
			continue
		}
		stack := c.stack(s.Location)
		k := sampleKey{stack: stack, link: link, attrs: joinIdx(attrs)}
		if j, ok := byKey[k]; ok {
			v := samples.At(j).Values()
			v.SetAt(0, v.At(0)+s.Value[vi])
			continue
		}
		byKey[k] = samples.Len()
		o := samples.AppendEmpty()
		o.SetStackIndex(stack)
		o.SetLinkIndex(link)
		o.AttributeIndices().FromRaw(attrs)
		o.Values().Append(s.Value[vi])
	}
	return samples.Len(), nil
}

// spanRefs gives a sample's link (0 when the trace id is unknown) and its span_id and span_name
// attributes; labelled is false when spanHex is not a span id.
func (c *converter) spanRefs(spanHex, traceHex, name string, spans SpanIndex) (link int32, attrs []int32, labelled bool) {
	spanID, err := trace.SpanIDFromHex(spanHex)
	if err != nil {
		return 0, nil, false
	}
	traceID, tErr := trace.TraceIDFromHex(traceHex)
	if tErr != nil && spans != nil {
		var ok bool
		if traceID, ok = spans.TraceID(spanID); ok {
			tErr = nil
		}
	}
	if tErr == nil {
		link = c.link(traceID, spanID)
	}
	attrs = append(attrs, c.attr(AttrSpanID, spanHex))
	if name != "" {
		attrs = append(attrs, c.attr(AttrSpanName, name))
	}
	return link, attrs, true
}

// cpuValueIndex picks the cpu/nanoseconds value of a Go CPU profile (the other is samples/count).
func cpuValueIndex(prof *profile.Profile) (int, int64, error) {
	for i, st := range prof.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			return i, prof.Period, nil
		}
	}
	return 0, 0, errors.New("spanprofiler: profile has no cpu/nanoseconds sample type")
}

func firstLabel(s *profile.Sample, key string) string {
	if v := s.Label[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func joinIdx(idx []int32) string {
	var b strings.Builder
	for _, i := range idx {
		b.WriteString(strconv.Itoa(int(i)))
		b.WriteByte(',')
	}
	return b.String()
}

// converter builds the dictionary with maps: pprofile's Set* helpers scan linearly, and MergeTo into
// an empty destination breaks the index-0 rule. Every table starts with its zero value at index 0.
type converter struct {
	d         pprofile.ProfilesDictionary
	strings   map[string]int32
	functions map[functionKey]int32
	mappings  map[mappingKey]int32
	locations map[*profile.Location]int32
	// locAddrs dedups locations by (mapping, address) across profiles: the CPU profile and each
	// goroutine-profile snapshot carry their own *Location for the same PC.
	locAddrs map[[2]uint64]int32
	stacks   map[string]int32
	links    map[[24]byte]int32
	attrs    map[[2]string]int32
}

// mappingKey identifies a mapping by content: each parsed profile has its own *Mapping.
type mappingKey struct {
	start, limit, offset uint64
	file, buildID        string
}

type functionKey struct {
	name, system, file int32
	start              int64
}

func newConverter(d pprofile.ProfilesDictionary) *converter {
	c := &converter{
		d:         d,
		strings:   map[string]int32{"": 0},
		functions: map[functionKey]int32{{}: 0},
		mappings:  map[mappingKey]int32{},
		locations: map[*profile.Location]int32{},
		locAddrs:  map[[2]uint64]int32{},
		stacks:    map[string]int32{"": 0},
		links:     map[[24]byte]int32{},
		attrs:     map[[2]string]int32{},
	}
	d.StringTable().Append("")
	d.FunctionTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	return c
}

func (c *converter) str(s string) int32 {
	if i, ok := c.strings[s]; ok {
		return i
	}
	i := int32(c.d.StringTable().Len())
	c.d.StringTable().Append(s)
	c.strings[s] = i
	return i
}

func (c *converter) function(f *profile.Function) int32 {
	if f == nil {
		return 0
	}
	k := functionKey{name: c.str(f.Name), system: c.str(f.SystemName), file: c.str(f.Filename), start: f.StartLine}
	if i, ok := c.functions[k]; ok {
		return i
	}
	i := int32(c.d.FunctionTable().Len())
	fn := c.d.FunctionTable().AppendEmpty()
	fn.SetNameStrindex(k.name)
	fn.SetSystemNameStrindex(k.system)
	fn.SetFilenameStrindex(k.file)
	fn.SetStartLine(k.start)
	c.functions[k] = i
	return i
}

func (c *converter) mapping(m *profile.Mapping) int32 {
	if m == nil {
		return 0
	}
	k := mappingKey{start: m.Start, limit: m.Limit, offset: m.Offset, file: m.File, buildID: m.BuildID}
	if i, ok := c.mappings[k]; ok {
		return i
	}
	i := int32(c.d.MappingTable().Len())
	mp := c.d.MappingTable().AppendEmpty()
	mp.SetMemoryStart(m.Start)
	mp.SetMemoryLimit(m.Limit)
	mp.SetFileOffset(m.Offset)
	mp.SetFilenameStrindex(c.str(m.File))
	if m.BuildID != "" {
		mp.AttributeIndices().Append(c.attr(AttrBuildID, m.BuildID))
	}
	c.mappings[k] = i
	return i
}

func (c *converter) location(l *profile.Location) int32 {
	if i, ok := c.locations[l]; ok {
		return i
	}
	mi := c.mapping(l.Mapping)
	ak := [2]uint64{uint64(mi), l.Address}
	if i, ok := c.locAddrs[ak]; ok && l.Address != 0 {
		c.locations[l] = i
		return i
	}
	i := int32(c.d.LocationTable().Len())
	loc := c.d.LocationTable().AppendEmpty()
	loc.SetMappingIndex(mi)
	loc.SetAddress(l.Address)
	// pprof and OTLP agree: the first line is the innermost inlined frame, the last the caller.
	for _, ln := range l.Line {
		fi := c.function(ln.Function)
		ol := loc.Lines().AppendEmpty()
		ol.SetFunctionIndex(fi)
		ol.SetLine(ln.Line)
		ol.SetColumn(ln.Column)
	}
	c.locations[l] = i
	if l.Address != 0 {
		c.locAddrs[ak] = i
	}
	return i
}

// stack interns a stack; pprof lists locations leaf first, which is also OTLP's order.
func (c *converter) stack(locs []*profile.Location) int32 {
	idx := make([]int32, 0, len(locs))
	for _, l := range locs {
		if l != nil {
			idx = append(idx, c.location(l))
		}
	}
	k := joinIdx(idx)
	if i, ok := c.stacks[k]; ok {
		return i
	}
	i := int32(c.d.StackTable().Len())
	c.d.StackTable().AppendEmpty().LocationIndices().FromRaw(idx)
	c.stacks[k] = i
	return i
}

func (c *converter) link(t trace.TraceID, s trace.SpanID) int32 {
	var k [24]byte
	copy(k[:16], t[:])
	copy(k[16:], s[:])
	if i, ok := c.links[k]; ok {
		return i
	}
	i := int32(c.d.LinkTable().Len())
	l := c.d.LinkTable().AppendEmpty()
	l.SetTraceID(pcommon.TraceID(t))
	l.SetSpanID(pcommon.SpanID(s))
	c.links[k] = i
	return i
}

func (c *converter) attr(key, value string) int32 {
	k := [2]string{key, value}
	if i, ok := c.attrs[k]; ok {
		return i
	}
	i := int32(c.d.AttributeTable().Len())
	a := c.d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(c.str(key))
	a.Value().SetStr(value)
	c.attrs[k] = i
	return i
}

// putResource copies an SDK resource into pdata, keeping value types.
func putResource(dst pcommon.Map, res *resource.Resource) {
	for _, kv := range res.Attributes() {
		k := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.BOOL:
			dst.PutBool(k, kv.Value.AsBool())
		case attribute.INT64:
			dst.PutInt(k, kv.Value.AsInt64())
		case attribute.FLOAT64:
			dst.PutDouble(k, kv.Value.AsFloat64())
		case attribute.STRINGSLICE:
			s := dst.PutEmptySlice(k)
			for _, v := range kv.Value.AsStringSlice() {
				s.AppendEmpty().SetStr(v)
			}
		case attribute.INT64SLICE:
			s := dst.PutEmptySlice(k)
			for _, v := range kv.Value.AsInt64Slice() {
				s.AppendEmpty().SetInt(v)
			}
		case attribute.FLOAT64SLICE:
			s := dst.PutEmptySlice(k)
			for _, v := range kv.Value.AsFloat64Slice() {
				s.AppendEmpty().SetDouble(v)
			}
		case attribute.BOOLSLICE:
			s := dst.PutEmptySlice(k)
			for _, v := range kv.Value.AsBoolSlice() {
				s.AppendEmpty().SetBool(v)
			}
		default:
			dst.PutStr(k, kv.Value.String())
		}
	}
}
