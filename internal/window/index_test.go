package window

import (
	"math/rand/v2"
	"testing"
)

// The open-addressing index agrees with a map through random puts and
// deletes, with well-spread hashes and with hashes that collide on purpose
// (so deletions shift runs that wrap around the table's end).
func TestIndexAgreesWithMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(uint64) uint64
	}{
		{"identity", func(k uint64) uint64 { return k * 0x9e3779b97f4a7c15 }},
		{"colliding", func(k uint64) uint64 { return k % 7 }},
		{"wrapping", func(k uint64) uint64 { return 63 - k%3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := index[uint64, struct{}]{hash: tc.hash}
			ref := map[uint64]*entry[uint64, struct{}]{}
			r := rand.New(rand.NewPCG(1, 2))
			for step := range 20000 {
				k := uint64(r.IntN(300))
				if e, ok := ref[k]; ok && r.IntN(2) == 0 {
					x.del(k)
					delete(ref, k)
					_ = e
				} else if !ok {
					e := &entry[uint64, struct{}]{key: k}
					x.put(k, e)
					ref[k] = e
				}
				if x.len() != len(ref) {
					t.Fatalf("step %d: len %d, want %d", step, x.len(), len(ref))
				}
				if step%97 == 0 {
					for k := range uint64(300) {
						if got, want := x.get(k), ref[k]; got != want {
							t.Fatalf("step %d: get(%d) = %p, want %p", step, k, got, want)
						}
					}
				}
			}
		})
	}
}

// A Set with UseHash behaves as one with a map: eviction included.
func TestSetUseHash(t *testing.T) {
	s, err := NewSet[uint64, int](testConfig, 3)
	if err != nil {
		t.Fatal(err)
	}
	s.UseHash(func(k uint64) uint64 { return k })
	for k := range uint64(10) {
		s.Record(k, t0, 1)
	}
	if s.Len() != 3 || s.Evicted() != 7 {
		t.Fatalf("Len %d Evicted %d, want 3 and 7", s.Len(), s.Evicted())
	}
	s.Update(func(u Updater[uint64, int]) {
		for k := range uint64(10) {
			if _, _, ok := u.Lookup(k); ok != (k >= 7) {
				t.Fatalf("Lookup(%d) = %v", k, ok)
			}
		}
	})
}
