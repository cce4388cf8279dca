package slowspanprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/slowspan/slowspan/internal/engine"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	storageID := component.MustNewID("file_storage")
	custom := engine.NewDefaultConfig()
	custom.Threshold = 750 * time.Millisecond
	custom.SpanKinds = []string{"server", "consumer"}
	custom.Routes = []RouteRule{
		{Match: "/api/reports/*", Threshold: 5 * time.Second},
		{Match: "/checkout", Methods: []string{"post"}, Threshold: 300 * time.Millisecond},
	}
	custom.Include = []string{"/api/*", "/checkout"}
	custom.Exclude = []string{"*/health", "/api/internal/*"}
	custom.Dedup.Window = 24 * time.Hour
	custom.Dedup.EscalationFactor = 3
	custom.Dedup.MaxKeys = 500
	custom.Dedup.Storage = &storageID

	fleet := engine.NewDefaultConfig()
	fleet.Dedup.Redis.Endpoint = "redis.internal:6379"
	fleet.Dedup.Redis.Username = "slowspan"
	fleet.Dedup.Redis.Password = "s3cret"
	fleet.Dedup.Redis.DB = 2
	fleet.Dedup.Redis.KeyPrefix = "prod:slowspan:"
	fleet.Dedup.Redis.Timeout = 100 * time.Millisecond
	fleetWindows := engine.NewDefaultConfig()
	fleetWindows.Trigger.Mode = engine.ModeQuantile
	fleetWindows.Dedup.Redis.Endpoint = "redis.internal:6379"
	fleetWindows.Fleet.CollectorID = "gateway-0"
	fleetWindows.Fleet.FlushInterval = 10 * time.Second
	fleetOff := engine.NewDefaultConfig()
	fleetOff.Trigger.Mode = engine.ModeRatio
	fleetOff.Dedup.Redis.Endpoint = "redis.internal:6379"
	off := false
	fleetOff.Fleet.Enabled = &off

	custom.Links.Trace = "http://localhost:16686/trace/{{.TraceID}}"
	custom.Redact.Attributes = []string{"http.request.header.authorization", "user.email"}
	custom.Profiles.MaxBytes = 8 << 20

	// Trigger and resolve, globally and in a rule: the rule's fields left
	// out stay zero (they inherit at run time, see engine.resolveTrigger).
	incidents := engine.NewDefaultConfig()
	incidents.Trigger.Mode = engine.ModeQuantile
	incidents.Trigger.Quantile = 0.99
	incidents.Trigger.Over = 10 * time.Minute
	incidents.Trigger.MinCount = 50
	resolveAfter, never := 15*time.Minute, time.Duration(0)
	incidents.Resolve.After = &resolveAfter
	incidents.Routes = []RouteRule{
		{Match: "/api/reports/*", Threshold: 5 * time.Second,
			Trigger: engine.TriggerConfig{Mode: engine.ModeRatio, Ratio: 0.2, Over: time.Minute},
			Resolve: engine.ResolveConfig{After: &never}},
		{Match: "/checkout", Threshold: 300 * time.Millisecond},
	}

	regression := engine.NewDefaultConfig()
	regression.Threshold = 200 * time.Millisecond
	regression.Trigger.Mode = engine.ModeRegression
	regression.Trigger.Quantile = 0.9
	regression.Trigger.Over = 10 * time.Minute
	regression.Trigger.MinCount = 50
	regression.Trigger.Regression = engine.RegressionConfig{Factor: 2, MinDelta: 50 * time.Millisecond,
		VersionAttribute: "deployment.version", KeepVersions: 5, MaxAge: 72 * time.Hour}
	regression.Routes = []RouteRule{{Match: "/api/reports/*", Threshold: 5 * time.Second,
		Trigger: engine.TriggerConfig{Regression: engine.RegressionConfig{MinDelta: time.Second}}}}

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr []string
	}{
		{id: component.NewID(metadata.Type), want: engine.NewDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: custom},
		{id: component.NewIDWithName(metadata.Type, "fleet"), want: fleet},
		{id: component.NewIDWithName(metadata.Type, "incidents"), want: incidents},
		{id: component.NewIDWithName(metadata.Type, "fleet_windows"), want: fleetWindows},
		{id: component.NewIDWithName(metadata.Type, "fleet_off"), want: fleetOff},
		{id: component.NewIDWithName(metadata.Type, "regression"), want: regression},
		{id: component.NewIDWithName(metadata.Type, "bad_regression"), wantErr: []string{
			"trigger.regression.factor: must be between 1 and 1000", "trigger.regression.min_delta: must be >= 0",
			"trigger.regression.version_attribute: must name a resource attribute",
			"trigger.regression.keep_versions: must be between 2 and 16, got 100",
			"trigger.regression.max_age: must be at least 1m0s, got 1s"}},
		{id: component.NewIDWithName(metadata.Type, "bad_fleet"), wantErr: []string{
			"fleet.enabled: fleet-wide windows share them through Redis", "fleet.collector_id:",
			"fleet.flush_interval: must be between 1s and 1m0s, got 100ms"}},
		{id: component.NewIDWithName(metadata.Type, "bad_trigger"), wantErr: []string{
			`trigger.mode: unknown mode "p95"`, "trigger.quantile: must be between 0 and 1",
			"resolve.after: must be >= 0", "routes[0].trigger.ratio: must be in (0, 1]", "routes[0].trigger.over: must be between 10s and 24h0m0s, got 5s"}},
		{id: component.NewIDWithName(metadata.Type, "bad_redis"), wantErr: []string{
			"dedup.redis and dedup.storage: set one of them", "dedup.redis.endpoint: want host:port", "dedup.redis.timeout: must be > 0"}},
		{id: component.NewIDWithName(metadata.Type, "bad_threshold"), wantErr: []string{"threshold: must be > 0"}},
		{id: component.NewIDWithName(metadata.Type, "bad_glob"), wantErr: []string{"include:", `"/api/[v1"`}},
		{id: component.NewIDWithName(metadata.Type, "bad_kind"), wantErr: []string{`span_kinds[1]: unknown span kind "sever"`}},
		{id: component.NewIDWithName(metadata.Type, "bad_route"), wantErr: []string{"routes[0].threshold: must be > 0"}},
		{id: component.NewIDWithName(metadata.Type, "bad_dedup"), wantErr: []string{
			"dedup.window: must be > 0", "dedup.escalation_factor: must be 0 (off) or > 1", "dedup.max_keys: must be > 0"}},
		{id: component.NewIDWithName(metadata.Type, "bad_link"), wantErr: []string{"links.trace:", "TraceId"}},
		{id: component.NewIDWithName(metadata.Type, "bad_method"), wantErr: []string{
			`routes[0].methods[1]: "PROPFIND" is not a standard HTTP method`,
			"correlation.max_pending: must be between 1 and 100000",
			"correlation.max_pending_bytes: must be > 0",
			"dedup.redis.endpoint: required when other dedup.redis options are set"}},
		{id: component.NewIDWithName(metadata.Type, "bad_profiles"), wantErr: []string{
			"profiles.max_samples: must be > 0", "profiles.max_bytes: must be at least 1048576 (1 MiB), got 32"}},
	}
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, time.Second, cfg.Threshold)
	assert.Equal(t, []string{"server"}, cfg.SpanKinds)
	assert.Equal(t, 240*time.Hour, cfg.Dedup.Window)
	assert.Equal(t, 2.0, cfg.Dedup.EscalationFactor)
	assert.Equal(t, 10000, cfg.Dedup.MaxKeys)
	assert.Nil(t, cfg.Dedup.Storage)
	assert.EqualValues(t, 32<<20, cfg.Profiles.MaxBytes)
	assert.Contains(t, cfg.Redact.Attributes, "http.request.header.authorization")
	require.NoError(t, cfg.Validate())
}
