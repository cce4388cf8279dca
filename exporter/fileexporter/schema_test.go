package fileexporter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
)

// TestSchema1StillRead: after an upgrade to schema 2, the file holds lines
// of schema 1 (read back for dedup) and the queue may hold spans of schema
// 1 (still alerts); both keep working, and new lines are schema 2.
func TestSchema1StillRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	a, b := alerttest.Numbered(1), alerttest.Numbered(2)
	old, err := json.Marshal(a)
	require.NoError(t, err)
	var line map[string]any
	require.NoError(t, json.Unmarshal(old, &line))
	line["schema"] = 1
	old, err = json.Marshal(line)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(old, '\n'), 0o600))

	td := alerttest.Traces(t, a, b) // a redelivered, b new
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := range spans.Len() {
		if alert.IsAlert(spans.At(i)) {
			spans.At(i).Attributes().PutInt(alert.AttrSchema, 1)
		}
	}
	runExporter(t, syncConfig(path), td)

	lines := readAllLines(t, path)
	requireEachOnce(t, idCounts(t, lines), []alert.Alert{a, b})
	require.Len(t, lines, 2)
	var got alert.Alert
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &got))
	assert.Equal(t, b.Key, got.Key)
	assert.Equal(t, b.Duration, got.Duration)
	assert.Contains(t, lines[1], `"schema":2`)
}

// TestIncidentAlertWritten: the incident and window documents reach the
// alert file.
func TestIncidentAlertWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	want := alerttest.Incident()
	runExporter(t, syncConfig(path), alerttest.Traces(t, want))
	lines := readAllLines(t, path)
	require.Len(t, lines, 1)
	var got alert.Alert
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &got))
	assert.Equal(t, alert.ReasonQuantile, got.Reason)
	assert.Equal(t, want.Window, got.Window)
	require.NotNil(t, got.Incident)
	assert.Equal(t, want.Incident.ID, got.Incident.ID)
	assert.True(t, want.Incident.OpenedAt.Equal(got.Incident.OpenedAt))
	assert.Equal(t, want.Incident.Peak, got.Incident.Peak)
}
