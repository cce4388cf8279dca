package window

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// latencies is a fixed stream of realistic durations, so the benchmarks
// measure recording, not random number generation.
var latencies = func() []time.Duration {
	r := rand.New(rand.NewPCG(11, 11))
	ds := make([]time.Duration, 1<<16)
	for i := range ds {
		ds[i] = endpointLatency(r, i)
	}
	return ds
}()

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	i := 0
	for b.Loop() {
		h.Record(latencies[i&(len(latencies)-1)])
		i++
	}
}

func BenchmarkHistogramQuantile(b *testing.B) {
	var h Histogram
	for _, d := range latencies {
		h.Record(d)
	}
	for b.Loop() {
		h.Quantile(0.95)
	}
}

func BenchmarkWindowRecord(b *testing.B) {
	w, _ := NewWindow(testConfig)
	now := t0
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		w.Record(now, latencies[i&(len(latencies)-1)])
		i++
	}
}

// BenchmarkWindowQuantile queries a full window of 10 sub-windows of 1,000
// values each, without and with building a Histogram.
func BenchmarkWindowQuantile(b *testing.B) {
	w, _ := NewWindow(testConfig)
	width := testConfig.Over / time.Duration(testConfig.SubWindows)
	for i := range 10_000 {
		w.Record(t0.Add(width*time.Duration(i/1000)), latencies[i])
	}
	end := t0.Add(testConfig.Over - 1)
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			w.Quantile(end, 0.95)
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		var h Histogram
		for b.Loop() {
			w.Snapshot(end, &h)
			h.Quantile(0.95)
		}
	})
}

// BenchmarkSetRecord records into existing keys, visited in a scrambled
// order: with many keys, nearly every record misses the CPU caches, the
// worst case of a collector's traffic.
func BenchmarkSetRecord(b *testing.B) {
	for _, n := range []int{10, 1_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d/string", n), func(b *testing.B) {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("GET /api/v1/resource/%d", i)
			}
			benchSetRecord(b, keys)
		})
		b.Run(fmt.Sprintf("keys=%d/uint64", n), func(b *testing.B) {
			keys := make([]uint64, n)
			for i := range keys {
				keys[i] = uint64(i) * 0x9e3779b97f4a7c15
			}
			benchSetRecord(b, keys)
		})
	}
}

func benchSetRecord[K comparable](b *testing.B, keys []K) {
	s, err := NewSet[K, struct{}](testConfig, len(keys))
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	for j := range 32 { // warm up: each key's range of buckets is known
		for i, k := range keys {
			s.Record(k, now, latencies[(i*32+j)&(len(latencies)-1)])
		}
	}
	order := rand.New(rand.NewPCG(12, 12)).Perm(len(keys))
	i := 0
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		s.Record(keys[order[i%len(order)]], now, latencies[i&(len(latencies)-1)])
		i++
	}
}

// BenchmarkSetMemory reports the heap held per key for 10,000 keys with
// 10 sub-windows of 100 requests each (see TestMemoryPerKey).
func BenchmarkSetMemory(b *testing.B) {
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("GET /api/v1/resource/%d", i)
	}
	var perKey float64
	for b.Loop() {
		before := heapInUse()
		s, _ := NewSet[string, struct{}](testConfig, len(names))
		fillSet(s, names, 100, 7)
		perKey = float64(heapInUse()-before) / float64(len(names))
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perKey, "bytes/key")
}

// BenchmarkSetRecordBatch records batches of 100 samples over 1,000 keys:
// one lock per batch, as the engine records a batch of spans.
func BenchmarkSetRecordBatch(b *testing.B) {
	keys := make([]uint64, 1000)
	for i := range keys {
		keys[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	s, _ := NewSet[uint64, struct{}](testConfig, len(keys))
	order := rand.New(rand.NewPCG(12, 12)).Perm(len(keys))
	batch := make([]Sample[uint64], 100)
	now := t0
	i := 0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		for j := range batch {
			batch[j] = Sample[uint64]{keys[order[i%len(order)]], latencies[i&(len(latencies)-1)]}
			i++
		}
		s.RecordBatch(now, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/sample")
}
