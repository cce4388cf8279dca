package slowspanprocessor // import "github.com/slowspan/slowspan/processor/slowspanprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/xprocessor"

	"github.com/slowspan/slowspan/internal/pipeline"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// NewFactory returns the slowspan processor factory.
func NewFactory() xprocessor.Factory {
	return xprocessor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xprocessor.WithTraces(createTraces, metadata.TracesStability),
		xprocessor.WithProfiles(createProfiles, metadata.ProfilesStability),
	)
}

// instances holds one slowspan per *Config: every pipeline listing the same
// processor shares its dedup state.
var instances = sharedcomponent.NewMap[*Config, *pipeline.Component]()

func shared(set processor.Settings, cfg component.Config) (*sharedcomponent.Component[*pipeline.Component], error) {
	c := cfg.(*Config)
	return instances.LoadOrStore(c, func() (*pipeline.Component, error) {
		return newComponent(set, c)
	})
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	s, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{Node: pipeline.Node{Shared: s, Sink: next, Logger: set.Logger}}, nil
}

// createProfiles: the profiles pipeline listing the same processor shares
// the traces pipelines' instance, whose alerts get the profiles.
func createProfiles(_ context.Context, set processor.Settings, cfg component.Config, next xconsumer.Profiles) (xprocessor.Profiles, error) {
	s, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	return &profilesProcessor{Node: pipeline.Node{Shared: s}, next: next}, nil
}
