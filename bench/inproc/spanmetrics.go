package inproc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/slowspan/slowspan/internal/workload"
)

// SpanMetricsFlushInterval is the connector's default metrics_flush_interval
// at v0.161.0 (factory.go), set explicitly so the fake clock advances by it.
const SpanMetricsFlushInterval = 60 * time.Second

// SpanMetricsFlushEvery is how many batches pass between two flushes in
// SpanMetrics: 100,000 spans. At the end-to-end rate (20,000 spans/s, see
// BENCHMARKS.md) the default 60 s interval flushes every 1.2 million spans,
// so this charges the flush about 12 times as often as a user pays it: it
// can only overstate the connector's cost per span, not hide any of it.
const SpanMetricsFlushEvery = 10

// SpanMetricsConfig is contrib spanmetricsconnector v0.161.0 as a user
// deploys it for p95 latency alerts: the default explicit-bucket histogram
// (what the usual dashboards and alert rules read), cumulative temporality,
// and the route and method as dimensions on top of service, span name, kind
// and status.
func SpanMetricsConfig() map[string]any {
	return map[string]any{
		"dimensions": []any{
			map[string]any{"name": "http.route"},
			map[string]any{"name": "http.request.method"},
		},
		"metrics_flush_interval": SpanMetricsFlushInterval.String(),
	}
}

// NewSpanMetrics creates and starts the spanmetrics connector through its
// factory. Its flush ticker runs on clock (the factory takes it from the
// context), so a benchmark decides when flushes happen instead of waiting a
// minute of wall time for the first one.
func NewSpanMetrics(clock clockwork.Clock, next consumer.Metrics) (Consumer, error) {
	f := spanmetricsconnector.NewFactory()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(SpanMetricsConfig()).Unmarshal(cfg); err != nil {
		return nil, err
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	ctx := clockwork.AddToContext(context.Background(), clock)
	set := connectortest.NewNopSettings(component.MustNewType("spanmetrics"))
	c, err := f.CreateTracesToMetrics(ctx, set, cfg, next)
	if err != nil {
		return nil, err
	}
	return c, c.Start(ctx, componenttest.NewNopHost())
}

// flushSink is the nop metrics consumer behind the connector: it drops the
// metrics and signals that a flush reached it.
type flushSink struct {
	flushed chan struct{}
	points  int // data points of the last flush, read after a signal only
}

func newFlushSink() *flushSink { return &flushSink{flushed: make(chan struct{}, 1)} }

func (s *flushSink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.points = md.DataPointCount()
	s.flushed <- struct{}{}
	return nil
}

func (*flushSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// errNoFlush: the connector did not flush after its ticker fired.
var errNoFlush = errors.New("spanmetrics connector did not flush within 10 s of its ticker")

// flush fires the connector's ticker and waits until the flush has reached
// the sink, so its cost lands in the timed part that triggered it.
func (s *flushSink) flush(clock *clockwork.FakeClock) error {
	clock.Advance(SpanMetricsFlushInterval)
	select {
	case <-s.flushed:
		return nil
	case <-time.After(10 * time.Second): // bounded wait: a broken flush fails the run
		return errNoFlush
	}
}

// SpanMetrics is contrib spanmetricsconnector v0.161.0 (SpanMetricsConfig)
// on the standard batch, a nop metrics consumer downstream: what a user runs
// to alert on p95 latency from metrics instead. The per-span work is
// ConsumeTraces (it aggregates every span into its series under a lock); the
// flush builds the metrics from the series on a ticker, once per interval
// whatever the span rate, so it is charged every SpanMetricsFlushEvery
// batches, inside the timed loop. One untimed pass and flush first, so every
// series exists, the steady state of a running collector (cumulative
// temporality keeps them across flushes).
func SpanMetrics(b *testing.B) {
	td := workload.Batch(workload.Options{Spans: Spans})
	clock := clockwork.NewFakeClock()
	sink := newFlushSink()
	c, err := NewSpanMetrics(clock, sink)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(context.Background()) }()
	ctx := context.Background()
	if err := c.ConsumeTraces(ctx, td); err != nil {
		b.Fatal(err)
	}
	if err := sink.flush(clock); err != nil {
		b.Fatal(err)
	}
	if sink.points == 0 {
		b.Fatal("spanmetrics connector flushed no data points")
	}
	batches, flushes := 0, 0
	m0 := mallocs()
	for b.Loop() {
		if err := c.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		batches++
		if batches%SpanMetricsFlushEvery == 0 {
			if err := sink.flush(clock); err != nil {
				b.Fatal(err)
			}
			flushes++
		}
	}
	perSpan(b, mallocs()-m0)
	b.ReportMetric(float64(flushes), "flushes")
	b.ReportMetric(float64(sink.points), "points/flush")
}
