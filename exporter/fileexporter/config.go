package fileexporter // import "github.com/slowspan/slowspan/exporter/fileexporter"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the alertfile exporter's configuration. Every option is described
// in README.md.
type Config struct {
	// Path is the JSON-lines file the alerts are appended to. Required.
	Path string `mapstructure:"path"`

	// Rotation bounds the file; rotated files sit beside it with
	// lumberjack's naming (<name>-<UTC time><ext>[.gz]).
	Rotation RotationConfig `mapstructure:"rotation"`

	// FSync, when true, fsyncs the file (and new report files) after every
	// batch. Without it every line still reaches the OS in one write(2)
	// before ConsumeTraces returns, which survives a collector crash but
	// not a power loss.
	FSync bool `mapstructure:"fsync"`

	// Reports is a directory for per-alert reports (HTML page, flame graph
	// SVG, folded stacks, pprof). Empty: no reports.
	Reports string `mapstructure:"reports"`
	// ReportsMaxCount bounds how many report sets are kept; the oldest are
	// deleted after each batch. 0: no limit.
	ReportsMaxCount int `mapstructure:"reports_max_count"`
	// ReportsMaxAge deletes report sets older than this after each batch.
	// 0: no limit.
	ReportsMaxAge time.Duration `mapstructure:"reports_max_age"`

	exporterhelper.TimeoutConfig `mapstructure:",squash"`
	BackOffConfig                configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	QueueConfig                  configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RotationConfig mirrors lumberjack's options.
type RotationConfig struct {
	// MaxMegabytes is the size at which the file is rotated.
	MaxMegabytes int `mapstructure:"max_megabytes"`
	// MaxBackups is how many rotated files are kept; 0 keeps all (subject
	// to MaxDays).
	MaxBackups int `mapstructure:"max_backups"`
	// MaxDays deletes rotated files older than this many days; 0 keeps them.
	MaxDays int `mapstructure:"max_days"`
	// Compress gzips rotated files.
	Compress bool `mapstructure:"compress"`
	// LocalTime uses local time instead of UTC in rotated file names.
	LocalTime bool `mapstructure:"localtime"`

	_ struct{}
}

const (
	defaultMaxMegabytes    = 100
	defaultMaxBackups      = 10
	defaultReportsMaxCount = 1000
	// maxMaxMegabytes keeps the byte count far from overflow and a single
	// file readable by line-oriented tools.
	maxMaxMegabytes = 1 << 20
)

func createDefaultConfig() *Config {
	return &Config{
		Rotation: RotationConfig{
			MaxMegabytes: defaultMaxMegabytes,
			MaxBackups:   defaultMaxBackups,
		},
		ReportsMaxCount: defaultReportsMaxCount,
		TimeoutConfig:   exporterhelper.NewDefaultTimeoutConfig(),
		BackOffConfig:   retryForever(),
		QueueConfig:     configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
	}
}

// Validate checks the options this exporter owns; confmap.Validate checks the
// embedded exporterhelper ones.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case strings.TrimSpace(c.Path) == "":
		errs = append(errs, errors.New("path: required: set it to the JSON-lines file to write, e.g. ./alerts/alerts.jsonl"))
	case strings.HasSuffix(c.Path, "/") || strings.HasSuffix(c.Path, string(filepath.Separator)):
		errs = append(errs, fmt.Errorf("path: %q names a directory: add a file name, e.g. %s", c.Path, filepath.Join(c.Path, "alerts.jsonl")))
	default:
		if fi, err := os.Stat(c.Path); err == nil && fi.IsDir() {
			errs = append(errs, fmt.Errorf("path: %q is a directory: add a file name, e.g. %s", c.Path, filepath.Join(c.Path, "alerts.jsonl")))
		}
	}
	if c.Rotation.MaxMegabytes <= 0 || c.Rotation.MaxMegabytes > maxMaxMegabytes {
		errs = append(errs, fmt.Errorf("rotation.max_megabytes: must be between 1 and %d, got %d", maxMaxMegabytes, c.Rotation.MaxMegabytes))
	}
	if c.Rotation.MaxBackups < 0 {
		errs = append(errs, fmt.Errorf("rotation.max_backups: must be >= 0 (0 keeps all), got %d", c.Rotation.MaxBackups))
	}
	if c.Rotation.MaxDays < 0 {
		errs = append(errs, fmt.Errorf("rotation.max_days: must be >= 0 (0 keeps all), got %d", c.Rotation.MaxDays))
	}
	if c.ReportsMaxCount < 0 {
		errs = append(errs, fmt.Errorf("reports_max_count: must be >= 0 (0: no limit), got %d", c.ReportsMaxCount))
	}
	if c.ReportsMaxAge < 0 {
		errs = append(errs, fmt.Errorf("reports_max_age: must be >= 0 (0: no limit), got %s", c.ReportsMaxAge))
	}
	if c.Reports != "" && c.Path != "" && filepath.Clean(c.Reports) == filepath.Clean(c.Path) {
		errs = append(errs, fmt.Errorf("reports: %q is the alert file itself: use a directory, e.g. %s", c.Reports, filepath.Join(filepath.Dir(c.Path), "reports")))
	}
	return errors.Join(errs...)
}

// retryForever is exporterhelper's default backoff without its 5-minute
// budget: past the budget exporterhelper drops the batch, even from a
// persistent queue, and an alert must wait out an outage instead.
func retryForever() configretry.BackOffConfig {
	c := configretry.NewDefaultBackOffConfig()
	c.MaxElapsedTime = 0
	return c
}
