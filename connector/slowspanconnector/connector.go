package slowspanconnector // import "github.com/slowspan/slowspan/connector/slowspanconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/connector/slowspanconnector/internal/metadata"
	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/internal/pipeline"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
)

func newComponent(set connector.Settings, cfg *Config) (*pipeline.Component, error) {
	ts := sharedcomponent.DropPipelineAttributes(set.TelemetrySettings)
	eng, err := engine.New(cfg, engine.Settings{Logger: ts.Logger})
	if err != nil {
		return nil, err
	}
	ins, err := pipeline.NewInstruments(ts, component.KindConnector, metadata.ScopeName)
	if err != nil {
		return nil, err
	}
	c := pipeline.NewComponent(eng, component.KindConnector, set.ID, ts.Logger, ins)
	c.AlertsTo = "the exporters of the traces pipelines that list this connector among their receivers"
	return c, nil
}

// tracesConnector sits among the exporters of the user's own traces
// pipeline and feeds the alerts pipeline. It only reads its input, so the
// collector hands it the batch its sibling exporters get: no clone.
type tracesConnector struct {
	pipeline.Node
}

func (c *tracesConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return c.Shared.Unwrap().ConsumeTraces(ctx, td, c.Sink)
}

// profilesConnector takes the span-linked profiles of the user's profiles
// pipeline (it is one of its exporters) for the alerts it emits on the
// traces side. It emits nothing itself.
type profilesConnector struct {
	pipeline.Node
}

func (c *profilesConnector) ConsumeProfiles(ctx context.Context, pd pprofile.Profiles) error {
	c.Shared.Unwrap().IndexProfiles(ctx, pd)
	return nil
}
