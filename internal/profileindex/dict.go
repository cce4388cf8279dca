package profileindex

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/slowspan/slowspan/internal/safetext"
)

// Bounds on what one sample may hold, against hostile or broken input.
const (
	// maxFrames caps a stack: deeper stacks lose their root side. It also
	// caps the location indices walked per stack, valid or not.
	maxFrames    = 256
	maxNameBytes = 512
	// maxAttributes caps the attribute indices read per sample in search of
	// a span id: real profilers attach a handful.
	maxAttributes = 64
)

const unknownFrame = "[unknown]"

// dict reads one message's ProfilesDictionary defensively. Each stack and
// each function is resolved at most once per message, and the samples that
// share a stack share its frame slice: the work and the memory of a message
// follow its tables, not its sample count times its stack depth.
type dict struct {
	d       pprofile.ProfilesDictionary
	strings pcommon.StringSlice
	stacks  pprofile.StackSlice
	locs    pprofile.LocationSlice
	funcs   pprofile.FunctionSlice
	links   pprofile.LinkSlice
	attrs   pprofile.KeyValueAndUnitSlice

	// Memos, allocated on first use: 0 unresolved, -1 nothing usable,
	// k > 0 the k-th entry of frames or names. int32 keeps them at a
	// fraction of the size of the tables they shadow.
	stackMemo []int32
	funcMemo  []int32
	frames    []stackLines
	names     []string
	buf       []string
	// Lines are resolved per location, all of a location's at once (up to
	// maxFrames): locMemo's k > 0 says they start at lineStrs[k-1].
	locMemo   []int32
	lineStrs  []string
	lineBuf   []string
	formatBuf []byte

	// steps counts table entries visited, for the tests of the work bound.
	steps int
}

// stackLines are a resolved stack's frames and lines (nil when no line is
// known).
type stackLines struct{ frames, lines []string }

func newDict(d pprofile.ProfilesDictionary) *dict {
	return &dict{
		d:       d,
		strings: d.StringTable(),
		stacks:  d.StackTable(),
		locs:    d.LocationTable(),
		funcs:   d.FunctionTable(),
		links:   d.LinkTable(),
		attrs:   d.AttributeTable(),
	}
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

// kind reads what a profile's samples measure from its sample type: the
// spanprofiler names its wall-clock profile "wall", the OpenTelemetry eBPF
// profiler its off-CPU profile "off_cpu" (the other spellings are other
// profilers'). Anything else is taken for CPU time, as before kinds.
func (d *dict) kind(p pprofile.Profile) Kind {
	switch d.str(p.SampleType().TypeStrindex()) {
	case "wall":
		return KindWall
	case "off_cpu", "offcpu", "off-cpu":
		return KindOffCPU
	}
	return KindCPU
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
	if li := s.LinkIndex(); li > 0 && int(li) < d.links.Len() {
		l := d.links.At(int(li))
		if !l.SpanID().IsEmpty() {
			return l.TraceID(), l.SpanID(), SourceLink, true
		}
	}
	var spanID pcommon.SpanID
	var traceID pcommon.TraceID
	idx := s.AttributeIndices()
	for i := 0; i < min(idx.Len(), maxAttributes); i++ {
		d.steps++
		ai := idx.At(i)
		if ai <= 0 || int(ai) >= d.attrs.Len() {
			continue
		}
		kv := d.attrs.At(int(ai))
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

// decodeHex fills dst from a hex string of exactly its length, or leaves it
// alone. It allocates nothing: it runs once per labelled sample.
func decodeHex(v pcommon.Value, dst []byte) {
	if v.Type() != pcommon.ValueTypeStr {
		return
	}
	s := v.Str()
	if len(s) != 2*len(dst) {
		return
	}
	var tmp [16]byte
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return
		}
		tmp[i] = hi<<4 | lo
	}
	copy(dst, tmp[:len(dst)])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// stack resolves a stack into function names, leaf first, and their
// "file.go:42" lines (nil when none is known), and reports the bytes it
// newly allocated (0 when the stack was resolved before in this message).
// Inlined functions of a location come innermost first, as in pprof. The
// results are shared by every sample of the stack: read only.
func (d *dict) stack(stackIndex int32) (frames, lines []string, bytes int64) {
	if stackIndex <= 0 || int(stackIndex) >= d.stacks.Len() {
		return nil, nil, 0
	}
	if d.stackMemo == nil {
		d.stackMemo = make([]int32, d.stacks.Len())
	}
	switch m := d.stackMemo[stackIndex]; {
	case m > 0:
		return d.frames[m-1].frames, d.frames[m-1].lines, 0
	case m < 0:
		return nil, nil, 0
	}
	d.stackMemo[stackIndex] = -1
	idx := d.stacks.At(int(stackIndex)).LocationIndices()
	depth := min(idx.Len(), maxFrames)
	// Frames and lines gather in buffers reused across the message's
	// stacks; only a usable stack gets a slice of its own, of its exact
	// size.
	buf, lbuf := d.buf[:0], d.lineBuf[:0]
	known := false // lbuf is filled from the first known line on
	for i := 0; i < depth && len(buf) < maxFrames; i++ {
		d.steps++
		li := idx.At(i)
		if li <= 0 || int(li) >= d.locs.Len() {
			continue
		}
		locLines := d.locs.At(int(li)).Lines()
		if locLines.Len() == 0 {
			buf = append(buf, unknownFrame)
			if known {
				lbuf = append(lbuf, "")
			}
			continue
		}
		resolved, b := d.location(li, locLines)
		bytes += b
		for j := 0; j < locLines.Len() && len(buf) < maxFrames; j++ {
			d.steps++
			name, b := d.function(locLines.At(j).FunctionIndex())
			bytes += b
			line := ""
			if j < len(resolved) {
				line = resolved[j]
			}
			if line != "" && !known {
				known = true
				for range buf {
					lbuf = append(lbuf, "")
				}
			}
			if known {
				lbuf = append(lbuf, line)
			}
			buf = append(buf, name)
		}
	}
	d.buf, d.lineBuf = buf, lbuf
	if len(buf) == 0 {
		return nil, nil, 0
	}
	n := len(buf)
	if known {
		// One allocation for both, frames first: they live and die
		// together. Grow rounds the capacity up to the size class.
		all := slices.Grow([]string(nil), 2*n)[:2*n]
		copy(all, buf)
		copy(all[n:], lbuf)
		frames, lines = all[:n:n], all[n:]
		bytes += framesBytes(cap(all)) + sliceHeaderBytes
	} else {
		frames = append([]string(nil), buf...) // cap rounded up to the size class
		bytes += framesBytes(cap(frames))
	}
	d.frames = append(d.frames, stackLines{frames, lines})
	d.stackMemo[stackIndex] = int32(len(d.frames))
	return frames, lines, bytes
}

// location resolves the "file.go:42" of each line of a location (at most
// maxFrames of them), nil when none is known, and reports the bytes it newly
// allocated. A location is resolved once per message, whatever the number
// of stacks through it.
func (d *dict) location(li int32, locLines pprofile.LineSlice) ([]string, int64) {
	if locLines.Len() == 1 && locLines.At(0).Line() <= 0 {
		return nil, 0 // nothing to resolve, nor to remember
	}
	if d.locMemo == nil {
		d.locMemo = make([]int32, d.locs.Len())
	}
	n := min(locLines.Len(), maxFrames)
	switch m := d.locMemo[li]; {
	case m > 0:
		return d.lineStrs[m-1 : int(m-1)+n], 0
	case m < 0:
		return nil, 0
	}
	d.locMemo[li] = -1
	start := len(d.lineStrs)
	var bytes int64
	known := false
	for j := 0; j < n; j++ {
		d.steps++
		line := d.line(locLines.At(j))
		if line != "" {
			known = true
			bytes += sizeClass(int64(len(line)))
		}
		d.lineStrs = append(d.lineStrs, line)
	}
	if !known {
		d.lineStrs = d.lineStrs[:start]
		return nil, 0
	}
	d.locMemo[li] = int32(start + 1)
	return d.lineStrs[start : start+n], bytes
}

// line formats a line's function file base name and line number as
// "file.go:42", sanitised, in a string of its own; "" when either is
// unknown.
func (d *dict) line(l pprofile.Line) string {
	fi := l.FunctionIndex()
	if l.Line() <= 0 || fi <= 0 || int(fi) >= d.funcs.Len() {
		return ""
	}
	file := d.str(d.funcs.At(int(fi)).FilenameStrindex())
	// The base name is at the end: looking at the end only bounds the work
	// of a huge path, which many locations may share.
	if len(file) > 4*maxNameBytes {
		file = file[len(file)-4*maxNameBytes:]
	}
	file = file[strings.LastIndexAny(file, "/\\")+1:]
	file, _ = safetext.Clean(file, maxNameBytes)
	if file == "" {
		return ""
	}
	d.formatBuf = append(d.formatBuf[:0], file...)
	d.formatBuf = append(d.formatBuf, ':')
	d.formatBuf = strconv.AppendInt(d.formatBuf, l.Line(), 10)
	return string(d.formatBuf)
}

// function resolves a function index into its sanitised name, and reports
// the bytes it newly allocated.
func (d *dict) function(fi int32) (string, int64) {
	if fi <= 0 || int(fi) >= d.funcs.Len() {
		return unknownFrame, 0
	}
	if d.funcMemo == nil {
		d.funcMemo = make([]int32, d.funcs.Len())
	}
	switch m := d.funcMemo[fi]; {
	case m > 0:
		return d.names[m-1], 0
	case m < 0:
		return unknownFrame, 0
	}
	n := d.str(d.funcs.At(int(fi)).NameStrindex())
	if n == "" {
		d.funcMemo[fi] = -1
		return unknownFrame, 0
	}
	name := clean(n)
	d.names = append(d.names, name)
	d.funcMemo[fi] = int32(len(d.names))
	return name, nameBytes(name)
}

// clean makes a function name valid UTF-8 and bounded, in a copy of its
// own: the index must not pin the request's string table.
func clean(s string) string {
	s, _ = safetext.Cut(s, maxNameBytes)
	return strings.Clone(strings.ToValidUTF8(s, "\uFFFD"))
}
