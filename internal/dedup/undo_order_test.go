package dedup

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
)

// TestUndoBatchUndoesNewestDecisionFirst: a storm summary or a correlation
// wait can hand a batch its decisions out of order; rolling them all back
// must still leave the key as before the first of them.
func TestUndoBatchUndoesNewestDecisionFirst(t *testing.T) {
	ctx := context.Background()
	d := New(Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 100})
	k := alert.Key{Service: "s", Route: "/r"}
	now := time.Unix(1000, 0)
	first := d.Decide(ctx, k, time.Second, now)
	escalation := d.Decide(ctx, k, 3*time.Second, now.Add(time.Millisecond))
	require.True(t, first.Alert && escalation.Alert)

	d.UndoBatch(ctx, []Decision{escalation, first}) // the batch holds them out of order
	again := d.Decide(ctx, k, time.Second, now.Add(2*time.Millisecond))
	assert.True(t, again.Alert, "neither alert was delivered: the key alerts again")
	assert.Equal(t, alert.ReasonFirst, again.Reason)
}

// TestLocalUndoKeepsWhatWasSuppressedSince: the spans suppressed between a
// decision and its rollback stay counted, as in Redis.
func TestLocalUndoKeepsWhatWasSuppressedSince(t *testing.T) {
	ctx := context.Background()
	d := New(Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 100})
	k := alert.Key{Service: "s", Route: "/r"}
	now := time.Unix(1000, 0)
	require.True(t, d.Decide(ctx, k, time.Second, now).Alert)
	esc := d.Decide(ctx, k, 3*time.Second, now.Add(time.Second))
	require.True(t, esc.Alert)
	require.False(t, d.Decide(ctx, k, 4*time.Second, now.Add(2*time.Second)).Alert, "suppressed after the escalation")
	d.UndoBatch(ctx, []Decision{esc})
	next := d.Decide(ctx, k, 10*time.Second, now.Add(3*time.Second))
	require.True(t, next.Alert, "an escalation over the first alert")
	assert.EqualValues(t, 1, next.Suppressed.Count, "the span suppressed after the refused escalation is counted")
	assert.Equal(t, 4*time.Second, next.Suppressed.MaxDuration)
}

// TestRedisUndoMatchesItsOwnDecision: two alerts of a key decided in the
// same batch (the same microsecond); rolling back the earlier one, refused,
// after the later one was delivered must leave the later one in place.
func TestRedisUndoMatchesItsOwnDecision(t *testing.T) {
	m := miniredis.RunT(t)
	r, _ := newRedis(t, m.Addr(), Settings{Window: time.Hour, EscalationFactor: 2, MaxKeys: 100})
	ctx := context.Background()
	k := alert.Key{Service: "s", Route: "/r"}
	now := time.Unix(1000, 0)
	decs := r.DecideBatch(ctx, []Request{{Key: k, Duration: time.Second}, {Key: k, Duration: 3 * time.Second}}, now, nil)
	require.True(t, decs[0].Alert && decs[1].Alert)
	r.UndoBatch(ctx, []Decision{decs[0]}) // the first refused; the escalation was delivered
	d := r.DecideBatch(ctx, []Request{{Key: k, Duration: time.Second}}, now.Add(time.Second), nil)
	assert.False(t, d[0].Alert, "the delivered escalation still silences the key")

	// Both refused, in batch order: the key is gone again.
	k2 := alert.Key{Service: "s", Route: "/r2"}
	decs = r.DecideBatch(ctx, []Request{{Key: k2, Duration: time.Second}, {Key: k2, Duration: 3 * time.Second}}, now, nil)
	require.True(t, decs[0].Alert && decs[1].Alert)
	r.UndoBatch(ctx, decs)
	d = r.DecideBatch(ctx, []Request{{Key: k2, Duration: time.Second}}, now.Add(time.Second), nil)
	assert.True(t, d[0].Alert)
	assert.Equal(t, alert.ReasonFirst, d[0].Reason)
}
