package fleet

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newBaselines(t *testing.T, addr string, maxBytes int) *Baselines {
	t.Helper()
	b, err := NewBaselines(BaselineSettings{Settings: Settings{Client: newClient(t, addr), Prefix: "test:"}, MaxBytes: maxBytes})
	require.NoError(t, err)
	return b
}

func TestBaselinesFirstCreateWins(t *testing.T) {
	srv, client := startServer(t)
	ctx := context.Background()
	// Three collectors create the baseline of one name at once, each its
	// own: exactly one is set, and all read it.
	var wg sync.WaitGroup
	set := make([]bool, 3)
	for i := range set {
		b := newBaselines(t, srv.Addr, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := b.Create(ctx, []Baseline{{Name: "shop GET /orders v1.1", Value: []byte{'a' + byte(i)}, TTL: time.Hour}})
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

	b := newBaselines(t, srv.Addr, 0)
	got, err := b.GetMany(ctx, []string{"shop GET /orders v1.1", "shop GET /other v1.1"})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{winner}, nil}, got)

	// Never overwritten.
	again, err := b.Create(ctx, []Baseline{{Name: "shop GET /orders v1.1", Value: []byte("z"), TTL: time.Hour},
		{Name: "shop GET /other v1.1", Value: []byte("o"), TTL: time.Hour}})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, again)

	ttl, err := client.PTTL(ctx, b.key("shop GET /other v1.1")).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute, "the TTL is set with the value")
}

func TestBaselinesAreBounded(t *testing.T) {
	srv, client := startServer(t)
	ctx := context.Background()
	b := newBaselines(t, srv.Addr, 16)
	_, err := b.Create(ctx, []Baseline{{Name: "a", Value: bytes.Repeat([]byte{'x'}, 17), TTL: time.Hour}})
	require.ErrorContains(t, err, "17 bytes is over the 16 allowed")
	_, err = b.Create(ctx, []Baseline{{Name: "a", Value: []byte("x")}})
	require.ErrorContains(t, err, "below a millisecond")

	// A value someone else wrote, too large: skipped on read.
	require.NoError(t, client.Set(ctx, b.key("big"), bytes.Repeat([]byte{'x'}, 1000), 0).Err())
	got, err := b.GetMany(ctx, []string{"big"})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{nil}, got)

	got, err = b.GetMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}
