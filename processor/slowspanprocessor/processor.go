package slowspanprocessor // import "github.com/slowspan/slowspan/processor/slowspanprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// slowspan is the instance shared by every pipeline that lists the processor:
// the engine (with its dedup state) and the telemetry.
type slowspan struct {
	id       component.ID
	logger   *zap.Logger
	eng      *engine.Engine
	tel      *metadata.TelemetryBuilder
	byReason [len(engine.Stats{}.Alerts)]metric.AddOption
}

func newSlowspan(set processor.Settings, cfg *Config) (*slowspan, error) {
	ts := sharedcomponent.DropPipelineAttributes(set.TelemetrySettings)
	eng, err := engine.New(cfg, engine.Settings{Logger: ts.Logger})
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(ts)
	if err != nil {
		return nil, err
	}
	s := &slowspan{id: set.ID, logger: ts.Logger, eng: eng, tel: tel}
	for i, r := range alert.Reasons {
		s.byReason[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	return s, nil
}

func (s *slowspan) Start(ctx context.Context, host component.Host) error {
	if err := s.eng.Start(ctx, host, component.KindProcessor, s.id); err != nil {
		return err
	}
	return s.tel.RegisterProcessorSlowspanDedupKeysCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(s.eng.Keys()))
		return nil
	})
}

func (s *slowspan) Shutdown(ctx context.Context) error {
	s.tel.Shutdown()
	return s.eng.Shutdown(ctx)
}

func (s *slowspan) record(ctx context.Context, st *engine.Stats) {
	s.tel.ProcessorSlowspanSpans.Add(ctx, st.Spans)
	if st.Slow == 0 {
		return
	}
	s.tel.ProcessorSlowspanSlowSpans.Add(ctx, st.Slow)
	if st.BackendErrors > 0 {
		s.tel.ProcessorSlowspanDedupBackendErrors.Add(ctx, st.BackendErrors)
	}
	if st.Filtered > 0 {
		s.tel.ProcessorSlowspanFilteredSpans.Add(ctx, st.Filtered)
	}
	if st.Suppressed > 0 {
		s.tel.ProcessorSlowspanSuppressedSpans.Add(ctx, st.Suppressed)
	}
	for i, r := range alert.Reasons {
		if n := st.AlertsFor(r); n > 0 {
			s.tel.ProcessorSlowspanAlerts.Add(ctx, n, s.byReason[i])
		}
	}
}

// tracesProcessor is one pipeline's view of the shared instance.
type tracesProcessor struct {
	shared *sharedcomponent.Component[*slowspan]
	next   consumer.Traces
}

func (p *tracesProcessor) Start(ctx context.Context, host component.Host) error {
	return p.shared.Start(ctx, host)
}

func (p *tracesProcessor) Shutdown(ctx context.Context) error {
	return p.shared.Shutdown(ctx)
}

// Capabilities: the input is only read; alerts are copies. A read-only
// pipeline spares the receiver's fan-out a clone of every batch.
func (p *tracesProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces passes on the alert spans only; everything else ends here.
func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	s := p.shared.Unwrap()
	res := s.eng.Process(td)
	s.record(ctx, &res.Stats)
	if res.Alerts() == 0 {
		s.eng.Commit(ctx, &res)
		return nil
	}
	if err := p.next.ConsumeTraces(ctx, res.Traces); err != nil {
		// Roll the dedup state back: when the sender retries, the alerts
		// fire again (with the same IDs) instead of being suppressed.
		s.eng.Abort(&res)
		s.tel.ProcessorSlowspanAlertsRefused.Add(ctx, int64(res.Alerts()))
		return err
	}
	s.eng.Commit(ctx, &res)
	return nil
}
