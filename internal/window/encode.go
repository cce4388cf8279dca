package window

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The saved form of a Window, written by AppendBinary and read by
// UnmarshalBinary. Every integer is a minimal varint (signed ones zigzag
// encoded, as encoding/binary's AppendVarint), so one Window has one
// encoding and a decoded one re-encodes to the same bytes:
//
//	formatVersion                     1 byte
//	LayoutVersion                     uvarint
//	width (ns), sub-windows           uvarint, uvarint
//	threshold (ns)                    varint
//	n, saved sub-windows              uvarint, at most the sub-windows
//	n times, in increasing epochs:
//	  epoch                           varint for the first, then a uvarint
//	                                  delta >= 1 from the previous one
//	  total, atLeast, max (ns)        uvarint ×3
//	  k, non-empty buckets            uvarint, 1..NumBuckets
//	  k times, in increasing index:
//	    index delta, count            uvarint ×2: the delta is from the
//	                                  previous index (from -1 for the
//	                                  first), so it is >= 1
//
// A change to it must bump formatVersion.
const formatVersion = 1

// maxCount is the largest count of a bucket of a sub-window: 255 in the low
// byte and 65535 in the high 16 bits, where counts.carry saturates.
const maxCount = 1<<24 - 1

var (
	_ encoding.BinaryAppender    = (*Window)(nil)
	_ encoding.BinaryMarshaler   = (*Window)(nil)
	_ encoding.BinaryUnmarshaler = (*Window)(nil)
)

var errNoConfig = errors.New("window: the Window has no Config (make it with NewWindow)")

// AppendBinary appends the saved form of w to dst, to keep it across a
// restart: the window's shape, and the counts of its sub-windows, not
// empty, that are still in the window at the time of its newest one (the
// expired ones could never be queried again). It takes about two bytes per
// non-empty bucket of each sub-window (doc.go gives typical sizes). The
// caller holds the lock that guards w, if any (a Set's).
func (w *Window) AppendBinary(dst []byte) ([]byte, error) {
	if w.width <= 0 || len(w.subs) == 0 {
		return dst, errNoConfig
	}
	dst = append(dst, formatVersion)
	dst = binary.AppendUvarint(dst, LayoutVersion)
	dst = binary.AppendUvarint(dst, uint64(w.width))
	dst = binary.AppendUvarint(dst, uint64(len(w.subs)))
	dst = binary.AppendVarint(dst, int64(w.threshold))
	newest, ok := w.newest()
	if !ok {
		return binary.AppendUvarint(dst, 0), nil
	}
	// The epochs in the window at newest, (newest-n, newest], are in n
	// consecutive slots of the ring: walking it from the slot after
	// newest's visits them in increasing order, without sorting.
	n := len(w.subs)
	start := int((newest%int64(n)+int64(n))%int64(n)) + 1
	saved := 0
	for k := range n {
		if w.saved(&w.subs[(start+k)%n], newest) {
			saved++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(saved))
	first, prev := true, int64(0)
	for k := range n {
		s := &w.subs[(start+k)%n]
		if !w.saved(s, newest) {
			continue
		}
		if first {
			dst = binary.AppendVarint(dst, s.epoch)
		} else {
			dst = binary.AppendUvarint(dst, uint64(s.epoch-prev))
		}
		first, prev = false, s.epoch
		dst = binary.AppendUvarint(dst, uint64(s.total))
		dst = binary.AppendUvarint(dst, uint64(s.atLeast))
		dst = binary.AppendUvarint(dst, uint64(max(s.max, 0)))
		dst = s.counts.appendBuckets(dst)
	}
	return dst, nil
}

// MarshalBinary is AppendBinary to a new slice.
func (w *Window) MarshalBinary() ([]byte, error) { return w.AppendBinary(nil) }

// newest is the epoch of the newest sub-window holding values.
func (w *Window) newest() (int64, bool) {
	e, ok := int64(emptyEpoch), false
	for i := range w.subs {
		if s := &w.subs[i]; s.total > 0 && s.epoch != emptyEpoch {
			e, ok = max(e, s.epoch), true
		}
	}
	return e, ok
}

// saved reports whether AppendBinary writes s: holding values, and in the
// window at the newest epoch. The difference is taken in uint64, where it
// cannot overflow.
func (w *Window) saved(s *sub, newest int64) bool {
	return s.total > 0 && s.epoch != emptyEpoch && uint64(newest)-uint64(s.epoch) < uint64(len(w.subs))
}

// appendBuckets appends the number of non-empty buckets, then each one's
// index delta and count.
func (c *counts) appendBuckets(dst []byte) []byte {
	from, to := c.span()
	k := 0
	for i := from; i < to; i++ {
		if c.at(i) != 0 {
			k++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(k))
	prev := -1
	for i := from; i < to; i++ {
		if n := c.at(i); n != 0 {
			dst = binary.AppendUvarint(dst, uint64(i-prev))
			dst = binary.AppendUvarint(dst, n)
			prev = i
		}
	}
	return dst
}

// UnmarshalBinary replaces w's sub-windows with the ones saved by
// AppendBinary. w must be shaped by the Config to run with (made by
// NewWindow, or held by a Set): when the saved window has another shape
// (sub-window width and count, threshold) or bucket layout, or when data
// is damaged, it returns an error saying what is wrong and leaves w empty,
// so the caller can go on with it. Decoding allocates at most the counts
// of w's sub-windows (NumBuckets each), reusing their buffers.
//
// Saved sub-windows are loaded whatever the time now: the ones expired
// since are skipped by queries and replaced by records, as in a running
// Window.
func (w *Window) UnmarshalBinary(data []byte) error {
	if w.width <= 0 || len(w.subs) == 0 {
		return errNoConfig
	}
	w.reset()
	if err := w.decode(data); err != nil {
		w.reset()
		return fmt.Errorf("window: loading a saved window: %w", err)
	}
	return nil
}

// LoadWindow returns a Window with cfg holding the saved data, or an error
// when cfg is invalid or data does not fit it (see UnmarshalBinary); a
// caller that starts empty in that case uses NewWindow and UnmarshalBinary.
func LoadWindow(cfg Config, data []byte) (*Window, error) {
	w, err := NewWindow(cfg)
	if err != nil {
		return nil, err
	}
	if err := w.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Window) decode(data []byte) error {
	if len(data) == 0 {
		return errors.New("no data")
	}
	if data[0] != formatVersion {
		return fmt.Errorf("format version %d, want %d", data[0], formatVersion)
	}
	d := decoder{data: data[1:]}
	layout := d.uvarint("layout version")
	width := d.uvarint("width")
	nSubs := d.uvarint("number of sub-windows")
	threshold := d.varint("threshold")
	saved := d.uvarint("number of saved sub-windows")
	if d.err != nil {
		return d.err
	}
	switch {
	case layout != LayoutVersion:
		return fmt.Errorf("bucket layout version %d, want %d", layout, LayoutVersion)
	case width != uint64(w.width) || nSubs != uint64(len(w.subs)):
		return fmt.Errorf("shape %d sub-windows of %d ns, want %d of %d ns", nSubs, width, len(w.subs), w.width)
	case threshold != int64(w.threshold):
		return fmt.Errorf("threshold %v, want %v", time.Duration(threshold), w.threshold)
	case saved > nSubs:
		return fmt.Errorf("%d sub-windows saved, more than the window's %d", saved, nSubs)
	}
	// Epochs whose start, epoch·width, is an int64 (as Record's curStart),
	// and not the mark of an unused slot.
	minEpoch, maxEpoch := max(math.MinInt64/w.width, emptyEpoch+1), math.MaxInt64/w.width
	var first, prev int64
	for j := range int(saved) {
		var e int64
		if j == 0 {
			e = d.varint("epoch")
			if d.err != nil {
				return d.err
			}
			if e < minEpoch || e > maxEpoch {
				return fmt.Errorf("epoch %d out of range", e)
			}
			first = e
		} else {
			delta := d.uvarint("epoch")
			if d.err != nil {
				return d.err
			}
			// prev-first < nSubs: the check below, at the previous one.
			switch {
			case delta == 0:
				return fmt.Errorf("epoch %d repeated", prev)
			case delta >= nSubs-uint64(prev-first):
				return fmt.Errorf("epoch %d+%d and epoch %d are not within %d sub-windows", prev, delta, first, nSubs)
			case prev > maxEpoch-int64(delta): // delta < nSubs: no overflow
				return fmt.Errorf("epoch %d+%d out of range", prev, delta)
			}
			e = prev + int64(delta)
		}
		prev = e
		// Increasing epochs within nSubs of each other are in distinct
		// slots.
		if err := w.decodeSub(&d, w.slot(e), e); err != nil {
			return fmt.Errorf("sub-window of epoch %d: %w", e, err)
		}
	}
	if len(d.data) > 0 {
		return fmt.Errorf("%d bytes after the last sub-window", len(d.data))
	}
	return nil
}

// decodeSub reads one sub-window into s, an unused slot. It checks the
// buckets in a first pass, then reads them again into s.counts, sized
// once: a bulk load, not one add per value.
func (w *Window) decodeSub(d *decoder, s *sub, e int64) error {
	total := d.uvarint("total")
	atLeast := d.uvarint("count at least the threshold")
	maxD := d.uvarint("maximum")
	k := d.uvarint("number of buckets")
	if d.err != nil {
		return d.err
	}
	switch {
	case total == 0 || total > math.MaxUint32:
		return fmt.Errorf("total %d out of range [1, %d]", total, uint32(math.MaxUint32))
	case atLeast > total:
		return fmt.Errorf("%d durations at least the threshold, more than the total %d", atLeast, total)
	case w.threshold <= 0 && atLeast != 0:
		return fmt.Errorf("%d durations at least the threshold, without one", atLeast)
	case maxD > math.MaxInt64:
		return fmt.Errorf("maximum %d ns out of range", maxD)
	case k == 0 || k > NumBuckets:
		return fmt.Errorf("%d buckets, out of range [1, %d]", k, NumBuckets)
	}
	buckets := d.data
	lo, hi, hlo, hhi := -1, 0, -1, 0
	var sum uint64
	saturated := false
	prev := -1
	for range int(k) {
		delta := d.uvarint("bucket index")
		n := d.uvarint("bucket count")
		if d.err != nil {
			return d.err
		}
		switch {
		case delta == 0:
			return fmt.Errorf("bucket %d repeated", prev)
		case delta >= uint64(NumBuckets-prev):
			return fmt.Errorf("bucket %d+%d beyond the layout's %d", prev, delta, NumBuckets)
		}
		i := prev + int(delta)
		if n == 0 || n > maxCount {
			return fmt.Errorf("bucket %d count %d out of range [1, %d]", i, n, maxCount)
		}
		if lo < 0 {
			lo = i
		}
		hi = i + 1
		if n > math.MaxUint8 {
			if hlo < 0 {
				hlo = i
			}
			hhi = i + 1
		}
		sum += n
		saturated = saturated || n == maxCount
		prev = i
	}
	// A saturated bucket stops counting; the total does not.
	if sum > total || sum < total && !saturated {
		return fmt.Errorf("buckets hold %d durations, total %d", sum, total)
	}
	// Record keeps the exact maximum of the durations it buckets.
	if Index(time.Duration(maxD)) != prev {
		return fmt.Errorf("maximum %v is not in the highest bucket, %d", time.Duration(maxD), prev)
	}

	*s = sub{epoch: e, total: uint32(total), atLeast: uint32(atLeast), max: time.Duration(maxD), counts: s.counts}
	if hlo < 0 { // no count passed 255
		hlo, hhi = lo, lo
	}
	s.counts.setRanges(lo, hi, hlo, hhi)
	r := decoder{data: buckets}
	prev = -1
	for range int(k) {
		i := prev + int(r.uvarint(""))
		s.counts.set(i, r.uvarint(""))
		prev = i
	}
	return nil
}

// setRanges empties c and sizes it for the low range [lo, hi) and the high
// range [hlo, hhi), inside it, reusing its buffer when it is large enough.
// The layout is the one add and carry keep, so they go on from it.
func (c *counts) setRanges(lo, hi, hlo, hhi int) {
	size := (hi - lo) + 2*(hhi-hlo)
	if cap(c.buf) >= size {
		c.buf = c.buf[:size]
		clear(c.buf)
	} else {
		c.buf = make([]byte, size)
	}
	c.lo, c.nLow, c.hlo = uint16(lo), uint16(hi-lo), uint16(hlo)
}

// set sets bucket i, in the ranges of setRanges, to n <= maxCount; a count
// above 255 must be in the high range.
func (c *counts) set(i int, n uint64) {
	c.buf[i-int(c.lo)] = byte(n)
	if n > math.MaxUint8 {
		binary.LittleEndian.PutUint16(c.buf[int(c.nLow)+2*(i-int(c.hlo)):], uint16(n>>8))
	}
}

// decoder reads varints, keeping the first error: the caller checks it
// once after a group of fields.
type decoder struct {
	data []byte
	err  error
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data)
	switch {
	case n == 0:
		d.err = fmt.Errorf("truncated at the %s", what)
	case n < 0:
		d.err = fmt.Errorf("the %s overflows 64 bits", what)
	case n > 1 && d.data[n-1] == 0:
		// binary.Uvarint accepts padded varints; refused, so that an
		// encoding is unique.
		d.err = fmt.Errorf("the %s is not a minimal varint", what)
	default:
		d.data = d.data[n:]
		return v
	}
	return 0
}

// varint reads a zigzag-encoded varint, as binary.AppendVarint writes.
func (d *decoder) varint(what string) int64 {
	u := d.uvarint(what)
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}
