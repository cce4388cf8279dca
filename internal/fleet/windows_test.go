package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/internal/window"
)

// readOne reads key's merged window and returns its saved form and the
// queries the triggers ask, at now.
type answers struct {
	saved               []byte
	count, atLeast      uint64
	p50, p95, p99, maxD time.Duration
	p95AtLeastThreshold bool
}

func answersOf(t testing.TB, w *window.Window, now time.Time) answers {
	t.Helper()
	saved, err := w.AppendBinary(nil)
	require.NoError(t, err)
	return answers{
		saved: saved, count: w.Count(now), atLeast: w.CountAtLeastThreshold(now),
		p50: w.Quantile(now, 0.5), p95: w.Quantile(now, 0.95), p99: w.Quantile(now, 0.99), maxD: w.Max(now),
		p95AtLeastThreshold: w.QuantileAtLeastThreshold(now, 0.95),
	}
}

func read(t testing.TB, x *Windows, keys []string, now time.Time) ([]answers, ReadStats) {
	t.Helper()
	out := make([]answers, len(keys))
	st, err := x.Read(context.Background(), keys, now, func(i int, w *window.Window) {
		out[i] = answersOf(t, w, now)
	})
	require.NoError(t, err)
	return out, st
}

func TestThreeCollectorsMergeToTheSingleCollectorWindow(t *testing.T) {
	srv, _ := startServer(t)
	keys := []string{"GET /a", "POST /b", "GET /c"}
	whole := make([]*window.Window, len(keys))
	parts := make([][3]*window.Window, len(keys))
	fleet := make([]*Windows, 3)
	for c := range fleet {
		fleet[c] = newWindows(t, newClient(t, srv.Addr), fmt.Sprintf("collector-%d", c))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for k := range keys {
		whole[k] = newWindow(t)
		for c := range 3 {
			parts[k][c] = newWindow(t)
		}
	}
	// A whole window of traffic, each request to a random collector, as
	// a load balancer spreads it; the keys' medians are 10 ms to 1.2 s,
	// so the threshold (1 s) splits the last one.
	var now time.Time
	for i := range 3000 {
		now = t0.Add(time.Duration(i) * (testCfg.Over / 3000))
		for k := range keys {
			d := latency(r, 40*k+10)
			require.True(t, whole[k].Record(now, d))
			require.True(t, parts[k][r.IntN(3)].Record(now, d))
		}
	}
	for c, x := range fleet {
		for k, key := range keys {
			x.Stage(key, parts[k][c], now)
		}
		st := flush(t, x)
		assert.Equal(t, 3, st.Keys)
		assert.Equal(t, 3*testCfg.SubWindows, st.SubWindows, "a first flush writes every live sub-window")
		assert.Equal(t, 2*st.SubWindows, st.Commands)
	}
	for _, at := range []time.Time{now, now.Add(2 * width)} {
		got, st := read(t, fleet[1], keys, at)
		if at.Equal(now) {
			assert.Equal(t, 3*len(keys)*testCfg.SubWindows, st.Fields, "every collector's fields")
		}
		assert.Zero(t, st.Skipped)
		assert.Equal(t, len(keys)*testCfg.SubWindows, st.Commands)
		for k := range keys {
			want := answersOf(t, whole[k], at)
			require.NotZero(t, want.count)
			if !at.Equal(now) {
				// The saved form holds the sub-windows live at the
				// newest one, not at a later time.
				want.saved, got[k].saved = nil, nil
			}
			assert.Equal(t, want.p95, got[k].p95, "key %d: p95 at %v", k, at)
			assert.Equal(t, want, got[k], "key %d at %v: same bucket counts, same answers", k, at)
		}
		if at.Equal(now) {
			continue
		}
		assert.Less(t, got[0].count, uint64(3000), "sub-windows out of the window at %v are left out", at)
	}
	// A key nobody wrote reads as an empty window.
	got, _ := read(t, fleet[0], []string{"GET /none"}, now)
	assert.Zero(t, got[0].count)
}

func TestWritesAreIdempotent(t *testing.T) {
	_, client := startServer(t)
	x := newWindows(t, client, "c1")
	w := newWindow(t)
	for i := range 100 {
		w.Record(t0.Add(time.Duration(i)*width/10), 20*time.Millisecond)
	}
	now := t0.Add(99 * width / 10)
	assert.Equal(t, 10, x.Stage("GET /a", w, now))
	flush(t, x)
	assert.Zero(t, x.Stage("GET /a", w, now), "nothing changed since the last flush")
	assert.Zero(t, flush(t, x).Commands)

	w.Record(now, 30*time.Millisecond)
	assert.Equal(t, 1, x.Stage("GET /a", w, now), "only the sub-window recorded in")
	// Staged twice, flushed twice, and rewritten by a restarted collector
	// of the same id: the fleet still counts each request once.
	x.Stage("GET /a", w, now)
	flush(t, x)
	again := newWindows(t, client, "c1")
	assert.Equal(t, 10, again.Stage("GET /a", w, now))
	flush(t, again)
	flush(t, again)
	got, _ := read(t, x, []string{"GET /a"}, now)
	assert.Equal(t, answersOf(t, w, now), got[0])
}

func TestFailedFlushIsWrittenAgain(t *testing.T) {
	srv, client := startServer(t)
	x := newWindows(t, client, "c1")
	w := newWindow(t)
	w.Record(t0, time.Second)
	x.Stage("GET /a", w, t0)
	srv.Stop()
	_, err := x.Flush(context.Background())
	require.Error(t, err)
	assert.Equal(t, 1, x.Stage("GET /a", w, t0), "not marked written")
}

// Redis restarts empty: after Forget, the whole window is written again.
func TestForgetWritesEverythingAgain(t *testing.T) {
	_, client := startServer(t)
	x := newWindows(t, client, "c1")
	w := newWindow(t)
	for i := range 100 {
		w.Record(t0.Add(time.Duration(i)*width/10), 20*time.Millisecond)
	}
	now := t0.Add(99 * width / 10)
	x.Stage("GET /a", w, now)
	flush(t, x)
	require.NoError(t, client.FlushAll(context.Background()).Err())
	assert.Zero(t, x.Stage("GET /a", w, now), "Windows cannot tell by itself")
	x.Forget()
	assert.Equal(t, 10, x.Stage("GET /a", w, now))
	flush(t, x)
	got, _ := read(t, x, []string{"GET /a"}, now)
	assert.Equal(t, answersOf(t, w, now), got[0])
}

func TestSubWindowHashesExpire(t *testing.T) {
	_, client := startServer(t)
	x := newWindows(t, client, "c1")
	w := newWindow(t)
	w.Record(t0, time.Second)
	now := t0.Add(width / 2)
	x.Stage("GET /a", w, now)
	flush(t, x)
	rk := "test:win:v1:" + KeyHash("GET /a") + ":30s:" + fmt.Sprint(w.Epoch(t0))
	ttl, err := client.PTTL(context.Background(), rk).Result()
	require.NoError(t, err)
	// Until the window length plus one sub-window past its start.
	want := testCfg.Over + width - width/2
	assert.InDelta(t, want.Seconds(), ttl.Seconds(), 2)
	v, err := client.HGetAll(context.Background(), rk).Result()
	require.NoError(t, err)
	assert.Len(t, v, 1)
	assert.Contains(t, v, "c1")

	// Keys whose sub-windows all left the window are forgotten locally.
	assert.Equal(t, 1, x.Tracked())
	other := newWindow(t)
	later := t0.Add(2 * testCfg.Over)
	other.Record(later, time.Second)
	x.Stage("GET /b", other, later)
	flush(t, x)
	assert.Equal(t, 1, x.Tracked())
}

func TestReadSkipsFieldsThatDoNotFit(t *testing.T) {
	_, client := startServer(t)
	core, logs := observer.New(zap.WarnLevel)
	x := newWindows(t, client, "c1")
	x.logger = zap.New(core)
	w := newWindow(t)
	w.Record(t0, 2*time.Second)
	x.Stage("GET /a", w, t0)
	flush(t, x)

	// Another collector with another threshold, and garbage.
	cfg := testCfg
	cfg.Threshold = 3 * time.Second
	ow, err := window.NewWindow(cfg)
	require.NoError(t, err)
	ow.Record(t0, 2*time.Second)
	data, ok := ow.AppendSub(ow.Epoch(t0), nil)
	require.True(t, ok)
	rk := "test:win:v1:" + KeyHash("GET /a") + ":30s:" + fmt.Sprint(w.Epoch(t0))
	require.NoError(t, client.HSet(context.Background(), rk, "c2", data, "c3", "garbage").Err())

	for range 2 {
		got, st := read(t, x, []string{"GET /a"}, t0)
		assert.Equal(t, 1, st.Fields)
		assert.Equal(t, 2, st.Skipped)
		assert.Equal(t, answersOf(t, w, t0), got[0], "the skipped fields are not trusted")
	}
	assert.EqualValues(t, 4, x.Skipped())
	assert.Equal(t, 1, logs.Len(), "logged once")
}

func TestNewWindowsRefuses(t *testing.T) {
	_, client := startServer(t)
	_, err := NewWindows(WindowSettings{Settings: Settings{Client: client}, Window: testCfg})
	assert.ErrorContains(t, err, "collector id")
	_, err = NewWindows(WindowSettings{Settings: Settings{Client: client}, Collector: "c", Window: window.Config{}})
	assert.Error(t, err)
	noDeadlines := newClient(t, "127.0.0.1:1", func(o *redis.Options) { o.ContextTimeoutEnabled = false })
	_, err = NewWindows(WindowSettings{Settings: Settings{Client: noDeadlines}, Collector: "c", Window: testCfg})
	assert.ErrorContains(t, err, "ContextTimeoutEnabled")
}

// TestStageDuringFlush stages keys from several goroutines while flushes
// run, as the engine's evaluation and its flush timer may: once they stop,
// a last stage and flush leave Redis holding exactly the local windows.
func TestStageDuringFlush(t *testing.T) {
	_, client := startServer(t)
	x := newWindows(t, client, "c1")
	keys := []string{"GET /a", "GET /b", "GET /c", "GET /d"}
	ws := make([]*window.Window, len(keys))
	locks := make([]sync.Mutex, len(keys))
	for k := range ws {
		ws[k] = newWindow(t)
	}
	end := t0.Add(testCfg.Over - 1)
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(k), 1))
			for i := range 400 {
				now := t0.Add(time.Duration(i) * (testCfg.Over / 400))
				locks[k].Lock()
				ws[k].Record(now, latency(r, k))
				x.Stage(keys[k], ws[k], now)
				locks[k].Unlock()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			_, err := x.Flush(context.Background())
			assert.NoError(t, err)
		}
	})
	wg.Wait()
	for k := range keys {
		x.Stage(keys[k], ws[k], end)
	}
	flush(t, x)
	got, _ := read(t, x, keys, end)
	for k := range keys {
		assert.Equal(t, answersOf(t, ws[k], end), got[k], "key %d", k)
	}
}
