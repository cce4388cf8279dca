package markdown

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
)

// The allowlist shows only its attributes, in its order, taking the
// resource's when the span has none of that name; no "Attached:" line (the
// post lists its files).
func TestAttributeAllowlist(t *testing.T) {
	a := alerttest.Full()
	a.Attributes = map[string]string{"http.route": "/orders/{id}", "user_agent.original": "curl", "http.response.status_code": "200"}
	a.Resource = map[string]string{"service.name": "checkout", "service.version": "1.4.2", "deployment.environment.name": "prod"}
	out := Alert(a, Options{Attributes: []string{"http.route", "url.path", "http.response.status_code", "service.version", "deployment.environment.name"}})
	assert.Contains(t, out, "**Attributes**\n- `http.route` `/orders/{id}`\n- `http.response.status_code` `200`\n- `service.version` `1.4.2`\n- `deployment.environment.name` `prod`")
	assert.NotContains(t, out, "user_agent")
	assert.NotContains(t, out, "Attached")

	all := Alert(a, Options{})
	assert.Contains(t, all, "- `user_agent.original` `curl`", "no allowlist: every span attribute")
	assert.NotContains(t, Alert(a, Options{Attributes: []string{}}), "**Attributes**", "an empty allowlist shows none")
}

func TestReportLink(t *testing.T) {
	a := alerttest.Full()
	out := Alert(a, Options{ReportURL: "https://reports.example.com/r.html"})
	assert.Contains(t, out, "[Open trace](http://localhost:16686/trace/0102030405060708090a0b0c0d0e0f10) · [Open report](https://reports.example.com/r.html) · trace")
	a.Links = alert.Links{}
	assert.Contains(t, Alert(a, Options{ReportURL: "https://reports.example.com/r.html"}), "[Open report](https://reports.example.com/r.html) · trace")
	assert.NotContains(t, Alert(a, Options{ReportURL: "javascript:alert(1)"}), "](javascript")
}

func TestIncidentStatus(t *testing.T) {
	opened := time.Date(2026, 11, 27, 9, 50, 0, 0, time.UTC)
	a := alert.Alert{Start: opened.Add(15 * time.Minute), Incident: &alert.Incident{ID: "i", State: alert.IncidentFiring, Mode: alert.ModeSpan,
		OpenedAt: opened, Peak: alert.Figure{Duration: 3 * time.Second}, SlowCount: 4}}
	assert.Equal(t, "**Status: :red_circle: firing** since 09:50 UTC · updated 10:05 UTC", IncidentStatus(a, StateFiring))
	assert.Equal(t, "**Status: :large_orange_diamond: escalated** · firing since 09:50 UTC · updated 10:05 UTC", IncidentStatus(a, StateEscalated))
	a.Incident.ResolvedAt = opened.Add(23 * time.Minute)
	assert.Equal(t, "**Status: :white_check_mark: resolved** at 10:13 UTC after 23m — peak 3.00 s, 4 slow requests", IncidentStatus(a, StateResolved))
	assert.Empty(t, IncidentStatus(alert.Alert{}, StateFiring))
}
