package bench

import (
	"fmt"
	"testing"

	"github.com/slowspan/slowspan/bench/inproc"
)

// The side-by-side benchmarks on the same 10,000-span batch; cmd/benchreport
// runs the same functions and prints medians and ratios.
func BenchmarkFloor(b *testing.B)             { inproc.Floor(b) }
func BenchmarkFloorPredicate(b *testing.B)    { inproc.FloorPredicate(b) }
func BenchmarkFloorKey(b *testing.B)          { inproc.FloorKey(b) }
func BenchmarkSlowspan(b *testing.B)          { inproc.Slowspan(b) }
func BenchmarkSlowspanFast(b *testing.B)      { inproc.SlowspanFast(b) }
func BenchmarkSlowspanConnector(b *testing.B) { inproc.SlowspanConnector(b) }
func BenchmarkFilterOTTL(b *testing.B)        { inproc.FilterOTTL(b) }

// BenchmarkSlowspanQuantile: the processor in quantile mode (p95 over 5m). It
// fails with the config error until the engine takes trigger/resolve.
func BenchmarkSlowspanQuantile(b *testing.B) { inproc.SlowspanQuantile(b) }

// BenchmarkGrowth: the processor with 10, 1,000 and 100,000 keys in its dedup state.
func BenchmarkGrowth(b *testing.B) {
	for _, k := range inproc.GrowthKeys {
		b.Run(fmt.Sprintf("keys=%d", k), inproc.Growth(k))
	}
}

// BenchmarkQuantileGrowth: the same sizes in quantile mode, windows filled.
func BenchmarkQuantileGrowth(b *testing.B) {
	for _, k := range inproc.GrowthKeys {
		b.Run(fmt.Sprintf("keys=%d", k), inproc.QuantileGrowth(k))
	}
}

// BenchmarkSpanMetrics: contrib spanmetricsconnector, what a user deploys to
// alert on p95 from metrics, on the same batch.
func BenchmarkSpanMetrics(b *testing.B) { inproc.SpanMetrics(b) }
