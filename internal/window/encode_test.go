package window

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// width is testConfig's sub-window.
var width = testConfig.Over / time.Duration(testConfig.SubWindows)

// record is one Record call, at t0 plus at.
type record struct {
	at time.Duration
	d  time.Duration
	n  int // times, 1 when 0
}

func fill(t testing.TB, cfg Config, recs []record) *Window {
	t.Helper()
	w, err := NewWindow(cfg)
	require.NoError(t, err)
	for _, r := range recs {
		for range max(r.n, 1) {
			require.True(t, w.Record(t0.Add(r.at), r.d))
		}
	}
	return w
}

// typicalKey records perSub lognormal latencies (endpointLatency) in each
// sub-window of a whole window of testConfig.
func typicalKey(perSub int, seed uint64) []record {
	r := rand.New(rand.NewPCG(seed, seed))
	var recs []record
	for j := range testConfig.SubWindows {
		for i := range perSub {
			at := width*time.Duration(j) + width*time.Duration(i)/time.Duration(perSub)
			recs = append(recs, record{at: at, d: endpointLatency(r, int(seed))})
		}
	}
	return recs
}

func encode(t testing.TB, w *Window) []byte {
	t.Helper()
	data, err := w.AppendBinary(nil)
	require.NoError(t, err)
	return data
}

// checkCounts verifies the invariants of c through its accessors: the high
// range inside the low one, nothing outside span, and addTo agreeing with
// at.
func checkCounts(t testing.TB, c *counts) {
	t.Helper()
	from, to := c.span()
	if from < 0 || to > NumBuckets || len(c.buf) != int(c.nLow)+2*c.nHigh() {
		t.Fatalf("span [%d, %d), %d bytes for %d low and %d high", from, to, len(c.buf), c.nLow, c.nHigh())
	}
	if n := c.nHigh(); n > 0 && (int(c.hlo) < from || int(c.hlo)+n > to) {
		t.Fatalf("high range [%d, %d) outside the span [%d, %d)", c.hlo, int(c.hlo)+n, from, to)
	}
	var dense [NumBuckets]uint64
	c.addTo(&dense)
	for i := range NumBuckets {
		if dense[i] != c.at(i) || dense[i] != 0 && (i < from || i >= to) {
			t.Fatalf("bucket %d: addTo %d, at %d, span [%d, %d)", i, dense[i], c.at(i), from, to)
		}
	}
}

// assertSameAt checks every query of got against want at now.
func assertSameAt(t *testing.T, want, got *Window, now time.Time) {
	t.Helper()
	assert.Equal(t, want.Count(now), got.Count(now), "Count at %v", now)
	assert.Equal(t, want.CountAtLeastThreshold(now), got.CountAtLeastThreshold(now), "CountAtLeastThreshold at %v", now)
	assert.Equal(t, want.Max(now), got.Max(now), "Max at %v", now)
	for _, q := range quantiles {
		assert.Equal(t, want.Quantile(now, q), got.Quantile(now, q), "Quantile(%v) at %v", q, now)
	}
	var hw, hg Histogram
	want.Snapshot(now, &hw)
	got.Snapshot(now, &hg)
	assert.Equal(t, hw, hg, "Snapshot at %v", now)
}

// assertEmpty checks that w holds nothing, at any time.
func assertEmpty(t testing.TB, w *Window) {
	t.Helper()
	for i := range w.subs {
		s := &w.subs[i]
		require.Equal(t, int64(emptyEpoch), s.epoch, "slot %d", i)
		require.Zero(t, s.total, "slot %d", i)
		require.Equal(t, 0, s.counts.nHigh()+int(s.counts.nLow), "slot %d", i)
	}
}

var roundTrips = []struct {
	name string
	cfg  Config
	recs []record
	// nows to compare at, after t0; the newest sub-window's start and the
	// end of its window always.
	nows []time.Duration
}{
	{name: "empty", cfg: testConfig},
	{name: "one value", cfg: testConfig, recs: []record{{at: time.Second, d: 20 * time.Millisecond}}},
	{
		name: "several sub-windows, counts past 255 and 65535",
		cfg:  testConfig,
		recs: append(typicalKey(100, 3),
			record{at: 2 * width, d: 30 * time.Millisecond, n: 300},
			record{at: 3 * width, d: 40 * time.Millisecond, n: 70_000},
			record{at: 3 * width, d: 2 * time.Second, n: 1000},
			record{at: 3 * width, d: 41 * time.Millisecond, n: 256}, // exactly 256: low byte 0
		),
		nows: []time.Duration{3 * width, 9 * width, 12 * width, 13*width + time.Second},
	},
	{
		name: "expired sub-windows are not saved",
		cfg:  testConfig,
		// Epochs E, E+3 and E+15: the first two are expired at the third.
		recs: []record{{at: 0, d: time.Second}, {at: 3 * width, d: 2 * time.Millisecond}, {at: 15 * width, d: 5 * time.Millisecond}},
	},
	{
		name: "edge durations, no threshold",
		cfg:  Config{Over: time.Minute, SubWindows: 3},
		recs: []record{{d: -time.Second}, {d: 0}, {d: 1}, {d: MaxTrackable}, {d: math.MaxInt64}, {at: 20 * time.Second, d: -1}},
	},
	{
		name: "only negative durations",
		cfg:  Config{Over: time.Minute, SubWindows: 3, Threshold: -time.Second},
		recs: []record{{d: -time.Second}, {d: -2 * time.Second}},
	},
	{
		name: "before 1970, one sub-window",
		cfg:  Config{Over: time.Hour, SubWindows: 1, Threshold: time.Millisecond},
		recs: []record{{at: -60 * 365 * 24 * time.Hour, d: time.Millisecond, n: 3}},
	},
}

func TestWindowRoundTrip(t *testing.T) {
	for _, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			w := fill(t, tc.cfg, tc.recs)
			data := encode(t, w)
			t.Logf("%d bytes", len(data))

			got, err := LoadWindow(tc.cfg, data)
			require.NoError(t, err)
			for i := range got.subs {
				checkCounts(t, &got.subs[i].counts)
			}
			again := encode(t, got)
			assert.Equal(t, data, again, "re-encoded")

			newest, ok := w.newest()
			nows := tc.nows
			if ok {
				start := time.Duration(newest*w.width - t0.UnixNano())
				nows = append(nows, start, start+tc.cfg.Over-1, start+tc.cfg.Over)
			}
			for _, at := range nows {
				assertSameAt(t, w, got, t0.Add(at))
			}

			// Both go on the same way: the loaded counts take more
			// values through add and carry.
			if ok {
				at := time.Duration(newest*w.width - t0.UnixNano())
				for _, d := range []time.Duration{time.Second, 30 * time.Millisecond, 40 * time.Millisecond} {
					for range 600 {
						assert.Equal(t, w.Record(t0.Add(at), d), got.Record(t0.Add(at), d))
					}
				}
				for i := range got.subs {
					checkCounts(t, &got.subs[i].counts)
				}
				assertSameAt(t, w, got, t0.Add(at))
				assertSameAt(t, w, got, t0.Add(at+width))
			}
		})
	}
}

func TestAppendBinaryDropsExpiredSubWindows(t *testing.T) {
	w := fill(t, testConfig, []record{{at: 0, d: time.Second}, {at: 15 * width, d: 5 * time.Millisecond}})
	only := fill(t, testConfig, []record{{at: 15 * width, d: 5 * time.Millisecond}})
	assert.Equal(t, encode(t, only), encode(t, w))
	got, err := LoadWindow(testConfig, encode(t, w))
	require.NoError(t, err)
	assert.Equal(t, uint64(0), got.Count(t0.Add(5*width)), "the expired sub-window is gone")
	assert.Equal(t, uint64(1), w.Count(t0.Add(5*width)), "but a query before the newest one saw it")
}

// TestEncodingSize bounds the saved size of a typical key, as doc.go gives
// it: about two bytes per non-empty bucket.
func TestEncodingSize(t *testing.T) {
	for _, tc := range []struct{ perSub, most int }{{10, 400}, {100, 1400}, {20_000, 4400}} {
		data := encode(t, fill(t, testConfig, typicalKey(tc.perSub, 7)))
		t.Logf("%d per sub-window: %d bytes", tc.perSub, len(data))
		assert.LessOrEqual(t, len(data), tc.most, "%d per sub-window", tc.perSub)
	}
}

func TestAppendBinaryAppends(t *testing.T) {
	w := fill(t, testConfig, typicalKey(100, 5))
	data := encode(t, w)
	out, err := w.AppendBinary([]byte("key"))
	require.NoError(t, err)
	assert.Equal(t, append([]byte("key"), data...), out)
	marshalled, err := w.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, data, marshalled)

	buf := make([]byte, 0, len(data))
	assert.Zero(t, testing.AllocsPerRun(10, func() { buf, _ = w.AppendBinary(buf[:0]) }))
	// Decoding again into the same Window reuses its buffers.
	got := newTestWindow(t, testConfig)
	require.NoError(t, got.UnmarshalBinary(data))
	assert.Zero(t, testing.AllocsPerRun(10, func() { _ = got.UnmarshalBinary(data) }))
}

// TestSaturatedBucketRoundTrip fills one bucket past the 16.7 million that
// a sub-window's count holds: the total goes on, the bucket stays at
// maxCount, and the saved form says so.
func TestSaturatedBucketRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("records 17 million values")
	}
	w := newTestWindow(t, testConfig)
	for range maxCount + 10 {
		w.Record(t0, 20*time.Millisecond)
	}
	w.Record(t0, 30*time.Millisecond)
	data := encode(t, w)
	got, err := LoadWindow(testConfig, data)
	require.NoError(t, err)
	assertSameAt(t, w, got, t0)
	assert.Equal(t, uint64(maxCount+11), got.Count(t0))
	assert.Equal(t, data, encode(t, got))
}

func TestUnmarshalBinaryShapeMismatch(t *testing.T) {
	data := encode(t, fill(t, testConfig, typicalKey(10, 1)))
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"longer window", Config{Over: 10 * time.Minute, SubWindows: 10, Threshold: time.Second}, "shape"},
		{"more sub-windows of the same width", Config{Over: 10 * time.Minute, SubWindows: 20, Threshold: time.Second}, "shape"},
		{"other threshold", Config{Over: 5 * time.Minute, SubWindows: 10, Threshold: 2 * time.Second}, "threshold"},
		{"no threshold", Config{Over: 5 * time.Minute, SubWindows: 10}, "threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fill(t, tc.cfg, typicalKey(10, 2))
			err := w.UnmarshalBinary(data)
			require.ErrorContains(t, err, tc.err)
			assertEmpty(t, w)
			_, err = LoadWindow(tc.cfg, data)
			require.ErrorContains(t, err, tc.err)
		})
	}
	_, err := LoadWindow(Config{}, data)
	assert.Error(t, err, "an invalid Config")
	assert.ErrorIs(t, (&Window{}).UnmarshalBinary(data), errNoConfig)
	_, err = (&Window{}).AppendBinary(nil)
	assert.ErrorIs(t, err, errNoConfig)
}

// enc builds encodings by hand, for damaged and hostile data. Its methods
// return a new slice (the capacity is clipped), so cases built from a
// common prefix do not overwrite each other.
type enc []byte

func header(cfg Config) enc {
	e := enc{formatVersion}
	return e.u(LayoutVersion).u(uint64(cfg.Over) / uint64(cfg.SubWindows)).u(uint64(cfg.SubWindows)).v(int64(cfg.Threshold))
}

func (e enc) u(vs ...uint64) enc {
	e = e[:len(e):len(e)]
	for _, v := range vs {
		e = binary.AppendUvarint(e, v)
	}
	return e
}

func (e enc) v(v int64) enc { return binary.AppendVarint(e[:len(e):len(e)], v) }

func (e enc) raw(b ...byte) enc { return append(e[:len(e):len(e)], b...) }

func TestUnmarshalBinaryRefusesDamagedData(t *testing.T) {
	h := header(testConfig)
	epoch := t0.UnixNano() / int64(width)
	ms20 := uint64(Index(20 * time.Millisecond))
	// one is a valid sub-window: 3 durations of 20 ms, one bucket.
	one := func(e enc) enc { return e.u(3, 0, uint64(20*time.Millisecond), 1, ms20+1, 3) }
	valid := one(h.u(1).v(epoch))
	_, err := LoadWindow(testConfig, valid)
	require.NoError(t, err, "the base case")

	for _, tc := range []struct {
		name string
		data enc
		err  string
	}{
		{"empty", enc{}, "no data"},
		{"format version", append(enc{2}, valid[1:]...), "format version 2"},
		{"layout version", enc{formatVersion}.u(2).raw(valid[2:]...), "layout version 2"},
		{"truncated header", h[:3], "truncated at the width"},
		{"varint overflow", enc{formatVersion}.raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "overflows"},
		{"padded varint", enc{formatVersion}.raw(0x81, 0x00).raw(valid[2:]...), "not a minimal varint"},
		{"too many sub-windows", h.u(11), "11 sub-windows saved"},
		{"huge number of sub-windows", h.u(math.MaxUint64), "sub-windows saved"},
		{"epoch out of range", one(h.u(1).v(math.MaxInt64)), "out of range"},
		{"empty epoch", one(h.u(1).v(emptyEpoch)), "out of range"},
		{"epoch repeated", one(one(h.u(2).v(epoch)).u(0)), "repeated"},
		{"epochs too far apart", one(one(h.u(2).v(epoch)).u(10)), "not within 10 sub-windows"},
		{"epochs far apart in three steps", one(one(one(h.u(3).v(epoch)).u(5)).u(5)), "not within 10 sub-windows"},
		{"huge epoch delta", one(one(h.u(2).v(epoch)).u(math.MaxUint64)), "not within"},
		{"total zero", h.u(1).v(epoch).u(0, 0, 0, 1, 1, 0), "total 0"},
		{"total huge", h.u(1).v(epoch).u(1<<40, 0, 0, 1, 1, 1<<40), "total"},
		{"more at least the threshold than the total", h.u(1).v(epoch).u(3, 4, uint64(20*time.Millisecond), 1, ms20+1, 3), "more than the total"},
		{"maximum out of range", h.u(1).v(epoch).u(3, 0, math.MaxUint64, 1, ms20+1, 3), "maximum"},
		{"no buckets", h.u(1).v(epoch).u(3, 0, uint64(20*time.Millisecond), 0), "0 buckets"},
		{"too many buckets", h.u(1).v(epoch).u(3, 0, uint64(20*time.Millisecond), NumBuckets+1), "1059 buckets"},
		{"huge number of buckets", h.u(1).v(epoch).u(3, 0, uint64(20*time.Millisecond), math.MaxUint64), "buckets, out of range"},
		{"bucket beyond the layout", h.u(1).v(epoch).u(3, 0, uint64(math.MaxInt64), 1, NumBuckets+1, 3), "beyond the layout"},
		{"bucket repeated", h.u(1).v(epoch).u(3, 0, uint64(20*time.Millisecond), 2, ms20+1, 1, 0, 2), "repeated"},
		{"bucket count zero", h.u(1).v(epoch).u(3, 0, uint64(20*time.Millisecond), 2, ms20, 0, 1, 3), "count 0"},
		{"bucket count huge", h.u(1).v(epoch).u(3, 0, uint64(20*time.Millisecond), 1, ms20+1, 1<<40), "out of range"},
		{"buckets short of the total", h.u(1).v(epoch).u(4, 0, uint64(20*time.Millisecond), 1, ms20+1, 3), "buckets hold 3 durations, total 4"},
		{"buckets over the total", h.u(1).v(epoch).u(2, 0, uint64(20*time.Millisecond), 1, ms20+1, 3), "buckets hold 3 durations, total 2"},
		{"maximum not in the highest bucket", h.u(1).v(epoch).u(3, 0, uint64(time.Second), 1, ms20+1, 3), "not in the highest bucket"},
		{"trailing bytes", valid.raw(0), "1 bytes after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fill(t, testConfig, typicalKey(10, 4))
			err := w.UnmarshalBinary(tc.data)
			require.ErrorContains(t, err, tc.err)
			assertEmpty(t, w)
		})
	}

	// Without a threshold, no duration is counted at least it.
	cfg := Config{Over: 5 * time.Minute, SubWindows: 10}
	_, err = LoadWindow(cfg, header(cfg).u(1).v(epoch).u(3, 1, uint64(20*time.Millisecond), 1, ms20+1, 3))
	assert.ErrorContains(t, err, "without one")
}

// TestUnmarshalBinaryTruncated cuts a rich encoding at every byte: each cut
// is refused, and leaves the window empty; each byte changed either is
// refused or decodes to a window that re-encodes to it.
func TestUnmarshalBinaryTruncated(t *testing.T) {
	w := fill(t, testConfig, append(typicalKey(50, 6),
		record{at: 9 * width, d: 30 * time.Millisecond, n: 70_000}))
	data := encode(t, w)
	got := newTestWindow(t, testConfig)
	for i := range data {
		require.Error(t, got.UnmarshalBinary(data[:i]), "cut at %d of %d", i, len(data))
		assertEmpty(t, got)
	}
	damaged := make([]byte, len(data))
	for i := range data {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			copy(damaged, data)
			damaged[i] ^= flip
			if err := got.UnmarshalBinary(damaged); err != nil {
				assertEmpty(t, got)
				continue
			}
			assert.Equal(t, damaged, encode(t, got), "byte %d ^ %#x", i, flip)
		}
	}
}

func TestCountsSetRanges(t *testing.T) {
	var c counts
	for range 300 {
		c.add(500)
	}
	c.add(10)
	held := c.bytes()
	// Smaller: the buffer is reused.
	c.setRanges(100, 110, 105, 106)
	c.set(100, 1)
	c.set(105, 70_000)
	c.set(109, 255)
	checkCounts(t, &c)
	assert.Equal(t, held, c.bytes())
	assert.Equal(t, uint64(1), c.at(100))
	assert.Equal(t, uint64(70_000), c.at(105))
	assert.Equal(t, uint64(255), c.at(109))
	assert.Zero(t, c.at(500))
	// Then add and carry go on from it.
	c.add(109)
	c.add(99)
	checkCounts(t, &c)
	assert.Equal(t, uint64(256), c.at(109))
	assert.Equal(t, uint64(1), c.at(99))
	// Without a high range.
	c.setRanges(0, NumBuckets, 0, 0)
	c.set(NumBuckets-1, 3)
	checkCounts(t, &c)
	assert.Equal(t, uint64(3), c.at(NumBuckets-1))
}

// BenchmarkWindowEncoding saves and loads a typical key: a whole window of
// 10 sub-windows of 100 lognormal latencies each, and of 20,000.
func BenchmarkWindowEncoding(b *testing.B) {
	for _, perSub := range []int{100, 20_000} {
		w := fill(b, testConfig, typicalKey(perSub, 7))
		data := encode(b, w)
		b.Run("AppendBinary/perSub="+strconv.Itoa(perSub), func(b *testing.B) {
			buf := make([]byte, 0, len(data))
			for b.Loop() {
				buf, _ = w.AppendBinary(buf[:0])
			}
			b.ReportMetric(float64(len(data)), "bytes/key")
		})
		b.Run("UnmarshalBinary/perSub="+strconv.Itoa(perSub), func(b *testing.B) {
			got, _ := NewWindow(testConfig)
			for b.Loop() {
				if err := got.UnmarshalBinary(data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "bytes/key")
		})
	}
}
