package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type counting struct {
	starts, shutdowns int
	startErr          error
}

func (c *counting) Start(context.Context, component.Host) error { c.starts++; return c.startErr }
func (c *counting) Shutdown(context.Context) error              { c.shutdowns++; return nil }

func TestStartAndShutdownOnce(t *testing.T) {
	m := NewMap[string, *counting]()
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }
	a, err := m.LoadOrStore("cfg", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("cfg", create)
	require.NoError(t, err)
	assert.Same(t, a, b)
	assert.Equal(t, 1, created)

	ctx := context.Background()
	require.NoError(t, a.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, b.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, a.Shutdown(ctx))
	assert.Equal(t, 0, a.Unwrap().shutdowns, "another pipeline still holds it")
	assert.Equal(t, 1, m.Len())
	require.NoError(t, b.Shutdown(ctx))
	assert.Equal(t, 1, a.Unwrap().starts)
	assert.Equal(t, 1, a.Unwrap().shutdowns, "shut down with the last reference")
	assert.Equal(t, 0, m.Len())

	c, err := m.LoadOrStore("cfg", create)
	require.NoError(t, err)
	assert.NotSame(t, a, c, "a reload after shutdown gets a fresh instance")
}

func TestErrors(t *testing.T) {
	m := NewMap[int, *counting]()
	_, err := m.LoadOrStore(1, func() (*counting, error) { return nil, errors.New("bad config") })
	require.ErrorContains(t, err, "bad config")
	assert.Equal(t, 0, m.Len())

	c, err := m.LoadOrStore(2, func() (*counting, error) { return &counting{startErr: errors.New("no storage")}, nil })
	require.NoError(t, err)
	require.ErrorContains(t, c.Start(context.Background(), componenttest.NewNopHost()), "no storage")
	require.ErrorContains(t, c.Start(context.Background(), componenttest.NewNopHost()), "no storage", "the first error sticks")
	assert.Equal(t, 1, c.Unwrap().starts)
}

func TestDropPipelineAttributesKeepsPlainSettings(t *testing.T) {
	ts := componenttest.NewNopTelemetrySettings()
	got := DropPipelineAttributes(ts)
	assert.NotNil(t, got.Logger)
	assert.Equal(t, ts.MeterProvider, got.MeterProvider)
}
