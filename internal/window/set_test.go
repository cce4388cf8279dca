package window

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testConfig = Config{Over: 5 * time.Minute, SubWindows: 10, Threshold: time.Second}

func newTestSet(t testing.TB, maxKeys int) *Set[string, struct{}] {
	t.Helper()
	s, err := NewSet[string, struct{}](testConfig, maxKeys)
	require.NoError(t, err)
	return s
}

func TestNewSetValidates(t *testing.T) {
	_, err := NewSet[string, struct{}](testConfig, 0)
	assert.Error(t, err)
	_, err = NewSet[string, struct{}](Config{}, 10)
	assert.Error(t, err)
}

func TestSetEvictsTheLeastRecentlyRecordedKey(t *testing.T) {
	s := newTestSet(t, 3)
	now := t0
	for _, step := range []struct {
		key  string
		keys []string // most recent first, after the record
	}{
		{"a", []string{"a"}},
		{"b", []string{"b", "a"}},
		{"c", []string{"c", "b", "a"}},
		{"a", []string{"a", "c", "b"}},
		{"d", []string{"d", "a", "c"}}, // b evicted
		{"c", []string{"c", "d", "a"}},
		{"e", []string{"e", "c", "d"}}, // a evicted
	} {
		now = now.Add(time.Second)
		s.Record(step.key, now, time.Second)
		assert.Equal(t, step.keys, s.Active(time.Time{}, nil), "after %s", step.key)
	}
	assert.Equal(t, 3, s.Len())
	assert.Equal(t, uint64(2), s.Evicted())

	// An evicted key's window is gone; a key that comes back starts empty
	// in the memory of the one it evicts.
	var h Histogram
	assert.False(t, s.Snapshot("a", now, &h))
	s.Record("a", now, 3*time.Second)
	require.True(t, s.Snapshot("a", now, &h))
	assert.Equal(t, uint64(1), h.Count())
	assert.Equal(t, 3*time.Second, h.Max())
}

func TestSetVisitsKeysActiveSince(t *testing.T) {
	s := newTestSet(t, 100)
	for i := range 10 {
		s.Record(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second), time.Duration(i+1)*time.Second)
	}
	// A late record is stamped with the set's latest time: the walk can
	// stop at the first key older than since and still find it.
	s.Record("0", t0, time.Second)
	assert.Equal(t, []string{"0", "9", "8", "7"}, s.Active(t0.Add(7*time.Second), nil))

	var visited []string
	var slow uint64
	s.Visit(t0.Add(5*time.Second), func(key string, w *Window) bool {
		visited = append(visited, key)
		slow += w.CountAtLeastThreshold(t0.Add(10 * time.Second))
		return len(visited) < 3
	})
	assert.Equal(t, []string{"0", "9", "8"}, visited)
	assert.Equal(t, uint64(2+1+1), slow, "values >= 1 s of keys 0, 9 and 8")
}

func TestSetIsSafeForConcurrentUse(t *testing.T) {
	s := newTestSet(t, 50)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var h Histogram
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				key := fmt.Sprint((g*7 + i) % 80)
				s.Record(key, now, time.Duration(i)*time.Microsecond)
				if i%100 == 0 {
					for _, k := range s.Active(now.Add(-time.Second), nil) {
						s.Snapshot(k, now, &h)
					}
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 50, s.Len())
}

func TestSetRecordDoesNotAllocateForAnExistingKey(t *testing.T) {
	s := newTestSet(t, 1000)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("GET /api/", i)
	}
	now := t0
	i := 0
	step := func() {
		i++
		now = now.Add(time.Millisecond)
		s.Record(keys[i%len(keys)], now, time.Duration(1+i%997)*time.Millisecond)
	}
	for range 2_000_000 { // warm up: every key's slots have seen the data
		step()
	}
	assert.Zero(t, testing.AllocsPerRun(10_000, step))
}

func TestSetRecordBatch(t *testing.T) {
	s := newTestSet(t, 2)
	late := s.RecordBatch(t0.Add(time.Hour), []Sample[string]{
		{"a", time.Second}, {"b", 2 * time.Second}, {"a", 3 * time.Second},
	})
	assert.Zero(t, late)
	// Recency is kept to within a second: "a", recorded again at the same
	// time, is not moved in front of "b".
	assert.Equal(t, []string{"b", "a"}, s.Active(time.Time{}, nil))
	var h Histogram
	s.Snapshot("a", t0.Add(time.Hour), &h)
	assert.Equal(t, uint64(2), h.Count())
	// An hour earlier, the sub-window slot of "b" holds a later one.
	assert.Equal(t, 1, s.RecordBatch(t0, []Sample[string]{{"b", time.Second}, {"c", time.Second}}))
	assert.Equal(t, []string{"c", "b"}, s.Active(time.Time{}, nil))
}

// TestSetActiveFindsExactlyTheKeysRecordedSince checks Active against a
// model, with records spaced more and less than the recency granularity.
func TestSetActiveFindsExactlyTheKeysRecordedSince(t *testing.T) {
	s := newTestSet(t, 1000)
	r := rand.New(rand.NewPCG(6, 6))
	seen := map[string]time.Time{}
	now := t0
	for step := range 3000 {
		now = now.Add(time.Duration(r.Int64N(int64(400 * time.Millisecond))))
		key := fmt.Sprint(r.IntN(40))
		s.Record(key, now, time.Second)
		seen[key] = now
		if step%50 != 0 {
			continue
		}
		since := now.Add(-time.Duration(r.Int64N(int64(5 * time.Second))))
		var want []string
		for k, at := range seen {
			if !at.Before(since) {
				want = append(want, k)
			}
		}
		assert.ElementsMatch(t, want, s.Active(since, nil), "step %d", step)
	}
}

// TestSetEvictionReusesMemory: once full, a new key takes over the evicted
// key's window and buffers.
func TestSetEvictionReusesMemory(t *testing.T) {
	s, err := NewSet[int, struct{}](testConfig, 100)
	require.NoError(t, err)
	now := t0
	key := 0
	step := func() {
		key++
		now = now.Add(time.Second)
		for j := range 20 {
			s.Record(key, now, time.Duration(10+j)*time.Millisecond)
		}
	}
	for range 1000 {
		step()
	}
	assert.Equal(t, 100, s.Len())
	assert.Equal(t, uint64(900), s.Evicted())
	assert.Zero(t, testing.AllocsPerRun(1000, step))
}

func TestSetWithNanosecondSubWindowsStillFindsActiveKeys(t *testing.T) {
	s, err := NewSet[string, struct{}](Config{Over: 10, SubWindows: 10}, 10)
	require.NoError(t, err)
	s.Record("a", t0, time.Second)
	s.Record("b", t0.Add(1), time.Second)
	assert.Equal(t, []string{"b", "a"}, s.Active(t0, nil))
	assert.Equal(t, []string{"b"}, s.Active(t0.Add(1), nil))
}
