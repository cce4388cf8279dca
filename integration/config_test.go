package integration

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/pipeline/xpipeline"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry"

	"github.com/slowspan/slowspan/exporter/fileexporter"
	"github.com/slowspan/slowspan/processor/slowspanprocessor"
)

// TestCollectorConfigValidates loads the default config that `make run` uses
// against the real factories (no binary needed) and checks its pipeline.
func TestCollectorConfigValidates(t *testing.T) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	require.NoError(t, err)
	processors, err := otelcol.MakeFactoryMap[processor.Factory](slowspanprocessor.NewFactory())
	require.NoError(t, err)
	// The profiles pipeline needs the alpha gate, as `make run` sets it.
	require.NoError(t, featuregate.GlobalRegistry().Set("service.profilesSupport", true))
	t.Cleanup(func() { _ = featuregate.GlobalRegistry().Set("service.profilesSupport", false) })
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](fileexporter.NewFactory(), debugexporter.NewFactory(), nopexporter.NewFactory())
	require.NoError(t, err)
	extensions, err := otelcol.MakeFactoryMap[extension.Factory](filestorage.NewFactory())
	require.NoError(t, err)
	factories := otelcol.Factories{
		Receivers:  receivers,
		Processors: processors,
		Exporters:  exporters,
		Extensions: extensions,
		Telemetry:  rawTelemetryFactory(),
	}

	cfg, err := otelcoltest.LoadConfigAndValidate("../collector-config.yaml", factories)
	require.NoError(t, err)

	alerts := pipeline.NewIDWithName(pipeline.SignalTraces, "alerts")
	p, ok := cfg.Service.Pipelines[alerts]
	require.True(t, ok, "pipeline %s missing", alerts)
	assert.Equal(t, []component.ID{component.MustNewID("otlp")}, p.Receivers)
	assert.Equal(t, []component.ID{component.MustNewID("slowspan")}, p.Processors)
	assert.Equal(t, []component.ID{component.MustNewID("alertfile")}, p.Exporters)
	assert.Equal(t, []component.ID{component.MustNewID("file_storage")}, []component.ID(cfg.Service.Extensions))
	prof, ok := cfg.Service.Pipelines[pipeline.NewID(xpipeline.SignalProfiles)]
	require.True(t, ok, "profiles pipeline missing")
	assert.Equal(t, []component.ID{component.MustNewID("slowspan")}, prof.Processors, "the same processor: one shared instance")

	// Env defaults resolve when the variables are unset.
	ss, ok := cfg.Processors[component.MustNewID("slowspan")].(*slowspanprocessor.Config)
	require.True(t, ok)
	if _, set := os.LookupEnv("SLOWSPAN_THRESHOLD"); !set {
		assert.Equal(t, time.Second, ss.Threshold)
	}
	require.NotNil(t, ss.Dedup.Storage)
	assert.Equal(t, component.MustNewID("file_storage"), *ss.Dedup.Storage)
	if _, set := os.LookupEnv("SLOWSPAN_TRACE_LINK"); !set {
		assert.Empty(t, ss.Links.Trace, "no trace link by default, and an empty template validates")
	}

	// The collector's own metrics stay on loopback.
	tel, ok := cfg.Service.Telemetry.(*map[string]any)
	require.True(t, ok)
	host, _ := dig(*tel, "metrics", "readers", 0, "pull", "exporter", "prometheus", "host")
	assert.Equal(t, "127.0.0.1", host, "service.telemetry.metrics prometheus host")

	af, ok := cfg.Exporters[component.MustNewID("alertfile")].(*fileexporter.Config)
	require.True(t, ok)
	if _, set := os.LookupEnv("SLOWSPAN_ALERTS_DIR"); !set {
		assert.Equal(t, "./alerts/alerts.jsonl", af.Path)
		assert.Equal(t, "./alerts/reports", af.Reports)
	}

	fs, ok := cfg.Extensions[component.MustNewID("file_storage")].(*filestorage.Config)
	require.True(t, ok)
	assert.True(t, fs.CreateDirectory)
	if _, set := os.LookupEnv("SLOWSPAN_DATA_DIR"); !set {
		assert.Equal(t, "./data", fs.Directory)
	}

	// `make run` reads the trace link template from SLOWSPAN_TRACE_LINK.
	const link = "http://localhost:16686/trace/{{.TraceID}}"
	t.Setenv("SLOWSPAN_TRACE_LINK", link)
	cfg, err = otelcoltest.LoadConfigAndValidate("../collector-config.yaml", factories)
	require.NoError(t, err)
	ss, ok = cfg.Processors[component.MustNewID("slowspan")].(*slowspanprocessor.Config)
	require.True(t, ok)
	assert.Equal(t, link, ss.Links.Trace)
}

// rawTelemetryFactory keeps service.telemetry as a plain map. The collector's
// real telemetry factory (otelconftelemetry) drags cloud resource detectors into
// go.mod; TestBinaryValidatesDefaultConfig checks that section with the real one.
func rawTelemetryFactory() telemetry.Factory {
	return telemetry.NewFactory(func() component.Config { return &map[string]any{} })
}

// dig walks nested maps (string keys) and slices (int indexes).
func dig(v any, path ...any) (any, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			v, ok = m[k]
			if !ok {
				return nil, false
			}
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil, false
			}
			v = s[k]
		}
	}
	return v, true
}

// TestBinaryValidatesDefaultConfig runs `otelcol-slowspan validate` on the
// default config: the built distribution's own factories, telemetry included.
func TestBinaryValidatesDefaultConfig(t *testing.T) {
	bin := collectorPath(t)
	out, err := exec.Command(bin, "validate", "--config", "../collector-config.yaml",
		"--feature-gates=service.profilesSupport").CombinedOutput()
	require.NoError(t, err, "validate:\n%s", out)
}

// TestBinaryValidatesMattermostConfig: what `make run` starts when
// SLOWSPAN_MATTERMOST_ENDPOINT is set.
func TestBinaryValidatesMattermostConfig(t *testing.T) {
	bin := collectorPath(t)
	cmd := exec.Command(bin, "validate", "--config", "../collector-config.yaml", "--config", "../collector-config.mattermost.yaml",
		"--feature-gates=service.profilesSupport")
	cmd.Env = append(os.Environ(),
		"SLOWSPAN_MATTERMOST_ENDPOINT=https://mattermost.example.com",
		"SLOWSPAN_MATTERMOST_TOKEN=abcdefghijklmnopqrstuvwxyz",
		"SLOWSPAN_MATTERMOST_CHANNEL_ID=abcdefghijklmnopqrstuvwxyz",
		"SLOWSPAN_TRACE_LINK=http://localhost:16686/trace/{{.TraceID}}",
		"SLOWSPAN_REPORT_URL=https://reports.example.com/{{.Name}}.html",
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "validate:\n%s", out)
	assert.NotContains(t, string(out), "abcdefghijklmnopqrstuvwxyz", "the token never appears in output")
}
