package dedup

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/redistest"
)

// decider is what the clock test needs of Deduper and Redis.
type decider interface {
	Decide(ctx context.Context, key alert.Key, dur time.Duration, now time.Time) Decision
	Delivered(ctx context.Context, dec Decision)
}

// TestClockThatRanAheadDoesNotSilenceTheKey: an alert stamped while the
// clock was a year ahead must not keep its key silent for a year and a
// window once the clock is back: the window counts from when the stamp is
// first read back.
func TestClockThatRanAheadDoesNotSilenceTheKey(t *testing.T) {
	const year = 365 * 24 * time.Hour
	window := defaults().Window
	ahead := t0.Add(year)
	tests := []struct {
		name string
		// start returns the decider that alerts while the clock is ahead,
		// and the one that decides once the clock is back at t0.
		start func(t *testing.T) (decider, func() decider)
	}{
		{name: "in memory", start: func(*testing.T) (decider, func() decider) {
			d := New(defaults())
			return d, func() decider { return d }
		}},
		{name: "after Save and Load", start: func(t *testing.T) (decider, func() decider) {
			client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
			d := New(defaults())
			return d, func() decider {
				require.NoError(t, d.Save(context.Background(), client))
				r := New(defaults())
				require.NoError(t, r.Load(context.Background(), client, t0))
				return r
			}
		}},
		{name: "in Redis (miniredis)", start: func(t *testing.T) (decider, func() decider) {
			r, _ := newRedis(t, miniredis.RunT(t).Addr(), defaults())
			return r, func() decider { return r }
		}},
		{name: "in Redis (redis-server)", start: func(t *testing.T) (decider, func() decider) {
			r, _ := newRedis(t, redistest.StartServer(t).Addr, defaults())
			return r, func() decider { return r }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			d, back := tt.start(t)
			first := d.Decide(ctx, key("/a"), 2*time.Second, ahead)
			require.Equal(t, alert.ReasonFirst, first.Reason)
			d.Delivered(ctx, first)

			d = back() // the clock steps back a year
			for _, at := range []time.Duration{0, time.Hour, window - time.Second} {
				assert.False(t, d.Decide(ctx, key("/a"), 1500*time.Millisecond, t0.Add(at)).Alert,
					"suppressed within one window of the step back (+%s)", at)
			}
			exp := d.Decide(ctx, key("/a"), time.Second, t0.Add(window))
			require.True(t, exp.Alert, "alerts again one window after the step back, not a year later")
			assert.Equal(t, alert.ReasonWindowExpired, exp.Reason)
			assert.EqualValues(t, 3, exp.Suppressed.Count)
			assert.Equal(t, t0, exp.Suppressed.Since, "the suppression ran since the stamp was read back, not since the future")
		})
	}
}

func TestAlertTimesWithinTheToleranceAreKept(t *testing.T) {
	// Clocks of a fleet differ a little: an alert stamped slightly ahead
	// is taken as it is.
	d := New(defaults())
	stamped := t0.Add(FutureTolerance)
	decideDelivered(d, key("/a"), 2*time.Second, stamped)
	require.False(t, d.Decide(ctx0, key("/a"), 1500*time.Millisecond, t0).Alert)
	exp := d.Decide(ctx0, key("/a"), time.Second, stamped.Add(defaults().Window))
	require.Equal(t, alert.ReasonWindowExpired, exp.Reason)
	assert.Equal(t, stamped, exp.Suppressed.Since)
}

func TestAlertDeliveredAfterTheClockSteppedBackIsSaved(t *testing.T) {
	// The alert waits for correlation while the clock steps back and a
	// span of its key reads its time back as now: its delivery still
	// confirms it.
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("slowspan"), "")
	d := New(defaults())
	first := d.Decide(ctx, key("/a"), 2*time.Second, t0.Add(365*24*time.Hour))
	require.Equal(t, alert.ReasonFirst, first.Reason)
	require.False(t, d.Decide(ctx, key("/a"), 1500*time.Millisecond, t0).Alert)
	d.Delivered(ctx, first)
	require.NoError(t, d.Save(ctx, client))

	r := New(defaults())
	require.NoError(t, r.Load(ctx, client, t0.Add(time.Minute)))
	assert.False(t, r.Decide(ctx, key("/a"), 1500*time.Millisecond, t0.Add(time.Hour)).Alert, "the delivered alert was saved")
}
