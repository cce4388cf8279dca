package fileexporter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/exporter/fileexporter/internal/metadata"
)

// fixtureAlert is the alert of the golden files: every field set, fixed
// times.
func fixtureAlert() alert.Alert {
	a := alerttest.Profiled(0)
	a.Rule = "/orders/*"
	a.Reason = alert.ReasonWindowExpired
	a.ID = alert.NewID(a.TraceID, a.SpanID, a.Reason)
	a.Suppressed = alert.Suppressed{Count: 41, MaxDuration: 3100 * time.Millisecond, Since: alerttest.Start.Add(-240 * time.Hour)}
	return a
}

// syncConfig writes synchronously and fails fast: ConsumeTraces returns the
// push error.
func syncConfig(path string) *Config {
	cfg := createDefaultConfig()
	cfg.Path = path
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.BackOffConfig.Enabled = false
	return cfg
}

func startExporter(t *testing.T, cfg *Config, set exporter.Settings, host component.Host) exporter.Traces {
	t.Helper()
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	return exp
}

func newSettings(logger *zap.Logger) exporter.Settings {
	set := exportertest.NewNopSettings(metadata.Type)
	if logger != nil {
		set.Logger = logger
	}
	return set
}

func runExporter(t *testing.T, cfg *Config, batches ...ptrace.Traces) {
	t.Helper()
	exp := startExporter(t, cfg, newSettings(nil), componenttest.NewNopHost())
	for _, td := range batches {
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	}
	require.NoError(t, exp.Shutdown(context.Background()))
}

// readAllLines returns the lines of the alert file and of its rotated files
// (compressed or not), oldest file first.
func readAllLines(t *testing.T, path string) []string {
	t.Helper()
	w := newLineWriter(&Config{Path: path}, zap.NewNop())
	backups, err := w.backups()
	require.NoError(t, err)
	var files []string
	for i := len(backups) - 1; i >= 0; i-- {
		files = append(files, backups[i].path)
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	}
	var lines []string
	for _, f := range files {
		lines = append(lines, readLines(t, f)...)
	}
	return lines
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { assert.NoError(t, f.Close()) }()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}

// liveIDCounts counts the IDs in the alert file while the exporter may still
// be writing it: a line being written can be seen in part (a reader is not
// ordered with a write that crosses a page), so the text after the last
// newline is left for the next poll. Complete lines must all be valid.
func liveIDCounts(c *assert.CollectT, path string) map[string]int {
	counts := map[string]int{}
	data, err := os.ReadFile(path)
	if err != nil {
		return counts
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	} else {
		return counts
	}
	for i, l := range bytes.Split(data, []byte("\n")) {
		var a alert.Alert
		if !assert.NoError(c, json.Unmarshal(l, &a), "line %d is not a valid alert: %.200s", i+1, l) {
			continue
		}
		counts[a.ID]++
	}
	return counts
}

// idCounts decodes every line (failing on an invalid one) and counts IDs.
func idCounts(t *testing.T, lines []string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i, l := range lines {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &a), "line %d is not a valid alert: %.200s", i+1, l)
		counts[a.ID]++
	}
	return counts
}

func requireEachOnce(t *testing.T, counts map[string]int, alerts []alert.Alert) {
	t.Helper()
	require.Len(t, counts, len(alerts), "number of distinct alerts in the file")
	for _, a := range alerts {
		require.Equal(t, 1, counts[a.ID], "alert %s", a.ID)
	}
}

func permOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}
