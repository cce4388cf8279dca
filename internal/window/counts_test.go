package window

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCountsMatchADenseArray records the same buckets into counts and a
// dense array, growing the ranges both ways and carrying past 255 and
// 65535.
func TestCountsMatchADenseArray(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		lo, hi int
	}{
		{"one bucket, carried past 16 bits", 70_000, 500, 501},
		{"narrow", 1000, 600, 620},
		{"all buckets, low bytes only", 300, 1, NumBuckets},
		{"all buckets, carried", 300_000, 0, NumBuckets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(tc.n)))
			var c counts
			var dense [NumBuckets]uint64
			for range tc.n {
				i := tc.lo + r.IntN(tc.hi-tc.lo)
				c.add(i)
				dense[i]++
			}
			for i := range NumBuckets {
				require.Equal(t, dense[i], c.at(i), i)
			}
			var h Histogram
			c.addTo(&h.counts)
			assert.Equal(t, dense, h.counts)
		})
	}
}

func TestCountsResetKeepsTheBuffer(t *testing.T) {
	var c counts
	for i := 300; i < 400; i++ {
		for range 300 {
			c.add(i)
		}
	}
	require.Equal(t, 100, c.nHigh())
	held := c.bytes()
	c.reset()
	assert.Zero(t, c.at(350))
	assert.Zero(t, testing.AllocsPerRun(10, func() {
		c.reset()
		for i := 399; i >= 300; i-- { // grows downwards, in place
			c.add(i)
		}
	}))
	assert.Equal(t, held, c.bytes())
	assert.Equal(t, uint64(1), c.at(300))
	assert.Equal(t, uint64(1), c.at(399))
	assert.Zero(t, c.at(299))
	assert.Zero(t, c.at(400))
}
