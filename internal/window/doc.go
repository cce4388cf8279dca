// Package window keeps latency histograms over sliding time windows, per
// key, for the window triggers: in quantile and ratio modes every span of a
// selected kind on a kept route updates its endpoint's window, and the
// trigger's condition is evaluated on those windows.
//
// # Layout
//
// Histograms share one fixed bucket layout, LayoutVersion 1, of NumBuckets
// = 1058 buckets: an underflow bucket for durations below 512 ns, then 33
// powers of two from 2^9 ns (512 ns) to 2^42 ns (about 73 minutes), each cut
// into 32 linear sub-buckets, then an overflow bucket. Every duration from
// 1 µs to 1 h is inside the tracked range; the ones outside are clamped into
// the edge buckets and still counted. Index uses integer operations only
// (the position of the highest bit and the five bits below it), so every
// collector of a fleet buckets a duration identically and merged histograms
// are exact; a change to the layout must bump LayoutVersion.
//
// # Error bound
//
// A bucket [lo, hi) is at most lo/32 wide. A value is reported as its
// bucket's harmonic mean of lo and the bucket's last value, whose relative
// error is the same at both ends: at most 1/65, about 1.54 % (RelativeError),
// within the 2 %. Quantile uses the nearest-rank definition (the
// value of rank ceil(q·n)), so its estimate is within RelativeError of the
// exact sample quantile, whatever the distribution; the maximum is kept
// exactly and caps the estimate. CountAtLeast is exact at bucket bounds;
// the ratio mode's threshold, given in Config, is counted exactly besides.
// Measured on 100,000 values: worst errors 0.76 % (uniform), 1.43 %
// (lognormal), 1.12 % (bimodal), 0.87 % (log-uniform over 1 µs to 1 h).
//
// # Memory
//
// A Histogram is dense (8.5 KiB) and used for queries and merges only. A
// Window keeps its sub-windows (e.g. 10 of 30 s for 5 m) compactly: the
// low byte of each count over the range of buckets the sub-window has seen,
// and the high 16 bits only over the range of buckets whose count passed
// 255. Endpoint latencies span a few powers of two, 100 to 200 buckets, so
// a sub-window costs 56 bytes plus one to three hundred. Measured on the
// heap, key and map entry included, for lognormal latencies (sigma 0.5):
// about 2.0 KB per key at 100 requests per sub-window, 3.6 KB at 20,000. A
// key whose durations filled every bucket of every sub-window would hold
// about 32 KB: the bound is per typical key, not a hard limit.
//
// # Use
//
// The engine's decide stage, in quantile and ratio modes, holds a Set per
// trigger keyed by endpoint, with MaxKeys bounding it (least recently
// recorded keys are evicted). It records each span of a selected kind with
// RecordBatch (one lock per batch), and evaluates, on a timer and after
// batches, the keys active since its last evaluation (Visit or Active), by
// Window.Quantile, or by Snapshot into a reused Histogram, or, in ratio
// mode, by CountAtLeastThreshold over Count. Time is always passed in, so
// the package reads no clock and tests are deterministic.
//
// Fleet-wide evaluation merges the collectors' windows: a collector sends
// its Snapshot as LayoutVersion, Max and the non-empty Buckets (index,
// count), and the receiver rebuilds it with AddBucket and MergeMax, or
// refuses another version.
// Sliding windows are shared sub-window by sub-window instead (share.go,
// used by internal/fleet): each collector publishes the absolute counts of
// the sub-windows whose Stamps changed with AppendSub, and a reader sums
// every collector's into a scratch Window with MergeSub, which refuses
// another shape, layout or damaged data; the merged Window answers every
// query as the window of all the collectors' requests would.
//
// # Persistence
//
// Windows outlive a restart through the collector's storage extension: at
// shutdown each key's Window is saved with AppendBinary, and at start
// loaded with UnmarshalBinary into a Window made with the current Config
// (or LoadWindow). A crash loses the windows since the last save; an older
// save loads sub-windows already expired, which queries skip. The saved
// form (encode.go) is versioned and holds the shape (width, number of
// sub-windows, threshold) and LayoutVersion, then, for each sub-window
// neither empty nor expired at the newest one, its epoch, total, count at
// least the threshold, maximum and non-empty buckets, as varints: about
// two bytes per non-empty bucket, 1.3 KB for the lognormal key of 100
// requests per sub-window above, 4 KB at 20,000. Counts load exactly, so
// every query answers as before the save. A save of another shape or layout
// (the configuration changed) or damaged data is refused with an error,
// and the Window left empty: it starts over, as without a save. If the
// clock stepped back across the restart, a sub-window saved ahead of it
// keeps its slot, and Record refuses the values for that slot as late,
// until the clock reaches it.
package window
