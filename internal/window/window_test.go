package window

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newTestWindow(t *testing.T, cfg Config) *Window {
	t.Helper()
	w, err := NewWindow(cfg)
	require.NoError(t, err)
	return w
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Over: 5 * time.Minute, SubWindows: 10}, true},
		{Config{Over: time.Second, SubWindows: 1, Threshold: time.Second}, true},
		{Config{Over: 0, SubWindows: 10}, false},
		{Config{Over: time.Minute, SubWindows: 0}, false},
		{Config{Over: 5, SubWindows: 10}, false},
	} {
		err := tc.cfg.Validate()
		assert.Equal(t, tc.ok, err == nil, "%+v: %v", tc.cfg, err)
		_, err = NewWindow(tc.cfg)
		assert.Equal(t, tc.ok, err == nil)
	}
}

// TestWindowSlides steps through 10 × 30 s sub-windows: a value stays in the
// window for 9 to 10 sub-windows, then expires.
func TestWindowSlides(t *testing.T) {
	w := newTestWindow(t, Config{Over: 5 * time.Minute, SubWindows: 10, Threshold: time.Second})
	w.Record(t0, 2*time.Second)                        // sub-window 0
	w.Record(t0.Add(29*time.Second), time.Second)      // sub-window 0
	w.Record(t0.Add(31*time.Second), time.Millisecond) // sub-window 1
	for _, tc := range []struct {
		at          time.Duration
		count, slow uint64
		max         time.Duration
	}{
		{0, 2, 2, 2 * time.Second}, // a sub-window is the unit: 29 s is in it
		{30 * time.Second, 3, 2, 2 * time.Second},
		{299 * time.Second, 3, 2, 2 * time.Second},
		{300 * time.Second, 1, 0, time.Millisecond}, // sub-window 0 expired
		{329 * time.Second, 1, 0, time.Millisecond},
		{330 * time.Second, 0, 0, 0},
		{time.Hour, 0, 0, 0},
		{-time.Second, 0, 0, 0}, // before any record
	} {
		now := t0.Add(tc.at)
		assert.Equal(t, tc.count, w.Count(now), "count at %v", tc.at)
		assert.Equal(t, tc.slow, w.CountAtLeastThreshold(now), "slow at %v", tc.at)
		assert.Equal(t, tc.max, w.Max(now), "max at %v", tc.at)
		var h Histogram
		w.Snapshot(now, &h)
		assert.Equal(t, tc.count, h.Count(), "snapshot at %v", tc.at)
		assert.Equal(t, tc.max, h.Max(), "snapshot max at %v", tc.at)
	}
}

func TestWindowDropsRecordsOlderThanItsSlot(t *testing.T) {
	w := newTestWindow(t, Config{Over: 10 * time.Second, SubWindows: 10})
	require.True(t, w.Record(t0.Add(20*time.Second), time.Second))
	assert.True(t, w.Record(t0.Add(11*time.Second), time.Second), "late but in the window")
	assert.False(t, w.Record(t0.Add(10*time.Second), time.Second), "its slot holds a newer sub-window")
	assert.Equal(t, uint64(2), w.Count(t0.Add(20*time.Second)))
}

func TestWindowHandlesTimesBefore1970(t *testing.T) {
	w := newTestWindow(t, Config{Over: 10 * time.Second, SubWindows: 10})
	old := time.Unix(-5, -500)
	w.Record(old, time.Second)
	assert.Equal(t, uint64(1), w.Count(old))
	assert.Equal(t, uint64(1), w.Count(old.Add(9*time.Second)))
	assert.Equal(t, uint64(0), w.Count(old.Add(11*time.Second)))
}

// TestWindowMatchesAHistogramOfItsLiveValues records a random stream and
// checks, at many instants, the window against a Histogram of exactly the
// values of its live sub-windows.
func TestWindowMatchesAHistogramOfItsLiveValues(t *testing.T) {
	cfg := Config{Over: time.Minute, SubWindows: 6, Threshold: 300 * time.Millisecond}
	w := newTestWindow(t, cfg)
	r := rand.New(rand.NewPCG(4, 4))
	type rec struct {
		at time.Time
		d  time.Duration
	}
	var recs []rec
	now := t0
	for step := range 400 {
		now = now.Add(time.Duration(r.Int64N(int64(2 * time.Second))))
		for range r.IntN(50) {
			d := distributions[step%len(distributions)].draw(r)
			w.Record(now, d)
			recs = append(recs, rec{now, d})
		}
		if step%7 != 0 {
			continue
		}
		width := int64(cfg.Over) / int64(cfg.SubWindows)
		cur := now.UnixNano() / width
		var want Histogram
		var slow uint64
		for _, x := range recs {
			if x.at.UnixNano()/width > cur-int64(cfg.SubWindows) {
				want.Record(x.d)
				if x.d >= cfg.Threshold {
					slow++
				}
			}
		}
		var got Histogram
		w.Snapshot(now, &got)
		require.Equal(t, want, got, "step %d", step)
		require.Equal(t, slow, w.CountAtLeastThreshold(now))
		for _, q := range quantiles {
			require.Equal(t, want.Quantile(q), w.Quantile(now, q), "step %d q %v", step, q)
		}
	}
	assert.Equal(t, time.Duration(0), newTestWindow(t, cfg).Quantile(now, 0.5), "empty")
}

func TestWindowRecordDoesNotAllocateInSteadyState(t *testing.T) {
	w := newTestWindow(t, Config{Over: 5 * time.Minute, SubWindows: 10})
	r := rand.New(rand.NewPCG(5, 5))
	now := t0
	step := func() {
		now = now.Add(100 * time.Millisecond)
		w.Record(now, distributions[1].draw(r))
	}
	for range 100_000 { // warm up: every slot has seen the distribution
		step()
	}
	assert.Zero(t, testing.AllocsPerRun(10_000, step))
}
