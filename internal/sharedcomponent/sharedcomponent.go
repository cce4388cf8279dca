// Package sharedcomponent lets one component instance serve every pipeline
// that lists it. The collector passes the same *Config to each pipeline, so
// instances are kept in a map keyed by it; Start and Shutdown run once. Core's
// and contrib's packages of the same name are internal, hence this small one.
package sharedcomponent

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Map holds the shared instances of one component type.
type Map[K comparable, V component.Component] struct {
	mu         sync.Mutex
	components map[K]*Component[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{components: make(map[K]*Component[V])}
}

// LoadOrStore returns the instance for key, creating it with create on first
// use.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.components[key]; ok {
		c.refs++
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{component: v, refs: 1}
	// release drops one reference and reports whether it was the last; the
	// last one takes the instance out of the map.
	c.release = func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		c.refs--
		if c.refs > 0 {
			return false
		}
		delete(m.components, key)
		return true
	}
	m.components[key] = c
	return c, nil
}

// Len is the number of live instances (for tests).
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.components)
}

// Component wraps an instance so that Start runs once, on the first call,
// and Shutdown once, on the last: each LoadOrStore hands out a reference
// (one per pipeline node), each Shutdown returns one. The service shuts a
// node down after its own upstream only, so another pipeline may still feed
// the instance when the first of its nodes shuts down. After the last
// Shutdown it leaves the Map, so a collector reload creates a fresh instance.
type Component[V component.Component] struct {
	component V
	refs      int // guarded by the Map's mutex
	release   func() bool

	startOnce    sync.Once
	startErr     error
	shutdownOnce sync.Once
	shutdownErr  error
}

// Unwrap returns the shared instance.
func (c *Component[V]) Unwrap() V { return c.component }

// Start starts the instance on the first call.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.startOnce.Do(func() { c.startErr = c.component.Start(ctx, host) })
	return c.startErr
}

// Shutdown shuts the instance down when the last reference is returned.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	if !c.release() {
		return nil
	}
	c.shutdownOnce.Do(func() { c.shutdownErr = c.component.Shutdown(ctx) })
	return c.shutdownErr
}

// The collector injects the pipeline's identity into each component's logger,
// meter and tracer. A shared instance serves several pipelines, so it drops
// those attributes; these interfaces are what the service's providers
// implement for that purpose.
type injectorCore interface {
	DropInjectedAttributes(droppedAttrs ...string) zapcore.Core
}

type injectorTracerProvider interface {
	DropInjectedAttributes(droppedAttrs ...string) trace.TracerProvider
}

type injectorMeterProvider interface {
	DropInjectedAttributes(droppedAttrs ...string) metric.MeterProvider
}

// PipelineAttributes are the attributes the service injects per pipeline.
var PipelineAttributes = []string{"otelcol.signal", "otelcol.signal.output", "otelcol.pipeline.id"}

// DropPipelineAttributes returns ts without the per-pipeline attributes.
func DropPipelineAttributes(ts component.TelemetrySettings) component.TelemetrySettings {
	ts.Logger = ts.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		if ic, ok := c.(injectorCore); ok {
			return ic.DropInjectedAttributes(PipelineAttributes...)
		}
		return c
	}))
	if tp, ok := ts.TracerProvider.(injectorTracerProvider); ok {
		ts.TracerProvider = tp.DropInjectedAttributes(PipelineAttributes...)
	}
	if mp, ok := ts.MeterProvider.(injectorMeterProvider); ok {
		ts.MeterProvider = mp.DropInjectedAttributes(PipelineAttributes...)
	}
	return ts
}
