package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/slowspan/slowspan/alert"
)

func newTestComponent(t *testing.T, mutate func(*Config)) (*Component, *clock) {
	t.Helper()
	e, clk := newEngine(t, mutate)
	meter := noop.NewMeterProvider().Meter("test")
	counter := func() metric.Int64Counter { c, _ := meter.Int64Counter("x"); return c }
	return NewComponent(e, component.KindProcessor, component.MustNewID("slowspan"), Instruments{
		Spans: counter(), SlowSpans: counter(), Filtered: counter(), Suppressed: counter(),
		Alerts: counter(), Refused: counter(), BackendErrors: counter(), Folded: counter(),
	}), clk
}

// storm is a batch of n slow spans on n distinct paths without http.route.
func storm(t *testing.T, n int, offset int) ptrace.Traces {
	spans := make([]span, n)
	for i := range spans {
		spans[i] = server(2*time.Second+time.Duration(i)*time.Millisecond, map[string]any{"url.path": fmt.Sprintf("/search/word%c%c", 'a'+(offset+i)/26%26, 'a'+(offset+i)%26)})
		spans[i].id = byte(offset + i + 1)
	}
	return build(t, spans...)
}

func sinkAlerts(sink *consumertest.TracesSink) []alert.Alert {
	var out []alert.Alert
	for _, td := range sink.AllTraces() {
		for a := range alert.All(td) {
			out = append(out, a)
		}
	}
	return out
}

func TestStormGuardFoldsAlertsPastTheCap(t *testing.T) {
	ctx := context.Background()
	c, clk := newTestComponent(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 3 })
	clk.now = clk.now.Truncate(time.Minute).Add(10 * time.Second)
	sink := new(consumertest.TracesSink)

	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 10, 0), sink))
	got := sinkAlerts(sink)
	require.Len(t, got, 3, "the first three of the minute go out")

	// The minute is not over: no summary yet.
	c.Flush(ctx, false)
	require.Len(t, sinkAlerts(sink), 3)

	clk.now = clk.now.Add(time.Minute)
	c.Flush(ctx, false)
	got = sinkAlerts(sink)
	require.Len(t, got, 4)
	sum := got[3]
	assert.Equal(t, alert.ReasonStorm, sum.Reason)
	assert.Equal(t, StormKey, sum.Key)
	require.NotNil(t, sum.Folded)
	assert.EqualValues(t, 7, sum.Folded.Count)
	assert.Len(t, sum.Folded.Endpoints, 7)
	assert.Equal(t, "/search/wordaj", sum.Folded.Endpoints[0].Key.Route, "the slowest first among equal counts")
	assert.NotEmpty(t, sum.ID)

	// The folded keys count as alerted once the summary was delivered.
	before := len(sink.AllTraces())
	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 10, 0), sink))
	assert.Len(t, sink.AllTraces(), before, "every key of the storm is inside its window")

	// A new minute, a new budget.
	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 2, 20), sink))
	assert.Len(t, sinkAlerts(sink), 6)
}

func TestStormSummaryRefusedRollsBackTheFoldedKeys(t *testing.T) {
	ctx := context.Background()
	c, clk := newTestComponent(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 1 })
	sink := new(consumertest.TracesSink)
	refusing := consumertest.NewErr(errors.New("queue full"))

	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 3, 0), sink))
	require.Len(t, sinkAlerts(sink), 1)
	// The summary goes to the sink of the folded alerts; refuse it by
	// folding for another, refusing sink.
	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 2, 10), refusing))
	clk.now = clk.now.Add(time.Minute)
	c.Flush(ctx, false)
	got := sinkAlerts(sink)
	require.Len(t, got, 2, "the summary of the first batch")
	assert.EqualValues(t, 2, got[1].Folded.Count)

	// The refused summary's keys alert again.
	res := c.Engine.Process(t.Context(), storm(t, 2, 10), nil)
	assert.Equal(t, 2, res.Alerts())
}

func TestStormSummaryLeavesAtShutdown(t *testing.T) {
	ctx := context.Background()
	c, _ := newTestComponent(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 2 })
	sink := new(consumertest.TracesSink)
	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 5, 0), sink))
	c.Drain(ctx, sink)
	got := sinkAlerts(sink)
	require.Len(t, got, 3)
	assert.EqualValues(t, 3, got[2].Folded.Count)
	require.NoError(t, c.Shutdown(ctx))
}

func TestStormGuardOff(t *testing.T) {
	ctx := context.Background()
	c, _ := newTestComponent(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 0 })
	sink := new(consumertest.TracesSink)
	require.NoError(t, c.ConsumeTraces(ctx, storm(t, 100, 0), sink))
	assert.Len(t, sinkAlerts(sink), 100)
}

func TestStormSummaryBoundsItsList(t *testing.T) {
	f := &fold{byKey: map[alert.Key]*alert.FoldedEndpoint{}}
	for i := range maxFoldKeys + 10 {
		f.count++
		f.addAlert(alert.Alert{ID: "x", Key: alert.Key{Service: "s", Route: fmt.Sprintf("/r%d", i)}, Duration: time.Second})
	}
	var got alert.Alert
	for a := range alert.All(f.summary()) {
		got = a
	}
	require.NotNil(t, got.Folded)
	assert.Len(t, got.Folded.Endpoints, alert.MaxFoldedEndpoints)
	assert.Equal(t, maxFoldKeys+10-alert.MaxFoldedEndpoints, got.Folded.Omitted)
}
