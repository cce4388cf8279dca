package window

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shareAll merges every sub-window of each part live at now into a new
// Window, as a fleet reader does with the collectors' shared sub-windows.
func shareAll(t testing.TB, cfg Config, now time.Time, parts ...*Window) *Window {
	t.Helper()
	merged, err := NewWindow(cfg)
	require.NoError(t, err)
	for _, p := range parts {
		for _, st := range p.Stamps(now, nil) {
			data, ok := p.AppendSub(st.Epoch, nil)
			require.True(t, ok)
			require.NoError(t, merged.MergeSub(st.Epoch, data))
		}
	}
	return merged
}

func TestSharedPartsMergeToTheWholeWindow(t *testing.T) {
	recs := append(typicalKey(200, 3),
		record{at: 4 * width, d: 3 * time.Second, n: 300},
		record{at: 5 * width, d: 3 * time.Millisecond, n: 70_000},
		record{at: 9 * width, d: 2 * time.Millisecond, n: 1000})
	for _, split := range []string{"round robin", "random"} {
		t.Run(split, func(t *testing.T) {
			whole := newTestWindow(t, testConfig)
			parts := []*Window{newTestWindow(t, testConfig), newTestWindow(t, testConfig), newTestWindow(t, testConfig)}
			r := rand.New(rand.NewPCG(1, 2))
			j := 0
			for _, rec := range recs {
				for range max(rec.n, 1) {
					at := t0.Add(rec.at)
					require.True(t, whole.Record(at, rec.d))
					p := j % len(parts)
					if split == "random" {
						p = r.IntN(len(parts))
					}
					require.True(t, parts[p].Record(at, rec.d))
					j++
				}
			}
			end := t0.Add(testConfig.Over - 1)
			merged := shareAll(t, testConfig, end, parts...)
			for i := range merged.subs {
				checkCounts(t, &merged.subs[i].counts)
			}
			for _, now := range []time.Time{end, end.Add(3 * width), t0.Add(width / 2)} {
				assertSameAt(t, whole, merged, now)
			}
			assert.Equal(t, whole.Quantile(end, 0.95), merged.Quantile(end, 0.95))
			assert.Equal(t, whole.QuantileAtLeastThreshold(end, 0.95), merged.QuantileAtLeastThreshold(end, 0.95))
			// The same sub-windows, bucket by bucket: the merged window
			// saves as the whole one does.
			assert.Equal(t, encode(t, whole), encode(t, merged))
		})
	}
}

func TestMergeSubIsExactForOnePart(t *testing.T) {
	w := fill(t, testConfig, typicalKey(50, 7))
	end := t0.Add(testConfig.Over - 1)
	for _, st := range w.Stamps(end, nil) {
		data, ok := w.AppendSub(st.Epoch, nil)
		require.True(t, ok)
		one := newTestWindow(t, testConfig)
		require.NoError(t, one.MergeSub(st.Epoch, data))
		again, ok := one.AppendSub(st.Epoch, nil)
		require.True(t, ok)
		assert.Equal(t, data, again, "the shared form is unique")
		// Merging twice doubles: the reader must sum each collector's
		// field once, which a hash per sub-window with a field per
		// collector guarantees.
		require.NoError(t, one.MergeSub(st.Epoch, data))
		at := time.Unix(0, st.Epoch*int64(width))
		assert.Equal(t, 2*uint64(st.Total), one.Count(at))
	}
	_, ok := w.AppendSub(w.Epoch(end)+1, nil)
	assert.False(t, ok, "no sub-window of a future epoch")
	_, ok = w.AppendSub(w.Epoch(end)-int64(testConfig.SubWindows), nil)
	assert.False(t, ok, "no sub-window of an epoch whose slot was reused")
}

func TestStampsChangeWithRecords(t *testing.T) {
	w := newTestWindow(t, testConfig)
	assert.Empty(t, w.Stamps(t0, nil))
	w.Record(t0, time.Millisecond)
	w.Record(t0.Add(width), time.Millisecond)
	now := t0.Add(width)
	e := w.Epoch(now)
	assert.Equal(t, []SubStamp{{Epoch: e - 1, Total: 1}, {Epoch: e, Total: 1}}, w.Stamps(now, nil))
	w.Record(now, time.Second)
	assert.Equal(t, []SubStamp{{Epoch: e - 1, Total: 1}, {Epoch: e, Total: 2}}, w.Stamps(now, nil))
	assert.Equal(t, []SubStamp{{Epoch: e, Total: 2}}, w.Stamps(now.Add(testConfig.Over-width), nil), "expired ones are left out")
	assert.Equal(t, testConfig, w.Config())
	assert.Equal(t, width, w.Width())
}

func TestMergeSubRefuses(t *testing.T) {
	w := fill(t, testConfig, typicalKey(30, 4))
	e := w.Epoch(t0)
	good, ok := w.AppendSub(e, nil)
	require.True(t, ok)
	other := func(cfg Config) []byte {
		o := fill(t, cfg, typicalKey(30, 4))
		data, ok := o.AppendSub(o.Epoch(t0), nil)
		require.True(t, ok)
		return data
	}
	layout := append([]byte{subFormatVersion}, binary.AppendUvarint(nil, LayoutVersion+1)...)
	layout = append(layout, good[2:]...)
	for _, tc := range []struct {
		name  string
		epoch int64
		data  []byte
		want  string
	}{
		{"empty", e, nil, "no data"},
		{"format", e, append([]byte{9}, good[1:]...), "format version 9"},
		{"layout", e, layout, "bucket layout version 2"},
		{"width", e, other(Config{Over: 10 * time.Minute, SubWindows: 10, Threshold: time.Second}), "sub-windows of"},
		{"threshold", e, other(Config{Over: 5 * time.Minute, SubWindows: 10, Threshold: 2 * time.Second}), "threshold 2s"},
		{"trailing", e, append(bytes.Clone(good), 0), "1 bytes after"},
		{"truncated", e, good[:len(good)-1], "truncated"},
		{"later slot", e - int64(testConfig.SubWindows), good, "later sub-window"},
		{"epoch", emptyEpoch, good, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := encode(t, w)
			err := w.MergeSub(tc.epoch, tc.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, before, encode(t, w), "a refused sub-window changes nothing")
		})
	}
	var unshaped Window
	assert.Error(t, unshaped.MergeSub(e, good))
	_, ok = unshaped.AppendSub(e, nil)
	assert.False(t, ok)
}

func TestMergeSubSaturates(t *testing.T) {
	// One bucket at the largest count a sub-window holds.
	d := 3 * time.Millisecond
	data := []byte{subFormatVersion}
	for _, v := range []uint64{LayoutVersion, uint64(width)} {
		data = binary.AppendUvarint(data, v)
	}
	data = binary.AppendVarint(data, int64(testConfig.Threshold))
	for _, v := range []uint64{maxCount, 0, uint64(d), 1, uint64(Index(d) + 1), maxCount} {
		data = binary.AppendUvarint(data, v)
	}
	w := newTestWindow(t, testConfig)
	require.NoError(t, w.MergeSub(7, data))
	require.NoError(t, w.MergeSub(7, data))
	s := w.slot(7)
	checkCounts(t, &s.counts)
	assert.EqualValues(t, maxCount, s.counts.at(Index(d)), "a bucket saturates")
	assert.EqualValues(t, 2*maxCount, s.total, "the total goes on")
	assert.Equal(t, uint32(0xffffffff), addSat32(0xfffffff0, 0x20))
}
