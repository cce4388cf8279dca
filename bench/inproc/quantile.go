package inproc

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/workload"
	"github.com/slowspan/slowspan/processor/slowspanprocessor"
)

// QuantileMinCount is trigger.min_count of SlowspanQuantileConfig: a key is
// judged once its window holds this many spans.
const QuantileMinCount = 20

// QuantileTrigger is the quantile-mode part of the config, as a user writes
// it (mapstructure keys next to threshold): fire when an endpoint's p95 over
// the last 5 minutes crosses the threshold, resolve after 10 quiet minutes.
func QuantileTrigger() map[string]any {
	return map[string]any{
		"trigger": map[string]any{
			"mode":      "quantile",
			"quantile":  0.95,
			"over":      "5m",
			"min_count": QuantileMinCount,
		},
		"resolve": map[string]any{"after": "10m"},
	}
}

// SlowspanQuantileConfig is SlowspanConfig (default config, include list,
// storm cap off) in quantile mode. The trigger is unmarshalled from a confmap
// rather than set on fields so that this compiles before the engine has
// them: until it does, the unmarshal fails with an unknown-key error, which
// is returned as is.
func SlowspanQuantileConfig() (*slowspanprocessor.Config, error) {
	cfg := slowspanprocessor.NewFactory().CreateDefaultConfig().(*slowspanprocessor.Config)
	if err := confmap.NewFromStringMap(QuantileTrigger()).Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("slowspan quantile mode: the engine does not take trigger/resolve (yet?): %w", err)
	}
	cfg.Include = workload.SlowspanInclude()
	cfg.Alerts.MaxPerMinute = 0
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("slowspan quantile mode: %w", err)
	}
	return cfg, nil
}

// CheckSlowspanQuantile builds, starts and warms the quantile-mode processor
// as SlowspanQuantile does, so that cmd/benchreport can fail with the reason
// before it runs anything (testing.Benchmark drops what b.Fatal says).
func CheckSlowspanQuantile() error {
	cfg, err := SlowspanQuantileConfig()
	if err != nil {
		return err
	}
	sink := new(incidentSink)
	c, err := NewSlowspanProcessor(cfg, sink)
	if err != nil {
		return fmt.Errorf("slowspan quantile mode: %w", err)
	}
	err = warmQuantile(c, workload.Batch(workload.Options{Spans: Spans}), sink)
	if serr := c.Shutdown(context.Background()); err == nil {
		err = serr
	}
	return err
}

// quantileWarmPasses: in the standard batch every (service, route) key has
// at least one server span (931 keys have 5, all fast; 49 have 6, one slow;
// 51 have only their slow one), so QuantileMinCount untimed passes make every
// window judged before the timed part: the incidents of the slow keys on
// /api routes (p95 1.5 s; the include list drops /admin) are open, the rest
// stay quiet, the steady state of a running collector.
const quantileWarmPasses = QuantileMinCount

// SlowspanQuantile is the processor in quantile mode on the standard batch.
// Every server span now feeds its endpoint's window, not only the slow ones.
// The warm-up must open quantile incidents: a config the engine accepts but
// does not act on yet would otherwise measure span mode under this name.
func SlowspanQuantile(b *testing.B) {
	cfg, err := SlowspanQuantileConfig()
	if err != nil {
		b.Fatal(err)
	}
	td := workload.Batch(workload.Options{Spans: Spans})
	sink := new(incidentSink)
	c, err := NewSlowspanProcessor(cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	if err := warmQuantile(c, td, sink); err != nil {
		_ = c.Shutdown(context.Background())
		b.Fatal(err)
	}
	steady(b, td, c, nil)
}

// warmQuantile runs quantileWarmPasses untimed passes over td and checks
// that they opened quantile incidents; sink then stops looking.
func warmQuantile(c Consumer, td ptrace.Traces, sink *incidentSink) error {
	sink.watch.Store(true)
	defer sink.watch.Store(false)
	for range quantileWarmPasses {
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			return err
		}
	}
	if !sink.seen() {
		return fmt.Errorf("slowspan quantile mode: no %q alert within 2 s of %d passes of the standard batch (its slow routes have a p95 of 1.5 s): the engine does not judge windows yet", alert.ReasonQuantile, quantileWarmPasses)
	}
	return nil
}

// incidentSink counts the quantile alerts it receives while watch is set,
// and drops everything without looking once it is not (the timed part).
// Atomics: the engine may emit from its own goroutine.
type incidentSink struct {
	watch     atomic.Bool
	incidents atomic.Int64
}

func (s *incidentSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	if !s.watch.Load() {
		return nil
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if r, ok := spans.At(k).Attributes().Get(alert.AttrReason); ok && r.Str() == string(alert.ReasonQuantile) {
					s.incidents.Add(1)
				}
			}
		}
	}
	return nil
}

// seen reports whether a quantile alert arrived, waiting up to 2 s for one:
// the engine may emit off the calling goroutine.
func (s *incidentSink) seen() bool {
	for deadline := time.Now().Add(2 * time.Second); s.incidents.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // poll interval of a bounded wait
	}
	return s.incidents.Load() > 0
}

func (*incidentSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// QuantileGrowth is Growth in quantile mode: the processor on the standard
// batch of one service with `keys` endpoints' windows already filled
// (QuantileMinCount spans each, one in five slow). Every server span feeds a
// window in this mode, so each iteration points all 5,000 server spans of the
// batch at the next 5,000 keys, so the batches walk over all windows. That
// is two SetStr of prebuilt strings per server span, about 12 ns per span of
// the batch measured: too much to leave in the figure as Growth does with
// its 100, so it runs with the timer stopped (and its mallocs, none, are not
// counted). It reports the heap the state holds, as Growth does.
func QuantileGrowth(keys int) func(b *testing.B) {
	return func(b *testing.B) {
		cfg, err := SlowspanQuantileConfig()
		if err != nil {
			b.Fatal(err)
		}
		// No eviction: we measure lookups in a full state. If the engine caps
		// its windows with an option of its own, it must be raised here too.
		cfg.Dedup.MaxKeys = 2 * keys
		sink := new(incidentSink)
		heap0 := heapInUse()
		c, err := NewSlowspanProcessor(cfg, sink)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = c.Shutdown(context.Background()) }()
		ctx := context.Background()
		// After heap0, as in Growth: the state may keep these strings.
		routes := growthRoutes(keys)
		sink.watch.Store(true)
		for off := 0; off < keys; off += 1000 {
			if err := c.ConsumeTraces(ctx, quantilePrimeBatch(routes, off, min(1000, keys-off))); err != nil {
				b.Fatal(err)
			}
		}
		// Every window holds one slow span in five: each opened an incident.
		seen := sink.seen()
		sink.watch.Store(false)
		if !seen {
			b.Fatalf("slowspan quantile mode: no %q alert within 2 s of priming %d windows: the engine does not judge windows yet", alert.ReasonQuantile, keys)
		}
		heapKeys := heapInUse() - heap0
		td := workload.Batch(workload.Options{Spans: Spans, Services: 1, Routes: 200})
		server := serverRouteValues(td)
		next := 0
		var allocs uint64
		for b.Loop() {
			b.StopTimer()
			for _, s := range server {
				r := routes[next]
				s.route.SetStr(r)
				s.path.SetStr(r)
				next++
				if next == keys {
					next = 0
				}
			}
			m0 := mallocs()
			b.StartTimer()
			if err := c.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			allocs += mallocs() - m0
			b.StartTimer()
		}
		perSpan(b, allocs)
		b.ReportMetric(float64(heapKeys)/float64(keys), "heapB/key")
		b.ReportMetric(float64(heapKeys)/(1<<20), "heapMiB")
	}
}

// quantilePrimeBatch holds QuantileMinCount server spans for each of
// routes[off:off+n], one service (service-0, as in the measured batch), one
// in five slow (1.5 s) and the others spread over 5-44 ms, so every window
// is judged and holds more than one value.
func quantilePrimeBatch(routes []string, off, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "service-0")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(n * QuantileMinCount)
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	id := off * QuantileMinCount
	for i := range n {
		for j := range QuantileMinCount {
			dur := time.Duration(5+(id%40)) * time.Millisecond
			if j%5 == 0 {
				dur = 1500 * time.Millisecond
			}
			sp := spans.AppendEmpty()
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetTraceID([16]byte{2, byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)})
			sp.SetSpanID(workload.SpanID(id))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
			sp.SetName("GET " + routes[off+i])
			sp.Attributes().PutStr("http.request.method", "GET")
			sp.Attributes().PutStr("http.route", routes[off+i])
			sp.Attributes().PutStr("url.path", routes[off+i])
			id++
		}
	}
	return td
}

// serverRouteValues returns the route and path values of every server span
// of td, to be repointed in place.
func serverRouteValues(td ptrace.Traces) []slowAttrs {
	var out []slowAttrs
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			sp := spans.At(k)
			if sp.Kind() != ptrace.SpanKindServer {
				continue
			}
			r, _ := sp.Attributes().Get("http.route")
			p, _ := sp.Attributes().Get("url.path")
			out = append(out, slowAttrs{r, p})
		}
	}
	return out
}
