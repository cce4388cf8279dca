package slowspanconnector

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/connector/slowspanconnector/internal/metadata"
	"github.com/slowspan/slowspan/internal/engine"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	storage := component.MustNewID("file_storage")
	custom := engine.NewDefaultConfig()
	custom.Threshold = 750 * time.Millisecond
	custom.Include = []string{"/api/*"}
	custom.Exclude = []string{"*/health"}
	custom.Dedup.Window = 24 * time.Hour
	custom.Dedup.Storage = &storage
	// A rule's fields left out stay zero: they inherit at run time.
	incidents := engine.NewDefaultConfig()
	incidents.Trigger.Mode = engine.ModeQuantile
	incidents.Trigger.Quantile = 0.9
	incidents.Trigger.Over = 2 * time.Minute
	resolveAfter := 5 * time.Minute
	incidents.Resolve.After = &resolveAfter
	incidents.Routes = []engine.RouteRule{{Match: "/search", Threshold: 2 * time.Second,
		Trigger: engine.TriggerConfig{Quantile: 0.5, MinCount: 10}}}
	for _, tt := range []struct {
		id      component.ID
		want    *Config
		wantErr []string
	}{
		{id: component.NewID(metadata.Type), want: engine.NewDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: custom},
		{id: component.NewIDWithName(metadata.Type, "incidents"), want: incidents},
		{id: component.NewIDWithName(metadata.Type, "bad_trigger"), wantErr: []string{
			"trigger.over: must be between 10s and 24h0m0s, got 25h0m0s", "routes[0].trigger.quantile: must be between 0 and 1"}},
		{id: component.NewIDWithName(metadata.Type, "bad"), wantErr: []string{"threshold: must be > 0", "include:"}},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			for _, w := range tt.wantErr {
				assert.ErrorContains(t, err, w)
			}
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, cfg)
			}
		})
	}
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func batch(spans ...time.Duration) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i, d := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetTraceID(pcommon.TraceID{byte(i + 1)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
		sp.Attributes().PutStr("http.route", "/r")
	}
	return td
}

func TestConnectorEmitsAlertsAndReadsOnly(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.TracesSink)
	c, err := NewFactory().CreateTracesToTraces(ctx, set, createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()
	assert.False(t, c.Capabilities().MutatesData, "read-only: the fan-out shares the batch with sibling exporters")

	td := batch(2*time.Second, 10*time.Millisecond, 3*time.Second)
	before := ptrace.NewTraces()
	td.CopyTo(before)
	require.NoError(t, c.ConsumeTraces(ctx, td))
	assert.Equal(t, before, td)
	require.Len(t, sink.AllTraces(), 1)
	assert.Equal(t, 1, alert.Count(sink.AllTraces()[0]), "one alert; the second slow span of the key is suppressed")

	m, err := tel.GetMetric("otelcol_connector_slowspan_suppressed_spans")
	require.NoError(t, err)
	assert.EqualValues(t, 1, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

// TestProfileSampleMetrics: the connector counts kept and dropped profile
// samples under its own names.
func TestProfileSampleMetrics(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	c, err := NewFactory().CreateProfilesToTraces(ctx, set, createDefaultConfig(), new(consumertest.TracesSink))
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()

	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "cpu", "nanoseconds", "main.f")
	d.FunctionTable().AppendEmpty()
	d.FunctionTable().AppendEmpty().SetNameStrindex(3)
	d.LocationTable().AppendEmpty()
	d.LocationTable().AppendEmpty().Lines().AppendEmpty().SetFunctionIndex(1)
	d.StackTable().AppendEmpty()
	d.StackTable().AppendEmpty().LocationIndices().Append(1)
	d.LinkTable().AppendEmpty()
	l := d.LinkTable().AppendEmpty()
	l.SetTraceID(pcommon.TraceID{1})
	l.SetSpanID(pcommon.SpanID{1})
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetUnitStrindex(2)
	for _, link := range []int32{1, 0} { // one linked, one not
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(1)
		s.SetLinkIndex(link)
		s.Values().Append(10)
	}
	require.NoError(t, c.ConsumeProfiles(ctx, pd))

	m, err := tel.GetMetric("otelcol_connector_slowspan_profile_samples")
	require.NoError(t, err)
	assert.EqualValues(t, 1, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
	m, err = tel.GetMetric("otelcol_connector_slowspan_profile_samples_dropped")
	require.NoError(t, err)
	dp := m.Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, dp, 1)
	reason, _ := dp[0].Attributes.Value("reason")
	assert.Equal(t, "no_span", reason.AsString())
	assert.EqualValues(t, 1, dp[0].Value)
}

func TestRefusalIsNotReturnedToTheUsersPipeline(t *testing.T) {
	ctx := context.Background()
	refuse := true
	sink := new(consumertest.TracesSink)
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if refuse {
			return errors.New("alerts queue full")
		}
		return sink.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	c, err := NewFactory().CreateTracesToTraces(ctx, connectortest.NewNopSettings(metadata.Type), createDefaultConfig(), next)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()

	// An error here would make the user's pipeline resend its whole batch
	// to its other exporters: the refusal is logged and rolled back instead.
	require.NoError(t, c.ConsumeTraces(ctx, batch(2*time.Second)))
	refuse = false
	require.NoError(t, c.ConsumeTraces(ctx, batch(2*time.Second)))
	require.Len(t, sink.AllTraces(), 1, "rolled back: the next slow span of the endpoint alerts")
}
