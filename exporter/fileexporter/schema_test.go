package fileexporter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/report"
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

// incidentEvents are the alerts of one incident as the engine emits them:
// it opens (reason quantile; the span is the window's worst request, with
// breakdown and profile), escalates, is re-notified after the dedup window,
// and resolves (a synthetic span, 0 long, without breakdown or profile).
func incidentEvents() []alert.Alert {
	opened := alerttest.Start.Add(-10 * time.Minute)
	var out []alert.Alert
	for i, reason := range []alert.Reason{alert.ReasonQuantile, alert.ReasonEscalation, alert.ReasonWindowExpired, alert.ReasonResolved} {
		a := alerttest.Profiled(10 + i)
		inc := alerttest.Incident()
		a.Reason = reason
		a.ID = alert.NewID(a.TraceID, a.SpanID, reason)
		a.Incident, a.Window = inc.Incident, inc.Window
		a.Incident.ID = alert.NewIncidentID(a.Key, opened)
		a.Incident.OpenedAt = opened
		if reason == alert.ReasonResolved {
			a.Incident.State = alert.IncidentResolved
			a.Incident.ResolvedAt = opened.Add(23 * time.Minute)
			a.Start = a.Incident.ResolvedAt
			a.Duration, a.Breakdown, a.Profile, a.Attributes, a.Links = 0, nil, nil, nil, alert.Links{}
			a.SpanName = "incident resolved"
		}
		out = append(out, a)
	}
	return out
}

// TestIncidentEventsWritten: every event of an incident is a line of its own
// (their ids differ) with a report; the resolved alert's synthetic span
// writes fine and its report is the short form; a redelivery writes nothing
// twice.
func TestIncidentEventsWritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	reports := filepath.Join(dir, "reports")
	cfg := syncConfig(path)
	cfg.Reports = reports
	events := incidentEvents()
	runExporter(t, cfg, alerttest.Traces(t, events[:2]...), alerttest.Traces(t, events[2:]...), alerttest.Traces(t, events...))

	lines := readAllLines(t, path)
	requireEachOnce(t, idCounts(t, lines), events)
	require.Len(t, lines, len(events))
	tests := []struct {
		reason    alert.Reason
		state     alert.IncidentState
		files     bool // flame graph and profile beside the page
		want      []string
		notInPage []string
	}{
		{reason: alert.ReasonQuantile, state: alert.IncidentFiring, files: true,
			want: []string{"Slow endpoint: checkout GET /orders/{id}", `<figure class="hist">`, "<dt>Worst request</dt>", "42 x"}},
		{reason: alert.ReasonEscalation, state: alert.IncidentFiring, files: true,
			want: []string{"Much slower than the last alert for this endpoint <span class=\"muted mono\">(escalation)</span>", `<figure class="hist">`}},
		{reason: alert.ReasonWindowExpired, state: alert.IncidentFiring, files: true,
			want: []string{"since the last alert&#39;s dedup window ended <span class=\"muted mono\">(window_expired)</span>"}},
		{reason: alert.ReasonResolved, state: alert.IncidentResolved,
			want:      []string{"<title>✅ Resolved: GET /orders/{id} on checkout after 23m — peak p99 2.60 s, 84 slow requests</title>"},
			notInPage: []string{"Worst request", "Timeline", "CPU profile", "<script"}},
	}
	for i, tt := range tests {
		t.Run(string(tt.reason), func(t *testing.T) {
			var got alert.Alert
			require.NoError(t, json.Unmarshal([]byte(lines[i]), &got))
			assert.Equal(t, tt.reason, got.Reason)
			require.NotNil(t, got.Incident)
			assert.Equal(t, events[0].Incident.ID, got.Incident.ID, "one incident")
			assert.Equal(t, tt.state, got.Incident.State)
			assert.NotNil(t, got.Window)

			name := report.Name(events[i])
			require.True(t, report.Exists(reports, name))
			page, err := os.ReadFile(filepath.Join(reports, name+report.ExtHTML))
			require.NoError(t, err)
			for _, w := range tt.want {
				assert.Contains(t, string(page), w)
			}
			for _, w := range tt.notInPage {
				assert.NotContains(t, string(page), w)
			}
			for _, ext := range []string{report.ExtSVG, report.ExtPprof} {
				_, err := os.Stat(filepath.Join(reports, name+ext))
				assert.Equal(t, tt.files, err == nil, "%s beside the page", ext)
			}
		})
	}
}
