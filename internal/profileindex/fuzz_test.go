package profileindex

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/slowspan/slowspan/alert"
)

// fuzzMessage builds an OTLP profiles message from fuzzed parameters: table
// sizes, stack depths, name lengths, and how often an index is out of range.
func fuzzMessage(seed uint64, samples, stacks, depth, funcs, nameLen, spans uint16, badRate uint8) pprofile.Profiles {
	r := rand.New(rand.NewPCG(seed, seed>>1|1))
	// Out of range now and then (by badRate/256), negative or past the end.
	index := func(n int) int32 {
		if int(r.IntN(256)) < int(badRate) {
			if r.IntN(2) == 0 {
				return -1 - r.Int32N(1000)
			}
			return int32(n) + r.Int32N(1000)
		}
		if n == 0 {
			return 0
		}
		return r.Int32N(int32(n))
	}
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "cpu", "nanoseconds", "count", "span_id", "trace_id", "wall", "off_cpu",
		"/src/app/main.go", "C:\\src\\x.go", strings.Repeat("/\xff", int(nameLen)%3000))
	for i := range int(funcs) % 64 {
		d.StringTable().Append(strings.Repeat("f", int(nameLen)%2048) + string(rune('a'+i%26)) + "\xff")
	}
	for range int(funcs) % 64 {
		fn := d.FunctionTable().AppendEmpty()
		fn.SetNameStrindex(index(d.StringTable().Len()))
		fn.SetFilenameStrindex(index(d.StringTable().Len())) // paths, junk and names alike
	}
	locs := int(depth)%300 + 1
	for range locs {
		loc := d.LocationTable().AppendEmpty()
		for range r.IntN(3) {
			l := loc.Lines().AppendEmpty()
			l.SetFunctionIndex(index(d.FunctionTable().Len()))
			l.SetLine(r.Int64N(1<<20) - 10)
		}
	}
	for range int(stacks)%64 + 1 {
		st := d.StackTable().AppendEmpty()
		for range r.IntN(int(depth)%400 + 1) {
			st.LocationIndices().Append(index(locs))
		}
	}
	for i := range int(spans)%200 + 1 {
		l := d.LinkTable().AppendEmpty()
		l.SetTraceID(pcommon.TraceID{byte(i), 1})
		l.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 1})
		kv := d.AttributeTable().AppendEmpty()
		kv.SetKeyStrindex(4)
		kv.Value().SetStr(strings.Repeat("0a", 8)[:16-2*(i%2)]) // every other one malformed
	}
	// A CPU profile and a wall-clock or off-CPU one, as spanprofiler and the
	// eBPF profiler send them, in resources that may name a main module.
	for k := range 2 {
		rp := pd.ResourceProfiles().AppendEmpty()
		switch r.IntN(3) {
		case 0:
			rp.Resource().Attributes().PutStr(MainModuleAttribute, "github.com/acme/shop")
		case 1:
			rp.Resource().Attributes().PutStr(MainModuleAttribute, strings.Repeat("m\xff\x1b", int(nameLen)%500))
		}
		p := rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
		typ := int32(1) // cpu
		if k == 1 {
			typ = []int32{6, 7, index(d.StringTable().Len())}[r.IntN(3)] // wall, off_cpu, or junk
		}
		p.SampleType().SetTypeStrindex(typ)
		p.SampleType().SetUnitStrindex(index(4)) // nanoseconds, count, or junk
		p.PeriodType().SetUnitStrindex(2)
		p.SetPeriod(r.Int64N(int64(20 * time.Millisecond)))
		fuzzSamples(r, p, index, int(samples)%5000/(k+1), d)
	}
	return pd
}

func fuzzSamples(r *rand.Rand, p pprofile.Profile, index func(int) int32, n int, d pprofile.ProfilesDictionary) {
	for range n {
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(index(d.StackTable().Len()))
		if r.IntN(4) == 0 {
			s.AttributeIndices().Append(index(d.AttributeTable().Len()))
		} else {
			s.SetLinkIndex(index(d.LinkTable().Len()))
		}
		switch r.IntN(3) {
		case 0:
			s.Values().Append(r.Int64N(1<<40) - 1<<20)
		case 1:
			s.TimestampsUnixNano().Append(uint64(r.Int64()))
		default:
			s.Values().Append(1, 2)
			s.TimestampsUnixNano().Append(1)
		}
		if r.IntN(8) == 0 { // a tick per timestamp, now and then far too many
			for range r.IntN(3 * maxTimesPerSample) {
				s.TimestampsUnixNano().Append(r.Uint64())
			}
		}
	}
}

// FuzzAdd: whatever the message, Add never panics, never holds more than
// its budget, and accounts for every sample.
func FuzzAdd(f *testing.F) {
	f.Add(uint64(1), uint16(100), uint16(4), uint16(30), uint16(20), uint16(10), uint16(8), uint8(0), uint32(1<<20), uint16(1000))
	f.Add(uint64(2), uint16(4000), uint16(63), uint16(299), uint16(63), uint16(2000), uint16(199), uint8(40), uint32(64<<10), uint16(1000))
	f.Add(uint64(3), uint16(2000), uint16(1), uint16(399), uint16(5), uint16(600), uint16(1), uint8(255), uint32(4096), uint16(3))
	f.Fuzz(func(t *testing.T, seed uint64, samples, stacks, depth, funcs, nameLen, spans uint16, badRate uint8, maxBytes uint32, maxSamples uint16) {
		pd := fuzzMessage(seed, samples, stacks, depth, funcs, nameLen, spans, badRate)
		ix := New(Settings{MaxSamples: int(maxSamples) + 1, MaxBytes: int64(maxBytes) + 1, TTL: time.Minute})
		for round := range 2 {
			st := ix.Add(pd, t0.Add(time.Duration(round)*time.Second))
			if got, want := st.Kept+sum(st.Dropped[:]), pd.SampleCount(); got != want {
				t.Fatalf("kept %d + dropped %v = %d, want the %d samples", st.Kept, st.Dropped, got, want)
			}
			if ix.Bytes() > int64(maxBytes)+1 {
				t.Fatalf("accounted %d bytes, over max_bytes %d", ix.Bytes(), int64(maxBytes)+1)
			}
			if ix.Len() > int(maxSamples)+1 {
				t.Fatalf("%d samples, over max_samples %d", ix.Len(), int(maxSamples)+1)
			}
			checkAccounting(t, ix)
		}
		for i := range int(spans)%200 + 1 {
			if s := ix.Take(pcommon.TraceID{byte(i), 1}, pcommon.SpanID{byte(i), byte(i >> 8), 1}); s != nil {
				checkSamples(t, s)
				checkSummary(t, Summarize(s, time.Second))
			}
		}
		ix.Expire(t0.Add(time.Hour))
		if ix.Len() != 0 || ix.Bytes() != 0 {
			t.Fatalf("after expiry: %d samples, %d bytes", ix.Len(), ix.Bytes())
		}
	})
}

// checkSamples checks what Add keeps of hostile input: bounded, valid text.
func checkSamples(t *testing.T, s *Samples) {
	t.Helper()
	if len(s.MainModule) > maxModuleBytes || !utf8.ValidString(s.MainModule) {
		t.Fatalf("main module %q", s.MainModule)
	}
	for _, smp := range s.Samples {
		if smp.Kind > KindOffCPU {
			t.Fatalf("kind %d", smp.Kind)
		}
		if len(smp.Times) > maxTimesPerSample {
			t.Fatalf("%d timestamps", len(smp.Times))
		}
		if smp.Lines != nil && len(smp.Lines) != len(smp.Frames) {
			t.Fatalf("%d lines for %d frames", len(smp.Lines), len(smp.Frames))
		}
		for _, l := range smp.Lines {
			if len(l) > maxNameBytes+21 || !utf8.ValidString(l) {
				t.Fatalf("line %q", l)
			}
		}
	}
}

// checkSummary checks the bounds of a summary, whatever its samples.
func checkSummary(t *testing.T, p *alert.Profile) {
	t.Helper()
	if p == nil {
		return
	}
	if len(p.ByAppCode) > topCodeGroups || len(p.Waiting) > topBlockers || p.WallSamples < 0 {
		t.Fatalf("%d code groups, %d blockers, %d wall samples", len(p.ByAppCode), len(p.Waiting), p.WallSamples)
	}
	for _, g := range p.ByAppCode {
		if len(g.Library) > topLibrary {
			t.Fatalf("%d library functions", len(g.Library))
		}
	}
	if p.CPUTime <= 0 && p.WallSamples == 0 {
		t.Fatalf("a profile with neither CPU time nor wall samples")
	}
}

// FuzzSummarize: whatever the samples a caller hands it (kinds out of
// range, lines shorter or longer than the frames, no frames, any time),
// Summarize never panics and keeps its bounds.
func FuzzSummarize(f *testing.F) {
	f.Add(uint64(1), uint16(100), uint8(5), "github.com/acme/shop")
	f.Add(uint64(2), uint16(3000), uint8(40), "")
	f.Add(uint64(3), uint16(10), uint8(255), "command-line-arguments")
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, depth uint8, module string) {
		r := rand.New(rand.NewPCG(seed, seed>>1|1))
		names := []string{"runtime.gopark", "runtime.goparkunlock", "time.Sleep", "sync.(*Mutex).Lock", "main.f",
			"github.com/acme/shop/cart.Sum", "github.com/acme/shopping.X", "net/http.(*conn).serve", "[unknown]", "", module}
		s := &Samples{MainModule: module}
		for range int(n) % 2000 {
			smp := Sample{Kind: Kind(r.IntN(4)), Count: r.Int64N(100) - 2, CPU: time.Duration(r.Int64N(1<<40) - 1<<20)}
			for range r.IntN(int(depth)%64 + 1) {
				smp.Frames = append(smp.Frames, names[r.IntN(len(names))])
			}
			if r.IntN(2) == 0 {
				for range r.IntN(len(smp.Frames) + 2) {
					smp.Lines = append(smp.Lines, fmt.Sprintf("f.go:%d", r.IntN(5)))
				}
			}
			s.Samples = append(s.Samples, smp)
			if r.IntN(4) == 0 { // the same stack again: shared slices
				again := smp
				again.CPU = time.Duration(r.Int64N(1 << 30))
				s.Samples = append(s.Samples, again)
			}
		}
		checkSummary(t, Summarize(s, time.Second))
	})
}
