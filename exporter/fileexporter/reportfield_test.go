package fileexporter

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/report"
)

// TestReportField: with reports on, each line names its HTML report,
// relative to the alert file's directory; readers of the alert ignore the
// field; one info line per alert written says where the report is, and one
// start-up line where alerts and reports go.
func TestReportField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	cfg := syncConfig(path)
	cfg.Reports = filepath.Join(dir, "reports")
	core, logs := observer.New(zapcore.InfoLevel)

	a := alerttest.Numbered(3)
	exp := startExporter(t, cfg, newSettings(zap.New(core)), componenttest.NewNopHost())
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a))) // redelivered: no line, no log
	require.NoError(t, exp.Shutdown(context.Background()))

	lines := readAllLines(t, path)
	require.Len(t, lines, 1)
	var fields map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &fields))
	want := "reports/" + report.Name(a) + report.ExtHTML
	assert.Equal(t, want, fields["report"])
	assert.FileExists(t, filepath.Join(dir, filepath.FromSlash(want)))
	var back alert.Alert
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &back), "readers ignore the field")
	assert.Equal(t, a.ID, back.ID)

	started := logs.FilterMessageSnippet("alertfile: alerts are written").AllUntimed()
	require.Len(t, started, 1)
	assert.Equal(t, path, started[0].ContextMap()["path"])
	assert.Equal(t, cfg.Reports, started[0].ContextMap()["reports"])
	written := logs.FilterMessage("alertfile: alert written").AllUntimed()
	require.Len(t, written, 1)
	assert.Equal(t, a.ID, written[0].ContextMap()["alert_id"])
	assert.Equal(t, a.Key.String(), written[0].ContextMap()["endpoint"])
	assert.Equal(t, filepath.Join(dir, filepath.FromSlash(want)), written[0].ContextMap()["report"])
}

// TestReportFieldOff: without reports, no field.
func TestReportFieldOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	runExporter(t, syncConfig(path), alerttest.Traces(t, alerttest.Numbered(1)))
	lines := readAllLines(t, path)
	require.Len(t, lines, 1)
	assert.NotContains(t, lines[0], `"report"`)
}

func TestReportsRef(t *testing.T) {
	abs, err := filepath.Abs("elsewhere/reports")
	require.NoError(t, err)
	for _, tc := range []struct{ path, reports, want string }{
		{"alerts/alerts.jsonl", "alerts/reports", "reports"},
		{"./alerts/alerts.jsonl", "alerts/./reports/", "reports"},
		{"/var/a/alerts.jsonl", "/var/a/r/x", "r/x"},
		{"/var/a/alerts.jsonl", "/var/a", "."},
		{"/var/a/alerts.jsonl", "/var/b/reports", "/var/b/reports"},
		{"/var/a/alerts.jsonl", "/var/a/..reports", "..reports"},
		{"alerts/alerts.jsonl", "elsewhere/reports", filepath.ToSlash(abs)},
		{"alerts/alerts.jsonl", "", ""},
	} {
		assert.Equal(t, tc.want, reportsRef(tc.path, tc.reports), "%s %s", tc.path, tc.reports)
	}
	assert.JSONEq(t, `{"a":1,"report":"r/x.html"}`, string(withReport([]byte(`{"a":1}`), "r/x.html")))
	assert.JSONEq(t, `{"report":"r/x.html"}`, string(withReport([]byte(`{}`), "r/x.html")))
}
