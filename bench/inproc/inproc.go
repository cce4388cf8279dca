// Package inproc holds the in-process benchmarks, as plain functions so that
// `go test -bench` (bench_test.go) and cmd/benchreport (one process, medians
// and ratios) run the very same code.
package inproc

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/slowspan/slowspan/connector/slowspanconnector"
	"github.com/slowspan/slowspan/internal/workload"
	"github.com/slowspan/slowspan/processor/slowspanprocessor"
)

// Spans is the size of the benchmark batch.
const Spans = 10000

// Consumer is a started setup: the processor or connector under test.
type Consumer interface {
	consumer.Traces
	Shutdown(context.Context) error
}

// SlowspanConfig is the processor's default config plus the include list,
// without the storm cap: the comparison is about which spans are selected,
// and the workload alerts on more endpoints a minute than the cap lets out.
func SlowspanConfig() *slowspanprocessor.Config {
	cfg := slowspanprocessor.NewFactory().CreateDefaultConfig().(*slowspanprocessor.Config)
	cfg.Include = workload.SlowspanInclude()
	cfg.Alerts.MaxPerMinute = 0
	return cfg
}

// NewSlowspanProcessor creates and starts the processor through its factory.
func NewSlowspanProcessor(cfg *slowspanprocessor.Config, next consumer.Traces) (Consumer, error) {
	set := processortest.NewNopSettings(component.MustNewType("slowspan"))
	p, err := slowspanprocessor.NewFactory().CreateTraces(context.Background(), set, cfg, next)
	if err != nil {
		return nil, err
	}
	return p, p.Start(context.Background(), componenttest.NewNopHost())
}

// NewSlowspanConnector creates and starts the connector (the zero-copy
// placement) with the same config.
func NewSlowspanConnector(cfg *slowspanprocessor.Config, next consumer.Traces) (Consumer, error) {
	set := connectortest.NewNopSettings(component.MustNewType("slowspan"))
	c, err := slowspanconnector.NewFactory().CreateTracesToTraces(context.Background(), set, cfg, next)
	if err != nil {
		return nil, err
	}
	return c, c.Start(context.Background(), componenttest.NewNopHost())
}

// NewFilter creates and starts contrib filterprocessor v0.161.0 with the OTTL
// condition that keeps the same selection.
func NewFilter(next consumer.Traces) (Consumer, error) {
	f := filterprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(workload.FilterConfig()).Unmarshal(cfg); err != nil {
		return nil, err
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(component.MustNewType("filter")), cfg, next)
	if err != nil {
		return nil, err
	}
	return p, p.Start(context.Background(), componenttest.NewNopHost())
}

// perSpan reports ns/span and allocs/span. allocs counts only what the timed
// code allocated (the caller passes the mallocs it measured).
func perSpan(b *testing.B, mallocs uint64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/Spans, "ns/span")
	b.ReportMetric(float64(mallocs)/float64(b.N)/Spans, "allocs/span")
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// Floor reads what the cheapest possible selection must read: kind, start
// and end of every span.
func Floor(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	var sink uint64
	m0 := mallocs()
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
	perSpan(b, mallocs()-m0)
	runtime.KeepAlive(sink)
}

// FloorKey adds what any per-endpoint aggregation must read: the route
// and method attributes of every server span (a map lookup each, in pdata's
// layout of one heap object per attribute value), plus a read of their
// bytes. Quantile mode and spanmetrics both pay it; the span mode, which
// reads attributes of slow spans only, does not.
func FloorKey(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	var sink uint64
	m0 := mallocs()
	for b.Loop() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					if sp.Kind() != ptrace.SpanKindServer {
						continue
					}
					sink += uint64(sp.EndTimestamp() - sp.StartTimestamp())
					attrs := sp.Attributes()
					if v, ok := attrs.Get("http.route"); ok {
						r := v.Str()
						sink += uint64(len(r)) + uint64(r[len(r)-1])
					}
					if v, ok := attrs.Get("http.request.method"); ok {
						sink += uint64(v.Str()[0])
					}
				}
			}
		}
	}
	perSpan(b, mallocs()-m0)
	runtime.KeepAlive(sink)
}

// FloorPredicate adds the kind and duration test to the floor.
func FloorPredicate(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	slow := 0
	threshold := uint64(workload.Threshold)
	m0 := mallocs()
	for b.Loop() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					s, e := sp.StartTimestamp(), sp.EndTimestamp()
					if sp.Kind() == ptrace.SpanKindServer && e > s && uint64(e-s) >= threshold {
						slow++
					}
				}
			}
		}
	}
	perSpan(b, mallocs()-m0)
	runtime.KeepAlive(slow)
}

// steady runs a non-mutating setup over the batch in steady state: one
// untimed pass first, so every slow span's key has alerted and later ones
// are suppressed, as almost all are in production.
func steady(b *testing.B, td ptrace.Traces, c Consumer, err error) {
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(context.Background()) }()
	ctx := context.Background()
	if err := c.ConsumeTraces(ctx, td); err != nil {
		b.Fatal(err)
	}
	m0 := mallocs()
	for b.Loop() {
		if err := c.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, mallocs()-m0)
}

// nop swallows output without looking at it.
type nop struct{}

func (nop) ConsumeTraces(context.Context, ptrace.Traces) error { return nil }
func (nop) Capabilities() consumer.Capabilities                { return consumer.Capabilities{} }

// Slowspan is the processor (default config plus include) through its factory.
func Slowspan(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	c, err := NewSlowspanProcessor(SlowspanConfig(), nop{})
	steady(b, td, c, err)
}

// SlowspanFast is the processor on the batch with every span made fast
// (5-44 ms): the cost an ordinary span pays, to compare with Floor.
func SlowspanFast(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			sp := spans.At(k)
			if sp.EndTimestamp()-sp.StartTimestamp() >= pcommon.Timestamp(workload.Threshold) {
				sp.SetEndTimestamp(sp.StartTimestamp() + pcommon.Timestamp(20*time.Millisecond))
			}
		}
	}
	c, err := NewSlowspanProcessor(SlowspanConfig(), nop{})
	steady(b, td, c, err)
}

// SlowspanConnector is the connector with the same config.
func SlowspanConnector(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	c, err := NewSlowspanConnector(SlowspanConfig(), nop{})
	steady(b, td, c, err)
}

// FilterOTTL is contrib filterprocessor with the OTTL selection. It removes
// spans from the batch it is given, so every iteration gets a fresh copy made
// while the timer is stopped; mallocs are counted over the timed part only.
func FilterOTTL(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	c, err := NewFilter(nop{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(context.Background()) }()
	ctx := context.Background()
	var allocs uint64
	for b.Loop() {
		b.StopTimer()
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		m0 := mallocs()
		b.StartTimer()
		if err := c.ConsumeTraces(ctx, cp); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		allocs += mallocs() - m0
		b.StartTimer()
	}
	perSpan(b, allocs)
}

// GrowthKeys are the dedup state sizes of the growth benchmark.
var GrowthKeys = []int{10, 1000, 100000}

// Growth measures the processor's cost per span on the standard 10,000-span
// batch (one service) with `keys` distinct routes already in its dedup state.
// The slow spans of each iteration walk over all keys (100 per batch), so
// lookups touch the whole state, not the same hot entries; every one is a
// suppression, the steady state. It reports the heap the state holds.
func Growth(keys int) func(b *testing.B) {
	return func(b *testing.B) {
		cfg := SlowspanConfig()
		cfg.Dedup.MaxKeys = 2 * keys // no eviction: we measure lookups in a full state
		heap0 := heapInUse()
		c, err := NewSlowspanProcessor(cfg, nop{})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = c.Shutdown(context.Background()) }()
		ctx := context.Background()
		routes := growthRoutes(keys)
		// Prime: every route alerts once.
		for off := 0; off < keys; off += 1000 {
			if err := c.ConsumeTraces(ctx, primeBatch(routes, off, min(1000, keys-off))); err != nil {
				b.Fatal(err)
			}
		}
		heapKeys := heapInUse() - heap0
		td := workload.Batch(workload.Options{Spans: Spans, Services: 1, Routes: 200})
		slow := slowRouteValues(td)
		next := 0
		m0 := mallocs()
		for b.Loop() {
			// Point the 100 slow spans at the next 100 keys: two SetStr of
			// prebuilt strings each, about 0.2 ns per span of the batch, the
			// same at every size.
			for _, s := range slow {
				r := routes[next]
				s.route.SetStr(r)
				s.path.SetStr(r)
				next++
				if next == keys {
					next = 0
				}
			}
			if err := c.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
		}
		perSpan(b, mallocs()-m0)
		b.ReportMetric(float64(heapKeys)/float64(keys), "heapB/key")
		b.ReportMetric(float64(heapKeys)/(1<<20), "heapMiB")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func growthRoutes(keys int) []string {
	r := make([]string, keys)
	for i := range r {
		r[i] = fmt.Sprintf("/api/v1/growth%d/{id}", i)
	}
	return r
}

// primeBatch holds n slow server spans with routes[off:off+n], one service
// (service-0, as in the measured batch).
func primeBatch(routes []string, off, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "service-0")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetTraceID([16]byte{1, byte(i), byte(i >> 8), byte(off >> 16)})
		sp.SetSpanID(workload.SpanID(off + i))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(1500 * time.Millisecond)))
		sp.SetName("GET " + routes[off+i])
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutStr("http.route", routes[off+i])
		sp.Attributes().PutStr("url.path", routes[off+i])
	}
	return td
}

type slowAttrs struct{ route, path pcommon.Value }

// slowRouteValues returns the route and path values of the slow server spans
// of td, to be repointed in place.
func slowRouteValues(td ptrace.Traces) []slowAttrs {
	var out []slowAttrs
	sel := func(sp ptrace.Span) bool {
		return sp.Kind() == ptrace.SpanKindServer && sp.EndTimestamp()-sp.StartTimestamp() >= pcommon.Timestamp(workload.Threshold)
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			sp := spans.At(k)
			if !sel(sp) {
				continue
			}
			r, _ := sp.Attributes().Get("http.route")
			p, _ := sp.Attributes().Get("url.path")
			out = append(out, slowAttrs{r, p})
		}
	}
	return out
}
