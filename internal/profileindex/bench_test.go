package profileindex

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// typicalMessage is one 10 s window of an app profiled at 100 Hz: samples of
// many requests over a few hundred stacks 30 frames deep.
func typicalMessage(samples, spans, stacks int) pprofile.Profiles {
	b := newBuilder("nanoseconds")
	ids := make([]int32, stacks)
	for i := range ids {
		frames := make([]string, 30)
		for j := range frames {
			frames[j] = fmt.Sprintf("github.com/acme/shop/pkg%d.(*T).Method%d", (i+j)%40, j)
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
	}{
		{"typical_1000_samples", 1000, 50, 200},
		{"large_20000_samples", 20000, 500, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pd := typicalMessage(bc.samples, bc.spans, bc.stacks)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ix := New(Settings{MaxSamples: 1 << 20, TTL: time.Minute})
				ix.Add(pd, t0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.samples), "ns/sample")
		})
	}
}
