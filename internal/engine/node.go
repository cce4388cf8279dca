package engine

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"

	"github.com/slowspan/slowspan/internal/sharedcomponent"
)

// Node is one pipeline's view of the shared Component. The processor and the
// connector embed it and add the Consume method of their signal.
type Node struct {
	Shared *sharedcomponent.Component[*Component]
}

// Start starts the shared instance with the first pipeline.
func (n Node) Start(ctx context.Context, host component.Host) error { return n.Shared.Start(ctx, host) }

// Shutdown shuts the shared instance down with the last pipeline.
func (n Node) Shutdown(ctx context.Context) error { return n.Shared.Shutdown(ctx) }

// Capabilities: the input is only read; alerts are copies. A read-only
// consumer spares the receiver's fan-out a clone of every batch.
func (Node) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }
