package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/internal/enginetest"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func ids(n byte) (pcommon.TraceID, pcommon.SpanID) {
	return pcommon.TraceID{n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, pcommon.SpanID{n, 1, 2, 3, 4, 5, 6, 7}
}

func counters() Instruments {
	meter := noop.NewMeterProvider().Meter("test")
	counter := func() metric.Int64Counter { c, _ := meter.Int64Counter("x"); return c }
	return Instruments{
		Spans: counter(), SlowSpans: counter(), Filtered: counter(), Suppressed: counter(),
		Alerts: counter(), Refused: counter(), BackendErrors: counter(), Folded: counter(),
	}
}

// TestComponentFlushesOnShutdownAndRollsBackRefusals runs the flush loop
// (goroutine) and the shutdown flush of the component.
func TestComponentFlushesOnShutdownAndRollsBackRefusals(t *testing.T) {
	ctx := context.Background()
	cfg := engine.NewDefaultConfig()
	cfg.Correlation.Wait = time.Hour
	e, err := engine.New(cfg, engine.Settings{})
	require.NoError(t, err)
	c := NewComponent(e, component.KindProcessor, component.MustNewID("slowspan"), nil, counters())
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))

	sink := new(consumertest.TracesSink)
	tid, sid := ids(1)
	require.NoError(t, c.ConsumeTraces(ctx, enginetest.ServerSpan("shop", "/checkout", 2*time.Second, tid, sid), sink))
	assert.Equal(t, 0, sink.SpanCount(), "waiting")

	refusing := consumertest.NewErr(errors.New("exporter queue full"))
	tid, sid = ids(2)
	require.NoError(t, c.ConsumeTraces(ctx, enginetest.ServerSpan("shop", "/refused", 3*time.Second, tid, sid), refusing))
	assert.Equal(t, 2, e.Pending())

	require.NoError(t, c.Shutdown(ctx))
	assert.Equal(t, 1, sink.SpanCount(), "shutdown delivered the pending alert")
	assert.Equal(t, 0, e.Pending())
	// The refused one was rolled back: its endpoint alerts again.
	tid, sid = ids(3)
	res := e.Process(ctx, enginetest.ServerSpan("shop", "/refused", 3*time.Second, tid, sid), 0)
	assert.EqualValues(t, 1, res.Stats.AlertsFor(alert.ReasonFirst))
}

// atomicClock is a clock the test moves while the component's loop reads it.
type atomicClock struct{ ns atomic.Int64 }

func (c *atomicClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *atomicClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *atomicClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// TestComponentLoopExpiresProfiles: samples leave the index on the
// component's timer, with no profiles message arriving to trigger it.
func TestComponentLoopExpiresProfiles(t *testing.T) {
	ctx := context.Background()
	cfg := engine.NewDefaultConfig()
	cfg.Correlation.Wait = 100 * time.Millisecond // the loop ticks every 10 ms
	clk := &atomicClock{}
	clk.set(t0)
	e, err := engine.New(cfg, engine.Settings{Now: clk.Now})
	require.NoError(t, err)
	c := NewComponent(e, component.KindProcessor, component.MustNewID("slowspan"), nil, Instruments{})
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()

	tid, sid := ids(1)
	c.IndexProfiles(ctx, enginetest.LinkedProfile(tid, sid, []string{"main.burnCPU", "main.checkout"}))
	require.Equal(t, 1, e.ProfileSamples())
	clk.add(cfg.Profiles.TTL)
	assert.Eventually(t, func() bool { return e.ProfileSamples() == 0 }, 10*time.Second, 5*time.Millisecond,
		"the component's loop expires samples past profiles.ttl")
}

// TestStormSummaryLeavesAtDrain: a node's shutdown delivers the storm
// summary of its alerts with its waiting alerts.
func TestStormSummaryLeavesAtDrain(t *testing.T) {
	ctx := context.Background()
	cfg := engine.NewDefaultConfig()
	cfg.Alerts.MaxPerMinute = 1
	e, err := engine.New(cfg, engine.Settings{})
	require.NoError(t, err)
	c := NewComponent(e, component.KindProcessor, component.MustNewID("slowspan"), nil, counters())
	sink := new(consumertest.TracesSink)
	for i, r := range []string{"/a", "/b", "/c"} {
		tid, sid := ids(byte(10 + i))
		require.NoError(t, c.ConsumeTraces(ctx, enginetest.ServerSpan("shop", r, 2*time.Second, tid, sid), sink))
	}
	require.Equal(t, 1, sink.SpanCount())
	c.Drain(ctx, sink)
	require.Equal(t, 2, sink.SpanCount())
	var last alert.Alert
	for a := range alert.All(sink.AllTraces()[1]) {
		last = a
	}
	require.NotNil(t, last.Folded)
	assert.EqualValues(t, 2, last.Folded.Count)
	require.NoError(t, c.Shutdown(ctx))
}

// TestTimerAlertBeforeAnySpan: the timer can owe an alert before any span
// reached the component, e.g. an incident loaded from storage resolves at
// start. With no sink it stays owed (it used to index an empty sink list
// and crash the collector); a traces node's Start registers its sink, and
// the alert goes there.
func TestTimerAlertBeforeAnySpan(t *testing.T) {
	ctx := context.Background()
	cfg := engine.NewDefaultConfig()
	cfg.Trigger.Mode = engine.ModeQuantile
	cfg.Trigger.Over = 10 * time.Second
	after := 2 * time.Second
	cfg.Resolve.After = &after
	clk := &atomicClock{}
	clk.set(t0)
	e, err := engine.New(cfg, engine.Settings{Now: clk.Now})
	require.NoError(t, err)
	c := NewComponent(e, component.KindProcessor, component.MustNewID("slowspan"), nil, counters())

	// An incident opened without the component, as a previous run's is.
	for i := range 20 {
		tid, sid := ids(byte(i + 1))
		b := e.Process(ctx, enginetest.ServerSpan("shop", "/report", 2*time.Second, tid, sid), 0)
		b.Commit(ctx)
	}
	require.Equal(t, 1, e.OpenIncidents())
	clk.add(time.Minute) // past resolve.after: the next evaluation resolves it

	require.NotPanics(t, func() { c.Flush(ctx, false) })
	assert.Equal(t, 1, e.OpenIncidents(), "no sink yet: the resolved alert is still owed")

	sink := new(consumertest.TracesSink)
	shared, err := sharedcomponent.NewMap[string, *Component]().LoadOrStore("slowspan", func() (*Component, error) { return c, nil })
	require.NoError(t, err)
	n := Node{Shared: shared, Sink: sink}
	require.NoError(t, n.Start(ctx, componenttest.NewNopHost()))
	clk.add(time.Minute)
	c.Flush(ctx, false)
	require.Equal(t, 1, sink.SpanCount())
	for a := range alert.All(sink.AllTraces()[0]) {
		assert.Equal(t, alert.ReasonResolved, a.Reason)
	}
	assert.Zero(t, e.OpenIncidents())
	require.NoError(t, n.Shutdown(ctx))
}
