package slowspanprocessor // import "github.com/slowspan/slowspan/processor/slowspanprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/internal/pipeline"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// newComponent builds the instance shared by every pipeline that lists the
// processor: the engine (with its dedup state) and the telemetry.
func newComponent(set processor.Settings, cfg *Config) (*pipeline.Component, error) {
	ts := sharedcomponent.DropPipelineAttributes(set.TelemetrySettings)
	eng, err := engine.New(cfg, engine.Settings{Logger: ts.Logger})
	if err != nil {
		return nil, err
	}
	ins, err := pipeline.NewInstruments(ts, component.KindProcessor, metadata.ScopeName)
	if err != nil {
		return nil, err
	}
	c := pipeline.NewComponent(eng, component.KindProcessor, set.ID, ts.Logger, ins)
	// A refusal goes back to the receiver, so the sender retries and the
	// rolled-back alert fires again.
	c.ReturnRefusals = true
	c.AlertsTo = "the exporters of this traces pipeline (otelcol.pipeline.id)"
	return c, nil
}

// tracesProcessor is one traces pipeline's view of the shared instance.
type tracesProcessor struct {
	pipeline.Node
}

// ConsumeTraces passes on the alert spans only; everything else ends here.
func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.Shared.Unwrap().ConsumeTraces(ctx, td, p.Sink)
}

// profilesProcessor indexes span-linked profile samples for the alerts of
// the traces pipelines and passes the profiles on unchanged.
type profilesProcessor struct {
	pipeline.Node
	next xconsumer.Profiles
}

func (p *profilesProcessor) ConsumeProfiles(ctx context.Context, pd pprofile.Profiles) error {
	return p.Shared.Unwrap().ConsumeProfiles(ctx, pd, p.next)
}
