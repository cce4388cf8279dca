package slowspanconnector // import "github.com/slowspan/slowspan/connector/slowspanconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/xconnector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/slowspan/slowspan/connector/slowspanconnector/internal/metadata"
	"github.com/slowspan/slowspan/internal/pipeline"
	"github.com/slowspan/slowspan/internal/sharedcomponent"
)

// NewFactory returns the slowspan connector factory.
func NewFactory() xconnector.Factory {
	return xconnector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xconnector.WithTracesToTraces(createTracesToTraces, metadata.TracesToTracesStability),
		xconnector.WithProfilesToTraces(createProfilesToTraces, metadata.ProfilesToTracesStability),
	)
}

// instances holds one engine per *Config, shared by every signal pair the
// connector serves.
var instances = sharedcomponent.NewMap[*Config, *pipeline.Component]()

func shared(set connector.Settings, cfg component.Config) (*sharedcomponent.Component[*pipeline.Component], error) {
	c := cfg.(*Config)
	return instances.LoadOrStore(c, func() (*pipeline.Component, error) {
		return newComponent(set, c)
	})
}

func createTracesToTraces(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Traces) (connector.Traces, error) {
	s, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	return &tracesConnector{Node: pipeline.Node{Shared: s, Sink: next, Logger: set.Logger}}, nil
}

func createProfilesToTraces(_ context.Context, set connector.Settings, cfg component.Config, _ consumer.Traces) (xconnector.Profiles, error) {
	s, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	return &profilesConnector{Node: pipeline.Node{Shared: s}}, nil
}
