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
}

// Convert turns a Go CPU profile into one OTLP profile. Each sample labelled span_id gets a link
// {trace_id, span_id} (trace id from the trace_id label, else opts.Spans) and the attributes
// span_id and span_name. It returns the profiles and the number of samples written.
func Convert(prof *profile.Profile, opts ConvertOptions) (pprofile.Profiles, int, error) {
	out := pprofile.NewProfiles()
	if prof == nil {
		return out, 0, errors.New("spanprofiler: nil profile")
	}
	vi, period, err := cpuValueIndex(prof)
	if err != nil {
		return out, 0, err
	}

	c := newConverter(out.Dictionary())
	rp := out.ResourceProfiles().AppendEmpty()
	if opts.Resource != nil {
		putResource(rp.Resource().Attributes(), opts.Resource)
	}
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.Scope().SetName(ScopeName)
	p := sp.Profiles().AppendEmpty()
	var id pprofile.ProfileID
	_, _ = rand.Read(id[:])
	p.SetProfileID(id)
	p.SetTime(pcommon.Timestamp(prof.TimeNanos))
	p.SetDurationNano(uint64(max(prof.DurationNanos, 0)))
	p.SampleType().SetTypeStrindex(c.str("cpu"))
	p.SampleType().SetUnitStrindex(c.str("nanoseconds"))
	p.PeriodType().SetTypeStrindex(c.str("cpu"))
	p.PeriodType().SetUnitStrindex(c.str("nanoseconds"))
	p.SetPeriod(period)

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
		spanHex := firstLabel(s, LabelSpanID)
		spanID, spanErr := trace.SpanIDFromHex(spanHex)
		if spanErr != nil && !opts.KeepUnlabelled {
			continue
		}
		var link int32
		var attrs []int32
		if spanErr == nil {
			traceID, tErr := trace.TraceIDFromHex(firstLabel(s, LabelTraceID))
			if tErr != nil && opts.Spans != nil {
				var ok bool
				if traceID, ok = opts.Spans.TraceID(spanID); ok {
					tErr = nil
				}
			}
			if tErr == nil {
				link = c.link(traceID, spanID)
			}
			attrs = append(attrs, c.attr(AttrSpanID, spanHex))
			if name := firstLabel(s, LabelSpanName); name != "" {
				attrs = append(attrs, c.attr(AttrSpanName, name))
			}
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
	return out, samples.Len(), nil
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
	mappings  map[*profile.Mapping]int32
	locations map[*profile.Location]int32
	stacks    map[string]int32
	links     map[[24]byte]int32
	attrs     map[[2]string]int32
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
		mappings:  map[*profile.Mapping]int32{nil: 0},
		locations: map[*profile.Location]int32{},
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
	if i, ok := c.mappings[m]; ok {
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
	c.mappings[m] = i
	return i
}

func (c *converter) location(l *profile.Location) int32 {
	if i, ok := c.locations[l]; ok {
		return i
	}
	mi := c.mapping(l.Mapping)
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
