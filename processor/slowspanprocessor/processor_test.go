package slowspanprocessor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/goleak"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var spanSeq byte

// traces builds one resource of service svc with server spans of the given
// routes and durations.
func traces(svc string, spans ...struct {
	route string
	dur   time.Duration
},
) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", svc)
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, s := range spans {
		spanSeq++
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{spanSeq, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
		sp.SetSpanID(pcommon.SpanID{spanSeq, 8, 8, 8, 8, 8, 8, 8})
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetName("GET " + s.route)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(s.dur)))
		sp.Attributes().PutStr("http.route", s.route)
		sp.Attributes().PutStr("http.request.method", "GET")
	}
	return td
}

type rd = struct {
	route string
	dur   time.Duration
}

func newProcessor(t *testing.T, cfg *Config, set processor.Settings, next consumer.Traces) processor.Traces {
	t.Helper()
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, next)
	require.NoError(t, err)
	return p
}

func alertRoutes(sink *consumertest.TracesSink) []string {
	var out []string
	for _, td := range sink.AllTraces() {
		for a := range alert.All(td) {
			out = append(out, a.Key.Route)
		}
	}
	return out
}

func TestProcessorEmitsOnlyAlerts(t *testing.T) {
	sink := new(consumertest.TracesSink)
	cfg := createDefaultConfig().(*Config)
	p := newProcessor(t, cfg, processortest.NewNopSettings(metadata.Type), sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	assert.False(t, p.Capabilities().MutatesData)
	td := traces("shop", rd{"/slow", 2 * time.Second}, rd{"/fast", 10 * time.Millisecond})
	before := ptrace.NewTraces()
	td.CopyTo(before)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	assert.Equal(t, before, td, "input untouched")
	assert.Equal(t, []string{"/slow"}, alertRoutes(sink))
	assert.Equal(t, 1, sink.SpanCount())

	// Nothing slow: nothing passed on at all.
	require.NoError(t, p.ConsumeTraces(context.Background(), traces("shop", rd{"/fast", time.Millisecond})))
	assert.Len(t, sink.AllTraces(), 1)
}

func TestRefusedAlertsFireAgainOnRetry(t *testing.T) {
	refuse := true
	sink := new(consumertest.TracesSink)
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if refuse {
			return errors.New("queue full")
		}
		return sink.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newProcessor(t, createDefaultConfig().(*Config), set, next)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	td := traces("shop", rd{"/slow", 2 * time.Second})
	require.ErrorContains(t, p.ConsumeTraces(context.Background(), td), "queue full")
	refuse = false
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	assert.Equal(t, []string{"/slow"}, alertRoutes(sink))

	m, err := tel.GetMetric("otelcol_processor_slowspan_alerts_refused")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        "otelcol_processor_slowspan_alerts_refused",
		Description: "Alerts the next consumer refused; their dedup state was rolled back so a retry alerts again. [Alpha]",
		Unit:        "{alerts}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  []metricdata.DataPoint[int64]{{Value: 1}},
		},
	}, m, metricdatatest.IgnoreTimestamp())
}

func TestTelemetry(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)
	cfg.Exclude = []string{"*/health"}
	p := newProcessor(t, cfg, set, consumertest.NewNop())
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	require.NoError(t, p.ConsumeTraces(context.Background(), traces("shop",
		rd{"/a", 2 * time.Second}, rd{"/a", 2 * time.Second}, rd{"/b", 3 * time.Second},
		rd{"/v1/health", 5 * time.Second}, rd{"/fast", time.Millisecond})))

	sum := func(name string, want int64) {
		t.Helper()
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		got := m.Data.(metricdata.Sum[int64])
		var total int64
		for _, dp := range got.DataPoints {
			total += dp.Value
		}
		assert.Equal(t, want, total, name)
	}
	sum("otelcol_processor_slowspan_spans", 5)
	sum("otelcol_processor_slowspan_slow_spans", 4)
	sum("otelcol_processor_slowspan_filtered_spans", 1)
	sum("otelcol_processor_slowspan_suppressed_spans", 1)

	m, err := tel.GetMetric("otelcol_processor_slowspan_alerts")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        "otelcol_processor_slowspan_alerts",
		Description: "Alerts emitted, by reason (first, window_expired, escalation, storm, quantile, ratio, resolved, regression). [Alpha]",
		Unit:        "{alerts}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{
				{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "first"))},
			},
		},
	}, m, metricdatatest.IgnoreTimestamp())

	keys, err := tel.GetMetric("otelcol_processor_slowspan_dedup_keys")
	require.NoError(t, err)
	assert.EqualValues(t, 2, keys.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
}

func TestPipelinesShareOneInstance(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	sinkA, sinkB := new(consumertest.TracesSink), new(consumertest.TracesSink)
	a := newProcessor(t, cfg, processortest.NewNopSettings(metadata.Type), sinkA)
	b := newProcessor(t, cfg, processortest.NewNopSettings(metadata.Type), sinkB)
	other := newProcessor(t, createDefaultConfig().(*Config), processortest.NewNopSettings(metadata.Type), consumertest.NewNop())
	assert.Equal(t, 2, instances.Len())
	ctx := context.Background()
	for _, p := range []processor.Traces{a, b, other} {
		require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	}

	require.NoError(t, a.ConsumeTraces(ctx, traces("shop", rd{"/x", 2 * time.Second})))
	require.NoError(t, b.ConsumeTraces(ctx, traces("shop", rd{"/x", 2 * time.Second})))
	assert.Len(t, alertRoutes(sinkA), 1)
	assert.Empty(t, alertRoutes(sinkB), "the second pipeline sees the first one's dedup state")

	for _, p := range []processor.Traces{a, b, other} {
		require.NoError(t, p.Shutdown(ctx))
	}
	assert.Equal(t, 0, instances.Len(), "instances leave the map on shutdown")
}

// newFileStorage starts contrib's real file_storage extension on dir.
func newFileStorage(t *testing.T, dir string) (component.ID, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	set := extensiontest.NewNopSettings(f.Type())
	set.ID = component.NewID(f.Type())
	ext, err := f.Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return set.ID, ext
}

func TestRestartKeepsDedupState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	procSet := processortest.NewNopSettings(metadata.Type)
	procSet.ID = component.NewID(metadata.Type) // the storage is keyed by the component id

	run := func(batches ...ptrace.Traces) []alert.Alert {
		storageID, ext := newFileStorage(t, dir)
		host := storagetest.NewStorageHost().WithExtension(storageID, ext)
		cfg := createDefaultConfig().(*Config) // a new *Config, as after a restart
		cfg.Dedup.Storage = &storageID
		sink := new(consumertest.TracesSink)
		p := newProcessor(t, cfg, procSet, sink)
		require.NoError(t, p.Start(ctx, host))
		for _, td := range batches {
			require.NoError(t, p.ConsumeTraces(ctx, td))
		}
		require.NoError(t, p.Shutdown(ctx))
		require.NoError(t, ext.Shutdown(ctx))
		var out []alert.Alert
		for _, td := range sink.AllTraces() {
			for a := range alert.All(td) {
				out = append(out, a)
			}
		}
		return out
	}

	first := run(traces("shop", rd{"/a", 2 * time.Second}), traces("shop", rd{"/a", 3 * time.Second}))
	require.Len(t, first, 1)

	// Same key after the restart: suppressed; a new key still alerts.
	second := run(traces("shop", rd{"/a", 2500 * time.Millisecond}), traces("shop", rd{"/b", 2 * time.Second}))
	require.Len(t, second, 1)
	assert.Equal(t, "/b", second[0].Key.Route)

	// Escalation still fires after a restart, and carries the suppressed
	// count from both runs (3 s in the first, 2.5 s in the second).
	third := run(traces("shop", rd{"/a", 5 * time.Second}))
	require.Len(t, third, 1)
	assert.Equal(t, alert.ReasonEscalation, third[0].Reason)
	assert.EqualValues(t, 2, third[0].Suppressed.Count)
	assert.Equal(t, 3*time.Second, third[0].Suppressed.MaxDuration)
}

func TestStartErrorsNameTheField(t *testing.T) {
	ctx := context.Background()
	missing := component.MustNewID("file_storage")
	cfg := createDefaultConfig().(*Config)
	cfg.Dedup.Storage = &missing
	p := newProcessor(t, cfg, processortest.NewNopSettings(metadata.Type), consumertest.NewNop())
	err := p.Start(ctx, componenttest.NewNopHost())
	require.ErrorContains(t, err, `dedup.storage: extension "file_storage" not found`)
	require.NoError(t, p.Shutdown(ctx))

	notStorage := storagetest.NewNonStorageID("x")
	cfg = createDefaultConfig().(*Config)
	cfg.Dedup.Storage = &notStorage
	p = newProcessor(t, cfg, processortest.NewNopSettings(metadata.Type), consumertest.NewNop())
	err = p.Start(ctx, storagetest.NewStorageHost().WithNonStorageExtension("x"))
	require.ErrorContains(t, err, "is not a storage extension")
	require.NoError(t, p.Shutdown(ctx))
}
