package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/engine"
)

// Instruments are the own metrics of a slowspan component (see
// metricDefs); NewInstruments creates them. NewComponent makes a nil
// counter a no-op one.
type Instruments struct {
	Spans                 metric.Int64Counter
	SlowSpans             metric.Int64Counter
	Filtered              metric.Int64Counter
	Suppressed            metric.Int64Counter
	Alerts                metric.Int64Counter
	Folded                metric.Int64Counter
	Refused               metric.Int64Counter
	BackendErrors         metric.Int64Counter
	FleetFallbacks        metric.Int64Counter
	ProfileSamples        metric.Int64Counter
	ProfileSamplesDropped metric.Int64Counter
	Keys                  metric.Int64ObservableGauge
	Pending               metric.Int64ObservableGauge
	OpenIncidents         metric.Int64ObservableGauge
	WindowKeys            metric.Int64ObservableGauge

	meter metric.Meter
	*registration
}

// Component is an Engine as a collector component: started and shut down
// once however many pipelines use it, delivering its alerts and recording
// its metrics.
type Component struct {
	Engine   *engine.Engine
	kind     component.Kind
	id       component.ID
	ins      Instruments
	logger   *zap.Logger
	byReason map[alert.Reason]metric.AddOption

	// ReturnRefusals: a refusal of the next consumer is returned upstream
	// (the processor: the sender retries) or only logged and counted (the
	// connector: an error would make the user's own pipeline resend its
	// whole batch to its other exporters).
	ReturnRefusals bool
	// AlertsTo says in the start-up line where the alerts go (the
	// processor: the rest of its pipeline; the connector: the pipelines that
	// receive from it). The collector does not tell a component which
	// exporters follow it.
	AlertsTo     string
	announceOnce sync.Once

	// sinks are the consumers of the traces nodes, by engine.Origin.
	sinksMu sync.Mutex
	sinks   []consumer.Traces

	// The background loop delivers alerts whose correlation wait is over
	// and saves the dedup state.
	cancel context.CancelFunc
	done   chan struct{}
	// delivering lets one delivery pass run at a time (a token in a
	// channel, so a drain can give up with its context), so Drain returns only
	// once the loop has no delivery to the drained sink in flight.
	delivering chan struct{}
}

// NewComponent wraps e for the component of kind and id.
func NewComponent(e *engine.Engine, kind component.Kind, id component.ID, logger *zap.Logger, ins Instruments) *Component {
	if ins.registration == nil {
		ins.registration = &registration{}
	}
	ins.fillNoop()
	c := &Component{Engine: e, kind: kind, id: id, ins: ins, logger: logger, delivering: make(chan struct{}, 1),
		byReason: make(map[alert.Reason]metric.AddOption, len(alert.Reasons))}
	if c.logger == nil {
		c.logger = zap.NewNop()
	}
	for _, r := range alert.Reasons {
		c.byReason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	return c
}

// origin is the engine's name for sink, registered on first use.
func (c *Component) origin(sink consumer.Traces) engine.Origin {
	c.sinksMu.Lock()
	defer c.sinksMu.Unlock()
	for i, s := range c.sinks {
		if s == sink {
			return engine.Origin(i)
		}
	}
	c.sinks = append(c.sinks, sink)
	return engine.Origin(len(c.sinks) - 1)
}

// sink is the consumer of origin o; nil when no traces node registered one
// (a component serving only profiles pipelines).
func (c *Component) sink(o engine.Origin) consumer.Traces {
	c.sinksMu.Lock()
	defer c.sinksMu.Unlock()
	if int(o) >= len(c.sinks) {
		return nil
	}
	return c.sinks[o]
}

// Start connects the dedup state and registers the keys gauge.
func (c *Component) Start(ctx context.Context, host component.Host) error {
	if err := c.Engine.Start(ctx, host, c.kind, c.id); err != nil {
		return err
	}
	if err := c.ins.observe(gauges{
		keys:       func() int64 { return int64(c.Engine.Keys()) },
		pending:    func() int64 { return int64(c.Engine.Pending()) },
		incidents:  func() int64 { return int64(c.Engine.OpenIncidents()) },
		windowKeys: func() int64 { return int64(c.Engine.WindowKeys()) },
	}); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	every := loopInterval(c.Engine.CorrelationWait())
	if fi := c.Engine.FleetFlushInterval(); fi > 0 {
		// The fleet-wide windows are flushed and judged on this loop.
		every = min(every, fi)
	}
	go c.loop(loopCtx, every)
	return nil
}

// saveEvery is how often suppression counts and the running figures of
// open incidents are saved; alerts are saved as they are delivered.
const saveEvery = 5 * time.Second

// loopInterval: with correlation, a fraction of the wait, so alerts leave
// close to their due time without a busy loop; without, the save period.
func loopInterval(wait time.Duration) time.Duration {
	if wait <= 0 {
		return saveEvery
	}
	return min(max(wait/10, 10*time.Millisecond), time.Second)
}

// loop delivers the alerts whose correlation wait is over and saves the
// dedup state now and then, until Shutdown.
func (c *Component) loop(ctx context.Context, every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Engine.ExpireProfiles()
			c.Flush(ctx, false)
			if time.Since(lastSave) >= saveEvery {
				c.Engine.SaveState(ctx)
				lastSave = time.Now()
			}
		}
	}
}

// Flush delivers the waiting alerts that are due (all of them when all is
// set), and the storm summaries of the minutes that are over. A refused
// delivery is rolled back in the dedup state and logged: the span cannot be
// retried, but its endpoint alerts on its next slow span.
func (c *Component) Flush(ctx context.Context, all bool) {
	if !c.acquire(ctx) {
		return
	}
	defer c.release()
	c.deliver(ctx, c.Engine.Due(c.Engine.Now(), all))
}

// Drain delivers every waiting alert bound for sink, at once, with the
// storm summary for sink, and has later alerts for sink skip the
// correlation wait. It returns when no delivery to sink is in flight, so
// the caller may then let sink stop.
func (c *Component) Drain(ctx context.Context, sink consumer.Traces) {
	if !c.acquire(ctx) {
		c.logger.Warn("shutdown deadline reached while another delivery of alerts was in progress; alerts still waiting for this pipeline are not delivered")
		return
	}
	defer c.release()
	c.deliver(ctx, c.Engine.Drain(c.origin(sink)))
}

// acquire waits for the delivery token, or for ctx.
func (c *Component) acquire(ctx context.Context) bool {
	select {
	case c.delivering <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Component) release() { <-c.delivering }

func (c *Component) deliver(ctx context.Context, batches []engine.Batch) {
	for i := range batches {
		b := &batches[i]
		c.record(ctx, &b.Stats)
		if b.Alerts == 0 {
			continue
		}
		sink := c.sink(b.Origin)
		if sink == nil {
			// Nowhere to send them: they stay owed (an incident stays
			// open and resolves again on a later evaluation).
			b.Rollback()
			c.logger.Debug("alerts with no traces pipeline to deliver them to", zap.Int("alerts", b.Alerts))
			continue
		}
		if err := sink.ConsumeTraces(ctx, b.Traces); err != nil {
			b.Rollback()
			c.ins.Refused.Add(ctx, int64(b.Alerts))
			c.logger.Warn("alerts refused after their correlation wait; their endpoints alert again on the next slow span",
				zap.Int("alerts", b.Alerts), zap.Int("folded", b.Folded), zap.Error(err))
			continue
		}
		b.Commit(ctx)
		c.logAlerts(b.Traces)
		if b.Folded > 0 {
			c.ins.Alerts.Add(ctx, 1, c.byReason[alert.ReasonStorm])
			c.logger.Warn("alert storm: alerts past alerts.max_per_minute were folded into one summary alert",
				zap.Int("folded", b.Folded), zap.Int("max_per_minute", c.Engine.MaxPerMinute()))
		}
	}
}

// Shutdown delivers every pending alert, then saves the dedup state. ctx
// bounds the wait for a delivery in progress.
func (c *Component) Shutdown(ctx context.Context) error {
	if c.cancel != nil {
		c.cancel()
		select {
		case <-c.done:
			c.Flush(ctx, true)
		case <-ctx.Done():
			// A delivery is stuck: give up on the waiting alerts, but
			// still save the dedup state and release its backend.
			c.logger.Warn("shutdown deadline reached while alerts were being delivered; waiting alerts are not delivered")
		}
		c.cancel = nil
	} else {
		c.Flush(ctx, true)
	}
	if err := c.ins.unobserve(); err != nil {
		c.logger.Warn("removing the callback of the keys and pending alerts gauges failed", zap.Error(err))
	}
	return errors.Join(ctx.Err(), c.Engine.Shutdown(ctx))
}

// ConsumeProfiles indexes the span-linked samples of pd for later alerts and
// hands pd on unchanged.
func (c *Component) ConsumeProfiles(ctx context.Context, pd pprofile.Profiles, next xconsumer.Profiles) error {
	c.IndexProfiles(ctx, pd)
	return next.ConsumeProfiles(ctx, pd)
}

// IndexProfiles indexes the span-linked samples of pd and counts those kept
// and those dropped.
func (c *Component) IndexProfiles(ctx context.Context, pd pprofile.Profiles) {
	c.ins.recordProfiles(ctx, c.Engine.IndexProfiles(pd))
}

// ConsumeTraces runs the engine over td and hands the alert spans, if any,
// to next. When next refuses them the dedup decisions are rolled back, so
// a retry alerts again (with the same alert ids), and the refusal is
// returned when ReturnRefusals is set.
func (c *Component) ConsumeTraces(ctx context.Context, td ptrace.Traces, next consumer.Traces) error {
	b := c.Engine.Process(ctx, td, c.origin(next))
	c.record(ctx, &b.Stats)
	if b.Alerts == 0 {
		return nil
	}
	if err := next.ConsumeTraces(ctx, b.Traces); err != nil {
		b.Rollback()
		c.ins.Refused.Add(ctx, int64(b.Alerts))
		if c.ReturnRefusals {
			return err
		}
		c.logger.Warn("the alerts pipeline refused alerts; their endpoints alert again on the next slow span",
			zap.Int("alerts", b.Alerts), zap.Error(err))
		return nil
	}
	b.Commit(ctx)
	c.logAlerts(b.Traces)
	return nil
}

func (c *Component) record(ctx context.Context, st *engine.Stats) {
	if st.Folded > 0 {
		c.ins.Folded.Add(ctx, st.Folded)
	}
	if st.Spans > 0 {
		c.ins.Spans.Add(ctx, st.Spans)
	}
	if st.FleetFallbacks > 0 {
		c.ins.FleetFallbacks.Add(ctx, st.FleetFallbacks)
	}
	if st.Slow == 0 {
		return
	}
	c.ins.SlowSpans.Add(ctx, st.Slow)
	if st.BackendErrors > 0 {
		c.ins.BackendErrors.Add(ctx, st.BackendErrors)
	}
	if st.Filtered > 0 {
		c.ins.Filtered.Add(ctx, st.Filtered)
	}
	if st.Suppressed > 0 {
		c.ins.Suppressed.Add(ctx, st.Suppressed)
	}
	for _, r := range alert.Reasons {
		if n := st.AlertsFor(r); n > 0 {
			c.ins.Alerts.Add(ctx, n, c.byReason[r])
		}
	}
}
