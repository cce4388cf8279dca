package window

import (
	"iter"
	"math"
	"time"
)

// Histogram counts durations in the fixed layout of this package: a dense
// array of NumBuckets counters (8.5 KiB). It is the type queries and merges
// work on; the per-key sub-windows of a Window keep their counts compactly
// and are merged into a Histogram to be queried. The zero value is empty and
// ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts [NumBuckets]uint64
	total  uint64
	max    time.Duration
}

// Record counts one duration.
func (h *Histogram) Record(d time.Duration) {
	h.counts[Index(d)]++
	h.total++
	h.max = max(h.max, d)
}

// Count is the number of durations counted.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest duration recorded (exact), or 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile estimates the q-quantile (0 <= q <= 1) with the nearest-rank
// definition: the value of rank ceil(q·n) among the n sorted values (rank 1
// for q = 0). For a value in [MinTrackable, MaxTrackable) the estimate is
// within RelativeError of it. It is 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := nearestRank(q, h.total)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i]
		if cum >= rank {
			return estimate(i, h.max)
		}
	}
	return h.max
}

// nearestRank is the 1-based rank of the q-quantile among n values.
func nearestRank(q float64, n uint64) uint64 {
	switch {
	case !(q > 0): // also NaN
		return 1
	case q >= 1:
		return n
	}
	r := uint64(math.Ceil(q * float64(n)))
	return min(max(r, 1), n)
}

// estimate is the value reported for bucket i of a histogram whose maximum
// is maxD: the exact maximum is never exceeded (it is a better estimate for
// the top bucket), and it is the only estimate for the overflow bucket.
func estimate(i int, maxD time.Duration) time.Duration {
	if i == OverflowBucket {
		return maxD
	}
	return min(representatives[i], maxD)
}

// CountAtLeast counts the durations in the buckets from Index(t) up. It is
// exact when t is a bucket's LowerBound; otherwise it also counts the values
// in [LowerBound(Index(t)), t), a bound above t·32/33 (within 3 % below t).
// A Window given its threshold in its Config counts it exactly instead.
func (h *Histogram) CountAtLeast(t time.Duration) uint64 {
	var n uint64
	for _, c := range h.counts[Index(t):] {
		n += c
	}
	return n
}

// Merge adds other's counts to h. Merging is exact: the result is the
// histogram of all the values recorded into either.
func (h *Histogram) Merge(other *Histogram) {
	for i, c := range other.counts {
		h.counts[i] += c
	}
	h.total += other.total
	h.max = max(h.max, other.max)
}

// AddBucket adds n to bucket i, to rebuild a histogram exported with
// Buckets (by a collector with the same LayoutVersion). Indexes outside the
// layout are ignored. The maximum is not known from buckets: see MergeMax.
func (h *Histogram) AddBucket(i int, n uint64) {
	if i < 0 || i >= NumBuckets {
		return
	}
	h.counts[i] += n
	h.total += n
}

// MergeMax raises the maximum to d, for a histogram rebuilt with AddBucket.
func (h *Histogram) MergeMax(d time.Duration) { h.max = max(h.max, d) }

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Buckets yields the non-empty buckets, index and count, in index order:
// the compact form to export (a few dozen pairs for a typical endpoint).
func (h *Histogram) Buckets() iter.Seq2[int, uint64] {
	return func(yield func(int, uint64) bool) {
		for i, c := range h.counts {
			if c != 0 && !yield(i, c) {
				return
			}
		}
	}
}
