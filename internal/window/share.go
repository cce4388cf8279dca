package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The shared form of one sub-window, written by AppendSub and summed into
// a Window by MergeSub, for fleet-wide windows: each collector of a fleet
// publishes its own counts of a sub-window, and a reader sums them. The
// sub-window's epoch is not in it (the caller files it under its epoch);
// every integer is a minimal varint, so it has one encoding:
//
//	subFormatVersion                  1 byte
//	LayoutVersion                     uvarint
//	width (ns)                        uvarint
//	threshold (ns)                    varint
//	total, atLeast, max (ns)          uvarint ×3
//	k, non-empty buckets              uvarint, 1..NumBuckets
//	k times, in increasing index:
//	  index delta, count              uvarint ×2, as in the saved form
//
// The shape fields make a sub-window of a collector configured otherwise
// (another width, threshold or bucket layout) refused, not summed: its
// counts would not mean the same. It takes about two bytes per non-empty
// bucket plus about 15 bytes of header. A change to it must bump
// subFormatVersion.
const subFormatVersion = 1

// SubStamp identifies the contents of one sub-window: Record only adds to
// a sub-window, each value raising its total, so a sub-window whose stamp
// did not change holds the same counts (a total that wrapped around 2^32
// within one sub-window aside).
type SubStamp struct {
	Epoch int64
	Total uint32
}

// Width is the length of a sub-window (0 for an unshaped Window).
func (w *Window) Width() time.Duration { return time.Duration(w.width) }

// Epoch is the sub-window epoch of now: the sub-window of time now is
// [Epoch·Width, (Epoch+1)·Width). Every collector with the same Config
// numbers sub-windows identically.
func (w *Window) Epoch(now time.Time) int64 { return w.epoch(now) }

// Config is the shape of w: Over is the sub-window width times the number
// of sub-windows (the Config it was made with, rounded down to whole
// nanoseconds per sub-window).
func (w *Window) Config() Config {
	return Config{Over: time.Duration(w.width * int64(len(w.subs))), SubWindows: len(w.subs), Threshold: w.threshold}
}

// Clear empties w, keeping its shape and buffers, e.g. to reuse it as the
// scratch window MergeSub sums into.
func (w *Window) Clear() { w.reset() }

// Stamps appends to dst the stamps of the sub-windows of the window at now
// that hold values, in increasing epochs: a caller that keeps the stamps
// it last published shares again only the sub-windows whose stamp changed.
func (w *Window) Stamps(now time.Time, dst []SubStamp) []SubStamp {
	e := w.epoch(now)
	n := int64(len(w.subs))
	for k := e - n + 1; k <= e && n > 0; k++ {
		if s := w.slot(k); s.epoch == k && s.total > 0 {
			dst = append(dst, SubStamp{Epoch: k, Total: s.total})
		}
	}
	return dst
}

// AppendSub appends the shared form of w's sub-window of epoch to dst. It
// reports false, appending nothing, when w holds no values for epoch (it
// was never recorded, or its slot was reused by a later one). The caller
// holds the lock that guards w, if any (a Set's).
func (w *Window) AppendSub(epoch int64, dst []byte) ([]byte, bool) {
	if len(w.subs) == 0 {
		return dst, false
	}
	s := w.slot(epoch)
	if s.epoch != epoch || s.total == 0 {
		return dst, false
	}
	dst = append(dst, subFormatVersion)
	dst = binary.AppendUvarint(dst, LayoutVersion)
	dst = binary.AppendUvarint(dst, uint64(w.width))
	dst = binary.AppendVarint(dst, int64(w.threshold))
	dst = binary.AppendUvarint(dst, uint64(s.total))
	dst = binary.AppendUvarint(dst, uint64(s.atLeast))
	dst = binary.AppendUvarint(dst, uint64(max(s.max, 0)))
	return s.counts.appendBuckets(dst), true
}

// MergeSub adds a sub-window in the shared form of AppendSub, for epoch,
// to w's sub-window of epoch: counts, totals and counts at least the
// threshold are summed (saturating, as Record does), maxima maxed. The
// slot of epoch, when it holds an older sub-window, is emptied first. It
// returns an error, and changes nothing, when data is not a sub-window of
// w's shape and bucket layout, or is damaged, or when the slot holds a
// later sub-window: data from another collector is checked as a saved
// window is, never trusted.
func (w *Window) MergeSub(epoch int64, data []byte) error {
	if w.width <= 0 || len(w.subs) == 0 {
		return errNoConfig
	}
	if err := w.mergeSub(epoch, data); err != nil {
		return fmt.Errorf("window: merging a shared sub-window of epoch %d: %w", epoch, err)
	}
	return nil
}

func (w *Window) mergeSub(epoch int64, data []byte) error {
	minEpoch, maxEpoch := max(math.MinInt64/w.width, emptyEpoch+1), math.MaxInt64/w.width
	if epoch < minEpoch || epoch > maxEpoch {
		return errors.New("epoch out of range")
	}
	if len(data) == 0 {
		return errors.New("no data")
	}
	if data[0] != subFormatVersion {
		return fmt.Errorf("format version %d, want %d", data[0], subFormatVersion)
	}
	d := decoder{data: data[1:]}
	layout := d.uvarint("layout version")
	wd := d.uvarint("width")
	threshold := d.varint("threshold")
	if d.err != nil {
		return d.err
	}
	switch {
	case layout != LayoutVersion:
		return fmt.Errorf("bucket layout version %d, want %d", layout, LayoutVersion)
	case wd != uint64(w.width):
		return fmt.Errorf("sub-windows of %d ns, want %d ns", wd, w.width)
	case threshold != int64(w.threshold):
		return fmt.Errorf("threshold %v, want %v", time.Duration(threshold), w.threshold)
	}
	dst := w.slot(epoch)
	if dst.epoch > epoch {
		return fmt.Errorf("its slot holds the later sub-window of epoch %d", dst.epoch)
	}
	// Decoded and checked aside first, so that a refused one changes
	// nothing.
	var in sub
	if err := w.decodeSub(&d, &in, epoch); err != nil {
		return err
	}
	if len(d.data) > 0 {
		return fmt.Errorf("%d bytes after the sub-window", len(d.data))
	}
	if dst.epoch != epoch {
		dst.counts.reset()
		*dst = sub{epoch: epoch, counts: dst.counts}
		w.cur = nil
	}
	dst.total = addSat32(dst.total, in.total)
	dst.atLeast = addSat32(dst.atLeast, in.atLeast)
	dst.max = max(dst.max, in.max)
	from, to := in.counts.span()
	for i := from; i < to; i++ {
		if n := in.counts.at(i); n != 0 {
			dst.counts.addN(i, n)
		}
	}
	return nil
}

func addSat32(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

// addN adds n to bucket i, saturating at maxCount as carry does.
func (c *counts) addN(i int, n uint64) {
	v := min(c.at(i)+n, maxCount)
	if k := i - int(c.lo); c.nLow == 0 || k < 0 || k >= int(c.nLow) {
		c.coverLow(i)
	}
	c.buf[i-int(c.lo)] = byte(v)
	h := i - int(c.hlo)
	inHigh := c.nHigh() > 0 && h >= 0 && h < c.nHigh()
	if v <= math.MaxUint8 {
		if inHigh {
			binary.LittleEndian.PutUint16(c.buf[int(c.nLow)+2*h:], 0)
		}
		return
	}
	if !inHigh {
		c.coverHigh(i)
	}
	binary.LittleEndian.PutUint16(c.buf[int(c.nLow)+2*(i-int(c.hlo)):], uint16(v>>8))
}
