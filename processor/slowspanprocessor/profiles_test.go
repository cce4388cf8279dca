package slowspanprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// profileFor is one OTLP profile with a sample of 20 ms of CPU in
// main.burnCPU, linked to the span.
func profileFor(tid pcommon.TraceID, sid pcommon.SpanID) pprofile.Profiles {
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "cpu", "nanoseconds", "main.burnCPU", "main.handler")
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	st := d.StackTable().AppendEmpty()
	for _, name := range []int32{3, 4} { // leaf first
		fn := d.FunctionTable().AppendEmpty()
		fn.SetNameStrindex(name)
		loc := d.LocationTable().AppendEmpty()
		loc.Lines().AppendEmpty().SetFunctionIndex(int32(d.FunctionTable().Len() - 1))
		st.LocationIndices().Append(int32(d.LocationTable().Len() - 1))
	}
	l := d.LinkTable().AppendEmpty()
	l.SetTraceID(tid)
	l.SetSpanID(sid)
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(1)
	p.SampleType().SetUnitStrindex(2)
	s := p.Samples().AppendEmpty()
	s.SetStackIndex(1)
	s.SetLinkIndex(1)
	s.Values().Append(int64(20 * time.Millisecond))
	return pd
}

func TestProfilesPipelineFeedsTheTracesPipeline(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)

	profSink := new(consumertest.ProfilesSink)
	pp, err := NewFactory().CreateProfiles(ctx, set, cfg, profSink)
	require.NoError(t, err)
	traceSink := new(consumertest.TracesSink)
	tp := newProcessor(t, cfg, set, traceSink)
	require.NoError(t, pp.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, tp.Start(ctx, componenttest.NewNopHost()))
	assert.False(t, pp.Capabilities().MutatesData)

	td := traces("shop", rd{"/burn", 2 * time.Second})
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	pd := profileFor(span.TraceID(), span.SpanID())
	require.NoError(t, pp.ConsumeProfiles(ctx, pd))
	assert.Equal(t, 1, profSink.SampleCount(), "profiles are passed on unchanged")

	require.NoError(t, tp.ConsumeTraces(ctx, td))
	require.NoError(t, tp.Shutdown(ctx))
	require.NoError(t, pp.Shutdown(ctx))

	require.Len(t, traceSink.AllTraces(), 1)
	var got []alert.Alert
	for a := range alert.All(traceSink.AllTraces()[0]) {
		got = append(got, a)
	}
	require.Len(t, got, 1)
	require.NotNil(t, got[0].Profile)
	assert.Equal(t, "main.burnCPU", got[0].Profile.TopFunctions[0].Name)
	assert.Equal(t, 20*time.Millisecond, got[0].Profile.CPUTime)

	m, err := tel.GetMetric("otelcol_processor_slowspan_profile_samples")
	require.NoError(t, err)
	assert.EqualValues(t, 1, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

// TestProfileSampleMetrics: profile_samples counts the samples kept, and
// profile_samples_dropped the others, by reason.
func TestProfileSampleMetrics(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)
	cfg.Profiles.MaxSamples = 2
	pp, err := NewFactory().CreateProfiles(ctx, set, cfg, new(consumertest.ProfilesSink))
	require.NoError(t, err)
	require.NoError(t, pp.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, pp.Shutdown(ctx)) }()

	pd := profileFor(pcommon.TraceID{1}, pcommon.SpanID{1}) // one linked sample
	samples := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).Samples()
	unlinked := samples.AppendEmpty()
	unlinked.SetStackIndex(1)
	unlinked.Values().Append(10)
	noStack := samples.AppendEmpty()
	noStack.SetLinkIndex(1)
	noStack.Values().Append(10)
	for range 3 { // two more than max_samples allows
		s := samples.AppendEmpty()
		s.SetStackIndex(1)
		s.SetLinkIndex(1)
		s.Values().Append(10)
	}
	require.NoError(t, pp.ConsumeProfiles(ctx, pd))

	m, err := tel.GetMetric("otelcol_processor_slowspan_profile_samples")
	require.NoError(t, err)
	assert.EqualValues(t, 2, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value, "only the samples kept")

	m, err = tel.GetMetric("otelcol_processor_slowspan_profile_samples_dropped")
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		reason, _ := dp.Attributes.Value("reason")
		got[reason.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{"no_span": 1, "invalid": 1, "max_samples": 2}, got)
}

func TestPendingAlertsGauge(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)
	cfg.Correlation.Wait = time.Hour
	sink := new(consumertest.TracesSink)
	p := newProcessor(t, cfg, set, sink)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(ctx, traces("shop", rd{"/a", 2 * time.Second}, rd{"/b", 2 * time.Second})))

	m, err := tel.GetMetric("otelcol_processor_slowspan_pending_alerts")
	require.NoError(t, err)
	assert.EqualValues(t, 2, m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
	assert.Equal(t, 0, sink.SpanCount())

	require.NoError(t, p.Shutdown(ctx))
	assert.Equal(t, 2, sink.SpanCount(), "shutdown flushes every pending alert")
}
