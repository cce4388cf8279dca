package fleet

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newVersions(t *testing.T, addr string, maxBytes, keep int) *Versions {
	t.Helper()
	v, err := NewVersions(VersionSettings{Settings: Settings{Client: newClient(t, addr), Prefix: "test:"}, MaxBytes: maxBytes, Keep: keep})
	require.NoError(t, err)
	return v
}

func TestLatestIsTheVersionTheFleetSawLast(t *testing.T) {
	srv, _ := startServer(t)
	ctx := context.Background()
	a, b := newVersions(t, srv.Addr, 0, 3), newVersions(t, srv.Addr, 0, 3)
	seen := func(x *Versions, ver string, at time.Time) {
		t.Helper()
		_, err := x.Publish(ctx, []Seen{{Endpoint: "shop GET /orders", Version: ver, At: at, TTL: time.Hour}}, nil)
		require.NoError(t, err)
	}
	latest := func(x *Versions) string {
		t.Helper()
		got, known, err := x.Latest(ctx, []Endpoint{{Name: "shop GET /orders", TTL: time.Hour}, {Name: "shop GET /other", TTL: time.Hour}})
		require.NoError(t, err)
		assert.False(t, known[1], "no version of an endpoint nobody announced")
		require.True(t, known[0])
		return got[0]
	}
	seen(a, "1.0", t0)
	assert.Equal(t, "1.0", latest(b))
	seen(b, "1.1", t0.Add(time.Hour))
	assert.Equal(t, "1.1", latest(a))
	// A collector that starts later sees 1.0 first: the fleet saw it
	// before, 1.1 stays current; so does a rollback to 1.0.
	seen(b, "1.0", t0.Add(2*time.Hour))
	assert.Equal(t, "1.1", latest(a))
	// At most keep versions: the first seen go first.
	for i := range 5 {
		seen(a, fmt.Sprintf("2.%d", i), t0.Add(time.Duration(3+i)*time.Hour))
	}
	assert.Equal(t, "2.4", latest(b))
	n, err := a.client.ZCard(ctx, a.seenKey("shop GET /orders")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)

	// Each read keeps them from expiring.
	require.NoError(t, a.client.PExpire(ctx, a.seenKey("shop GET /orders"), time.Minute).Err())
	latest(a)
	ttl, err := a.client.PTTL(ctx, a.seenKey("shop GET /orders")).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute)
}

func TestBaselinesFirstCreateWins(t *testing.T) {
	srv, client := startServer(t)
	ctx := context.Background()
	// Three collectors create the baseline of one name at once, each its
	// own: exactly one is set, and all read it.
	var wg sync.WaitGroup
	set := make([]bool, 3)
	for i := range set {
		v := newVersions(t, srv.Addr, 0, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := v.Publish(ctx, nil, []Baseline{{Name: "shop GET /orders 1.1", Value: []byte{'a' + byte(i)}, TTL: time.Hour}})
			assert.NoError(t, err)
			set[i] = len(got) == 1 && got[0]
		}()
	}
	wg.Wait()
	n := 0
	var winner byte
	for i, ok := range set {
		if ok {
			n++
			winner = 'a' + byte(i)
		}
	}
	require.Equal(t, 1, n, "exactly one create sets the value")

	v := newVersions(t, srv.Addr, 0, 0)
	names := []string{"shop GET /orders 1.1", "shop GET /other 1.1"}
	got, err := v.Baselines(ctx, names, []string{"", ""})
	require.NoError(t, err)
	require.True(t, got[0].Present)
	assert.Len(t, got[0].ID, baselineIDLen)
	assert.Equal(t, []byte{winner}, got[0].Value)
	assert.Equal(t, StoredBaseline{}, got[1])

	// Held: only its id comes back. Replaced: the new value comes back.
	held, err := v.Baselines(ctx, names[:1], []string{got[0].ID})
	require.NoError(t, err)
	assert.Equal(t, []StoredBaseline{{Present: true, ID: got[0].ID}}, held)
	stale, err := v.Baselines(ctx, names[:1], []string{"0123456789abcdef"})
	require.NoError(t, err)
	assert.Equal(t, got[:1], stale)
	_, err = v.Baselines(ctx, names, nil)
	require.ErrorContains(t, err, "0 ids held for 2 baselines")

	// Never overwritten.
	again, err := v.Publish(ctx, nil, []Baseline{{Name: "shop GET /orders 1.1", Value: []byte("z"), TTL: time.Hour},
		{Name: "shop GET /other 1.1", Value: []byte("o"), TTL: time.Hour}})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, again)

	ttl, err := client.PTTL(ctx, v.baselineKey("shop GET /other 1.1")).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute, "the TTL is set with the value")
}

func TestVersionsAreBounded(t *testing.T) {
	srv, client := startServer(t)
	ctx := context.Background()
	v := newVersions(t, srv.Addr, 16, 0)
	_, err := v.Publish(ctx, nil, []Baseline{{Name: "a", Value: bytes.Repeat([]byte{'x'}, 17), TTL: time.Hour}})
	require.ErrorContains(t, err, "17 bytes is over the 16 allowed")
	_, err = v.Publish(ctx, nil, []Baseline{{Name: "a", Value: []byte("x")}})
	require.ErrorContains(t, err, "below a millisecond")
	_, err = v.Publish(ctx, []Seen{{Endpoint: "a", Version: "1"}}, nil)
	require.ErrorContains(t, err, "below a millisecond")

	// A value someone else wrote, too large: skipped on read.
	require.NoError(t, client.Set(ctx, v.baselineKey("big"), bytes.Repeat([]byte{'x'}, 1000), 0).Err())
	require.NoError(t, client.Set(ctx, v.baselineKey("short"), "0123", 0).Err())
	got, err := v.Baselines(ctx, []string{"big", "short"}, []string{"", ""})
	require.NoError(t, err)
	assert.Equal(t, []StoredBaseline{{Present: true}, {Present: true}}, got, "present, damaged")

	got, err = v.Baselines(ctx, nil, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
	latest, _, err := v.Latest(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, latest)
	_, _, err = v.Latest(ctx, []Endpoint{{Name: "a"}})
	require.ErrorContains(t, err, "below a millisecond")
}
