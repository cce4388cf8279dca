package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func benchWindowMode(b *testing.B, mode string) {
	cfg := windowedConfig(mode)
	cfg.Threshold = 100 * time.Millisecond
	c := &clock{now: t0}
	e, err := New(cfg, Settings{Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	td := versionBatchB(e, "1.1", 1000)
	_ = e.Process(b.Context(), versionBatchB(e, "1.0", 1000), 0)
	_ = e.Process(b.Context(), td, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = e.Process(b.Context(), td, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/span")
}

// versionBatchB is fastBatch for benchmarks.
func versionBatchB(e *Engine, ver string, n int) ptrace.Traces {
	var seq uint32
	var routes []versionTraffic
	for i := range 20 {
		routes = append(routes, versionTraffic{route: fmt.Sprintf("/api/r%d", i), n: n / 20, dur: 20 * time.Millisecond})
	}
	return versionBatch(e, &seq, t0, ver, routes...)
}

// BenchmarkProcessQuantile and BenchmarkProcessRegression compare the
// per-span cost of the two modes on 1,000 fast server spans of 20
// endpoints, each of version 1.1 after version 1.0.
func BenchmarkProcessQuantile(b *testing.B)   { benchWindowMode(b, ModeQuantile) }
func BenchmarkProcessRegression(b *testing.B) { benchWindowMode(b, ModeRegression) }

func TestRegressionFastSpansAllocateNothing(t *testing.T) {
	cfg := windowedConfig(ModeRegression)
	cfg.Threshold = 100 * time.Millisecond
	e := newWindowed(t, cfg, &clock{now: t0})
	_ = e.Process(t.Context(), versionBatchB(e, "1.0", 1000), 0)
	td := versionBatchB(e, "1.1", 1000)
	_ = e.Process(t.Context(), td, 0)
	allocs := testing.AllocsPerRun(100, func() { _ = e.Process(t.Context(), td, 0) })
	assert.Zero(t, allocs)
}

// TestRegressionMemoryPerKey measures the heap an endpoint holds in mode
// regression with two versions (its window, two version windows and the
// baseline) against quantile mode (one window), and logs both.
func TestRegressionMemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const keys = 2000
	perKey := func(mode string) float64 {
		cfg := windowedConfig(mode)
		cfg.Threshold = 100 * time.Millisecond
		c := &clock{now: t0}
		e := newWindowed(t, cfg, c)
		var seq uint32
		var routes []versionTraffic
		for i := range keys {
			routes = append(routes, versionTraffic{route: fmt.Sprintf("/api/k%d", i), n: 1, dur: 20 * time.Millisecond})
		}
		v10 := versionBatch(e, &seq, c.now, "1.0", routes...)
		v11 := versionBatch(e, &seq, c.now, "1.1", routes...)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_ = e.Process(t.Context(), v10, 0)
		c.advance(time.Second)
		_ = e.Process(t.Context(), v11, 0)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		return float64(after.HeapAlloc-before.HeapAlloc) / keys
	}
	q, r := perKey(ModeQuantile), perKey(ModeRegression)
	t.Logf("heap per endpoint: quantile %.0f B, regression with two versions %.0f B (+%.0f B)", q, r, r-q)
	assert.Less(t, r, 8*q+64<<10, "bounded")
}

// TestRegressionMemoryPerKeyFull measures the same with full windows: each
// version's window has requests in every sub-window over 20 latency buckets
// (1 ms to 2 s), and the baseline holds an exemplar with three child groups
// and 30 CPU stacks. Quantile mode, with the same traffic, keeps its
// worst request too: the difference is the versions' windows and the
// baseline.
func TestRegressionMemoryPerKeyFull(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const keys = 500
	stacks := make([][]string, 30)
	for i := range stacks {
		stacks[i] = []string{fmt.Sprintf("main.step%02d", i), "main.handle", "net/http.HandlerFunc.ServeHTTP"}
	}
	perKey := func(mode string) float64 {
		cfg := windowedConfig(mode)
		cfg.Threshold = 100 * time.Millisecond
		c := &clock{now: t0}
		e := newWindowed(t, cfg, c)
		var seq uint32
		send := func(ver string) {
			for range subWindows {
				c.advance(cfg.Trigger.Over / subWindows)
				var routes []versionTraffic
				for i := range keys {
					for b := range 20 {
						tr := versionTraffic{route: fmt.Sprintf("/api/k%d", i), n: 1,
							dur: time.Millisecond << (b / 2) * time.Duration(2+b%2) / 2}
						if b == 19 {
							tr.children = []childSpec{ordersQuery, auditQuery, {name: "GET inventory", query: "GET /items/{id}", dur: 20 * time.Millisecond}}
							tr.cpu = stacks
						}
						routes = append(routes, tr)
					}
				}
				_ = e.Process(t.Context(), versionBatch(e, &seq, c.now, ver, routes...), 0)
			}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		send("1.0")
		send("1.1")
		// The profiles of the requests that are no exemplar expire.
		c.advance(cfg.Profiles.TTL + time.Second)
		e.ExpireProfiles()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		return float64(after.HeapAlloc-before.HeapAlloc) / keys
	}
	q, r := perKey(ModeQuantile), perKey(ModeRegression)
	t.Logf("heap per endpoint, full windows: quantile %.0f B, regression with two versions %.0f B (+%.0f B)", q, r, r-q)
	assert.Less(t, r-q, float64(64<<10), "bounded")
}
