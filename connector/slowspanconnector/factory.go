package slowspanconnector // import "github.com/slowspan/slowspan/connector/slowspanconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/xconnector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/slowspan/slowspan/connector/slowspanconnector/internal/metadata"
	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
)

// NewFactory returns the slowspan connector factory.
func NewFactory() xconnector.Factory {
	return xconnector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xconnector.WithTracesToTraces(createTracesToTraces, metadata.TracesToTracesStability),
	)
}

// instances holds one engine per *Config, shared by every signal pair the
// connector serves.
var instances = sharedcomponent.NewMap[*Config, *engine.Component]()

func createTracesToTraces(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Traces) (connector.Traces, error) {
	c := cfg.(*Config)
	shared, err := instances.LoadOrStore(c, func() (*engine.Component, error) {
		return newComponent(set, c)
	})
	if err != nil {
		return nil, err
	}
	return &tracesConnector{shared: shared, next: next}, nil
}
