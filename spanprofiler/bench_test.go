package spanprofiler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
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

// waitingWork is the CPU part of a waiting request: 16 SHA-256 blocks of 4 KiB, ~0.1 ms here.
//
//go:noinline
func waitingWork() byte {
	var buf [4096]byte
	var h [32]byte
	for range 16 {
		copy(buf[:], h[:])
		h = sha256.Sum256(buf[:])
	}
	return h[0]
}

// serveWaiting runs n requests on `inflight` goroutines, each request a server span of the wrapped
// provider (so the goroutine carries its span's pprof labels) that waits `wait` (a downstream call)
// and then burns waitingWork. It returns the elapsed time.
func serveWaiting(tr trace.Tracer, n, inflight int, wait time.Duration) time.Duration {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range inflight {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				_, s := tr.Start(context.Background(), "GET /wait", trace.WithSpanKind(trace.SpanKindServer))
				time.Sleep(wait)
				_ = waitingWork()
				s.End()
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkWallSampling measures the throughput cost of wall-clock sampling on an app with 1,000
// requests in flight, each waiting 20 ms and burning a little CPU (CPU-bound on a small machine,
// so every cycle the sampler takes is lost throughput). Both sides run the wrapped provider and
// 100 Hz CPU profiling; only WallHz differs: off vs hz (DefaultWallHz, and a higher rate for
// comparison). Phases alternate (ABBA) in one run; reported: wall_throughput_ratio (on/off, median
// of rounds) and overhead_% derived from it, plus cpu_ratio (this process's CPU time per request,
// on/off, median): the same cost seen from the CPU the app used, which neighbours on a shared
// machine disturb far less than elapsed time.
func BenchmarkWallSampling(b *testing.B) {
	for _, hz := range []int{DefaultWallHz, 20} {
		b.Run(fmt.Sprintf("hz=%d", hz), func(b *testing.B) { benchWallSampling(b, hz) })
	}
}

func benchWallSampling(b *testing.B, hz int) {
	const inflight, wait, rounds = 1000, 20 * time.Millisecond, 10
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := WrapTracerProvider(tp).Tracer("bench")
	noop := func(context.Context, pprofile.Profiles) error { return nil }
	per := max(b.N/(2*rounds), inflight)

	var ticks, wallSamples int64
	var cpu time.Duration // CPU time of the last phase
	phase := func(wallHz int) time.Duration {
		b.StopTimer()
		p, err := Start(context.Background(), Options{Window: time.Hour, WallHz: wallHz, Exporter: noop})
		if err != nil {
			b.Fatalf("the CPU profiler is busy (run without -cpuprofile): %v", err)
		}
		b.StartTimer()
		c0 := processCPU(b)
		d := serveWaiting(tr, per, inflight, wait)
		cpu = processCPU(b) - c0
		b.StopTimer()
		if err := p.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		ticks += p.Stats().WallTicks
		wallSamples += p.Stats().WallExported
		b.StartTimer()
		return d
	}
	ratios := make([]float64, 0, rounds)
	cpuRatios := make([]float64, 0, rounds)
	var offTotal time.Duration
	b.ResetTimer()
	for r := range rounds {
		var off, on, offCPU, onCPU time.Duration
		if r%2 == 0 {
			off = phase(-1)
			offCPU = cpu
			on = phase(hz)
			onCPU = cpu
		} else {
			on = phase(hz)
			onCPU = cpu
			off = phase(-1)
			offCPU = cpu
		}
		offTotal += off
		ratios = append(ratios, float64(off)/float64(on))
		cpuRatios = append(cpuRatios, float64(onCPU)/float64(offCPU))
	}
	b.StopTimer()
	med := median(ratios)
	b.ReportMetric(med, "wall_throughput_ratio")
	b.ReportMetric((1/med-1)*100, "overhead_%")
	b.ReportMetric(median(cpuRatios), "cpu_ratio")
	b.ReportMetric(float64(per)*rounds/offTotal.Seconds(), "req/s_off")
	b.ReportMetric(float64(ticks)/rounds, "ticks/phase")
	b.ReportMetric(float64(wallSamples)/rounds, "wall_samples/phase")
}

func median(v []float64) float64 {
	slices.Sort(v)
	return (v[(len(v)-1)/2] + v[len(v)/2]) / 2
}

// BenchmarkWallTick is the cost of one wall tick with 1,000 goroutines blocked inside distinct
// spans: "snapshot" is runtime/pprof's goroutine profile alone (what any labelled goroutine
// profile costs), "tick" the whole tick (snapshot, gunzip, parse, accumulate), the window taken
// every 200 ticks as the profiler does at the end of a window.
func BenchmarkWallTick(b *testing.B) {
	const goroutines = 1000
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := WrapTracerProvider(tp).Tracer("bench")
	release := make(chan struct{})
	var started, done sync.WaitGroup
	for range goroutines {
		started.Add(1)
		done.Go(func() {
			_, s := tr.Start(context.Background(), "GET /wait", trace.WithSpanKind(trace.SpanKindServer))
			started.Done()
			<-release
			s.End()
		})
	}
	started.Wait()
	defer func() {
		close(release)
		done.Wait()
	}()
	b.Run("snapshot", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := pprof.Lookup("goroutine").WriteTo(&buf, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tick", func(b *testing.B) {
		w := newWallSampler(DefaultWallHz, func(string, error) {})
		var n int
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := w.tick(time.Now()); err != nil {
				b.Fatal(err)
			}
			if i%200 == 199 {
				n = len(w.take().samples)
			}
		}
		if n == 0 {
			n = len(w.take().samples)
		}
		b.ReportMetric(float64(n), "samples")
	})
}
