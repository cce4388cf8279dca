package window

import (
	"math"
	"math/bits"
	"time"
)

// LayoutVersion names the bucket layout below. Histograms from collectors
// with the same version merge exactly, bucket by bucket; any change to the
// constants or to Index must bump it.
const LayoutVersion = 1

const (
	// subBits is log2 of the linear sub-buckets per power of two: 32
	// sub-buckets bound the relative error by 1/65 (about 1.54 %).
	subBits    = 5
	subBuckets = 1 << subBits

	// minExp and maxExp bound the tracked range: [2^9 ns, 2^42 ns), that is
	// 512 ns to about 73 minutes, so every duration in [1 µs, 1 h] is inside.
	minExp = 9
	maxExp = 42

	octaves = maxExp - minExp

	// UnderflowBucket holds every duration below MinTrackable (including
	// zero and negative ones).
	UnderflowBucket = 0
	// OverflowBucket holds every duration of at least MaxTrackable.
	OverflowBucket = 1 + octaves*subBuckets
	// NumBuckets is the number of buckets in the layout: 1058.
	NumBuckets = OverflowBucket + 1

	// MinTrackable and MaxTrackable bound the durations kept within the
	// relative error; the ones outside are clamped into the edge buckets
	// and still counted.
	MinTrackable = time.Duration(1) << minExp
	MaxTrackable = time.Duration(1) << maxExp

	// RelativeError bounds |estimate-value|/value for a value in
	// [MinTrackable, MaxTrackable) reported through its bucket:
	// (hi-lo)/(hi+lo) for the widest bucket, lo = 32 and hi = 33 units.
	RelativeError = 1.0 / (2*subBuckets + 1)
)

// Index is the bucket of d. It uses integer operations only, so every
// collector of the fleet puts a duration in the same bucket.
func Index(d time.Duration) int {
	v := uint64(d)
	switch {
	case d < MinTrackable:
		return UnderflowBucket
	case d >= MaxTrackable:
		return OverflowBucket
	}
	e := bits.Len64(v) - 1 // minExp..maxExp-1
	sub := int(v>>(e-subBits)) & (subBuckets - 1)
	return 1 + (e-minExp)<<subBits + sub
}

// LowerBound is the smallest duration in bucket i (0 for the underflow
// bucket). CountAtLeast is exact at these durations.
func LowerBound(i int) time.Duration {
	switch {
	case i <= UnderflowBucket:
		return 0
	case i >= OverflowBucket:
		return MaxTrackable
	}
	e := minExp + (i-1)>>subBits
	sub := (i - 1) & (subBuckets - 1)
	return time.Duration(subBuckets+sub) << (e - subBits)
}

// UpperBound is the smallest duration above bucket i (math.MaxInt64 for the
// overflow bucket).
func UpperBound(i int) time.Duration {
	if i >= OverflowBucket {
		return math.MaxInt64
	}
	return LowerBound(i + 1)
}

// representatives[i] is the estimate reported for a value in bucket i: for
// the values lo..last of the bucket, the harmonic mean 2·lo·last/(lo+last),
// whose relative error is the same (last-lo)/(last+lo) at both ends, the
// smallest bound possible; rounded to a nanosecond, it stays within
// RelativeError (checked for every bucket by the tests).
var representatives = func() (r [NumBuckets]time.Duration) {
	r[UnderflowBucket] = MinTrackable
	for i := 1; i < OverflowBucket; i++ {
		lo, hi := float64(LowerBound(i)), float64(UpperBound(i)-1)
		r[i] = time.Duration(math.Round(2 * lo * hi / (lo + hi)))
	}
	r[OverflowBucket] = MaxTrackable
	return r
}()

// Representative is the estimate for a value in bucket i. The edge buckets
// report the edge of the tracked range.
func Representative(i int) time.Duration {
	return representatives[min(max(i, 0), NumBuckets-1)]
}
