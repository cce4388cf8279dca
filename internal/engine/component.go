package engine

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/slowspan/slowspan/alert"
)

// Instruments are the own metrics of a slowspan component. The processor and
// the connector fill them from their own metadata packages (the names differ:
// otelcol_processor_slowspan_* and otelcol_connector_slowspan_*); recording
// lives here, once.
type Instruments struct {
	Spans         metric.Int64Counter
	SlowSpans     metric.Int64Counter
	Filtered      metric.Int64Counter
	Suppressed    metric.Int64Counter
	Alerts        metric.Int64Counter
	Refused       metric.Int64Counter
	BackendErrors metric.Int64Counter
	// RegisterKeys registers the callback of the dedup keys gauge.
	RegisterKeys func(metric.Int64Callback) error
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
	if c.ins.RegisterKeys == nil {
		return nil
	}
	return c.ins.RegisterKeys(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(c.Engine.Keys()))
		return nil
	})
}

// Shutdown saves the dedup state.
func (c *Component) Shutdown(ctx context.Context) error {
	if c.ins.Shutdown != nil {
		c.ins.Shutdown()
	}
	return c.Engine.Shutdown(ctx)
}

// ConsumeTraces runs the engine over td and hands the alert spans, if any,
// to next. When next refuses them the dedup decisions are rolled back, so
// the sender's retry alerts again (with the same alert ids).
func (c *Component) ConsumeTraces(ctx context.Context, td ptrace.Traces, next consumer.Traces) error {
	res := c.Engine.Process(td)
	c.record(ctx, &res.Stats)
	if res.Alerts() == 0 {
		c.Engine.Commit(ctx, &res)
		return nil
	}
	if err := next.ConsumeTraces(ctx, res.Traces); err != nil {
		c.Engine.Abort(&res)
		c.ins.Refused.Add(ctx, int64(res.Alerts()))
		return err
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
