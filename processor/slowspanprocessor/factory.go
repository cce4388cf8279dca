package slowspanprocessor // import "github.com/slowspan/slowspan/processor/slowspanprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/xprocessor"

	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// NewFactory returns the slowspan processor factory.
func NewFactory() xprocessor.Factory {
	return xprocessor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xprocessor.WithTraces(createTraces, metadata.TracesStability),
	)
}

// instances holds one slowspan per *Config: every pipeline listing the same
// processor shares its dedup state.
var instances = sharedcomponent.NewMap[*Config, *engine.Component]()

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	c := cfg.(*Config)
	shared, err := instances.LoadOrStore(c, func() (*engine.Component, error) {
		return newComponent(set, c)
	})
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{shared: shared, next: next}, nil
}
