package spanprofiler

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/google/pprof/profile"
	"time"

	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// fixedWork is the handler's CPU work: 64 SHA-256 blocks of 4 KiB, tens of microseconds.
//
//go:noinline
func fixedWork() byte {
	var buf [4096]byte
	var h [32]byte
	for range 64 {
		copy(buf[:], h[:])
		h = sha256.Sum256(buf[:])
	}
	return h[0]
}

func benchHandler(tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte{fixedWork()})
	}), "work", otelhttp.WithTracerProvider(tp))
}

// serve runs n requests through h on GOMAXPROCS goroutines (so background work of the profiler
// competes for the CPU, as in a busy app) and returns the elapsed time.
func serve(h http.Handler, n int) time.Duration {
	workers := runtime.GOMAXPROCS(0)
	req := httptest.NewRequest(http.MethodGet, "/work", nil)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		k := n / workers
		if w < n%workers {
			k++
		}
		wg.Go(func() {
			for range k {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkRequestLoop measures an otelhttp app's throughput without and with spanprofiler
// (wrapped tracer provider plus 100 Hz windowed CPU profiling), in alternating phases of the same
// run (ABBA order) so machine noise hits both. Reported: throughput_ratio (profiled/plain, the
// median over rounds: robust to bursts from neighbours) and overhead_% derived from it. The
// per-window parse/convert cost is not in the phases (see BenchmarkConvertWindow).
func BenchmarkRequestLoop(b *testing.B) {
	tp := sdktrace.NewTracerProvider() // spans are recorded and sampled, exported nowhere
	defer func() { _ = tp.Shutdown(context.Background()) }()
	plain := benchHandler(tp)
	profiled := benchHandler(WrapTracerProvider(tp))
	noop := func(context.Context, pprofile.Profiles) error { return nil }

	const rounds = 20
	per := max(b.N/(2*rounds), 1)
	ratios := make([]float64, 0, rounds)
	var samples int64
	runProfiled := func() time.Duration {
		b.StopTimer()
		p, err := Start(context.Background(), Options{Window: time.Hour, Exporter: noop})
		if err != nil {
			b.Fatalf("the CPU profiler is busy (run without -cpuprofile): %v", err)
		}
		b.StartTimer()
		d := serve(profiled, per)
		b.StopTimer()
		if err := p.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		samples += p.Stats().SamplesExported
		b.StartTimer()
		return d
	}
	b.ResetTimer()
	for r := range rounds {
		var base, prof time.Duration
		if r%2 == 0 {
			base = serve(plain, per)
			prof = runProfiled()
		} else {
			prof = runProfiled()
			base = serve(plain, per)
		}
		ratios = append(ratios, float64(base)/float64(prof))
	}
	b.StopTimer()
	slices.Sort(ratios)
	med := (ratios[rounds/2-1] + ratios[rounds/2]) / 2
	b.ReportMetric(med, "throughput_ratio")
	b.ReportMetric((1/med-1)*100, "overhead_%")
	b.ReportMetric(float64(samples)/rounds, "samples/phase")
}

// BenchmarkConvertWindow is the background cost paid once per window: parse a real CPU profile of
// the benchmark app and convert it.
func BenchmarkConvertWindow(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	var raw []byte
	p, err := Start(context.Background(), Options{Window: time.Hour, Exporter: func(context.Context, pprofile.Profiles) error { return nil }})
	if err != nil {
		b.Fatalf("the CPU profiler is busy (run without -cpuprofile): %v", err)
	}
	serve(benchHandler(WrapTracerProvider(tp)), 20000)
	p.mu.Lock()
	w, _ := p.rotate(false)
	p.mu.Unlock()
	raw = w.data
	_ = p.Stop(context.Background())
	b.ResetTimer()
	var n int
	for b.Loop() {
		prof, err := profile.ParseData(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, n, err = Convert(prof, ConvertOptions{Spans: DefaultSpanIndex}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "samples")
}

// BenchmarkTracerStart is the per-request cost of WrapTracerProvider: pprof labels plus the index.
func BenchmarkTracerStart(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"plain", tp}, {"wrapped", WrapTracerProvider(tp)}} {
		b.Run(c.name, func(b *testing.B) {
			tr := c.tp.Tracer("bench")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, s := tr.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindServer))
				s.End()
			}
		})
	}
}
