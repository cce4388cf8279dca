package window

import (
	"encoding/binary"
	"math"
)

// counts holds the bucket counts of one sub-window compactly: only the
// range of bucket indexes it has seen, at the narrowest counter width (1, 2
// or 4 bytes) that holds its largest count. A typical endpoint's latencies
// span a few powers of two (about 100 to 200 buckets) with counts below 256
// per sub-window, so a sub-window costs a few hundred bytes, not the 8.5 KiB
// of a dense Histogram.
//
// reset keeps the buffer and the width: the next sub-window of the same key
// likely needs them again, so a key in steady state allocates nothing.
type counts struct {
	buf   []byte // len(buf) = n << shift, for buckets lo..lo+n-1
	lo    uint16
	shift uint8 // log2 of the counter width in bytes
}

func (c *counts) len() int { return len(c.buf) >> c.shift }

func (c *counts) reset() { c.buf = c.buf[:0] }

// bytes is the memory held.
func (c *counts) bytes() int { return cap(c.buf) }

// add counts one value in bucket i.
func (c *counts) add(i int) {
	k := i - int(c.lo)
	if k < 0 || k >= c.len() {
		c.extend(i)
		k = i - int(c.lo)
	}
	switch c.shift {
	case 0:
		if c.buf[k] == math.MaxUint8 {
			c.widen()
			c.add(i)
			return
		}
		c.buf[k]++
	case 1:
		p := c.buf[k<<1:]
		v := binary.LittleEndian.Uint16(p)
		if v == math.MaxUint16 {
			c.widen()
			c.add(i)
			return
		}
		binary.LittleEndian.PutUint16(p, v+1)
	default:
		p := c.buf[k<<2:]
		// Saturates: 4 billion values in one bucket of one sub-window of
		// one key is far beyond any real rate.
		if v := binary.LittleEndian.Uint32(p); v != math.MaxUint32 {
			binary.LittleEndian.PutUint32(p, v+1)
		}
	}
}

// at is the count of bucket i.
func (c *counts) at(i int) uint64 {
	k := i - int(c.lo)
	if k < 0 || k >= c.len() {
		return 0
	}
	switch c.shift {
	case 0:
		return uint64(c.buf[k])
	case 1:
		return uint64(binary.LittleEndian.Uint16(c.buf[k<<1:]))
	default:
		return uint64(binary.LittleEndian.Uint32(c.buf[k<<2:]))
	}
}

// extend grows the range to include bucket i, reusing the buffer's capacity
// when it is enough.
func (c *counts) extend(i int) {
	n := c.len()
	if n == 0 {
		c.lo = uint16(i)
		c.resize(1, 0)
		return
	}
	lo, hi := min(int(c.lo), i), max(int(c.lo)+n, i+1)
	c.resize(hi-lo, int(c.lo)-lo)
	c.lo = uint16(lo)
}

// resize sets the length to n buckets, moving the current ones up by
// offset buckets and zeroing the others.
func (c *counts) resize(n, offset int) {
	old := c.buf
	size := n << c.shift
	if size > cap(c.buf) {
		// A little headroom: a distribution's range grows by a few
		// buckets at a time while its first values arrive.
		c.buf = make([]byte, size, size+(8<<c.shift))
	} else {
		c.buf = c.buf[:size]
	}
	off := offset << c.shift
	copy(c.buf[off:], old) // copy handles the overlap when reusing
	clear(c.buf[:off])
	clear(c.buf[off+len(old):])
}

// widen doubles the counter width, when a count would overflow.
func (c *counts) widen() {
	n := c.len()
	wide := make([]byte, n<<(c.shift+1), cap(c.buf)<<1)
	for k := range n {
		v := c.at(int(c.lo) + k)
		if c.shift == 0 {
			binary.LittleEndian.PutUint16(wide[k<<1:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(wide[k<<2:], uint32(v))
		}
	}
	c.buf = wide
	c.shift++
}

// addTo adds the counts to h's buckets (not to its total or maximum).
func (c *counts) addTo(h *Histogram) {
	for k := range c.len() {
		h.counts[int(c.lo)+k] += c.at(int(c.lo) + k)
	}
}
