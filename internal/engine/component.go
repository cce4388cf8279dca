package engine

import (
	"context"
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
)

// Instruments are the own metrics of a slowspan component. The processor and
// the connector fill them from their own metadata packages (the names differ:
// otelcol_processor_slowspan_* and otelcol_connector_slowspan_*); recording
// lives here, once.
type Instruments struct {
	Spans          metric.Int64Counter
	ProfileSamples metric.Int64Counter
	SlowSpans      metric.Int64Counter
	Filtered       metric.Int64Counter
	Suppressed     metric.Int64Counter
	Alerts         metric.Int64Counter
	Refused        metric.Int64Counter
	BackendErrors  metric.Int64Counter
	// RegisterKeys and RegisterPending register the callbacks of the dedup
	// keys and pending alerts gauges.
	RegisterKeys    func(metric.Int64Callback) error
	RegisterPending func(metric.Int64Callback) error
	// Shutdown unregisters callbacks.
	Shutdown func()
}

// Component is an Engine as a collector component: started and shut down
// once however many pipelines use it, recording its metrics.
type Component struct {
	Engine   *Engine
	kind     component.Kind
	id       component.ID
	ins      Instruments
	byReason [len(Stats{}.Alerts)]metric.AddOption

	// ReturnRefusals: a refusal of the next consumer is returned upstream
	// (the processor: the sender retries) or only logged and counted (the
	// connector: an error would make the user's own pipeline resend its
	// whole batch to its other exporters).
	ReturnRefusals bool

	// The background loop delivers alerts whose correlation wait is over
	// and saves the dedup state.
	cancel context.CancelFunc
	done   chan struct{}
}

// NewComponent wraps e for the component of kind and id.
func NewComponent(e *Engine, kind component.Kind, id component.ID, ins Instruments) *Component {
	c := &Component{Engine: e, kind: kind, id: id, ins: ins}
	for i, r := range alert.Reasons {
		c.byReason[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	return c
}

// Start connects the dedup state and registers the keys gauge.
func (c *Component) Start(ctx context.Context, host component.Host) error {
	if err := c.Engine.Start(ctx, host, c.kind, c.id); err != nil {
		return err
	}
	if c.ins.RegisterKeys != nil {
		if err := c.ins.RegisterKeys(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(c.Engine.Keys()))
			return nil
		}); err != nil {
			return err
		}
	}
	if c.ins.RegisterPending != nil {
		if err := c.ins.RegisterPending(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(c.Engine.Pending()))
			return nil
		}); err != nil {
			return err
		}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go c.loop(loopCtx, loopInterval(c.Engine.cfg.Correlation.Wait))
	return nil
}

// saveEvery is how often suppression counts are saved; alerts are saved as
// they are delivered.
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
			c.Flush(ctx, false)
			if time.Since(lastSave) >= saveEvery {
				c.Engine.saveState(ctx)
				lastSave = time.Now()
			}
		}
	}
}

// Flush delivers the pending alerts that are due (all of them when all is
// set). A refused delivery is rolled back in the dedup state and logged: the
// span cannot be retried, but its endpoint alerts on its next slow span.
func (c *Component) Flush(ctx context.Context, all bool) {
	deliveries := c.Engine.Due(c.Engine.now(), all)
	for i := range deliveries {
		d := &deliveries[i]
		if err := d.Sink.ConsumeTraces(ctx, d.Traces); err != nil {
			c.Engine.Undeliverable(d)
			c.ins.Refused.Add(ctx, int64(d.Alerts))
			c.Engine.logger.Warn("alerts refused after their correlation wait; their endpoints alert again on the next slow span",
				zap.Int("alerts", d.Alerts), zap.Error(err))
			continue
		}
		c.Engine.Delivered(ctx, d)
	}
	if len(deliveries) > 0 {
		c.Engine.saveState(ctx)
	}
}

// Shutdown delivers every pending alert, then saves the dedup state. ctx
// bounds the wait for a delivery in progress.
func (c *Component) Shutdown(ctx context.Context) error {
	if c.cancel != nil {
		c.cancel()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.cancel = nil
	}
	c.Flush(ctx, true)
	if c.ins.Shutdown != nil {
		c.ins.Shutdown()
	}
	return c.Engine.Shutdown(ctx)
}

// ConsumeProfiles indexes the span-linked samples of pd for later alerts and
// hands pd on unchanged.
func (c *Component) ConsumeProfiles(ctx context.Context, pd pprofile.Profiles, next xconsumer.Profiles) error {
	c.IndexProfiles(ctx, pd)
	return next.ConsumeProfiles(ctx, pd)
}

// IndexProfiles indexes the span-linked samples of pd and counts them.
func (c *Component) IndexProfiles(ctx context.Context, pd pprofile.Profiles) {
	if n := c.Engine.IndexProfiles(pd); n > 0 && c.ins.ProfileSamples != nil {
		c.ins.ProfileSamples.Add(ctx, int64(n))
	}
}

// ConsumeTraces runs the engine over td and hands the alert spans, if any,
// to next. When next refuses them the dedup decisions are rolled back, so
// a retry alerts again (with the same alert ids), and the refusal is
// returned when ReturnRefusals is set.
func (c *Component) ConsumeTraces(ctx context.Context, td ptrace.Traces, next consumer.Traces) error {
	res := c.Engine.Process(ctx, td, next)
	c.record(ctx, &res.Stats)
	if res.Alerts() == 0 {
		c.Engine.Commit(ctx, &res)
		return nil
	}
	if err := next.ConsumeTraces(ctx, res.Traces); err != nil {
		c.Engine.Abort(&res)
		c.ins.Refused.Add(ctx, int64(res.Alerts()))
		if c.ReturnRefusals {
			return err
		}
		c.Engine.logger.Warn("the alerts pipeline refused alerts; their endpoints alert again on the next slow span",
			zap.Int("alerts", res.Alerts()), zap.Error(err))
		return nil
	}
	c.Engine.Commit(ctx, &res)
	return nil
}

func (c *Component) record(ctx context.Context, st *Stats) {
	c.ins.Spans.Add(ctx, st.Spans)
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
	for i, r := range alert.Reasons {
		if n := st.AlertsFor(r); n > 0 {
			c.ins.Alerts.Add(ctx, n, c.byReason[i])
		}
	}
}
