package slowspanconnector

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/connector/slowspanconnector/internal/metadata"
)

// TestLogLines: the connector's start-up line says where its alerts go, and
// each alert it emits has its info line.
func TestLogLines(t *testing.T) {
	ctx := context.Background()
	core, logs := observer.New(zapcore.InfoLevel)
	set := connectortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	c, err := NewFactory().CreateTracesToTraces(ctx, set, createDefaultConfig(), new(consumertest.TracesSink))
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()

	started := logs.FilterMessageSnippet("slowspan started").AllUntimed()
	require.Len(t, started, 1)
	assert.Contains(t, started[0].ContextMap()["alerts_to"], "list this connector among their receivers")

	require.NoError(t, c.ConsumeTraces(ctx, batch(2*time.Second, 10*time.Millisecond, 3*time.Second)))
	assert.Len(t, logs.FilterMessage("slow request alert").AllUntimed(), 1, "one alert, one line; the repeat is suppressed")
}
