package window

import (
	"bytes"
	"testing"
	"time"
)

// FuzzMergeSub merges arbitrary data, as a field read from another
// collector, into a Window of testConfig holding values already: it never
// panics; a refused input changes nothing; an accepted one keeps the
// counts' invariants, adds its total, and, merged alone into an empty
// Window, re-encodes to the same bytes (the shared form is unique).
func FuzzMergeSub(f *testing.F) {
	base := fill(f, testConfig, typicalKey(20, 8))
	end := t0.Add(testConfig.Over - 1)
	for _, st := range base.Stamps(end, nil) {
		data, _ := base.AppendSub(st.Epoch, nil)
		f.Add(st.Epoch, data)
	}
	big := fill(f, testConfig, []record{{d: 3 * time.Second, n: 300}, {d: 3 * time.Millisecond, n: 70_000}})
	data, _ := big.AppendSub(big.Epoch(t0), nil)
	f.Add(big.Epoch(t0), data)
	f.Add(int64(0), []byte{})
	f.Add(int64(-1), []byte{subFormatVersion, LayoutVersion})

	f.Fuzz(func(t *testing.T, epoch int64, data []byte) {
		w := fill(t, testConfig, typicalKey(5, 9))
		before := encode(t, w)
		at := time.Unix(0, epoch*int64(width))
		var count uint64
		if epoch > 0 && epoch < 1<<40 {
			count = w.Count(at)
		}
		if err := w.MergeSub(epoch, data); err != nil {
			if !bytes.Equal(before, encode(t, w)) {
				t.Fatalf("refused (%v) but changed the window", err)
			}
			return
		}
		for i := range w.subs {
			checkCounts(t, &w.subs[i].counts)
		}
		one := newTestWindow(t, testConfig)
		if err := one.MergeSub(epoch, data); err != nil {
			t.Fatalf("accepted into a window, refused into an empty one: %v", err)
		}
		again, ok := one.AppendSub(epoch, nil)
		if !ok || !bytes.Equal(again, data) {
			t.Fatalf("re-encoded to\n%x\nfrom\n%x", again, data)
		}
		if epoch > 0 && epoch < 1<<40 {
			if got, want := w.Count(at), count+one.Count(at); got != want && got != 1<<32-1 {
				t.Fatalf("Count %d after the merge, want %d", got, want)
			}
		}
	})
}
