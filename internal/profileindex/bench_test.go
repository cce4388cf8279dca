package profileindex

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// typicalMessage is one 10 s window of an app profiled at 100 Hz: samples of
// many requests over a few hundred stacks 30 frames deep, with file and line
// numbers when lines is set.
func typicalMessage(samples, spans, stacks int, lines bool) pprofile.Profiles {
	b := newBuilder("nanoseconds")
	ids := make([]int32, stacks)
	for i := range ids {
		frames := make([]string, 30)
		for j := range frames {
			frames[j] = fmt.Sprintf("github.com/acme/shop/pkg%d.(*T).Method%d", (i+j)%40, j)
			if lines {
				frames[j] += fmt.Sprintf(" /src/shop/pkg%d/t%d.go:%d", (i+j)%40, j, 10+i%50)
			}
		}
		ids[i] = b.stack(frames...)
	}
	for i := range spans {
		l := b.d.LinkTable().AppendEmpty()
		l.SetTraceID(trace)
		l.SetSpanID(pcommon.SpanID{byte(i >> 8), byte(i), 1})
	}
	for i := range samples {
		s := b.p.Samples().AppendEmpty()
		s.SetLinkIndex(int32(1 + i%spans))
		s.SetStackIndex(ids[i%stacks])
		s.Values().Append(int64(10 * time.Millisecond))
	}
	return b.pd
}

func BenchmarkAdd(b *testing.B) {
	for _, bc := range []struct {
		name                   string
		samples, spans, stacks int
		lines                  bool
	}{
		{"typical_1000_samples", 1000, 50, 200, false},
		{"large_20000_samples", 20000, 500, 1000, false},
		{"typical_1000_samples_lines", 1000, 50, 200, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pd := typicalMessage(bc.samples, bc.spans, bc.stacks, bc.lines)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ix := New(Settings{MaxSamples: 1 << 20, TTL: time.Minute})
				ix.Add(pd, t0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.samples), "ns/sample")
		})
	}
}

// BenchmarkSummarize: the samples of one slow request, CPU and wall-clock,
// over a few dozen stacks 30 frames deep with lines.
func BenchmarkSummarize(b *testing.B) {
	ix := New(Settings{MaxSamples: 1 << 20, TTL: time.Minute})
	ix.Add(typicalMessage(2000, 1, 50, true), t0)
	s := ix.Take(trace, pcommon.SpanID{0, 0, 1})
	for i := range s.Samples {
		if i%2 == 1 {
			s.Samples[i].Kind = KindWall
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Summarize(s, time.Second)
	}
}
