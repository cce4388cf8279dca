package pipeline

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/internal/sharedcomponent"
)

// Node is one pipeline's view of the shared Component. The processor and the
// connector embed it and add the Consume method of their signal.
type Node struct {
	Shared *sharedcomponent.Component[*Component]
	// Sink is where this node's alerts go: the next consumer of a traces
	// node; nil for a profiles node, which emits no alerts.
	Sink consumer.Traces
	// Logger is the node's own logger (with its pipeline's attributes), for
	// the start-up line, which then names the pipeline its alerts go to.
	// Optional.
	Logger *zap.Logger
}

// Start starts the shared instance with the first pipeline. A traces node
// registers its sink first: the timer may owe an alert before any span came
// in (an incident loaded from storage resolves), and it goes to the first
// sink.
func (n Node) Start(ctx context.Context, host component.Host) error {
	if n.Sink != nil {
		n.Shared.Unwrap().origin(n.Sink)
	}
	if err := n.Shared.Start(ctx, host); err != nil {
		return err
	}
	if n.Sink != nil {
		n.Shared.Unwrap().announce(n.Logger)
	}
	return nil
}

// Shutdown delivers the alerts still waiting for this node's sink, then
// shuts the shared instance down with the last pipeline.
//
// The collector stops nodes in topological order: a node before the nodes
// downstream of it, so the sink still runs now. It is not in order across
// pipelines: when one instance serves a traces and a profiles pipeline, the
// profiles node may stop last, after the alert exporters. Waiting alerts
// must therefore leave with the traces node, not with the instance.
func (n Node) Shutdown(ctx context.Context) error {
	if n.Sink != nil {
		n.Shared.Unwrap().Drain(ctx, n.Sink)
	}
	return n.Shared.Shutdown(ctx)
}

// Capabilities: the input is only read; alerts are copies. A read-only
// consumer spares the receiver's fan-out a clone of every batch.
func (Node) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }
