package slowspanprocessor

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

func redisConfig(addr string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Dedup.Redis.Endpoint = addr
	cfg.Dedup.Redis.Password = "hunter2-redis"
	cfg.Dedup.Redis.Timeout = time.Second
	return cfg
}

func TestFleetSharesRedis(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("hunter2-redis")
	ctx := context.Background()
	var sinks []*consumertest.TracesSink
	var fleet []processor.Traces
	for range 3 { // three collectors: three configs, three instances
		sink := new(consumertest.TracesSink)
		p := newProcessor(t, redisConfig(m.Addr()), processortest.NewNopSettings(metadata.Type), sink)
		require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, p.Shutdown(ctx)) })
		sinks = append(sinks, sink)
		fleet = append(fleet, p)
	}
	for i := range 9 { // round-robin, as a load balancer would
		require.NoError(t, fleet[i%3].ConsumeTraces(ctx, traces("shop", rd{"/checkout", 2 * time.Second})))
	}
	require.NoError(t, fleet[1].ConsumeTraces(ctx, traces("shop", rd{"/checkout", 5 * time.Second})))

	var routes []string
	for _, s := range sinks {
		routes = append(routes, alertRoutes(s)...)
	}
	assert.Equal(t, []string{"/checkout", "/checkout"}, routes, "one first alert and one escalation across the fleet")
	assert.Len(t, alertRoutes(sinks[1]), 1, "the escalation came out of the collector that saw it")
}

func TestRedisDownFallsBackWithoutLeakingThePassword(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	core, logs := observer.New(zap.DebugLevel)
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	set.TelemetrySettings.MeterProvider = tel.NewTelemetrySettings().MeterProvider
	sink := new(consumertest.TracesSink)
	ctx := context.Background()
	p := newProcessor(t, redisConfig(addr), set, sink)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()), "an unreachable Redis is not a start-up error")
	defer func() { require.NoError(t, p.Shutdown(ctx)) }()

	require.NoError(t, p.ConsumeTraces(ctx, traces("shop", rd{"/a", 2 * time.Second})))
	require.NoError(t, p.ConsumeTraces(ctx, traces("shop", rd{"/a", 2 * time.Second})))
	assert.Equal(t, []string{"/a"}, alertRoutes(sink), "no alert lost, and the local state dedups")

	m, err := tel.GetMetric("otelcol_processor_slowspan_dedup_backend_errors")
	require.NoError(t, err)
	assert.EqualValues(t, 1, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value, "one try, then the backoff")

	require.Positive(t, logs.FilterMessageSnippet("unreachable at start").Len())
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, "hunter2-redis")
		for _, f := range e.Context {
			assert.NotContains(t, f.String, "hunter2-redis")
			if err, ok := f.Interface.(error); ok {
				assert.NotContains(t, err.Error(), "hunter2-redis")
			}
		}
	}
}
