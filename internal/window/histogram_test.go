package window

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exactQuantile is the nearest-rank q-quantile of sorted values, the
// definition Histogram.Quantile estimates.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[nearestRank(q, uint64(len(sorted)))-1]
}

var quantiles = []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// distributions draw latencies with a fixed seed each.
var distributions = []struct {
	name string
	draw func(r *rand.Rand) time.Duration
}{
	{"uniform 1ms-2s", func(r *rand.Rand) time.Duration {
		return time.Millisecond + time.Duration(r.Int64N(int64(2*time.Second)))
	}},
	{"lognormal median 100ms", func(r *rand.Rand) time.Duration {
		return time.Duration(float64(100*time.Millisecond) * math.Exp(0.8*r.NormFloat64()))
	}},
	{"bimodal 5ms and 1.2s", func(r *rand.Rand) time.Duration {
		if r.IntN(10) < 8 {
			return time.Duration(float64(5*time.Millisecond) * math.Exp(0.2*r.NormFloat64()))
		}
		return time.Duration(float64(1200*time.Millisecond) * math.Exp(0.1*r.NormFloat64()))
	}},
	{"constant 250ms", func(*rand.Rand) time.Duration { return 250 * time.Millisecond }},
	{"wide 1µs-1h log-uniform", func(r *rand.Rand) time.Duration {
		return time.Duration(float64(time.Microsecond) * math.Pow(3.6e9, r.Float64()))
	}},
}

func TestQuantileIsWithinTheRelativeError(t *testing.T) {
	for _, dist := range distributions {
		for _, n := range []int{1, 7, 1000, 100_000} {
			r := rand.New(rand.NewPCG(1, uint64(n)))
			var h Histogram
			values := make([]time.Duration, n)
			for i := range values {
				values[i] = dist.draw(r)
				h.Record(values[i])
			}
			slices.Sort(values)
			require.Equal(t, uint64(n), h.Count())
			require.Equal(t, values[n-1], h.Max())
			worst := 0.0
			for _, q := range quantiles {
				want := exactQuantile(values, q)
				got := h.Quantile(q)
				e := relErr(got, want)
				worst = max(worst, e)
				require.LessOrEqual(t, e, RelativeError, "%s n=%d q=%v: got %v want %v", dist.name, n, q, got, want)
			}
			if n == 100_000 {
				t.Logf("%-26s n=%d worst relative error %.3f%%", dist.name, n, 100*worst)
			}
		}
	}
}

// TestP95OfAThousandRequests is the scenario: 1,000 requests whose
// true p95 is 1.2 s.
func TestP95OfAThousandRequests(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	values := make([]time.Duration, 0, 1000)
	for range 949 { // below the p95
		values = append(values, time.Duration(float64(200*time.Millisecond)*math.Exp(0.5*r.NormFloat64()))%(1100*time.Millisecond))
	}
	values = append(values, 1200*time.Millisecond) // rank 950 = ceil(0.95·1000)
	for range 50 {
		values = append(values, 1200*time.Millisecond+time.Duration(r.Int64N(int64(3*time.Second))))
	}
	r.Shuffle(len(values), func(i, j int) { values[i], values[j] = values[j], values[i] })
	var h Histogram
	for _, v := range values {
		h.Record(v)
	}
	slices.Sort(values)
	require.Equal(t, 1200*time.Millisecond, exactQuantile(values, 0.95))
	got := h.Quantile(0.95)
	t.Logf("p95 exact 1.2s, estimated %v (%.3f%%)", got, 100*relErr(got, 1200*time.Millisecond))
	assert.LessOrEqual(t, relErr(got, 1200*time.Millisecond), 0.02)

	// The same requests spread over a 5 m window of an endpoint, as the
	// engine records them: one every 250 ms.
	s, err := NewSet[string, struct{}](Config{Over: 5 * time.Minute, SubWindows: 10}, 10)
	require.NoError(t, err)
	for i, v := range values {
		s.Record("GET /checkout", t0.Add(time.Duration(i)*250*time.Millisecond), v)
	}
	end := t0.Add(999 * 250 * time.Millisecond)
	var snap Histogram
	require.True(t, s.Snapshot("GET /checkout", end, &snap))
	assert.Equal(t, uint64(1000), snap.Count())
	assert.Equal(t, got, snap.Quantile(0.95))
}

func TestQuantileEdgeCases(t *testing.T) {
	var h Histogram
	assert.Equal(t, time.Duration(0), h.Quantile(0.5), "empty")
	h.Record(-time.Second)
	h.Record(0)
	h.Record(100 * time.Hour)
	assert.Equal(t, uint64(3), h.Count(), "out-of-range values are counted")
	assert.Equal(t, MinTrackable, h.Quantile(0), "underflow reports the range's lower edge")
	assert.Equal(t, 100*time.Hour, h.Quantile(1), "overflow reports the exact maximum")
	assert.Equal(t, MinTrackable, h.Quantile(math.NaN()))
	assert.Equal(t, 100*time.Hour, h.Quantile(2))
	h.Reset()
	assert.Equal(t, uint64(0), h.Count())
	assert.Equal(t, time.Duration(0), h.Max())
}

func TestMergeEqualsRecordingEverythingIntoOne(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	var a, b, all Histogram
	for i := range 50_000 {
		d := distributions[i%len(distributions)].draw(r)
		if r.IntN(3) == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	a.Merge(&b)
	assert.Equal(t, all, a)

	// The same through the compact export of non-empty buckets, as a
	// remote collector would send them.
	var rebuilt Histogram
	n := 0
	for i, c := range all.Buckets() {
		require.NotZero(t, c)
		rebuilt.AddBucket(i, c)
		n++
	}
	rebuilt.MergeMax(all.Max())
	assert.Equal(t, all, rebuilt)
	assert.Less(t, n, NumBuckets)
	rebuilt.AddBucket(-1, 5)
	rebuilt.AddBucket(NumBuckets, 5)
	assert.Equal(t, all, rebuilt, "indexes outside the layout are ignored")
}

func TestCountAtLeast(t *testing.T) {
	var h Histogram
	values := []time.Duration{
		time.Millisecond, 500 * time.Millisecond, LowerBound(Index(time.Second)) - 1,
		LowerBound(Index(time.Second)), time.Second, 2 * time.Second, time.Hour,
	}
	for _, v := range values {
		h.Record(v)
	}
	// Exact at bucket bounds.
	for _, tc := range []struct {
		t    time.Duration
		want uint64
	}{
		{0, 7},
		{LowerBound(Index(time.Second)), 4},
		{LowerBound(Index(time.Second)) + 1, 4}, // not a bound: counts the whole bucket
		{LowerBound(Index(2 * time.Second)), 2},
		{MaxTrackable, 0},
	} {
		assert.Equal(t, tc.want, h.CountAtLeast(tc.t), tc.t)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	var h Histogram
	assert.Zero(t, testing.AllocsPerRun(1000, func() { h.Record(time.Second) }))
}
