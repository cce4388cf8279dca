package slowspanprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/slowspan/slowspan/internal/workload"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

const benchSpans = 10000

// benchBatch is the workload every slowspan benchmark uses (see
// internal/workload and BENCHMARKS.md): 10,000 spans in 10 services, traces
// of four spans with otelhttp's attributes, 1 % slow server spans.
func benchBatch() ptrace.Traces { return workload.Batch(workload.Options{Spans: benchSpans}) }

// BenchmarkFloor reads what the cheapest possible selection must read: kind,
// start and end of every span.
func BenchmarkFloor(b *testing.B) {
	td := benchBatch()
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					sink += uint64(sp.Kind()) + uint64(sp.EndTimestamp()-sp.StartTimestamp())
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchSpans, "ns/span")
	_ = sink
}

// BenchmarkFloorPredicate adds the kind and duration test to the floor.
func BenchmarkFloorPredicate(b *testing.B) {
	td := benchBatch()
	b.ReportAllocs()
	var slow int
	threshold := uint64(time.Second)
	for b.Loop() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					if sp.Kind() == ptrace.SpanKindServer && uint64(sp.EndTimestamp()-sp.StartTimestamp()) >= threshold {
						slow++
					}
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchSpans, "ns/span")
	_ = slow
}

// BenchmarkProcessTraces runs the processor over the batch in steady state:
// every slow span's endpoint has alerted already, so they are suppressed, as
// almost all are in production.
func BenchmarkProcessTraces(b *testing.B) {
	for _, tc := range []struct {
		name   string
		config func(*Config)
	}{
		{"defaults", func(*Config) {}},
		{"routes_and_filters", func(c *Config) {
			c.Routes = []RouteRule{{Match: "/api/v1/resource1*", Threshold: 2 * time.Second}}
			c.Include = []string{"/api/*"}
			c.Exclude = []string{"*/health", "/api/internal/*"}
		}},
		// Every server span updates its endpoint's window.
		{"quantile", func(c *Config) { c.Trigger.Mode = "quantile" }},
		{"ratio", func(c *Config) { c.Trigger.Mode = "ratio" }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			td := benchBatch()
			cfg := createDefaultConfig().(*Config)
			tc.config(cfg)
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = p.Shutdown(ctx) }()
			// First alerts. In the window modes an endpoint is judged once
			// its window holds min_count (20) requests: the slow endpoints'
			// incidents open during these passes, not in the timed loop.
			for range 25 {
				if err := p.ConsumeTraces(ctx, td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := p.ConsumeTraces(ctx, td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchSpans, "ns/span")
		})
	}
}

// BenchmarkFastSpans is the processor on a batch with no slow span at all:
// the cost every ordinary batch pays.
func BenchmarkFastSpans(b *testing.B) {
	td := benchBatch()
	// Make every span fast.
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			sp := spans.At(k)
			sp.SetEndTimestamp(sp.StartTimestamp() + pcommon.Timestamp(10*time.Millisecond))
		}
	}
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig().(*Config), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Shutdown(ctx) }()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchSpans, "ns/span")
}

func TestFastBatchAllocatesNothing(t *testing.T) {
	td := traces("shop", rd{"/a", time.Millisecond}, rd{"/b", 2 * time.Millisecond})
	p := newProcessor(t, createDefaultConfig().(*Config), processortest.NewNopSettings(metadata.Type), consumertest.NewNop())
	ctx := context.Background()
	if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown(ctx) }()
	if allocs := testing.AllocsPerRun(100, func() { _ = p.ConsumeTraces(ctx, td) }); allocs != 0 {
		t.Fatalf("a batch of fast spans allocated %v times", allocs)
	}
}

// BenchmarkChildCollection measures what a batch costs while alerts wait for
// their children (correlation.wait): every span's parent id is looked up
// among them. Compare with BenchmarkProcessTraces/defaults, the same batch
// with nothing pending; pending=N shows the growth with the waiting alerts.
func BenchmarkChildCollection(b *testing.B) {
	for _, pending := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Correlation.Wait = time.Hour
			cfg.Correlation.MaxPending = pending
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = p.Shutdown(ctx) }()
			// pending slow spans on distinct routes: they all wait.
			prime := ptrace.NewTraces()
			spans := prime.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			start := pcommon.NewTimestampFromTime(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
			for i := range pending {
				sp := spans.AppendEmpty()
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetTraceID(pcommon.TraceID{0xee, byte(i), byte(i >> 8)})
				sp.SetSpanID(pcommon.SpanID{0xee, byte(i), byte(i >> 8)})
				sp.SetStartTimestamp(start)
				sp.SetEndTimestamp(start + pcommon.Timestamp(2*time.Second))
				sp.Attributes().PutStr("http.route", fmt.Sprintf("/pending/%d/x", i))
			}
			if err := p.ConsumeTraces(ctx, prime); err != nil {
				b.Fatal(err)
			}
			// The measured batch: every span has a parent, so every span is
			// looked up; its slow spans are suppressed after the first round,
			// as in steady state.
			td := benchBatch()
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				ss := rss.At(i).ScopeSpans().At(0).Spans()
				for k := 1; k < ss.Len(); k++ {
					ss.At(k).SetParentSpanID(ss.At(k - 1).SpanID())
				}
			}
			if err := p.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := p.ConsumeTraces(ctx, td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchSpans, "ns/span")
		})
	}
}
