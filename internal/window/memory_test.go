package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// endpointLatency draws a latency of endpoint k: lognormal, with a median
// between 10 ms and 1 s that depends on k, and sigma 0.5 (p99/p50 ≈ 3.2).
func endpointLatency(r *rand.Rand, k int) time.Duration {
	median := float64(10*time.Millisecond) * math.Pow(100, float64(k%97)/96)
	return time.Duration(median * math.Exp(0.5*r.NormFloat64()))
}

// fillSet records perSub requests per sub-window for each of keys keys,
// over a whole window, and returns the time of the last record.
func fillSet(s *Set[string, struct{}], names []string, perSub int, seed uint64) time.Time {
	r := rand.New(rand.NewPCG(seed, seed))
	width := testConfig.Over / time.Duration(testConfig.SubWindows)
	now := t0
	for range testConfig.SubWindows {
		for j := range perSub {
			at := now.Add(width * time.Duration(j) / time.Duration(perSub))
			for k, name := range names {
				s.Record(name, at, endpointLatency(r, k))
			}
		}
		now = now.Add(width)
	}
	return now.Add(-time.Nanosecond)
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryPerKey measures the memory held per key with realistic data:
// 10 sub-windows of 100 requests (1-byte counters) and of 20,000 requests
// (2-byte counters: the busiest buckets pass 255) per key. The windows' own
// accounting is checked always; the heap figure only without the race
// detector, which changes allocation sizes (and with fewer keys under it,
// as it slows recording down).
func TestMemoryPerKey(t *testing.T) {
	scale := 1
	if testing.Short() || raceEnabled {
		scale = 10
	}
	for _, tc := range []struct {
		keys, perSub int
	}{
		{10_000 / scale, 100},
		{100 / scale, 20_000},
	} {
		t.Run(fmt.Sprintf("%d keys, %d per sub-window", tc.keys, tc.perSub), func(t *testing.T) {
			names := make([]string, tc.keys)
			for i := range names {
				names[i] = fmt.Sprintf("GET /api/v1/resource/%d", i)
			}
			before := heapInUse()
			s, err := NewSet[string, struct{}](testConfig, tc.keys)
			require.NoError(t, err)
			end := fillSet(s, names, tc.perSub, 7)
			after := heapInUse()
			perKey := float64(after-before) / float64(tc.keys)

			var windows int
			var h Histogram
			s.Visit(time.Time{}, func(_ string, w *Window) bool {
				windows += w.bytes()
				w.Snapshot(end, &h)
				return true
			})
			require.Equal(t, uint64(tc.perSub*testConfig.SubWindows), h.Count(), "the whole window is live")
			t.Logf("%.0f bytes per key on the heap (%d of it sub-windows)", perKey, windows/tc.keys)
			assert.LessOrEqual(t, windows/tc.keys, 4096, "sub-window bytes per key")
			if !raceEnabled {
				assert.LessOrEqual(t, perKey, 4096.0, "heap bytes per key")
			}
			runtime.KeepAlive(s)
		})
	}
}
