package fileexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/slowspan/slowspan/exporter/fileexporter/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	c := cfg.(*Config)
	assert.Equal(t, RotationConfig{MaxMegabytes: 100, MaxBackups: 10}, c.Rotation)
	assert.Equal(t, 1000, c.ReportsMaxCount)
	assert.False(t, c.FSync)
	assert.True(t, c.QueueConfig.HasValue(), "the sending queue is on by default")
	assert.EqualError(t, confmap.Validate(cfg), "path: required: set it to the JSON-lines file to write, e.g. ./alerts/alerts.jsonl")
	assert.Equal(t, "alertfile", metadata.Type.String())
}

func TestLoadConfig(t *testing.T) {
	storageID := component.MustNewID("file_storage")
	full := createDefaultConfig()
	full.Path = "/var/lib/otelcol/alerts/alerts.jsonl"
	full.Rotation = RotationConfig{MaxMegabytes: 10, MaxBackups: 3, MaxDays: 30, Compress: true, LocalTime: true}
	full.FSync = true
	full.Reports = "/var/lib/otelcol/alerts/reports"
	full.ReportsMaxCount = 200
	full.ReportsMaxAge = 720 * time.Hour
	full.Timeout = 10 * time.Second
	full.BackOffConfig.InitialInterval = time.Second
	full.BackOffConfig.MaxInterval = 10 * time.Second
	full.BackOffConfig.MaxElapsedTime = time.Minute
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 2
	q.QueueSize = 500
	q.StorageID = &storageID
	full.QueueConfig = configoptional.Some(q)

	defaults := createDefaultConfig()
	defaults.Path = "./alerts/alerts.jsonl"

	noQueue := createDefaultConfig()
	noQueue.Path = "alerts.jsonl"
	noQueue.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr []string
	}{
		{id: component.NewID(metadata.Type), want: defaults},
		{id: component.NewIDWithName(metadata.Type, "full"), want: full},
		{id: component.NewIDWithName(metadata.Type, "no_queue"), want: noQueue},
		{id: component.NewIDWithName(metadata.Type, "no_path"), wantErr: []string{"path: required"}},
		{id: component.NewIDWithName(metadata.Type, "dir_path"), wantErr: []string{`path: "./alerts/" names a directory`}},
		{id: component.NewIDWithName(metadata.Type, "bad_numbers"), wantErr: []string{
			"rotation.max_megabytes: must be between 1 and", "rotation.max_backups: must be >= 0",
			"rotation.max_days: must be >= 0", "reports_max_count: must be >= 0", "reports_max_age: must be >= 0",
		}},
		{id: component.NewIDWithName(metadata.Type, "reports_is_path"), wantErr: []string{"reports:", "is the alert file itself"}},
		{id: component.NewIDWithName(metadata.Type, "bad_queue"), wantErr: []string{"sending_queue", "num_consumers"}},
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
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestValidatePathIsDirectory(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Path = t.TempDir()
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is a directory")
}
