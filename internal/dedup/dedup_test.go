package dedup

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/slowspan/slowspan/alert"
)

var ctx0 = context.Background()

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func key(route string) alert.Key { return alert.Key{Service: "svc", Method: "GET", Route: route} }

// decideDelivered decides and, for an alert, confirms its delivery: what
// the engine does once the next consumer took the alert.
func decideDelivered(d *Deduper, k alert.Key, dur time.Duration, at time.Time) Decision {
	dec := d.Decide(ctx0, k, dur, at)
	d.Delivered(ctx0, dec)
	return dec
}

func defaults() Settings {
	return Settings{Window: 240 * time.Hour, EscalationFactor: 2, MaxKeys: 100}
}

func TestDecide(t *testing.T) {
	type step struct {
		at     time.Duration // since t0
		route  string
		dur    time.Duration
		alert  bool
		reason alert.Reason
		count  int64
		maxDur time.Duration
		since  time.Duration
	}
	tests := []struct {
		name     string
		settings Settings
		steps    []step
	}{
		{
			name:     "first then suppressed",
			settings: defaults(),
			steps: []step{
				{at: 0, route: "/a", dur: 2 * time.Second, alert: true, reason: alert.ReasonFirst},
				{at: time.Hour, route: "/a", dur: 3 * time.Second},
				{at: 2 * time.Hour, route: "/a", dur: 1500 * time.Millisecond},
				{at: 3 * time.Hour, route: "/b", dur: 2 * time.Second, alert: true, reason: alert.ReasonFirst},
			},
		},
		{
			name:     "window expiry reports the suppressed",
			settings: defaults(),
			steps: []step{
				{at: 0, route: "/a", dur: 2 * time.Second, alert: true, reason: alert.ReasonFirst},
				{at: time.Hour, route: "/a", dur: 3 * time.Second},
				{at: 2 * time.Hour, route: "/a", dur: 1500 * time.Millisecond},
				{at: 240 * time.Hour, route: "/a", dur: 1 * time.Second, alert: true, reason: alert.ReasonWindowExpired,
					count: 2, maxDur: 3 * time.Second, since: 0},
				{at: 241 * time.Hour, route: "/a", dur: 1 * time.Second},
			},
		},
		{
			name:     "escalation re-alerts inside the window",
			settings: defaults(),
			steps: []step{
				{at: 0, route: "/a", dur: 2 * time.Second, alert: true, reason: alert.ReasonFirst},
				{at: time.Hour, route: "/a", dur: 3999 * time.Millisecond},
				{at: 2 * time.Hour, route: "/a", dur: 4 * time.Second, alert: true, reason: alert.ReasonEscalation,
					count: 1, maxDur: 3999 * time.Millisecond, since: 0},
				// the bar moved: now 8 s is needed
				{at: 3 * time.Hour, route: "/a", dur: 7 * time.Second},
				{at: 4 * time.Hour, route: "/a", dur: 8 * time.Second, alert: true, reason: alert.ReasonEscalation,
					count: 1, maxDur: 7 * time.Second, since: 2 * time.Hour},
			},
		},
		{
			name:     "escalation off",
			settings: Settings{Window: time.Hour, EscalationFactor: 0, MaxKeys: 10},
			steps: []step{
				{at: 0, route: "/a", dur: time.Second, alert: true, reason: alert.ReasonFirst},
				{at: time.Minute, route: "/a", dur: time.Hour},
				{at: time.Hour, route: "/a", dur: time.Second, alert: true, reason: alert.ReasonWindowExpired,
					count: 1, maxDur: time.Hour},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(tt.settings)
			for i, s := range tt.steps {
				got := d.Decide(ctx0, key(s.route), s.dur, t0.Add(s.at))
				assert.Equal(t, s.alert, got.Alert, "step %d", i)
				assert.Equal(t, s.reason, got.Reason, "step %d", i)
				if got.Alert {
					assert.Equal(t, s.count, got.Suppressed.Count, "step %d count", i)
					assert.Equal(t, s.maxDur, got.Suppressed.MaxDuration, "step %d max", i)
					if s.reason == alert.ReasonFirst {
						assert.True(t, got.Suppressed.Since.IsZero(), "step %d since", i)
					} else {
						assert.Equal(t, t0.Add(s.since), got.Suppressed.Since, "step %d since", i)
					}
				}
			}
		})
	}
}

func TestEvictsLeastRecentlyAlerted(t *testing.T) {
	d := New(Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 3})
	d.Decide(ctx0, key("/a"), time.Second, t0)
	d.Decide(ctx0, key("/b"), time.Second, t0.Add(1*time.Minute))
	d.Decide(ctx0, key("/c"), time.Second, t0.Add(2*time.Minute))
	// /a alerts again (escalation): now /b is the least recently alerted.
	require.True(t, d.Decide(ctx0, key("/a"), 5*time.Second, t0.Add(3*time.Minute)).Alert)
	// a suppressed span does not refresh /b
	require.False(t, d.Decide(ctx0, key("/b"), time.Second, t0.Add(4*time.Minute)).Alert)
	require.True(t, d.Decide(ctx0, key("/d"), time.Second, t0.Add(5*time.Minute)).Alert)
	assert.Equal(t, 3, d.Len())
	assert.EqualValues(t, 1, d.Evicted())
	assert.True(t, d.Decide(ctx0, key("/b"), time.Second, t0.Add(6*time.Minute)).Alert, "/b was evicted")
	assert.False(t, d.Decide(ctx0, key("/a"), time.Second, t0.Add(7*time.Minute)).Alert, "/a kept")
}

func TestUndo(t *testing.T) {
	d := New(defaults())
	first := d.Decide(ctx0, key("/a"), time.Second, t0)
	d.Undo(ctx0, first)
	assert.Equal(t, 0, d.Len())
	assert.Equal(t, alert.ReasonFirst, d.Decide(ctx0, key("/a"), time.Second, t0.Add(time.Minute)).Reason,
		"an undone first alert fires again")

	d.Decide(ctx0, key("/a"), time.Second, t0.Add(2*time.Minute)) // suppressed, count 1
	esc := d.Decide(ctx0, key("/a"), 10*time.Second, t0.Add(3*time.Minute))
	require.Equal(t, alert.ReasonEscalation, esc.Reason)
	d.Undo(ctx0, esc)
	again := d.Decide(ctx0, key("/a"), 10*time.Second, t0.Add(4*time.Minute))
	assert.Equal(t, alert.ReasonEscalation, again.Reason, "undone escalation fires again")
	assert.EqualValues(t, 1, again.Suppressed.Count, "with the suppressed count it had")

	// An undo overtaken by a newer alert of the key is ignored.
	d.Undo(ctx0, esc)
	assert.False(t, d.Decide(ctx0, key("/a"), 10*time.Second, t0.Add(5*time.Minute)).Alert)
	d.Undo(ctx0, Decision{}) // no-op
}

func TestUndoKeepsEvictionOrder(t *testing.T) {
	d := New(Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 2})
	d.Decide(ctx0, key("/a"), time.Second, t0)
	d.Decide(ctx0, key("/b"), time.Second, t0.Add(time.Minute))
	esc := d.Decide(ctx0, key("/a"), 5*time.Second, t0.Add(2*time.Minute))
	d.Undo(ctx0, esc) // /a is again older than /b
	d.Decide(ctx0, key("/c"), time.Second, t0.Add(3*time.Minute))
	assert.True(t, d.Decide(ctx0, key("/a"), time.Second, t0.Add(4*time.Minute)).Alert, "/a evicted first")
}

func TestConcurrentDecisionsAlertOnce(t *testing.T) {
	d := New(defaults())
	var wg sync.WaitGroup
	var mu sync.Mutex
	alerts := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				if d.Decide(ctx0, key("/a"), time.Second, t0.Add(time.Duration(g*1000+i))).Alert {
					mu.Lock()
					alerts++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, alerts)
}

func TestSaveAndLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *storagetest.TestClient {
		return storagetest.NewFileBackedClient(component.KindProcessor, component.MustNewID("slowspan"), "", dir)
	}

	client := open()
	d := New(Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 1000})
	for i := range 200 {
		decideDelivered(d, key(fmt.Sprintf("/r%d", i)), time.Second, t0.Add(time.Duration(i)*time.Second))
	}
	require.False(t, decideDelivered(d, key("/r100"), 1500*time.Millisecond, t0.Add(time.Minute)).Alert)
	require.NoError(t, d.Save(ctx, client))
	require.NoError(t, d.Save(ctx, client), "nothing dirty: no-op")
	require.NoError(t, client.Close(ctx))

	client = open()
	defer func() { require.NoError(t, client.Close(ctx)) }()
	// Reload with a smaller bound: the oldest keys go.
	r := New(Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 150})
	require.NoError(t, r.Load(ctx, client, t0.Add(5*time.Minute)))
	assert.Equal(t, 150, r.Len())
	assert.True(t, r.Decide(ctx0, key("/r0"), time.Second, t0.Add(2*time.Minute)).Alert, "oldest evicted on load")
	assert.False(t, r.Decide(ctx0, key("/r199"), time.Second, t0.Add(2*time.Minute)).Alert, "newest kept")
	dec := r.Decide(ctx0, key("/r100"), time.Second, t0.Add(2*time.Hour))
	assert.Equal(t, alert.ReasonWindowExpired, dec.Reason)
	assert.Equal(t, t0.Add(100*time.Second), dec.Suppressed.Since)
	assert.EqualValues(t, 1, dec.Suppressed.Count)
	assert.Equal(t, 1500*time.Millisecond, dec.Suppressed.MaxDuration)
}

func TestSuppressedCountSurvivesReload(t *testing.T) {
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
	d := New(defaults())
	decideDelivered(d, key("/a"), time.Second, t0)
	require.NoError(t, d.Save(ctx, client))
	for i := range 5 {
		decideDelivered(d, key("/a"), 1100*time.Millisecond+time.Duration(i)*100*time.Millisecond, t0.Add(time.Duration(i+1)*time.Minute))
	}
	require.NoError(t, d.Save(ctx, client))

	r := New(defaults())
	require.NoError(t, r.Load(ctx, client, t0))
	dec := r.Decide(ctx0, key("/a"), time.Second, t0.Add(240*time.Hour))
	assert.Equal(t, alert.ReasonWindowExpired, dec.Reason)
	assert.EqualValues(t, 5, dec.Suppressed.Count)
	assert.Equal(t, 1500*time.Millisecond, dec.Suppressed.MaxDuration)
}

type failingClient struct {
	*storagetest.TestClient
	fail bool
}

func (f *failingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.TestClient.Batch(ctx, ops...)
}

func TestSaveFailureKeepsBucketsDirty(t *testing.T) {
	ctx := context.Background()
	client := &failingClient{TestClient: storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), ""), fail: true}
	d := New(defaults())
	decideDelivered(d, key("/a"), time.Second, t0)
	err := d.Save(ctx, client)
	require.ErrorContains(t, err, "disk full")
	client.fail = false
	require.NoError(t, d.Save(ctx, client))

	r := New(defaults())
	require.NoError(t, r.Load(ctx, client, t0))
	assert.Equal(t, 1, r.Len())
}

func TestLoadSkipsDamagedRecords(t *testing.T) {
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
	d := New(defaults())
	for i := range 50 {
		decideDelivered(d, key(fmt.Sprintf("/r%d", i)), time.Second, t0)
	}
	require.NoError(t, d.Save(ctx, client))
	require.NoError(t, client.Set(ctx, storageKey(3), []byte("{not json")))

	r := New(defaults())
	err := r.Load(ctx, client, t0)
	require.ErrorContains(t, err, storageKey(3))
	assert.Greater(t, r.Len(), 30, "other buckets still load")
}

func TestBucketOfIsStable(t *testing.T) {
	// Buckets are persisted: this must never change.
	assert.Equal(t, bucketOf(keyHash(key("/a"))), bucketOf(keyHash(key("/a"))))
	seen := map[int]bool{}
	for i := range 1000 {
		seen[bucketOf(keyHash(key(fmt.Sprintf("/r%d", i))))] = true
	}
	assert.Len(t, seen, numBuckets, "keys spread over every bucket")
}

func TestKeyHashIsStable(t *testing.T) {
	// Persisted buckets depend on it: this value must never change.
	assert.Equal(t, uint64(0x2a7b1f8178cb11bd), keyHash(alert.Key{Service: "svc", Method: "GET", Route: "/a"}))
}

func TestUndeliveredAlertIsNotSaved(t *testing.T) {
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
	d := New(defaults())
	decideDelivered(d, key("/a"), time.Second, t0)
	require.NoError(t, d.Save(ctx, client))

	// An escalation and a first alert, neither delivered yet (they wait
	// for correlation), then a crash: the saved state is the one before.
	esc := d.Decide(ctx, key("/a"), 5*time.Second, t0.Add(time.Minute))
	require.Equal(t, alert.ReasonEscalation, esc.Reason)
	first := d.Decide(ctx, key("/b"), time.Second, t0.Add(time.Minute))
	require.True(t, first.Alert)
	require.NoError(t, d.Save(ctx, client))

	r := New(defaults())
	require.NoError(t, r.Load(ctx, client, t0.Add(2*time.Minute)))
	assert.Equal(t, 1, r.Len(), "the undelivered first alert of /b is not saved")
	assert.Equal(t, alert.ReasonEscalation, r.Decide(ctx, key("/a"), 5*time.Second, t0.Add(2*time.Minute)).Reason,
		"after a crash the undelivered escalation fires again")
	assert.True(t, r.Decide(ctx, key("/b"), time.Second, t0.Add(2*time.Minute)).Alert)

	// Once delivered, the state that includes them is saved.
	d.Delivered(ctx, esc)
	d.Delivered(ctx, first)
	require.NoError(t, d.Save(ctx, client))
	r = New(defaults())
	require.NoError(t, r.Load(ctx, client, t0.Add(2*time.Minute)))
	assert.Equal(t, 2, r.Len())
	assert.False(t, r.Decide(ctx, key("/a"), 5*time.Second, t0.Add(2*time.Minute)).Alert)
	assert.False(t, r.Decide(ctx, key("/b"), time.Second, t0.Add(2*time.Minute)).Alert)
}

func TestRefusedEscalationKeepsTheDeliveredAlertBeforeIt(t *testing.T) {
	// An alert and an escalation of the same key wait for correlation
	// together; the first is delivered, the escalation refused, in either
	// order. The restart must remember the delivered one and what was
	// suppressed after it.
	tests := []struct {
		name        string
		history     bool // the key alerted a window earlier: the first of the two is window_expired
		refuseFirst bool // the escalation is refused before the other is delivered
	}{
		{name: "first delivered, then escalation refused"},
		{name: "escalation refused, then first delivered", refuseFirst: true},
		{name: "window_expired delivered, then escalation refused", history: true},
		{name: "escalation refused, then window_expired delivered", history: true, refuseFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
			d := New(defaults())
			start, reason := t0, alert.ReasonFirst
			if tt.history {
				decideDelivered(d, key("/a"), time.Second, t0)
				start, reason = t0.Add(240*time.Hour), alert.ReasonWindowExpired
			}
			earlier := d.Decide(ctx, key("/a"), time.Second, start)
			require.Equal(t, reason, earlier.Reason)
			for i := range 3 {
				require.False(t, d.Decide(ctx, key("/a"), 1500*time.Millisecond, start.Add(time.Duration(i+1)*time.Minute)).Alert)
			}
			esc := d.Decide(ctx, key("/a"), 5*time.Second, start.Add(time.Hour))
			require.Equal(t, alert.ReasonEscalation, esc.Reason)

			if tt.refuseFirst {
				d.Undo(ctx, esc)
				require.NoError(t, d.Save(ctx, client))
				r := New(defaults())
				require.NoError(t, r.Load(ctx, client, start.Add(2*time.Hour)))
				assert.Equal(t, reason, r.Decide(ctx, key("/a"), time.Second, start.Add(2*time.Hour)).Reason,
					"before its delivery, a crash repeats the earlier alert")
				d.Delivered(ctx, earlier)
			} else {
				d.Delivered(ctx, earlier)
				d.Undo(ctx, esc)
			}
			require.NoError(t, d.Save(ctx, client))

			r := New(defaults())
			require.NoError(t, r.Load(ctx, client, start.Add(2*time.Hour)))
			assert.False(t, r.Decide(ctx, key("/a"), 1200*time.Millisecond, start.Add(2*time.Hour)).Alert,
				"the delivered %s alert survives the restart", reason)
			exp := r.Decide(ctx, key("/a"), time.Second, start.Add(240*time.Hour))
			require.Equal(t, alert.ReasonWindowExpired, exp.Reason)
			assert.EqualValues(t, 4, exp.Suppressed.Count, "suppressed before the refused escalation and after the restart")
			assert.Equal(t, 1500*time.Millisecond, exp.Suppressed.MaxDuration)
			assert.Equal(t, start, exp.Suppressed.Since)

			// In memory too, the refused escalation fires again with the count.
			again := d.Decide(ctx, key("/a"), 5*time.Second, start.Add(3*time.Hour))
			assert.Equal(t, alert.ReasonEscalation, again.Reason)
			assert.EqualValues(t, 3, again.Suppressed.Count)
		})
	}
}
