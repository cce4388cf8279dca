package window

import (
	"strings"
	"testing"
	"time"
)

// The engine keeps a value per key beside its window, shapes each window by
// its own config, and releases what an evicted value holds.
func TestUpdaterEntries(t *testing.T) {
	s, err := NewSet[string, int](testConfig, 2)
	if err != nil {
		t.Fatal(err)
	}
	var evicted []string
	s.OnEvict(func(k string, v *int) { evicted = append(evicted, k) })
	t0 := time.Unix(1000, 0)
	slow := Config{Over: time.Minute, SubWindows: 6, Threshold: time.Second}

	s.Update(func(u Updater[string, int]) {
		v, w, fresh := u.Entry("a", t0, nil)
		if !fresh || *v != 0 || w.Shaped() {
			t.Fatalf("new entry: fresh=%v v=%d shaped=%v", fresh, *v, w.Shaped())
		}
		if w.Record(t0, time.Second) || w.Count(t0) != 0 || w.Quantile(t0, 0.5) != 0 {
			t.Fatal("an unshaped window must record nothing and read as empty")
		}
		*v = 7
		w.Shape(slow)
		for _, d := range []time.Duration{time.Second, 2 * time.Second, time.Millisecond} {
			if !w.Record(t0, d) {
				t.Fatal("record refused")
			}
		}
		if got := w.CountAtLeastThreshold(t0); got != 2 {
			t.Fatalf("CountAtLeastThreshold = %d, want 2 (the entry's own threshold)", got)
		}
		w.Shape(slow) // same shape: kept
		if w.Count(t0) != 3 {
			t.Fatal("Shape with the same config emptied the window")
		}
		w.Shape(testConfig) // another shape: emptied
		if w.Count(t0) != 0 || !w.Shaped() {
			t.Fatal("Shape with another config kept the old counts")
		}
		v, _, fresh = u.Entry("a", t0, nil)
		if fresh || *v != 7 {
			t.Fatalf("second lookup: fresh=%v v=%d", fresh, *v)
		}
		u.Entry("b", t0.Add(time.Second), nil)
		v, w, fresh = u.Entry("c", t0.Add(2*time.Second), strings.Clone)
		if !fresh || *v != 0 || w.Count(t0.Add(2*time.Second)) != 0 {
			t.Fatal("a reused entry must start with a zero value and an empty window")
		}
	})
	if len(evicted) != 1 || evicted[0] != "a" {
		t.Fatalf("evicted %v, want [a]", evicted)
	}
	s.Update(func(u Updater[string, int]) {
		if _, _, ok := u.Lookup("a"); ok {
			t.Fatal("evicted key still held")
		}
		var seen []string
		u.Visit(time.Time{}, func(k string, _ *int, _ *Window) bool { seen = append(seen, k); return true })
		if len(seen) != 2 {
			t.Fatalf("visited %v", seen)
		}
	})
}
