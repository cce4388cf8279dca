package dedup

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/alert"
)

func newRedis(t *testing.T, addr string, s Settings) (*Redis, *observer.ObservedLogs) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	core, logs := observer.New(zap.InfoLevel)
	return NewRedis(RedisSettings{
		Client:  client,
		Prefix:  "slowspan:",
		Timeout: time.Second,
		Local:   New(s),
		Logger:  zap.New(core),
	}), logs
}

func TestRedisDecisions(t *testing.T) {
	m := miniredis.RunT(t)
	r, _ := newRedis(t, m.Addr(), defaults())
	ctx := context.Background()

	d := r.Decide(ctx, key("/a"), 2*time.Second, t0)
	require.True(t, d.Alert)
	assert.Equal(t, alert.ReasonFirst, d.Reason)
	assert.True(t, d.Suppressed.Since.IsZero())

	assert.False(t, r.Decide(ctx, key("/a"), 3*time.Second, t0.Add(time.Hour)).Alert)
	assert.False(t, r.Decide(ctx, key("/a"), 2500*time.Millisecond, t0.Add(2*time.Hour)).Alert)

	esc := r.Decide(ctx, key("/a"), 4*time.Second, t0.Add(3*time.Hour))
	require.True(t, esc.Alert)
	assert.Equal(t, alert.ReasonEscalation, esc.Reason)
	assert.EqualValues(t, 2, esc.Suppressed.Count)
	assert.Equal(t, 3*time.Second, esc.Suppressed.MaxDuration)
	assert.Equal(t, t0, esc.Suppressed.Since)

	assert.False(t, r.Decide(ctx, key("/a"), time.Second, t0.Add(4*time.Hour)).Alert)
	exp := r.Decide(ctx, key("/a"), time.Second, t0.Add(3*time.Hour+240*time.Hour))
	require.True(t, exp.Alert)
	assert.Equal(t, alert.ReasonWindowExpired, exp.Reason)
	assert.EqualValues(t, 1, exp.Suppressed.Count)
	assert.Equal(t, t0.Add(3*time.Hour), exp.Suppressed.Since)

	// Keys expire two windows after their last write: memory is bounded.
	rk := "slowspan:key:" + key("/a").Hash()
	assert.Equal(t, 480*time.Hour, m.TTL(rk))
	assert.Equal(t, 0, r.Len(), "the local state is not used while Redis answers")
	assert.Zero(t, r.Errors())
}

func TestRedisFleetAlertsOnce(t *testing.T) {
	m := miniredis.RunT(t)
	ctx := context.Background()
	var fleet []*Redis
	for range 3 {
		r, _ := newRedis(t, m.Addr(), defaults())
		fleet = append(fleet, r)
	}
	var mu sync.Mutex
	reasons := map[alert.Reason]int{}
	var wg sync.WaitGroup
	for i, r := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				d := r.Decide(ctx, key("/shared"), 2*time.Second, t0.Add(time.Duration(i*50+j)*time.Millisecond))
				if d.Alert {
					mu.Lock()
					reasons[d.Reason]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, map[alert.Reason]int{alert.ReasonFirst: 1}, reasons)

	// Escalation fires once across the fleet too.
	d0 := fleet[0].Decide(ctx, key("/shared"), 5*time.Second, t0.Add(time.Minute))
	d1 := fleet[1].Decide(ctx, key("/shared"), 5*time.Second, t0.Add(time.Minute))
	assert.True(t, d0.Alert)
	assert.Equal(t, alert.ReasonEscalation, d0.Reason)
	assert.EqualValues(t, 149, d0.Suppressed.Count)
	assert.False(t, d1.Alert)
}

func TestRedisOutageFallsBackAndRecovers(t *testing.T) {
	m := miniredis.RunT(t)
	r, logs := newRedis(t, m.Addr(), defaults())
	ctx := context.Background()
	require.True(t, r.Decide(ctx, key("/a"), 2*time.Second, t0).Alert)

	m.Close()
	d := r.Decide(ctx, key("/b"), 2*time.Second, t0.Add(time.Minute))
	assert.True(t, d.Alert, "no alert lost while Redis is down")
	assert.True(t, d.BackendError)
	assert.EqualValues(t, 1, r.Errors())
	// Inside the backoff Redis is not tried: no added latency, no error.
	d = r.Decide(ctx, key("/b"), 2*time.Second, t0.Add(time.Minute+time.Millisecond))
	assert.False(t, d.Alert, "the local state dedups during the outage")
	assert.False(t, d.BackendError)
	assert.EqualValues(t, 1, r.Errors())
	assert.Equal(t, 1, logs.FilterMessageSnippet("Redis dedup backend failed").Len(), "logged once per outage")

	require.NoError(t, m.Restart())
	d = r.Decide(ctx, key("/a"), 2*time.Second, t0.Add(2*time.Minute))
	assert.False(t, d.Alert, "state kept in Redis survives; Redis decides again")
	assert.False(t, d.BackendError)
	assert.Equal(t, 1, logs.FilterMessageSnippet("fleet-wide dedup resumed").Len())
}

func TestRedisUndo(t *testing.T) {
	m := miniredis.RunT(t)
	r, _ := newRedis(t, m.Addr(), defaults())
	ctx := context.Background()

	first := r.Decide(ctx, key("/a"), 2*time.Second, t0)
	r.Undo(ctx, first)
	again := r.Decide(ctx, key("/a"), 2*time.Second, t0.Add(time.Second))
	require.True(t, again.Alert)
	assert.Equal(t, alert.ReasonFirst, again.Reason, "undone first alert fires again")

	r.Decide(ctx, key("/a"), 3*time.Second, t0.Add(2*time.Second)) // suppressed
	esc := r.Decide(ctx, key("/a"), 8*time.Second, t0.Add(3*time.Second))
	require.Equal(t, alert.ReasonEscalation, esc.Reason)
	r.Undo(ctx, esc)
	redo := r.Decide(ctx, key("/a"), 8*time.Second, t0.Add(4*time.Second))
	require.Equal(t, alert.ReasonEscalation, redo.Reason)
	assert.EqualValues(t, 1, redo.Suppressed.Count, "the previous state came back")
	assert.Equal(t, t0.Add(time.Second), redo.Suppressed.Since)

	r.Undo(ctx, esc) // overtaken by redo: ignored
	assert.False(t, r.Decide(ctx, key("/a"), 8*time.Second, t0.Add(5*time.Second)).Alert)
}

func TestRedisEscalationOff(t *testing.T) {
	m := miniredis.RunT(t)
	r, _ := newRedis(t, m.Addr(), Settings{Window: time.Hour, MaxKeys: 10})
	ctx := context.Background()
	require.True(t, r.Decide(ctx, key("/a"), time.Second, t0).Alert)
	assert.False(t, r.Decide(ctx, key("/a"), time.Hour, t0.Add(time.Minute)).Alert)
}

func TestRedisUndoKeepsWhatOthersSuppressedSince(t *testing.T) {
	m := miniredis.RunT(t)
	a, _ := newRedis(t, m.Addr(), defaults())
	b, _ := newRedis(t, m.Addr(), defaults())
	ctx := context.Background()

	require.True(t, a.Decide(ctx, key("/a"), 2*time.Second, t0).Alert)
	require.False(t, a.Decide(ctx, key("/a"), 3*time.Second, t0.Add(time.Minute)).Alert)
	esc := a.Decide(ctx, key("/a"), 8*time.Second, t0.Add(2*time.Minute))
	require.Equal(t, alert.ReasonEscalation, esc.Reason)
	// Another collector suppresses a span under the escalation, then the
	// escalation is refused: only it is undone.
	require.False(t, b.Decide(ctx, key("/a"), 5*time.Second, t0.Add(3*time.Minute)).Alert)
	a.Undo(ctx, esc)

	exp := b.Decide(ctx, key("/a"), time.Second, t0.Add(240*time.Hour))
	require.Equal(t, alert.ReasonWindowExpired, exp.Reason)
	assert.EqualValues(t, 2, exp.Suppressed.Count)
	assert.Equal(t, 5*time.Second, exp.Suppressed.MaxDuration)
	assert.Equal(t, t0, exp.Suppressed.Since)
}
