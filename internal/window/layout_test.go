package window

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLayoutCoversOneMicrosecondToOneHour(t *testing.T) {
	assert.Equal(t, 1058, NumBuckets)
	assert.LessOrEqual(t, MinTrackable, time.Microsecond)
	assert.Greater(t, MaxTrackable, time.Hour)
	assert.Less(t, RelativeError, 0.02)
}

func TestBucketsAreContiguousAndBoundsMatchIndex(t *testing.T) {
	require.Equal(t, time.Duration(0), LowerBound(UnderflowBucket))
	require.Equal(t, MinTrackable, LowerBound(1))
	for i := range NumBuckets - 1 {
		lo, hi := LowerBound(i), UpperBound(i)
		require.Less(t, lo, hi, i)
		require.Equal(t, LowerBound(i+1), hi, i)
		require.Equal(t, i, Index(lo), "lower bound of %d", i)
		require.Equal(t, i, Index(hi-1), "last value of %d", i)
		if i > UnderflowBucket {
			// The bucket's width is at most 1/32 of its lower bound.
			require.LessOrEqual(t, float64(hi-lo)/float64(lo), 1.0/32, i)
			r := Representative(i)
			require.True(t, lo <= r && r < hi, "representative of %d", i)
			for _, v := range []time.Duration{lo, hi - 1} {
				require.LessOrEqual(t, relErr(r, v), RelativeError, "bucket %d value %v", i, v)
			}
		}
	}
	assert.Equal(t, MaxTrackable, LowerBound(OverflowBucket))
	assert.Equal(t, time.Duration(math.MaxInt64), UpperBound(OverflowBucket))
}

func TestIndexClampsOutOfRangeDurations(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{math.MinInt64, UnderflowBucket},
		{-time.Second, UnderflowBucket},
		{0, UnderflowBucket},
		{MinTrackable - 1, UnderflowBucket},
		{MinTrackable, 1},
		{MaxTrackable - 1, OverflowBucket - 1},
		{MaxTrackable, OverflowBucket},
		{math.MaxInt64, OverflowBucket},
	} {
		assert.Equal(t, tc.want, Index(tc.d), tc.d)
	}
}

// TestLayoutIsPinned fails when the layout changes without LayoutVersion:
// collectors of one fleet must agree on every bucket to merge exactly.
func TestLayoutIsPinned(t *testing.T) {
	require.Equal(t, 1, LayoutVersion)
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{time.Microsecond, 31},
		{time.Millisecond, 350},
		{time.Second, 668},
		{1200 * time.Millisecond, 676},
		{time.Minute, 856},
		{time.Hour, 1045},
	} {
		assert.Equal(t, tc.want, Index(tc.d), tc.d)
	}
}

func relErr(got, want time.Duration) float64 {
	return math.Abs(float64(got-want)) / float64(want)
}
