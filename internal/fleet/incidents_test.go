package fleet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newIncidents(t testing.TB, client *redis.Client) *Incidents {
	t.Helper()
	x, err := NewIncidents(IncidentSettings{Settings: Settings{Client: client, Prefix: "test:", Timeout: 2 * time.Second}})
	require.NoError(t, err)
	return x
}

func TestIncidentTransitions(t *testing.T) {
	_, client := startServer(t)
	a, b := newIncidents(t, client), newIncidents(t, client)
	require.NoError(t, a.LoadScripts(context.Background()))
	ctx := context.Background()
	const key = "GET /a"

	emit, id, err := a.Fire(ctx, key, "inc-a", 1.2, t0)
	require.NoError(t, err)
	assert.True(t, emit)
	assert.Equal(t, "inc-a", id)

	emit, id, err = b.Fire(ctx, key, "inc-b", 1.5, t0.Add(time.Second))
	require.NoError(t, err)
	assert.False(t, emit, "an open incident is not opened again")
	assert.Equal(t, "inc-a", id, "the incident's id, not the candidate")

	// Escalation: at least twice the figure that fired (1.2), then twice
	// the last escalation's.
	for _, step := range []struct {
		x      *Incidents
		figure float64
		emit   bool
	}{
		{b, 2.3, false}, {a, 2.4, true}, {b, 2.4, false}, {b, 4.7, false}, {a, 4.8, true}, {b, 9, false},
	} {
		emit, err := step.x.Escalate(ctx, key, "inc-a", step.figure, 2, t0.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, step.emit, emit, "escalation to %v", step.figure)
	}
	inc, ok, err := a.Get(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Incident{ID: "inc-a", Open: true, Fired: 1.2, Peak: 9, Escalation: 4.8,
		OpenedAt: t0, UpdatedAt: t0.Add(time.Minute)}, inc)

	emit, err = b.Escalate(ctx, key, "inc-old", 100, 2, t0)
	require.NoError(t, err)
	assert.False(t, emit, "a stale id never escalates")

	emit, err = b.Resolve(ctx, key, "inc-a", t0.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, emit)
	for _, x := range []*Incidents{a, b} {
		emit, err = x.Resolve(ctx, key, "inc-a", t0.Add(time.Hour))
		require.NoError(t, err)
		assert.False(t, emit, "resolved once")
		emit, err = x.Escalate(ctx, key, "inc-a", 100, 2, t0.Add(time.Hour))
		require.NoError(t, err)
		assert.False(t, emit, "a resolved incident never escalates")
	}
	ttl, err := client.PTTL(ctx, a.stateKey(key)).Result()
	require.NoError(t, err)
	assert.InDelta(t, DefaultIncidentTTL.Seconds(), ttl.Seconds(), 5, "kept a day after the resolve")

	// A Fire after the resolve opens a new incident.
	emit, id, err = b.Fire(ctx, key, "inc-b2", 3, t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.True(t, emit)
	assert.Equal(t, "inc-b2", id)
	inc, _, err = a.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, Incident{ID: "inc-b2", Open: true, Fired: 3, Peak: 3, Escalation: 3,
		OpenedAt: t0.Add(2 * time.Hour), UpdatedAt: t0.Add(2 * time.Hour)}, inc)
	emit, err = a.Resolve(ctx, key, "inc-a", t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.False(t, emit, "the replaced incident's id is stale")

	_, ok, err = a.Get(ctx, "GET /never")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestIncidentCallsRefuse(t *testing.T) {
	_, client := startServer(t)
	x := newIncidents(t, client)
	ctx := context.Background()
	_, _, err := x.Fire(ctx, "k", "", 1, t0)
	assert.ErrorContains(t, err, "candidate id")
	_, err = x.Escalate(ctx, "k", "id", 1, 0.5, t0)
	assert.ErrorContains(t, err, "factor")
	_, err = x.Escalate(ctx, "k", "id", nan(), 2, t0)
	assert.ErrorContains(t, err, "not a finite number")
}

func nan() float64 { var z float64; return z / z }

// A reclaimed incident (Redis lost it, or failed when it opened) keeps
// when it opened; an open one is not replaced.
func TestIncidentReclaimKeepsWhenItOpened(t *testing.T) {
	_, client := startServer(t)
	x := newIncidents(t, client)
	ctx := context.Background()
	emit, id, err := x.Reclaim(ctx, "GET /a", "inc-a", 2, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, emit)
	assert.Equal(t, "inc-a", id)
	inc, ok, err := x.Get(ctx, "GET /a")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, t0, inc.OpenedAt)
	assert.Equal(t, t0.Add(time.Hour), inc.UpdatedAt)

	emit, id, err = x.Reclaim(ctx, "GET /a", "inc-b", 3, t0.Add(time.Minute), t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.False(t, emit)
	assert.Equal(t, "inc-a", id)

	// An opening time in the future, or none, is now.
	_, _, err = x.Reclaim(ctx, "GET /b", "inc-c", 1, t0.Add(3*time.Hour), t0.Add(2*time.Hour))
	require.NoError(t, err)
	inc, _, err = x.Get(ctx, "GET /b")
	require.NoError(t, err)
	assert.Equal(t, t0.Add(2*time.Hour), inc.OpenedAt)
	_, _, err = x.Reclaim(ctx, "GET /c", "", 1, t0, t0)
	assert.ErrorContains(t, err, "candidate id")
}

// TestIncidentRaceEmitsOnce has 10 collectors, each with its own client,
// race on every transition of 20 endpoints' incidents: exactly one emits
// each.
func TestIncidentRaceEmitsOnce(t *testing.T) {
	srv, _ := startServer(t)
	const collectors, rounds = 10, 20
	fleet := make([]*Incidents, collectors)
	for c := range fleet {
		fleet[c] = newIncidents(t, newClient(t, srv.Addr))
	}
	ctx := context.Background()
	// race runs op on every collector at once and returns how many
	// emitted, and the ids they were given.
	race := func(op func(c int, x *Incidents) (bool, string)) (int, map[string]int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		emits, ids := 0, map[string]int{}
		for c, x := range fleet {
			wg.Go(func() {
				<-start
				emit, id := op(c, x)
				mu.Lock()
				defer mu.Unlock()
				if emit {
					emits++
				}
				ids[id]++
			})
		}
		close(start)
		wg.Wait()
		return emits, ids
	}
	for r := range rounds {
		key := fmt.Sprintf("GET /r%d", r%4) // keys fire again after a resolve
		now := t0.Add(time.Duration(r) * time.Minute)
		emits, ids := race(func(c int, x *Incidents) (bool, string) {
			emit, id, err := x.Fire(ctx, key, fmt.Sprintf("inc-%d-%d", r, c), 1+float64(c)/10, now)
			assert.NoError(t, err) // not require: in a goroutine
			return emit, id
		})
		require.Equal(t, 1, emits, "round %d: fire", r)
		require.Len(t, ids, 1, "round %d: every collector got the same incident id", r)
		var id string
		for id = range ids {
		}
		emits, _ = race(func(c int, x *Incidents) (bool, string) {
			emit, err := x.Escalate(ctx, key, id, 10+float64(c), 2, now)
			assert.NoError(t, err) // not require: in a goroutine
			return emit, ""
		})
		require.Equal(t, 1, emits, "round %d: escalate", r)
		emits, _ = race(func(c int, x *Incidents) (bool, string) {
			emit, err := x.Resolve(ctx, key, id, now)
			assert.NoError(t, err) // not require: in a goroutine
			return emit, ""
		})
		require.Equal(t, 1, emits, "round %d: resolve", r)
	}
}

func TestGetManyReadsEveryIncidentInOneRoundTrip(t *testing.T) {
	_, client := startServer(t)
	x := newIncidents(t, client)
	ctx := context.Background()
	_, _, err := x.Fire(ctx, "GET /a", "inc-a", 1.2, t0)
	require.NoError(t, err)
	_, _, err = x.Fire(ctx, "GET /b", "inc-b", 0.3, t0)
	require.NoError(t, err)
	_, err = x.Resolve(ctx, "GET /b", "inc-b", t0.Add(time.Minute))
	require.NoError(t, err)
	incs, ok, err := x.GetMany(ctx, []string{"GET /a", "GET /none", "GET /b"})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false, true}, ok)
	assert.Equal(t, Incident{ID: "inc-a", Open: true, Fired: 1.2, Peak: 1.2, Escalation: 1.2, OpenedAt: t0, UpdatedAt: t0}, incs[0])
	assert.Equal(t, "inc-b", incs[2].ID)
	assert.False(t, incs[2].Open)
	incs, ok, err = x.GetMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, incs)
	assert.Empty(t, ok)

	// A read refreshes the TTL of an open incident no transition touched
	// for long, and creates nothing for an endpoint without one.
	key := x.stateKey("GET /a")
	require.NoError(t, client.PExpire(ctx, key, time.Second).Err())
	_, _, err = x.GetMany(ctx, []string{"GET /a", "GET /none"})
	require.NoError(t, err)
	ttl, err := client.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Hour, "the TTL is back to the incident TTL")
	n, err := client.Exists(ctx, x.stateKey("GET /none")).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}
