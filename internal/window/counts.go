package window

import (
	"encoding/binary"
	"math"
)

// counts holds the bucket counts of one sub-window compactly, in one buffer
// of two dense ranges: the low byte of every count over the range of
// buckets seen, then the high 16 bits only over the range of buckets whose
// count passed 255. A typical endpoint's latencies span a few powers of two
// (100 to 200 buckets) and only the buckets around the median pass 255 when
// the rate is high, so a sub-window costs one to three hundred bytes, not
// the 8.5 KiB of a dense Histogram.
//
// reset keeps the buffer: the next sub-window of the same key likely needs
// it again, so a key in steady state allocates nothing.
type counts struct {
	// buf is nLow low bytes for buckets lo.., then little-endian uint16
	// high parts for buckets hlo.. up to its end.
	buf  []byte
	lo   uint16
	hlo  uint16
	nLow uint16
}

// Headroom, in buckets, left when a range outgrows its buffer: a
// distribution's range grows a few buckets at a time while its first
// values arrive.
const (
	lowHeadroom  = 8
	highHeadroom = 4
)

func (c *counts) reset() {
	c.buf = c.buf[:0]
	c.nLow = 0
}

// bytes is the memory held.
func (c *counts) bytes() int { return cap(c.buf) }

func (c *counts) nHigh() int { return (len(c.buf) - int(c.nLow)) / 2 }

// add counts one value in bucket i.
func (c *counts) add(i int) {
	k := i - int(c.lo)
	if k < 0 || k >= int(c.nLow) {
		c.coverLow(i)
		k = i - int(c.lo)
	}
	c.buf[k]++
	if c.buf[k] == 0 {
		c.carry(i, k)
	}
}

// carry adds 256 to bucket i's high part, once in 256 values of the bucket.
func (c *counts) carry(i, k int) {
	h := i - int(c.hlo)
	if h < 0 || h >= c.nHigh() {
		c.coverHigh(i)
		h = i - int(c.hlo)
	}
	p := c.buf[int(c.nLow)+2*h:]
	v := binary.LittleEndian.Uint16(p)
	if v == math.MaxUint16 {
		// Saturated: 16.7 million values in one bucket of one
		// sub-window of one key is far beyond any real rate.
		c.buf[k] = math.MaxUint8
		return
	}
	binary.LittleEndian.PutUint16(p, v+1)
}

// span is the range of buckets that may be non-empty: [from, to). The high
// range is inside it.
func (c *counts) span() (from, to int) {
	return int(c.lo), int(c.lo) + int(c.nLow)
}

// at is the count of bucket i.
func (c *counts) at(i int) uint64 {
	var n uint64
	if k := i - int(c.lo); k >= 0 && k < int(c.nLow) {
		n = uint64(c.buf[k])
	}
	if h := i - int(c.hlo); h >= 0 && h < c.nHigh() {
		n += uint64(binary.LittleEndian.Uint16(c.buf[int(c.nLow)+2*h:])) << 8
	}
	return n
}

// addTo adds the counts to dst, a Histogram's buckets.
func (c *counts) addTo(dst *[NumBuckets]uint64) {
	low := c.buf[:c.nLow]
	d := dst[c.lo:][:len(low)] // one bounds check, not one per bucket
	for k, v := range low {
		d[k] += uint64(v)
	}
	high := c.buf[c.nLow:]
	d = dst[c.hlo:][:len(high)/2]
	for k := range d {
		d[k] += uint64(binary.LittleEndian.Uint16(high[2*k:])) << 8
	}
}

// coverLow grows the low range to cover bucket i.
func (c *counts) coverLow(i int) {
	from, to := i, i+1
	if c.nLow > 0 {
		from, to = min(int(c.lo), i), max(int(c.lo)+int(c.nLow), i+1)
	}
	off := int(c.lo) - from
	if c.nLow == 0 {
		off = 0
	}
	c.buf = resizeRegion(c.buf, 0, int(c.nLow), to-from, off, lowHeadroom)
	c.lo, c.nLow = uint16(from), uint16(to-from)
}

// coverHigh grows the high range to cover bucket i.
func (c *counts) coverHigh(i int) {
	n := c.nHigh()
	from, to := i, i+1
	if n > 0 {
		from, to = min(int(c.hlo), i), max(int(c.hlo)+n, i+1)
	}
	off := int(c.hlo) - from
	if n == 0 {
		off = 0
	}
	c.buf = resizeRegion(c.buf, int(c.nLow), 2*n, 2*(to-from), 2*off, 2*highHeadroom)
	c.hlo = uint16(from)
}

// resizeRegion grows the region buf[at:at+n] to m bytes, moving its content
// up by off bytes and what follows it to the region's new end, and zeroing
// the new bytes. It reuses buf's capacity when it is enough, and otherwise
// allocates headroom bytes more than needed.
func resizeRegion(buf []byte, at, n, m, off, headroom int) []byte {
	size := len(buf) - n + m
	out := buf[:min(size, cap(buf))]
	if size > cap(buf) {
		out = make([]byte, size, size+headroom)
		copy(out, buf[:at])
	}
	// copy is a memmove: moving the tail first, then the region, both
	// upwards, never overwrites bytes still to be moved.
	copy(out[at+m:], buf[at+n:])
	copy(out[at+off:], buf[at:at+n])
	clear(out[at : at+off])
	clear(out[at+off+n : at+m])
	return out
}
