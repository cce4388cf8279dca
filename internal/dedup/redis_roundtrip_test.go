package dedup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/redistest"
)

// replyDelay is how slowly the proxied Redis answers: slow, but healthy.
const replyDelay = 200 * time.Millisecond

// newProxiedRedis is a decider talking to a real redis-server through a
// proxy that delays every reply, with the client options the engine uses.
// The connection and the scripts are ready, and the counts reset, so that
// what the test counts is its own round trips.
func newProxiedRedis(t *testing.T, timeout time.Duration) (*Redis, *redistest.Proxy, *redis.Client) {
	t.Helper()
	srv := redistest.StartServer(t)
	proxy := redistest.StartProxy(t, srv.Addr, replyDelay)
	client := redis.NewClient(&redis.Options{
		Addr: proxy.Addr, MaxRetries: -1, PoolSize: 1,
		DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(RedisSettings{Client: client, Prefix: "slowspan:", Timeout: 5 * time.Second, Local: New(defaults())})
	require.NoError(t, r.LoadScripts(context.Background()))
	r.timeout = timeout
	proxy.Reset()

	direct := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = direct.Close() })
	return r, proxy, direct
}

func distinctKeys(n int, dur time.Duration) []Request {
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Key: key(fmt.Sprintf("/r%d", i)), Duration: dur}
	}
	return reqs
}

func TestRedisBatchIsOneRoundTrip(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs last
	tests := []struct {
		name    string
		timeout time.Duration
		cancel  bool
		// want
		scripts      int  // script calls through the proxy
		remote       bool // Redis decided (else the local state)
		errors       int64
		keysInRedis  int64
		retryInBatch bool // Redis is tried again at once (no backoff)
	}{
		{name: "slow but healthy Redis decides the batch in one round trip",
			timeout: 2 * time.Second, scripts: 1, remote: true, keysInRedis: 100, retryInBatch: true},
		{name: "past the timeout the local state decides, after one round trip",
			timeout: replyDelay / 4, scripts: 1, errors: 100},
		{name: "a cancelled request does not wait for Redis, nor blames it",
			timeout: 2 * time.Second, cancel: true, scripts: 0, retryInBatch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, proxy, direct := newProxiedRedis(t, tt.timeout)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}

			began := time.Now()
			decs := r.DecideBatch(ctx, distinctKeys(100, 2*time.Second), t0, nil)
			elapsed := time.Since(began)

			assert.Equal(t, tt.scripts, proxy.Commands()["EVALSHA"]+proxy.Commands()["EVAL"],
				"script calls for a batch of 100 slow spans (commands: %v)", proxy.Commands())
			assert.Less(t, elapsed, 5*time.Second, "one round trip per span took 20 s")
			require.Len(t, decs, 100)
			for i, d := range decs {
				require.True(t, d.Alert, "span %d", i)
				require.Equal(t, alert.ReasonFirst, d.Reason, "span %d", i)
				require.Equal(t, !tt.remote, d.BackendError, "span %d", i)
				require.Equal(t, tt.remote, d.undo.remote != nil, "span %d decided by Redis", i)
			}
			assert.Equal(t, tt.errors, r.Errors())

			// Whether Redis is in a backoff shows in the next batch.
			proxy.Reset()
			r.timeout = 2 * time.Second
			r.DecideBatch(context.Background(), distinctKeys(1, time.Second), t0.Add(time.Millisecond), nil)
			want := 0
			if tt.retryInBatch {
				want = 1
			}
			assert.Equal(t, want, proxy.Commands()["EVALSHA"], "Redis tried again within the backoff?")

			n, err := direct.DBSize(context.Background()).Result()
			require.NoError(t, err)
			if tt.keysInRedis > 0 {
				assert.Equal(t, tt.keysInRedis, n)
			}
		})
	}
}

func TestRedisUndoBatchIsOneRoundTrip(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	r, proxy, _ := newProxiedRedis(t, 2*time.Second)
	ctx := context.Background()
	decs := r.DecideBatch(ctx, distinctKeys(100, 2*time.Second), t0, nil)
	proxy.Reset()
	r.UndoBatch(ctx, decs)
	assert.Equal(t, map[string]int{"EVALSHA": 1}, proxy.Commands())
	again := r.DecideBatch(ctx, distinctKeys(100, 2*time.Second), t0.Add(time.Second), nil)
	for i, d := range again {
		require.Equal(t, alert.ReasonFirst, d.Reason, "span %d: its undone first alert fires again", i)
	}
}
