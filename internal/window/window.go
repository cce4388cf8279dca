package window

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Config shapes a Window.
type Config struct {
	// Over is the length of the window, e.g. 5 minutes.
	Over time.Duration
	// SubWindows is the number of sub-windows Over is cut into, e.g. 10:
	// the window slides by Over/SubWindows at a time.
	SubWindows int
	// Threshold, when positive, is counted exactly: CountAtLeastThreshold
	// is the number of durations >= Threshold, for the ratio mode.
	Threshold time.Duration
}

// Validate reports a Config that cannot shape a Window.
func (c Config) Validate() error {
	switch {
	case c.Over <= 0:
		return errors.New("window: over must be positive")
	case c.SubWindows < 1:
		return errors.New("window: sub-windows must be at least 1")
	case c.Over < time.Duration(c.SubWindows):
		return fmt.Errorf("window: over %v is too short for %d sub-windows", c.Over, c.SubWindows)
	}
	return nil
}

// sub is one sub-window: the values recorded while the clock was in
// [epoch·width, (epoch+1)·width).
type sub struct {
	epoch   int64
	total   uint32
	atLeast uint32 // values >= Config.Threshold
	max     time.Duration
	counts  counts
}

// Window is a histogram over a sliding window, kept as a ring of
// sub-windows. Time is given by the caller (no clock is read), so a Window
// is deterministic: the window at now holds the sub-windows whose epoch is
// in (epoch(now)-SubWindows, epoch(now)], between (SubWindows-1)·width and
// SubWindows·width of the past. Old sub-windows expire lazily: a record
// reuses the slot of the sub-window it replaces, and queries skip the
// expired ones. It is not safe for concurrent use; Set adds the locking.
type Window struct {
	subs      []sub
	width     int64 // nanoseconds per sub-window
	threshold time.Duration
	// cur is the sub-window of the latest record, which starts at
	// curStart: records in it, nearly all of them, skip the divisions
	// that find a sub-window.
	cur      *sub
	curStart int64
}

// NewWindow returns an empty Window.
func NewWindow(cfg Config) (*Window, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Window{}
	w.init(cfg)
	return w, nil
}

func (w *Window) init(cfg Config) {
	w.subs = make([]sub, cfg.SubWindows)
	w.width = int64(cfg.Over) / int64(cfg.SubWindows)
	w.threshold = cfg.Threshold
	w.reset()
}

// Shape makes w a window of cfg: an unshaped window (an entry's before its
// first record) is shaped, and one of another shape is emptied and
// reshaped; a window of that shape already is left as it is. cfg must have
// passed Validate.
func (w *Window) Shape(cfg Config) {
	width := int64(cfg.Over) / int64(cfg.SubWindows)
	if len(w.subs) == cfg.SubWindows && w.width == width && w.threshold == cfg.Threshold {
		return
	}
	if cap(w.subs) >= cfg.SubWindows {
		w.subs = w.subs[:cfg.SubWindows]
		w.width, w.threshold = width, cfg.Threshold
		w.reset()
		return
	}
	w.init(cfg)
}

// Shaped reports whether w has a shape: an unshaped window is empty and
// records nothing.
func (w *Window) Shaped() bool { return len(w.subs) > 0 }

// reset empties w, keeping its buffers.
func (w *Window) reset() {
	for i := range w.subs {
		s := &w.subs[i]
		s.counts.reset()
		*s = sub{epoch: emptyEpoch, counts: s.counts}
	}
	w.cur = nil
}

// emptyEpoch marks a slot never used: it is older than any window.
const emptyEpoch = -1 << 63

func (w *Window) epoch(now time.Time) int64 {
	return w.epochOf(now.UnixNano())
}

func (w *Window) epochOf(ns int64) int64 {
	if w.width == 0 { // unshaped: empty, every query is zero
		return 0
	}
	e := ns / w.width
	if ns%w.width < 0 { // floor, for times before 1970
		e--
	}
	return e
}

func (w *Window) slot(e int64) *sub {
	n := int64(len(w.subs))
	return &w.subs[((e%n)+n)%n]
}

// Record counts d at time now. It reports false, and counts nothing, when
// now is already outside the window that a later record started (a span
// that arrives later than Over): it could not be told apart from expired
// data.
func (w *Window) Record(now time.Time, d time.Duration) bool {
	s := w.cur
	if ns := now.UnixNano(); s == nil || ns < w.curStart || ns-w.curStart >= w.width {
		if s = w.find(ns); s == nil {
			return false
		}
	}
	s.counts.add(Index(d))
	s.total++
	if w.threshold > 0 && d >= w.threshold {
		s.atLeast++
	}
	s.max = max(s.max, d)
	return true
}

// find returns the sub-window of time ns, emptying the expired one in its
// slot, or nil when the slot holds a later sub-window.
func (w *Window) find(ns int64) *sub {
	if len(w.subs) == 0 {
		return nil
	}
	e := w.epochOf(ns)
	s := w.slot(e)
	if s.epoch != e {
		if s.epoch > e {
			return nil
		}
		s.counts.reset()
		*s = sub{epoch: e, counts: s.counts}
	}
	w.cur, w.curStart = s, e*w.width
	return s
}

// live reports whether s is in the window at epoch e.
func (w *Window) live(s *sub, e int64) bool {
	return s.epoch <= e && s.epoch > e-int64(len(w.subs)) && s.total > 0
}

// Snapshot sets dst to the histogram of the window at now: dst is reset
// first, and may be reused across calls and keys, so evaluating windows
// allocates nothing.
func (w *Window) Snapshot(now time.Time, dst *Histogram) {
	dst.Reset()
	e := w.epoch(now)
	for i := range w.subs {
		s := &w.subs[i]
		if !w.live(s, e) {
			continue
		}
		s.counts.addTo(&dst.counts)
		dst.total += uint64(s.total)
		dst.max = max(dst.max, s.max)
	}
}

// Count is the number of durations in the window at now.
func (w *Window) Count(now time.Time) uint64 {
	var n uint64
	e := w.epoch(now)
	for i := range w.subs {
		if s := &w.subs[i]; w.live(s, e) {
			n += uint64(s.total)
		}
	}
	return n
}

// CountAtLeastThreshold is the exact number of durations >= the Config's
// Threshold in the window at now (0 without a threshold).
func (w *Window) CountAtLeastThreshold(now time.Time) uint64 {
	var n uint64
	e := w.epoch(now)
	for i := range w.subs {
		if s := &w.subs[i]; w.live(s, e) {
			n += uint64(s.atLeast)
		}
	}
	return n
}

// Max is the largest duration in the window at now, or 0 when empty.
func (w *Window) Max(now time.Time) time.Duration {
	var m time.Duration
	e := w.epoch(now)
	for i := range w.subs {
		if s := &w.subs[i]; w.live(s, e) {
			m = max(m, s.max)
		}
	}
	return m
}

// Quantile estimates the q-quantile of the window at now, as
// Histogram.Quantile would on its Snapshot, without one: it sums the live
// sub-windows into a scratch array on the stack and scans only the range
// of buckets they cover.
func (w *Window) Quantile(now time.Time, q float64) time.Duration {
	var scratch [NumBuckets]uint64
	e := w.epoch(now)
	var total uint64
	var maxD time.Duration
	lo, hi := NumBuckets, 0
	for i := range w.subs {
		s := &w.subs[i]
		if !w.live(s, e) {
			continue
		}
		total += uint64(s.total)
		maxD = max(maxD, s.max)
		from, to := s.counts.span()
		lo, hi = min(lo, from), max(hi, to)
		s.counts.addTo(&scratch)
	}
	if total == 0 {
		return 0
	}
	rank := nearestRank(q, total)
	var cum uint64
	for b := lo; b < hi; b++ {
		if cum += scratch[b]; cum >= rank {
			return estimate(b, maxD)
		}
	}
	return maxD
}

const sizeofSub = int(unsafe.Sizeof(sub{}))

// bytes is the memory held by w's sub-windows.
func (w *Window) bytes() int {
	n := cap(w.subs) * sizeofSub
	for i := range w.subs {
		n += w.subs[i].counts.bytes()
	}
	return n
}

// QuantileAtLeastThreshold reports, exactly, whether the q-quantile of the
// window at now (nearest rank, as Quantile) is at or above the Config's
// Threshold: whether the values below the threshold are fewer than the
// quantile's rank. It reads two counters per sub-window, so a window
// trigger judges its condition without summing a histogram, and without
// the estimate's error at the threshold.
func (w *Window) QuantileAtLeastThreshold(now time.Time, q float64) bool {
	n := w.Count(now)
	if n == 0 || w.threshold <= 0 {
		return false
	}
	below := n - w.CountAtLeastThreshold(now)
	return below < nearestRank(q, n)
}
