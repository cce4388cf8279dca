package fleet

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/slowspan/slowspan/internal/redistest"
	"github.com/slowspan/slowspan/internal/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	t0      = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	testCfg = window.Config{Over: 5 * time.Minute, SubWindows: 10, Threshold: time.Second}
	width   = testCfg.Over / time.Duration(testCfg.SubWindows)
)

// newClient is a client as the engine makes it: one attempt, deadlines
// from the context.
func newClient(t testing.TB, addr string, opts ...func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{
		Addr: addr, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		ContextTimeoutEnabled: true,
	}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newWindows(t testing.TB, client *redis.Client, collector string) *Windows {
	t.Helper()
	x, err := NewWindows(WindowSettings{
		Settings:  Settings{Client: client, Prefix: "test:", Timeout: 2 * time.Second},
		Collector: collector,
		Window:    testCfg,
	})
	require.NoError(t, err)
	return x
}

func newWindow(t testing.TB) *window.Window {
	t.Helper()
	w, err := window.NewWindow(testCfg)
	require.NoError(t, err)
	return w
}

// latency draws a lognormal latency (sigma 0.5) around a median that
// depends on the key: 10 ms to 1 s.
func latency(r *rand.Rand, k int) time.Duration {
	median := float64(10*time.Millisecond) * math.Pow(100, float64(k%97)/96)
	return time.Duration(median * math.Exp(0.5*r.NormFloat64()))
}

func flush(t testing.TB, x *Windows) FlushStats {
	t.Helper()
	st, err := x.Flush(context.Background())
	require.NoError(t, err)
	return st
}

func startServer(t testing.TB) (*redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.StartServer(t)
	return srv, newClient(t, srv.Addr)
}
