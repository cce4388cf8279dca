package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
)

// storm is a batch of n slow spans on n distinct paths without http.route.
func storm(t *testing.T, n int, offset int) ptrace.Traces {
	spans := make([]span, n)
	for i := range spans {
		spans[i] = server(2*time.Second+time.Duration(i)*time.Millisecond, map[string]any{"url.path": fmt.Sprintf("/search/word%c%c", 'a'+(offset+i)/26%26, 'a'+(offset+i)%26)})
		spans[i].id = byte(offset + i + 1)
	}
	return build(t, spans...)
}

func TestStormGuardFoldsAlertsPastTheCap(t *testing.T) {
	ctx := t.Context()
	e, clk := newEngine(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 3 })
	clk.now = clk.now.Truncate(time.Minute).Add(10 * time.Second)

	b := e.Process(ctx, storm(t, 10, 0), 0)
	require.Equal(t, 3, b.Alerts, "the first three of the minute go out")
	assert.EqualValues(t, 7, b.Stats.Folded)
	assert.EqualValues(t, 10, b.Stats.AlertsFor(alert.ReasonFirst), "every key decided to alert")
	b.Commit(ctx)

	// The minute is not over: no summary yet.
	require.Empty(t, e.Due(clk.now, false))

	clk.now = clk.now.Add(time.Minute)
	due := e.Due(clk.now, false)
	require.Len(t, due, 1)
	assert.Equal(t, 7, due[0].Folded)
	got := alerts(due[0])
	require.Len(t, got, 1)
	sum := got[0]
	assert.Equal(t, alert.ReasonStorm, sum.Reason)
	assert.Equal(t, StormKey, sum.Key)
	require.NotNil(t, sum.Folded)
	assert.EqualValues(t, 7, sum.Folded.Count)
	assert.Len(t, sum.Folded.Endpoints, 7)
	assert.Equal(t, "/search/wordaj", sum.Folded.Endpoints[0].Key.Route, "the slowest first among equal counts")
	assert.NotEmpty(t, sum.ID)
	due[0].Commit(ctx)

	// The folded keys count as alerted once the summary was delivered.
	again := e.Process(ctx, storm(t, 10, 0), 0)
	assert.Zero(t, again.Alerts, "every key of the storm is inside its window")
	assert.EqualValues(t, 10, again.Stats.Suppressed)

	// A new minute, a new budget.
	assert.Equal(t, 2, e.Process(ctx, storm(t, 2, 20), 0).Alerts)
}

func TestStormSummaryRefusedRollsBackTheFoldedKeys(t *testing.T) {
	ctx := t.Context()
	e, clk := newEngine(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 1 })

	b := e.Process(ctx, storm(t, 3, 0), 0)
	require.Equal(t, 1, b.Alerts)
	b.Commit(ctx)
	// Another pipeline's alerts fold into a summary of their own.
	other := e.Process(ctx, storm(t, 2, 10), 1)
	require.Zero(t, other.Alerts)

	clk.now = clk.now.Add(time.Minute)
	due := e.Due(clk.now, false)
	require.Len(t, due, 2)
	for _, d := range due {
		require.Equal(t, 2, d.Folded)
		if d.Origin == 1 {
			d.Rollback() // its consumer refused it
		} else {
			d.Commit(ctx)
		}
	}

	// The refused summary's keys alert again; the delivered one's do not.
	retried := e.Process(ctx, storm(t, 2, 10), 1)
	assert.EqualValues(t, 2, retried.Stats.AlertsFor(alert.ReasonFirst))
	assert.EqualValues(t, 3, e.Process(ctx, storm(t, 3, 0), 0).Stats.Suppressed)
}

func TestStormSummaryLeavesAtDrain(t *testing.T) {
	ctx := t.Context()
	e, _ := newEngine(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 2 })
	b := e.Process(ctx, storm(t, 5, 0), 0)
	require.Equal(t, 2, b.Alerts)
	drained := e.Drain(0)
	require.Len(t, drained, 1)
	assert.Equal(t, 3, drained[0].Folded)
}

func TestStormGuardOff(t *testing.T) {
	e, _ := newEngine(t, func(cfg *Config) { cfg.Alerts.MaxPerMinute = 0 })
	b := e.Process(t.Context(), storm(t, 100, 0), 0)
	assert.Equal(t, 100, b.Alerts)
	assert.Zero(t, b.Stats.Folded)
}

func TestReasonsFitStats(t *testing.T) {
	assert.LessOrEqual(t, len(alert.Reasons), maxReasons, "raise maxReasons")
	var st Stats
	for _, r := range alert.Reasons {
		st.countAlert(r)
		assert.EqualValues(t, 1, st.AlertsFor(r), r)
	}
}

func TestStormSummaryBoundsItsList(t *testing.T) {
	f := &fold{byKey: map[alert.Key]*alert.FoldedEndpoint{}}
	for i := range maxFoldKeys + 10 {
		f.count++
		f.addAlert(alert.Alert{ID: "x", Key: alert.Key{Service: "s", Route: fmt.Sprintf("/r%d", i)}, Duration: time.Second})
	}
	var got alert.Alert
	for a := range alert.All(f.summary()) {
		got = a
	}
	require.NotNil(t, got.Folded)
	assert.Len(t, got.Folded.Endpoints, alert.MaxFoldedEndpoints)
	assert.Equal(t, maxFoldKeys+10-alert.MaxFoldedEndpoints, got.Folded.Omitted)
}

// TestRefusedSummaryRollsBackOutOfOrderDecisions: an escalation folded
// before the first alert of its key (which waited out correlation.wait),
// both in one refused summary: the key must alert again.
func TestRefusedSummaryRollsBackOutOfOrderDecisions(t *testing.T) {
	ctx := t.Context()
	e, clk := newEngine(t, func(c *Config) {
		c.Correlation.Wait = time.Second
		c.Correlation.MaxPending = 1
		c.Alerts.MaxPerMinute = 1
	})
	at := func(route string, id byte, d time.Duration) ptrace.Traces {
		s := server(d, map[string]any{"http.route": route})
		s.id = id
		return build(t, s)
	}
	require.Zero(t, e.Process(ctx, at("/k", 10, 2*time.Second), 0).Alerts, "the first alert of /k waits")
	other := e.Process(ctx, at("/other", 11, 2*time.Second), 0)
	require.Equal(t, 1, other.Alerts, "the pending set is full: out at once, the minute's budget spent")
	other.Commit(ctx)
	esc := e.Process(ctx, at("/k", 12, 5*time.Second), 0)
	require.EqualValues(t, 1, esc.Stats.Folded, "the escalation of /k is folded")
	clk.now = clk.now.Add(2 * time.Second)
	for _, b := range e.Due(clk.now, false) {
		require.Zero(t, b.Alerts, "the first alert of /k is folded too, after its escalation")
	}
	clk.now = clk.now.Add(2 * time.Minute)
	due := e.Due(clk.now, false)
	require.Len(t, due, 1)
	require.Equal(t, 2, due[0].Folded)
	due[0].Rollback()

	again := e.Process(ctx, at("/k", 13, 2*time.Second), 0)
	assert.EqualValues(t, 1, again.Stats.AlertsFor(alert.ReasonFirst), "neither /k alert was delivered: it alerts again")
}
