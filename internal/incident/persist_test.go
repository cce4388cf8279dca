package incident

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/slowspan/slowspan/alert"
)

func newClient() *storagetest.TestClient {
	return storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
}

// countingClient counts the writes, to see Save skip when nothing changed.
type countingClient struct {
	*storagetest.TestClient
	sets int
}

func (c *countingClient) Set(ctx context.Context, key string, value []byte) error {
	c.sets++
	return c.TestClient.Set(ctx, key, value)
}

func saved(t *testing.T, client *storagetest.TestClient) savedRecord {
	t.Helper()
	data, err := client.Get(context.Background(), storageKey)
	require.NoError(t, err)
	var rec savedRecord
	require.NoError(t, json.Unmarshal(data, &rec))
	return rec
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	client := newClient()
	q := func(cond bool, d time.Duration, slow int64) Observation {
		return obs(alert.ModeQuantile, cond, dur(d), slow, 10*time.Minute)
	}
	tr := New(Settings{EscalationFactor: 2, Renotify: time.Hour})

	// key: fired and delivered, then running figures move on.
	fired, ok := tr.Observe(key, t0, q(true, 2*time.Second, 4))
	require.True(t, ok)
	tr.Delivered(fired)
	_, ok = tr.Observe(key, t0.Add(time.Minute), q(true, 3*time.Second, 2))
	require.False(t, ok)
	// key2: fired, not delivered (yet): not saved.
	_, ok = tr.Observe(key2, t0, obs(alert.ModeRatio, true, ratio(0.2), 1, 10*time.Minute))
	require.True(t, ok)
	// gone: fired, delivered, resolved and delivered: removed.
	gone := alert.Key{Service: "shop", Method: "GET", Route: "/gone"}
	ev, _ := tr.Observe(gone, t0, q(true, 2*time.Second, 1))
	tr.Delivered(ev)
	ev, ok = tr.Observe(gone, t0.Add(10*time.Minute), q(false, 0, 0))
	require.True(t, ok)
	require.Equal(t, alert.ReasonResolved, ev.Reason)
	tr.Delivered(ev)

	require.NoError(t, tr.Save(ctx, client))
	rec := saved(t, client)
	require.Len(t, rec.Incidents, 1, "only the delivered, still open incident")
	assert.Equal(t, formatVersion, rec.Version)
	assert.Equal(t, fired.Incident.ID, rec.Incidents[0].ID)

	// A new collector.
	re := New(Settings{EscalationFactor: 2, Renotify: time.Hour})
	require.NoError(t, re.Load(ctx, client))
	assert.Equal(t, []alert.Key{key}, re.Open(nil))
	re.mu.Lock()
	inc := re.open[key].inc
	re.mu.Unlock()
	assert.Equal(t, fired.Incident.ID, inc.ID)
	assert.True(t, fired.Incident.OpenedAt.Equal(inc.OpenedAt))
	assert.Equal(t, alert.IncidentFiring, inc.State)
	assert.Equal(t, alert.ModeQuantile, inc.Mode)
	assert.Equal(t, dur(2*time.Second), inc.Fired)
	assert.Equal(t, dur(3*time.Second), inc.Peak, "the running peak, past the delivered alert")
	assert.EqualValues(t, 6, inc.SlowCount)

	// Still true, not escalated (the reference is the delivered 2s): silent.
	_, ok = re.Observe(key, t0.Add(2*time.Minute), q(true, 3*time.Second, 0))
	assert.False(t, ok)
	// It resolves with its ID.
	res, ok := re.Observe(key, t0.Add(12*time.Minute), q(false, 0, 0))
	require.True(t, ok)
	assert.Equal(t, alert.ReasonResolved, res.Reason)
	assert.Equal(t, fired.Incident.ID, res.Incident.ID)
	assert.True(t, fired.Incident.OpenedAt.Equal(res.Incident.OpenedAt))
	assert.EqualValues(t, 6, res.Incident.SlowCount)
	re.Delivered(res)
	require.NoError(t, re.Save(ctx, client))
	assert.Empty(t, saved(t, client).Incidents)
}

func TestLoadedIncidentKeepsNotification(t *testing.T) {
	ctx := context.Background()
	client := newClient()
	q := func(d time.Duration) Observation { return obs(alert.ModeQuantile, true, dur(d), 0, 10*time.Minute) }
	tr := New(Settings{EscalationFactor: 2, Renotify: time.Hour})
	fired, _ := tr.Observe(key, t0, q(2*time.Second))
	tr.Delivered(fired)
	esc, ok := tr.Observe(key, t0.Add(30*time.Minute), q(4*time.Second))
	require.True(t, ok)
	tr.Delivered(esc)
	require.NoError(t, tr.Save(ctx, client))

	re := New(Settings{EscalationFactor: 2, Renotify: time.Hour})
	require.NoError(t, re.Load(ctx, client))
	// The reference is the escalation's 4s, and the re-notification counts
	// from it.
	_, ok = re.Observe(key, t0.Add(89*time.Minute), q(7*time.Second))
	assert.False(t, ok)
	ev, ok := re.Observe(key, t0.Add(90*time.Minute), q(7*time.Second))
	require.True(t, ok)
	assert.Equal(t, alert.ReasonWindowExpired, ev.Reason)
	// The re-notification's 7s is the reference now.
	_, ok = re.Observe(key, t0.Add(91*time.Minute), q(13*time.Second))
	assert.False(t, ok)
	ev, ok = re.Observe(key, t0.Add(92*time.Minute), q(14*time.Second))
	require.True(t, ok)
	assert.Equal(t, alert.ReasonEscalation, ev.Reason)
}

// A firing alert delivered while a later escalation was still in flight,
// then that escalation refused: what is saved is the delivered alert's
// reference, so that the escalation is owed after a restart too.
func TestDeliveredOutOfOrder(t *testing.T) {
	ctx := context.Background()
	client := newClient()
	q := func(d time.Duration) Observation { return obs(alert.ModeQuantile, true, dur(d), 0, 10*time.Minute) }
	tr := New(Settings{EscalationFactor: 2})
	fired, _ := tr.Observe(key, t0, q(2*time.Second))
	esc, ok := tr.Observe(key, t0.Add(time.Minute), q(4*time.Second))
	require.True(t, ok)
	tr.Delivered(fired)
	tr.Undo(esc)
	require.NoError(t, tr.Save(ctx, client))

	re := New(Settings{EscalationFactor: 2})
	require.NoError(t, re.Load(ctx, client))
	ev, ok := re.Observe(key, t0.Add(2*time.Minute), q(4*time.Second))
	require.True(t, ok, "the refused escalation is owed after a restart")
	assert.Equal(t, alert.ReasonEscalation, ev.Reason)

	// Delivered in order but the older last: the newer reference stays.
	tr = New(Settings{EscalationFactor: 2})
	fired, _ = tr.Observe(key, t0, q(2*time.Second))
	esc, _ = tr.Observe(key, t0.Add(time.Minute), q(4*time.Second))
	tr.Delivered(esc)
	tr.Delivered(fired)
	require.NoError(t, tr.Save(ctx, client))
	re = New(Settings{EscalationFactor: 2})
	require.NoError(t, re.Load(ctx, client))
	_, ok = re.Observe(key, t0.Add(2*time.Minute), q(4*time.Second))
	assert.False(t, ok, "the delivered escalation is not repeated")
}

func TestResolvedUndeliveredStaysSaved(t *testing.T) {
	ctx := context.Background()
	client := newClient()
	tr := New(Settings{})
	fired, _ := tr.Observe(key, t0, obs(alert.ModeRatio, true, ratio(0.3), 0, time.Minute))
	tr.Delivered(fired)
	res, ok := tr.Observe(key, t0.Add(time.Minute), obs(alert.ModeRatio, false, ratio(0), 0, time.Minute))
	require.True(t, ok)
	require.NoError(t, tr.Save(ctx, client))
	// The resolved alert is not delivered yet: after a restart it is owed.
	re := New(Settings{})
	require.NoError(t, re.Load(ctx, client))
	ev, ok := re.Observe(key, t0.Add(2*time.Minute), obs(alert.ModeRatio, false, ratio(0), 0, time.Minute))
	require.True(t, ok)
	assert.Equal(t, alert.ReasonResolved, ev.Reason)
	assert.Equal(t, res.Incident.ID, ev.Incident.ID)
	assert.Equal(t, alert.ModeRatio, ev.Incident.Mode)
	assert.Equal(t, ratio(0.3), ev.Incident.Fired)
}

func TestSaveSkipsWhenNotDirty(t *testing.T) {
	ctx := context.Background()
	client := &countingClient{TestClient: newClient()}
	tr := New(Settings{})
	require.NoError(t, tr.Save(ctx, client))
	assert.Zero(t, client.sets, "a new tracker has nothing to save")

	ev, _ := tr.Observe(key, t0, obs(alert.ModeQuantile, true, dur(time.Second), 0, 0))
	tr.Delivered(ev)
	require.NoError(t, tr.Save(ctx, client))
	assert.Equal(t, 1, client.sets)
	require.NoError(t, tr.Save(ctx, client))
	assert.Equal(t, 1, client.sets, "nothing changed")
	// A false observation with nothing new changes nothing to save.
	_, ok := tr.Observe(key, t0.Add(time.Second), obs(alert.ModeQuantile, false, dur(time.Second), 0, 0))
	require.False(t, ok)
	require.NoError(t, tr.Save(ctx, client))
	assert.Equal(t, 1, client.sets)
	// A silent true one moves the running figures (when last true): the
	// next Save writes them.
	_, ok = tr.Observe(key, t0.Add(2*time.Second), obs(alert.ModeQuantile, true, dur(time.Second), 0, 0))
	require.False(t, ok)
	require.NoError(t, tr.Save(ctx, client))
	assert.Equal(t, 2, client.sets)
	require.NoError(t, tr.Save(ctx, client))
	assert.Equal(t, 2, client.sets)
	// An incident not delivered yet is not saved: its figures do not count.
	_, ok = tr.Observe(key2, t0, obs(alert.ModeQuantile, true, dur(time.Second), 0, 0))
	require.True(t, ok)
	tr.mu.Lock()
	tr.dirty = false // the firing event's own mark, to see the next observation's
	tr.mu.Unlock()
	_, ok = tr.Observe(key2, t0.Add(time.Second), obs(alert.ModeQuantile, true, dur(time.Second), 3, 0))
	require.False(t, ok)
	require.NoError(t, tr.Save(ctx, client))
	assert.Equal(t, 2, client.sets)

	// A loaded tracker has nothing new to write either.
	re := New(Settings{})
	require.NoError(t, re.Load(ctx, client))
	require.NoError(t, re.Save(ctx, client))
	assert.Equal(t, 2, client.sets)
}

func TestLoadEmptyStorage(t *testing.T) {
	tr := New(Settings{})
	require.NoError(t, tr.Load(context.Background(), newClient()))
	assert.Zero(t, tr.Len())
}

func TestLoadDamaged(t *testing.T) {
	good := func(id, mode string) string {
		return `{"service":"shop","method":"GET","route":"/r` + id + `","id":"` + id + `","mode":"` + mode +
			`","opened_at":"2026-12-01T10:00:00Z","fired_ns":2000000000,"peak_ns":3000000000,"slow_count":2,` +
			`"last_true":"2026-12-01T10:01:00Z","notified_at":"2026-12-01T10:00:00Z","notified_ns":2000000000}`
	}
	long := strings.Repeat("x", 65)
	tests := []struct {
		name    string
		data    string
		wantErr string
		wantIDs []string
	}{
		{name: "not json", data: "{incidents", wantErr: "damaged incidents record"},
		{name: "wrong type", data: `{"version":1,"incidents":{"a":1}}`, wantErr: "damaged incidents record"},
		{name: "wrong field type", data: `{"version":1,"incidents":[{"id":5}]}`, wantErr: "damaged incidents record"},
		{name: "bad time", data: `{"version":1,"incidents":[{"id":"a","mode":"span","opened_at":"yesterday"}]}`, wantErr: "damaged incidents record"},
		{name: "version 0", data: `{"incidents":[` + good("a", "span") + `]}`, wantErr: "version 0"},
		{name: "version 2", data: `{"version":2,"incidents":[` + good("a", "span") + `]}`, wantErr: "version 2"},
		{name: "null", data: `null`, wantErr: "version 0"},
		{name: "no incidents", data: `{"version":1}`},
		{name: "hostile records skipped", data: `{"version":1,"incidents":[` +
			good("a", "span") + "," + good("b", "bogus") + "," + good("", "quantile") + "," +
			good(long, "ratio") + "," + good(strings.Repeat("y", 64), "quantile") + "," + good("c", "") + `]}`,
			wantIDs: []string{"a", strings.Repeat("y", 64)}},
		{name: "extreme values", data: `{"version":1,"incidents":[{"id":"e","mode":"ratio","fired_ratio":1e308,` +
			`"peak_ns":-9223372036854775808,"slow_count":-5,"opened_at":"0001-01-01T00:00:00Z"}]}`,
			wantIDs: []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			client := newClient()
			require.NoError(t, client.Set(ctx, storageKey, []byte(tt.data)))
			tr := New(Settings{})
			err := tr.Load(ctx, client)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Zero(t, tr.Len())
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, k := range tr.Open(nil) {
				tr.mu.Lock()
				ids = append(ids, tr.open[k].inc.ID)
				tr.mu.Unlock()
			}
			assert.ElementsMatch(t, tt.wantIDs, ids)
			for _, k := range tr.Open(nil) {
				tr.mu.Lock()
				assert.GreaterOrEqual(t, tr.open[k].inc.SlowCount, int64(0))
				tr.mu.Unlock()
			}
			// Whatever was loaded can be observed, resolved and saved.
			for _, k := range tr.Open(nil) {
				tr.Observe(k, t0.Add(time.Hour), obs(alert.ModeQuantile, true, dur(time.Hour), 1, time.Minute))
				tr.Observe(k, t0.Add(2*time.Hour), obs(alert.ModeQuantile, false, dur(0), 0, time.Minute))
			}
			assert.Zero(t, tr.Len())
		})
	}
}

func TestLoadRespectsMaxOpen(t *testing.T) {
	ctx := context.Background()
	client := newClient()
	tr := New(Settings{})
	for i := range 5 {
		k := alert.Key{Service: "shop", Route: "/r" + string(rune('a'+i))}
		ev, _ := tr.Observe(k, t0, obs(alert.ModeSpan, true, dur(time.Second), 1, 0))
		tr.Delivered(ev)
	}
	require.NoError(t, tr.Save(ctx, client))
	re := New(Settings{MaxOpen: 3})
	require.NoError(t, re.Load(ctx, client))
	assert.Equal(t, 3, re.Len())
}

func FuzzLoad(f *testing.F) {
	tr := New(Settings{})
	for i, m := range []alert.Mode{alert.ModeSpan, alert.ModeQuantile, alert.ModeRatio} {
		k := alert.Key{Service: "shop", Route: "/r" + string(rune('a'+i))}
		ev, _ := tr.Observe(k, t0, obs(m, true, alert.Figure{Duration: time.Second, Ratio: 0.5}, 3, time.Minute))
		tr.Delivered(ev)
	}
	client := newClient()
	require.NoError(f, tr.Save(context.Background(), client))
	data, err := client.Get(context.Background(), storageKey)
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(`{"version":1,"incidents":[{"id":"x","mode":"nope"}]}`))
	f.Add([]byte(`{"version":1,"incidents":[{"id":"","mode":"span"},null,{}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		client := newClient()
		if err := client.Set(ctx, storageKey, data); err != nil {
			t.Fatal(err)
		}
		tr := New(Settings{MaxOpen: 100, EscalationFactor: 2, Renotify: time.Hour})
		_ = tr.Load(ctx, client)
		tr.mu.Lock()
		for k, st := range tr.open {
			if !st.inc.Mode.Valid() || st.inc.ID == "" || len(st.inc.ID) > 64 || st.inc.State != alert.IncidentFiring || st.inc.SlowCount < 0 {
				t.Fatalf("loaded %v: %+v", k, st.inc)
			}
		}
		tr.mu.Unlock()
		// Loaded incidents go through the usual paths without a panic.
		for _, k := range tr.Open(nil) {
			if ev, ok := tr.Observe(k, t0, obs(alert.ModeQuantile, true, dur(time.Hour), 1, time.Minute)); ok {
				tr.Delivered(ev)
			}
			if ev, ok := tr.Observe(k, t0.Add(time.Hour), obs(alert.ModeQuantile, false, dur(0), 0, time.Minute)); ok {
				tr.Undo(ev)
			}
		}
		if err := tr.Save(ctx, client); err != nil {
			t.Fatal(err)
		}
	})
}

// blockingClient holds the first Set until released, so that a second Save
// can run while the first is writing.
type blockingClient struct {
	*storagetest.TestClient
	calls   chan struct{}
	release chan struct{}
	n       atomic.Int32
}

func (c *blockingClient) Set(ctx context.Context, key string, value []byte) error {
	first := c.n.Add(1) == 1
	c.calls <- struct{}{}
	if first {
		<-c.release
	}
	return c.TestClient.Set(ctx, key, value)
}

// Two Saves at once (batches commit concurrently): the later state must be
// the one left in storage, as dedup's Save ensures with its saveMu.
func TestConcurrentSavesKeepTheLatest(t *testing.T) {
	ctx := context.Background()
	client := &blockingClient{TestClient: newClient(), calls: make(chan struct{}, 2), release: make(chan struct{})}
	tr := New(Settings{})
	fired, _ := tr.Observe(key, t0, obs(alert.ModeQuantile, true, dur(time.Second), 0, time.Minute))
	tr.Delivered(fired)

	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, tr.Save(ctx, client)) })
	<-client.calls // the first Save is writing the open incident

	res, ok := tr.Observe(key, t0.Add(time.Hour), obs(alert.ModeQuantile, false, dur(0), 0, time.Minute))
	require.True(t, ok)
	tr.Delivered(res)
	wg.Go(func() { assert.NoError(t, tr.Save(ctx, client)) })
	select {
	case <-client.calls: // the second Save overtook the first (the bug)
	case <-time.After(100 * time.Millisecond): // it waits for the first
	}
	close(client.release)
	wg.Wait()

	assert.Empty(t, saved(t, client.TestClient).Incidents, "the resolved incident is gone from storage")
}

// failingClient refuses writes and reads while fail is set.
type failingClient struct {
	*storagetest.TestClient
	fail bool
}

func (c *failingClient) Set(ctx context.Context, key string, value []byte) error {
	if c.fail {
		return errors.New("disk full")
	}
	return c.TestClient.Set(ctx, key, value)
}

func (c *failingClient) Get(ctx context.Context, key string) ([]byte, error) {
	if c.fail {
		return nil, errors.New("disk gone")
	}
	return c.TestClient.Get(ctx, key)
}

func TestSaveFailureRetries(t *testing.T) {
	ctx := context.Background()
	client := &failingClient{TestClient: newClient(), fail: true}
	tr := New(Settings{})
	ev, _ := tr.Observe(key, t0, obs(alert.ModeSpan, true, dur(time.Second), 1, 0))
	tr.Delivered(ev)
	require.ErrorContains(t, tr.Save(ctx, client), "disk full")
	require.ErrorContains(t, tr.Load(ctx, client), "disk gone")

	// Still dirty: the next Save writes.
	client.fail = false
	require.NoError(t, tr.Save(ctx, client))
	require.Len(t, saved(t, client.TestClient).Incidents, 1)
}

// The running figures since the last alert (peak, slow count, when the
// condition was last true) reach storage at the next Save, the one at
// shutdown: after a restart the incident neither forgets them nor resolves
// early.
func TestRunningFiguresSavedAtShutdown(t *testing.T) {
	ctx := context.Background()
	client := &countingClient{TestClient: newClient()}
	q := func(cond bool, d time.Duration, slow int64) Observation {
		return obs(alert.ModeQuantile, cond, dur(d), slow, 10*time.Minute)
	}
	tr := New(Settings{EscalationFactor: 10})
	fired, _ := tr.Observe(key, t0, q(true, 2*time.Second, 3))
	tr.Delivered(fired)
	require.NoError(t, tr.Save(ctx, client))
	for i := 1; i <= 50; i++ {
		_, ok := tr.Observe(key, t0.Add(time.Duration(i)*time.Minute), q(true, 2*time.Second+time.Duration(i)*10*time.Millisecond, 2))
		require.False(t, ok)
	}
	require.NoError(t, tr.Save(ctx, client)) // shutdown
	assert.Equal(t, 2, client.sets)

	re := New(Settings{EscalationFactor: 10})
	require.NoError(t, re.Load(ctx, client))
	_, ok := re.Observe(key, t0.Add(51*time.Minute), q(false, 0, 0))
	assert.False(t, ok, "true until 50m: not resolved at 51m")
	ev, ok := re.Observe(key, t0.Add(60*time.Minute), q(false, 0, 0))
	require.True(t, ok)
	assert.Equal(t, alert.ReasonResolved, ev.Reason)
	assert.EqualValues(t, 103, ev.Incident.SlowCount)
	assert.Equal(t, dur(2500*time.Millisecond), ev.Incident.Peak)
}

// A span-mode incident keeps its resolve.after across a restart.
func TestSpanModeIncidentPersists(t *testing.T) {
	ctx := context.Background()
	client := newClient()
	tr := New(Settings{})
	ev, opened := tr.Attach(key, t0, 2*time.Second, 10*time.Minute)
	require.True(t, opened)
	tr.Delivered(ev)
	tr.Touch(key, t0.Add(5*time.Minute), 4*time.Second)
	require.NoError(t, tr.Save(ctx, client))

	re := New(Settings{})
	require.NoError(t, re.Load(ctx, client))
	assert.Empty(t, re.ResolveQuiet(t0.Add(14*time.Minute)), "a slow span at 5m: quiet only from 15m")
	res := re.ResolveQuiet(t0.Add(15 * time.Minute))
	require.Len(t, res, 1)
	assert.Equal(t, ev.Incident.ID, res[0].Incident.ID)
	assert.EqualValues(t, 2, res[0].Incident.SlowCount)
	assert.Equal(t, dur(4*time.Second), res[0].Incident.Peak)
}
