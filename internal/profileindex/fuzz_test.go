package profileindex

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
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
	d.StringTable().Append("", "cpu", "nanoseconds", "count", "span_id", "trace_id")
	for i := range int(funcs) % 64 {
		d.StringTable().Append(strings.Repeat("f", int(nameLen)%2048) + string(rune('a'+i%26)) + "\xff")
	}
	for range int(funcs) % 64 {
		d.FunctionTable().AppendEmpty().SetNameStrindex(index(d.StringTable().Len()))
	}
	locs := int(depth)%300 + 1
	for range locs {
		loc := d.LocationTable().AppendEmpty()
		for range r.IntN(3) {
			loc.Lines().AppendEmpty().SetFunctionIndex(index(d.FunctionTable().Len()))
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
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetUnitStrindex(index(4)) // nanoseconds, count, or junk
	p.PeriodType().SetUnitStrindex(2)
	p.SetPeriod(r.Int64N(int64(20 * time.Millisecond)))
	for range int(samples) % 5000 {
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
	}
	return pd
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
				_ = Summarize(s, time.Second)
			}
		}
		ix.Expire(t0.Add(time.Hour))
		if ix.Len() != 0 || ix.Bytes() != 0 {
			t.Fatalf("after expiry: %d samples, %d bytes", ix.Len(), ix.Bytes())
		}
	})
}
