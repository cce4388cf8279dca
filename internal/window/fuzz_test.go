package window

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// fuzzDurations decodes 5 bytes per duration: a shift spreading the values
// over every magnitude, with a sign bit, and 32 bits of mantissa.
func fuzzDurations(data []byte) []time.Duration {
	var ds []time.Duration
	for ; len(data) >= 5; data = data[5:] {
		d := time.Duration(uint64(binary.LittleEndian.Uint32(data[1:])) << (data[0] % 40) >> 8)
		if data[0]&0x80 != 0 {
			d = -d
		}
		ds = append(ds, d)
	}
	return ds
}

func FuzzQuantile(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{20, 1, 2, 3, 4, 30, 9, 9, 9, 9, 39, 255, 255, 255, 255, 0x80, 1, 1, 1, 1})
	f.Add(slices.Repeat([]byte{25, 7, 0, 0, 0}, 300))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds := fuzzDurations(data)
		if len(ds) == 0 {
			return
		}
		var h Histogram
		w, err := NewWindow(Config{Over: time.Minute, SubWindows: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			h.Record(d)
			w.Record(t0.Add(time.Duration(i)*time.Second), d)
		}
		// Count conservation: in total and through the buckets.
		if h.Count() != uint64(len(ds)) {
			t.Fatalf("count %d, recorded %d", h.Count(), len(ds))
		}
		var inBuckets uint64
		for _, c := range h.Buckets() {
			inBuckets += c
		}
		if inBuckets != h.Count() {
			t.Fatalf("buckets hold %d, count %d", inBuckets, h.Count())
		}
		sorted := slices.Sorted(slices.Values(ds))
		if h.Max() != max(sorted[len(sorted)-1], 0) {
			t.Fatalf("max %v, want %v", h.Max(), sorted[len(sorted)-1])
		}
		end := t0.Add(time.Duration(len(ds)-1) * time.Second)
		var snap Histogram
		w.Snapshot(end, &snap)
		prev := time.Duration(-1)
		for _, q := range quantiles {
			got := h.Quantile(q)
			if got < prev {
				t.Fatalf("quantile %v = %v below the previous one %v", q, got, prev)
			}
			prev = got
			if wq, sq := w.Quantile(end, q), snap.Quantile(q); wq != sq {
				t.Fatalf("window quantile %v = %v, its snapshot's %v", q, wq, sq)
			}
			want := exactQuantile(sorted, q)
			switch {
			case want < MinTrackable:
				if got != min(MinTrackable, h.Max()) {
					t.Fatalf("quantile %v = %v for %v below the range", q, got, want)
				}
			case want >= MaxTrackable:
				if got != h.Max() {
					t.Fatalf("quantile %v = %v for %v above the range", q, got, want)
				}
			case relErr(got, want) > RelativeError:
				t.Fatalf("quantile %v = %v, exact %v: relative error %v", q, got, want, relErr(got, want))
			}
		}
	})
}
