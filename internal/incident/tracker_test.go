package incident

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/slowspan/slowspan/alert"
)

var (
	t0   = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	key  = alert.Key{Service: "shop", Method: "GET", Route: "/orders/{id}"}
	key2 = alert.Key{Service: "shop", Method: "POST", Route: "/checkout"}
)

func dur(d time.Duration) alert.Figure { return alert.Figure{Duration: d} }
func ratio(r float64) alert.Figure     { return alert.Figure{Ratio: r} }

// obs builds an observation of quantile mode unless the step says otherwise.
func obs(mode alert.Mode, cond bool, f alert.Figure, slow int64, resolveAfter time.Duration) Observation {
	return Observation{Mode: mode, True: cond, Figure: f, Slow: slow, ResolveAfter: resolveAfter}
}

type step struct {
	at   time.Duration // since t0
	obs  Observation
	want alert.Reason // "": no event
	// check, when set, looks at the event (want != ""); opened are the
	// earlier firing events, the latest first.
	check func(t *testing.T, ev Event, opened []Event)
}

func TestObserve(t *testing.T) {
	q := func(cond bool, d time.Duration) Observation {
		return obs(alert.ModeQuantile, cond, dur(d), 0, 10*time.Minute)
	}
	r := func(cond bool, v float64) Observation {
		return obs(alert.ModeRatio, cond, ratio(v), 0, 10*time.Minute)
	}
	sameID := func(t *testing.T, ev Event, opened []Event) {
		assert.Equal(t, opened[0].Incident.ID, ev.Incident.ID)
		assert.Equal(t, opened[0].Incident.OpenedAt, ev.Incident.OpenedAt)
		assert.Equal(t, alert.IncidentFiring, ev.Incident.State)
	}
	tests := []struct {
		name  string
		set   Settings
		steps []step
	}{
		{
			name: "no incident while false",
			set:  Settings{Renotify: time.Hour, EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: q(false, 0)},
				{at: time.Minute, obs: q(false, 30*time.Second)},
				{at: 100 * time.Hour, obs: q(false, time.Second)},
			},
		},
		{
			name: "quantile opens with reason quantile, repeats silent",
			set:  Settings{Renotify: time.Hour, EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: q(false, 0)},
				{at: time.Minute, obs: q(true, 2*time.Second), want: alert.ReasonQuantile,
					check: func(t *testing.T, ev Event, _ []Event) {
						assert.Equal(t, key, ev.Key)
						assert.Equal(t, t0.Add(time.Minute), ev.At)
						assert.Equal(t, alert.NewIncidentID(key, t0.Add(time.Minute)), ev.Incident.ID)
						assert.Equal(t, alert.IncidentFiring, ev.Incident.State)
						assert.Equal(t, alert.ModeQuantile, ev.Incident.Mode)
						assert.Equal(t, t0.Add(time.Minute), ev.Incident.OpenedAt)
						assert.True(t, ev.Incident.ResolvedAt.IsZero())
						assert.Equal(t, dur(2*time.Second), ev.Incident.Fired)
						assert.Equal(t, dur(2*time.Second), ev.Incident.Peak)
					}},
				{at: 2 * time.Minute, obs: q(true, 2*time.Second)},
				{at: 3 * time.Minute, obs: q(true, 3*time.Second)},
				{at: 4 * time.Minute, obs: q(false, 500*time.Millisecond)},
				{at: 5 * time.Minute, obs: q(true, 2*time.Second)},
			},
		},
		{
			name: "ratio opens with reason ratio",
			set:  Settings{},
			steps: []step{
				{at: 0, obs: r(true, 0.1), want: alert.ReasonRatio,
					check: func(t *testing.T, ev Event, _ []Event) {
						assert.Equal(t, alert.ModeRatio, ev.Incident.Mode)
						assert.Equal(t, ratio(0.1), ev.Incident.Fired)
					}},
				{at: time.Minute, obs: r(true, 0.5)},
			},
		},
		{
			name: "span mode opens with reason first",
			set:  Settings{},
			steps: []step{
				{at: 0, obs: obs(alert.ModeSpan, true, dur(3*time.Second), 1, 0), want: alert.ReasonFirst,
					check: func(t *testing.T, ev Event, _ []Event) {
						assert.Equal(t, alert.ModeSpan, ev.Incident.Mode)
						assert.EqualValues(t, 1, ev.Incident.SlowCount)
					}},
				{at: time.Second, obs: obs(alert.ModeSpan, true, dur(3*time.Second), 1, 0)},
			},
		},
		{
			name: "escalation of durations against the last alert's figure",
			set:  Settings{EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: q(true, 2*time.Second), want: alert.ReasonQuantile},
				{at: 1 * time.Minute, obs: q(true, 3999*time.Millisecond)},
				{at: 2 * time.Minute, obs: q(true, 4*time.Second), want: alert.ReasonEscalation,
					check: func(t *testing.T, ev Event, opened []Event) {
						sameID(t, ev, opened)
						assert.Equal(t, dur(4*time.Second), ev.Incident.Peak)
						// Fired stays the opening figure.
						assert.Equal(t, dur(2*time.Second), ev.Incident.Fired)
					}},
				// The reference is now 4s: 6s is not twice that.
				{at: 3 * time.Minute, obs: q(true, 6*time.Second)},
				{at: 4 * time.Minute, obs: q(true, 8*time.Second), want: alert.ReasonEscalation},
			},
		},
		{
			name: "escalation of ratios",
			set:  Settings{EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: r(true, 0.1), want: alert.ReasonRatio},
				{at: time.Minute, obs: r(true, 0.19)},
				{at: 2 * time.Minute, obs: r(true, 0.2), want: alert.ReasonEscalation,
					check: func(t *testing.T, ev Event, _ []Event) {
						assert.Equal(t, ratio(0.2), ev.Incident.Peak)
					}},
				{at: 3 * time.Minute, obs: r(true, 0.3)},
			},
		},
		{
			name: "escalation factor 0 is off",
			set:  Settings{EscalationFactor: 0},
			steps: []step{
				{at: 0, obs: q(true, time.Second), want: alert.ReasonQuantile},
				{at: time.Minute, obs: q(true, 100*time.Second),
					check: nil},
				{at: 2 * time.Minute, obs: q(true, time.Hour)},
			},
		},
		{
			name: "re-notify after Renotify while still true",
			set:  Settings{Renotify: time.Hour, EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: q(true, 2*time.Second), want: alert.ReasonQuantile},
				{at: 59 * time.Minute, obs: q(true, 2*time.Second)},
				{at: 60 * time.Minute, obs: q(true, 2*time.Second), want: alert.ReasonWindowExpired, check: sameID},
				{at: 119 * time.Minute, obs: q(true, 2*time.Second)},
				{at: 120 * time.Minute, obs: q(true, 2*time.Second), want: alert.ReasonWindowExpired, check: sameID},
			},
		},
		{
			// The re-notification is the last alert: its figure is the
			// escalation's reference (as the state's doc and dedup's
			// window_expired have it).
			name: "escalation after a re-notification compares with its figure",
			set:  Settings{Renotify: time.Hour, EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: q(true, 2*time.Second), want: alert.ReasonQuantile},
				{at: 60 * time.Minute, obs: q(true, 3*time.Second), want: alert.ReasonWindowExpired,
					check: func(t *testing.T, ev Event, _ []Event) {
						assert.Equal(t, dur(3*time.Second), ev.Incident.Peak)
					}},
				{at: 61 * time.Minute, obs: q(true, 5*time.Second)},
				{at: 62 * time.Minute, obs: q(true, 6*time.Second), want: alert.ReasonEscalation},
			},
		},
		{
			name: "no re-notify while false, nor with Renotify 0",
			set:  Settings{EscalationFactor: 2},
			steps: []step{
				{at: 0, obs: obs(alert.ModeQuantile, true, dur(2*time.Second), 0, 0), want: alert.ReasonQuantile},
				{at: 1000 * time.Hour, obs: obs(alert.ModeQuantile, true, dur(2*time.Second), 0, 0)},
			},
		},
		{
			name: "resolve after continuous falseness only",
			set:  Settings{Renotify: 24 * time.Hour},
			steps: []step{
				{at: 0, obs: q(true, 2*time.Second), want: alert.ReasonQuantile},
				{at: 5 * time.Minute, obs: q(false, 0)},
				// True again: the clock restarts here.
				{at: 6 * time.Minute, obs: q(true, 2*time.Second)},
				{at: 15 * time.Minute, obs: q(false, 0)},
				{at: 15*time.Minute + 59*time.Second, obs: q(false, 0)},
				{at: 16 * time.Minute, obs: q(false, 0), want: alert.ReasonResolved,
					check: func(t *testing.T, ev Event, opened []Event) {
						assert.Equal(t, opened[0].Incident.ID, ev.Incident.ID)
						assert.Equal(t, alert.IncidentResolved, ev.Incident.State)
						assert.Equal(t, t0.Add(16*time.Minute), ev.Incident.ResolvedAt)
						assert.Equal(t, t0, ev.Incident.OpenedAt)
					}},
				// Resolved: falseness says nothing more.
				{at: 30 * time.Minute, obs: q(false, 0)},
			},
		},
		{
			name: "ResolveAfter 0 never resolves",
			set:  Settings{},
			steps: []step{
				{at: 0, obs: obs(alert.ModeSpan, true, dur(2*time.Second), 1, 0), want: alert.ReasonFirst},
				{at: time.Hour, obs: obs(alert.ModeSpan, false, alert.Figure{}, 0, 0)},
				{at: 10000 * time.Hour, obs: obs(alert.ModeSpan, false, alert.Figure{}, 0, 0)},
			},
		},
		{
			name: "SlowCount accumulates, Peak is the max",
			set:  Settings{EscalationFactor: 10},
			steps: []step{
				{at: 0, obs: obs(alert.ModeQuantile, true, dur(2*time.Second), 5, time.Minute), want: alert.ReasonQuantile,
					check: func(t *testing.T, ev Event, _ []Event) { assert.EqualValues(t, 5, ev.Incident.SlowCount) }},
				{at: 10 * time.Second, obs: obs(alert.ModeQuantile, true, dur(7*time.Second), 3, time.Minute)},
				{at: 20 * time.Second, obs: obs(alert.ModeQuantile, true, dur(3*time.Second), 2, time.Minute)},
				// A negative count is ignored rather than subtracted.
				{at: 30 * time.Second, obs: obs(alert.ModeQuantile, false, dur(time.Second), -4, time.Minute)},
				{at: 80 * time.Second, obs: obs(alert.ModeQuantile, false, dur(time.Second), 1, time.Minute), want: alert.ReasonResolved,
					check: func(t *testing.T, ev Event, _ []Event) {
						assert.EqualValues(t, 11, ev.Incident.SlowCount)
						assert.Equal(t, dur(7*time.Second), ev.Incident.Peak)
						assert.Equal(t, dur(2*time.Second), ev.Incident.Fired)
					}},
			},
		},
		{
			name: "after resolving, a new true opens a new incident",
			set:  Settings{},
			steps: []step{
				{at: 0, obs: q(true, 2*time.Second), want: alert.ReasonQuantile},
				{at: 10 * time.Minute, obs: q(false, 0), want: alert.ReasonResolved},
				{at: 11 * time.Minute, obs: q(true, 3*time.Second), want: alert.ReasonQuantile,
					check: func(t *testing.T, ev Event, opened []Event) {
						assert.NotEqual(t, opened[0].Incident.ID, ev.Incident.ID)
						assert.Equal(t, alert.NewIncidentID(key, t0.Add(11*time.Minute)), ev.Incident.ID)
						assert.Equal(t, t0.Add(11*time.Minute), ev.Incident.OpenedAt)
						assert.Equal(t, dur(3*time.Second), ev.Incident.Peak)
						assert.Zero(t, ev.Incident.SlowCount)
					}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(tt.set)
			var opened []Event
			for i, s := range tt.steps {
				ev, ok := tr.Observe(key, t0.Add(s.at), s.obs)
				if s.want == "" {
					require.Falsef(t, ok, "step %d (%v): unexpected %s event", i, s.at, ev.Reason)
					continue
				}
				require.Truef(t, ok, "step %d (%v): want %s, got no event", i, s.at, s.want)
				require.Equalf(t, s.want, ev.Reason, "step %d (%v)", i, s.at)
				if s.check != nil {
					s.check(t, ev, opened)
				}
				if ev.Reason == alert.ReasonQuantile || ev.Reason == alert.ReasonRatio || ev.Reason == alert.ReasonFirst {
					opened = append([]Event{ev}, opened...)
				}
				assert.Equal(t, ev.Reason != alert.ReasonResolved, tr.IsOpen(key), "step %d", i)
			}
		})
	}
}

func TestUndo(t *testing.T) {
	q := func(cond bool, d time.Duration) Observation {
		return obs(alert.ModeQuantile, cond, dur(d), 1, 10*time.Minute)
	}
	t.Run("refused firing drops the incident", func(t *testing.T) {
		tr := New(Settings{EscalationFactor: 2})
		ev, ok := tr.Observe(key, t0, q(true, 2*time.Second))
		require.True(t, ok)
		tr.Undo(ev)
		assert.False(t, tr.IsOpen(key))
		assert.Zero(t, tr.Len())
		// The condition opens it anew.
		ev2, ok := tr.Observe(key, t0.Add(time.Minute), q(true, 2*time.Second))
		require.True(t, ok)
		assert.Equal(t, alert.ReasonQuantile, ev2.Reason)
		assert.Equal(t, alert.NewIncidentID(key, t0.Add(time.Minute)), ev2.Incident.ID)
	})
	t.Run("refused escalation restores the reference", func(t *testing.T) {
		tr := New(Settings{EscalationFactor: 2})
		_, ok := tr.Observe(key, t0, q(true, 2*time.Second))
		require.True(t, ok)
		esc, ok := tr.Observe(key, t0.Add(time.Minute), q(true, 4*time.Second))
		require.True(t, ok)
		require.Equal(t, alert.ReasonEscalation, esc.Reason)
		tr.Undo(esc)
		assert.True(t, tr.IsOpen(key))
		again, ok := tr.Observe(key, t0.Add(2*time.Minute), q(true, 4*time.Second))
		require.True(t, ok, "the refused escalation is owed again")
		assert.Equal(t, alert.ReasonEscalation, again.Reason)
		assert.Equal(t, esc.Incident.ID, again.Incident.ID)
	})
	t.Run("refused re-notification is owed again", func(t *testing.T) {
		tr := New(Settings{Renotify: time.Hour})
		_, _ = tr.Observe(key, t0, q(true, 2*time.Second))
		re, ok := tr.Observe(key, t0.Add(time.Hour), q(true, 2*time.Second))
		require.True(t, ok)
		require.Equal(t, alert.ReasonWindowExpired, re.Reason)
		tr.Undo(re)
		again, ok := tr.Observe(key, t0.Add(time.Hour+time.Minute), q(true, 2*time.Second))
		require.True(t, ok)
		assert.Equal(t, alert.ReasonWindowExpired, again.Reason)
	})
	t.Run("refused resolved reopens it", func(t *testing.T) {
		tr := New(Settings{})
		fired, _ := tr.Observe(key, t0, q(true, 2*time.Second))
		res, ok := tr.Observe(key, t0.Add(10*time.Minute), q(false, 0))
		require.True(t, ok)
		require.Equal(t, alert.ReasonResolved, res.Reason)
		require.False(t, tr.IsOpen(key))
		tr.Undo(res)
		require.True(t, tr.IsOpen(key))
		again, ok := tr.Observe(key, t0.Add(11*time.Minute), q(false, 0))
		require.True(t, ok, "the refused resolved alert is owed again")
		assert.Equal(t, alert.ReasonResolved, again.Reason)
		assert.Equal(t, fired.Incident.ID, again.Incident.ID)
		assert.Equal(t, t0.Add(11*time.Minute), again.Incident.ResolvedAt)
		// SlowCount counts each observation once, the undone one included.
		assert.EqualValues(t, 3, again.Incident.SlowCount)
	})
	t.Run("undo of an older event after a newer one leaves state alone", func(t *testing.T) {
		tr := New(Settings{EscalationFactor: 2})
		fired, _ := tr.Observe(key, t0, q(true, 2*time.Second))
		esc, ok := tr.Observe(key, t0.Add(time.Minute), q(true, 4*time.Second))
		require.True(t, ok)
		tr.Undo(fired)
		assert.True(t, tr.IsOpen(key), "the escalation came after the firing: the incident stays")
		// The escalation's reference (4s) stands: 6s does not escalate.
		_, ok = tr.Observe(key, t0.Add(2*time.Minute), q(true, 6*time.Second))
		assert.False(t, ok)
		_ = esc
	})
	t.Run("undo of a resolved event after a new incident opened", func(t *testing.T) {
		tr := New(Settings{})
		_, _ = tr.Observe(key, t0, q(true, 2*time.Second))
		res, _ := tr.Observe(key, t0.Add(10*time.Minute), q(false, 0))
		next, ok := tr.Observe(key, t0.Add(11*time.Minute), q(true, 2*time.Second))
		require.True(t, ok)
		tr.Undo(res)
		require.True(t, tr.IsOpen(key))
		// The open incident is still the new one: its resolution carries its ID.
		ev, ok := tr.Observe(key, t0.Add(30*time.Minute), q(false, 0))
		require.True(t, ok)
		assert.Equal(t, next.Incident.ID, ev.Incident.ID)
	})
	t.Run("undo of an escalation after the incident resolved and reopened", func(t *testing.T) {
		tr := New(Settings{EscalationFactor: 2})
		_, _ = tr.Observe(key, t0, q(true, 2*time.Second))
		esc, _ := tr.Observe(key, t0.Add(time.Minute), q(true, 4*time.Second))
		_, _ = tr.Observe(key, t0.Add(20*time.Minute), q(false, 0))
		next, _ := tr.Observe(key, t0.Add(21*time.Minute), q(true, 10*time.Second))
		tr.Undo(esc)
		// The new incident's reference (10s) stands.
		_, ok := tr.Observe(key, t0.Add(22*time.Minute), q(true, 10*time.Second))
		assert.False(t, ok)
		assert.True(t, tr.IsOpen(key))
		_ = next
	})
}

func TestMaxOpenDropsLongestQuiet(t *testing.T) {
	tr := New(Settings{MaxOpen: 2})
	k3 := alert.Key{Service: "shop", Method: "GET", Route: "/cart"}
	q := func(cond bool) Observation { return obs(alert.ModeQuantile, cond, dur(2*time.Second), 0, time.Hour) }
	_, ok := tr.Observe(key, t0, q(true))
	require.True(t, ok)
	_, ok = tr.Observe(key2, t0.Add(time.Minute), q(true))
	require.True(t, ok)
	// key was true last at 2m, key2 at 1m: key2 is the longest quiet.
	_, _ = tr.Observe(key, t0.Add(2*time.Minute), q(true))
	_, _ = tr.Observe(key2, t0.Add(3*time.Minute), q(false))
	ev, ok := tr.Observe(k3, t0.Add(4*time.Minute), q(true))
	require.True(t, ok)
	assert.Equal(t, alert.ReasonQuantile, ev.Reason)
	assert.Equal(t, 2, tr.Len())
	assert.True(t, tr.IsOpen(key))
	assert.False(t, tr.IsOpen(key2))
	assert.True(t, tr.IsOpen(k3))
	assert.Equal(t, []alert.Key{k3, key}, tr.Open(nil))
}

func TestOpenIsSorted(t *testing.T) {
	tr := New(Settings{})
	// Both keys read "a b c" as strings: the order must not hang on map
	// iteration.
	ab := alert.Key{Service: "a b", Route: "c"}
	abc := alert.Key{Service: "a", Method: "b", Route: "c"}
	for _, k := range []alert.Key{key2, ab, key, abc} {
		_, ok := tr.Observe(k, t0, obs(alert.ModeRatio, true, ratio(0.5), 0, 0))
		require.True(t, ok)
	}
	want := []alert.Key{{Service: "kept"}, abc, ab, key, key2}
	for range 20 {
		assert.Equal(t, want, tr.Open([]alert.Key{{Service: "kept"}}), "Open appends to dst and sorts only what it appended")
	}
}

// Span mode with resolve.after: alerts Attach to the incident, suppressed
// slow spans Touch it, and the timer resolves it once quiet.
func TestSpanModeIncident(t *testing.T) {
	tr := New(Settings{})
	ev, opened := tr.Attach(key, t0, 2*time.Second, 10*time.Minute)
	require.True(t, opened)
	assert.Equal(t, alert.ReasonFirst, ev.Reason)
	assert.Equal(t, alert.NewIncidentID(key, t0), ev.Incident.ID)
	assert.Equal(t, alert.ModeSpan, ev.Incident.Mode)
	assert.EqualValues(t, 1, ev.Incident.SlowCount)
	assert.Equal(t, alert.ModeSpan, tr.ModeOf(key))
	assert.Equal(t, alert.Mode(""), tr.ModeOf(key2))

	tr.Touch(key, t0.Add(time.Minute), 5*time.Second)
	tr.Touch(key2, t0.Add(time.Minute), 5*time.Second) // no incident: nothing
	assert.False(t, tr.IsOpen(key2))
	again, opened := tr.Attach(key, t0.Add(2*time.Minute), 3*time.Second, 10*time.Minute)
	assert.False(t, opened)
	assert.Equal(t, ev.Incident.ID, again.Incident.ID)
	assert.EqualValues(t, 3, again.Incident.SlowCount)
	assert.Equal(t, dur(5*time.Second), again.Incident.Peak)

	assert.Empty(t, tr.ResolveQuiet(t0.Add(12*time.Minute-time.Nanosecond)))
	res := tr.ResolveQuiet(t0.Add(12 * time.Minute))
	require.Len(t, res, 1)
	assert.Equal(t, alert.ReasonResolved, res[0].Reason)
	assert.Equal(t, ev.Incident.ID, res[0].Incident.ID)
	assert.Equal(t, t0.Add(12*time.Minute), res[0].Incident.ResolvedAt)
	assert.False(t, tr.IsOpen(key))

	// Refused: open again, and the next tick resolves it again.
	tr.Undo(res[0])
	assert.True(t, tr.IsOpen(key))
	res = tr.ResolveQuiet(t0.Add(13 * time.Minute))
	require.Len(t, res, 1)
	assert.Equal(t, ev.Incident.ID, res[0].Incident.ID)
}

func TestResolveQuietSkipsOthers(t *testing.T) {
	tr := New(Settings{})
	// Never: resolve.after 0.
	_, _ = tr.Attach(key, t0, time.Second, 0)
	// Quantile incidents resolve on observations, not on the timer.
	_, _ = tr.Observe(key2, t0, obs(alert.ModeQuantile, true, dur(time.Second), 0, time.Minute))
	assert.Empty(t, tr.ResolveQuiet(t0.Add(1000*time.Hour)))
	assert.Equal(t, 2, tr.Len())
}

// A negative ResolveAfter (the key's trigger is no longer known) resolves
// with the one last observed, across a restart too.
func TestResolveAfterAsOpened(t *testing.T) {
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
	tr := New(Settings{})
	fired, _ := tr.Observe(key, t0, obs(alert.ModeRatio, true, ratio(0.5), 0, 10*time.Minute))
	tr.Delivered(fired)
	require.NoError(t, tr.Save(ctx, client))
	re := New(Settings{})
	require.NoError(t, re.Load(ctx, client))
	for _, tr := range []*Tracker{tr, re} {
		_, ok := tr.Observe(key, t0.Add(9*time.Minute), obs(alert.ModeRatio, false, ratio(0), 0, -1))
		assert.False(t, ok)
		ev, ok := tr.Observe(key, t0.Add(10*time.Minute), obs(alert.ModeRatio, false, ratio(0), 0, -1))
		require.True(t, ok)
		assert.Equal(t, alert.ReasonResolved, ev.Reason)
		assert.Equal(t, fired.Incident.ID, ev.Incident.ID)
	}
	// Opened with a negative one: never resolves.
	n := New(Settings{})
	_, ok := n.Observe(key, t0, obs(alert.ModeRatio, true, ratio(0.5), 0, -1))
	require.True(t, ok)
	_, ok = n.Observe(key, t0.Add(1000*time.Hour), obs(alert.ModeRatio, false, ratio(0), 0, -1))
	assert.False(t, ok)
}

func TestAdoptRenamesTheOpenIncident(t *testing.T) {
	tr := New(Settings{})
	key := alert.Key{Service: "s", Route: "/r"}
	assert.False(t, tr.Adopt(key, "fleet"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, fired := tr.Observe(key, now, Observation{Mode: alert.ModeQuantile, True: true, Figure: alert.Figure{Duration: time.Second}, ResolveAfter: time.Minute})
	require.True(t, fired)
	require.True(t, tr.Adopt(key, "fleet"))
	inc, ok := tr.Incident(key)
	require.True(t, ok)
	assert.Equal(t, "fleet", inc.ID)
	ev, fired := tr.Observe(key, now.Add(2*time.Minute), Observation{Mode: alert.ModeQuantile, ResolveAfter: time.Minute})
	require.True(t, fired)
	assert.Equal(t, alert.ReasonResolved, ev.Reason)
	assert.Equal(t, "fleet", ev.Incident.ID)
}

func TestJoinAndDropFollowTheFleet(t *testing.T) {
	tr := New(Settings{})
	key := alert.Key{Service: "s", Route: "/r"}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fired := alert.Figure{Duration: 1200 * time.Millisecond}
	require.True(t, tr.Join(key, "fleet", alert.ModeQuantile, now.Add(-time.Minute), fired, now, time.Minute))
	assert.False(t, tr.Join(key, "other", alert.ModeQuantile, now, fired, now, time.Minute), "open already")
	inc, ok := tr.Incident(key)
	require.True(t, ok)
	assert.Equal(t, "fleet", inc.ID)
	assert.Equal(t, now.Add(-time.Minute), inc.OpenedAt)
	// Joined without an event: true again does not fire, false for
	// resolve.after resolves it.
	_, fired2 := tr.Observe(key, now.Add(time.Second), Observation{Mode: alert.ModeQuantile, True: true, Figure: fired, ResolveAfter: time.Minute})
	assert.False(t, fired2)
	ev, resolved := tr.Observe(key, now.Add(2*time.Minute), Observation{Mode: alert.ModeQuantile, ResolveAfter: time.Minute})
	require.True(t, resolved)
	assert.Equal(t, alert.ReasonResolved, ev.Reason)
	assert.Equal(t, "fleet", ev.Incident.ID)

	require.True(t, tr.Join(key, "next", alert.ModeQuantile, now, fired, now, time.Minute))
	assert.False(t, tr.Drop(key, "stale"), "another id")
	assert.True(t, tr.Drop(key, "next"))
	assert.Zero(t, tr.Len())
}
