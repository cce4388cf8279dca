package window

import (
	"bytes"
	"testing"
	"time"
)

// FuzzUnmarshalBinary decodes arbitrary data into a Window of testConfig:
// it never panics; a refused input leaves the window empty; an accepted one
// keeps the counts' invariants, re-encodes to the same bytes (the encoding
// is unique), and answers queries consistently with its sub-windows.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, tc := range roundTrips {
		if tc.cfg == testConfig {
			f.Add(encode(f, fill(f, tc.cfg, tc.recs)))
		}
	}
	f.Add(encode(f, fill(f, testConfig, typicalKey(20, 8))))
	f.Add(encode(f, fill(f, testConfig, append(typicalKey(5, 9),
		record{at: 4 * width, d: 3 * time.Second, n: 300},
		record{at: 5 * width, d: 3 * time.Millisecond, n: 70_000}))))
	f.Add([]byte{})
	f.Add([]byte(header(testConfig).u(1)))

	f.Fuzz(func(t *testing.T, data []byte) {
		w := newTestWindow(t, testConfig)
		if err := w.UnmarshalBinary(data); err != nil {
			assertEmpty(t, w)
			return
		}
		if again := encode(t, w); !bytes.Equal(again, data) {
			t.Fatalf("re-encoded to\n%x\nfrom\n%x", again, data)
		}
		newest, ok := w.newest()
		var total uint64
		for i := range w.subs {
			s := &w.subs[i]
			checkCounts(t, &s.counts)
			if s.epoch == emptyEpoch {
				continue
			}
			total += uint64(s.total)
			var h Histogram
			s.counts.addTo(&h.counts)
			if Index(s.max) != lastBucket(&h) {
				t.Fatalf("slot %d: maximum %v not in the highest bucket", i, s.max)
			}
		}
		if !ok {
			return
		}
		now := time.Unix(0, newest*w.width)
		if got := w.Count(now); got != total {
			t.Fatalf("Count %d at the newest sub-window, sub-windows hold %d", got, total)
		}
		var h Histogram
		w.Snapshot(now, &h)
		for _, q := range quantiles {
			if wq, hq := w.Quantile(now, q), h.Quantile(q); wq != hq {
				t.Fatalf("Quantile(%v) %v, its snapshot's %v", q, wq, hq)
			}
		}
		if w.CountAtLeastThreshold(now) > total || w.Max(now) != h.Max() {
			t.Fatal("inconsistent queries")
		}
		// Records go on from the loaded counts.
		for range 300 {
			w.Record(now, 20*time.Millisecond)
		}
		for i := range w.subs {
			checkCounts(t, &w.subs[i].counts)
		}
	})
}

func lastBucket(h *Histogram) int {
	last := -1
	for i := range h.Buckets() {
		last = i
	}
	return last
}
