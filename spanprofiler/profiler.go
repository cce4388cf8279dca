// Package spanprofiler gives a Go app span-linked CPU profiles without an eBPF profiler: it profiles
// the CPU in windows, keeps the samples labelled with a span id (by otel-profiling-go, see
// WrapTracerProvider), and exports them as OTLP profiles whose samples link to {trace_id, span_id}.
// Beside each window's CPU profile it exports a wall-clock profile of where span-labelled
// goroutines waited, sampled from the goroutine profile (see Options.WallHz).
package spanprofiler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Defaults for Options.
const (
	DefaultEndpoint = "localhost:4317"
	DefaultWindow   = 10 * time.Second
	DefaultHz       = 100
	DefaultTimeout  = 10 * time.Second
	DefaultWallHz   = 5
)

// ErrStopped is returned by Flush after Stop.
var ErrStopped = errors.New("spanprofiler: profiler stopped")

// Options configures a Profiler. The zero value profiles at 100 Hz in 10 s windows and exports
// over TLS to localhost:4317.
type Options struct {
	// Endpoint is the collector's OTLP gRPC address, host:port. Default localhost:4317.
	Endpoint string
	// Insecure sends without TLS (plaintext gRPC), as to a local collector.
	Insecure bool
	// Timeout bounds each export. Default 10 s.
	Timeout time.Duration
	// Window is how long each CPU profile runs before it is converted and exported. Default 10 s.
	Window time.Duration
	// Hz is the sampling rate. Default 100. Other rates work but Go's runtime then prints one
	// "cannot set cpu profile rate" line to stderr per window (runtime/pprof hard-codes 100 Hz).
	Hz int
	// WallHz is the wall-clock sampling rate: how often the goroutine profile is snapshot to see
	// where span-labelled goroutines wait (off-CPU). Default 5 (DefaultWallHz); negative disables it.
	WallHz int
	// Resource describes the app (service.name ...). Default resource.Default().
	Resource *resource.Resource
	// KeepUnlabelled also exports samples not labelled with a span (unlinked). Default false.
	KeepUnlabelled bool
	// Logger receives export and profiling errors. Default slog.Default(). Repeated failures are
	// logged at most once a minute.
	Logger *slog.Logger
	// Exporter replaces the OTLP gRPC exporter (tests, or another transport). It must not keep p.
	Exporter func(ctx context.Context, p pprofile.Profiles) error

	// manualWall starts no wall ticker: tests call the sampler's tick themselves.
	manualWall bool
}

// Stats counts what a Profiler did.
type Stats struct {
	Windows         int64 // profile windows completed
	Exported        int64 // windows exported successfully
	Empty           int64 // windows with no span-labelled samples (nothing exported)
	Dropped         int64 // windows dropped because the previous one was still being exported
	Failed          int64 // windows whose parse, conversion or export failed
	SamplesExported int64 // samples sent
	WallTicks       int64 // goroutine-profile snapshots taken
	WallFailed      int64 // snapshots that failed or panicked
	WallDropped     int64 // wall samples dropped because their window held its maximum (20,000)
	WallExported    int64 // wall samples sent
}

// Profiler runs CPU profiling in windows and exports span-linked samples. Safe for concurrent use.
type Profiler struct {
	opts   Options
	log    *slog.Logger
	export func(context.Context, pprofile.Profiles) error
	closer func() error
	wall   *wallSampler // nil when wall sampling is off
	module string       // the app's main module, for every message's resource

	mu      sync.Mutex // guards the CPU profile state below; serialises window rotation
	buf     *bytes.Buffer
	start   time.Time
	active  bool
	stopped bool

	queue    chan window // capacity 1: at most one window waits while another is exported
	stopLoop chan struct{}
	loopDone chan struct{}
	stopExp  chan struct{}
	expDone  chan struct{}
	inflight sync.WaitGroup // Flush exports running in caller goroutines

	stats struct {
		windows, exported, empty, dropped, failed, samples, wallSamples atomic.Int64
	}
	lastLog atomic.Int64 // unix nanos of the last logged failure, for rate limiting
}

type window struct {
	data       []byte // the CPU profile; nil when the CPU profiler was not ours this window
	wall       wallWindow
	start, end time.Time
}

// Start begins profiling; ctx is not retained. It fails if the CPU profiler is already in use (another
// pprof.StartCPUProfile, e.g. a running /debug/pprof/profile request or go test -cpuprofile).
func Start(ctx context.Context, opts Options) (*Profiler, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Hz <= 0 {
		opts.Hz = DefaultHz
	}
	if opts.WallHz == 0 {
		opts.WallHz = DefaultWallHz
	}
	if opts.Resource == nil {
		opts.Resource = resource.Default()
	}
	p := &Profiler{
		opts:     opts,
		log:      opts.Logger,
		export:   opts.Exporter,
		queue:    make(chan window, 1),
		stopLoop: make(chan struct{}),
		loopDone: make(chan struct{}),
		stopExp:  make(chan struct{}),
		expDone:  make(chan struct{}),
		module:   mainModule(),
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.export == nil {
		exp, err := newGRPCExporter(opts.Endpoint, opts.Insecure)
		if err != nil {
			return nil, err
		}
		p.export, p.closer = exp.export, exp.close
	}
	p.mu.Lock()
	err := p.startCPU()
	p.mu.Unlock()
	if err != nil {
		if p.closer != nil {
			_ = p.closer()
		}
		return nil, err
	}
	p.startWall()
	go p.loop()
	go p.exportLoop()
	return p, nil
}

// startWall starts the wall-clock sampler unless WallHz is negative.
func (p *Profiler) startWall() {
	if p.opts.WallHz < 0 {
		return
	}
	p.wall = newWallSampler(p.opts.WallHz, p.logErr)
	if p.opts.manualWall {
		close(p.wall.done)
		return
	}
	go p.wall.run()
}

// mainModule is the app's main module path, "" when the binary has no build info.
func mainModule() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Path
	}
	return ""
}

// startCPU starts a new window; p.mu must be held.
func (p *Profiler) startCPU() error {
	buf := new(bytes.Buffer)
	if p.opts.Hz != DefaultHz {
		// The runtime keeps the first rate set; StartCPUProfile's own 100 Hz call is then refused.
		runtime.SetCPUProfileRate(p.opts.Hz)
	}
	if err := pprof.StartCPUProfile(buf); err != nil {
		// Another CPU profile runs; the runtime refused our rate too, so there is nothing to undo.
		return fmt.Errorf("spanprofiler: start CPU profile: %w", err)
	}
	p.buf, p.start, p.active = buf, time.Now(), true
	return nil
}

// rotate ends the current window and, when restart is set, starts the next one right away so the
// gap without profiling is only the time StopCPUProfile takes. p.mu must be held.
func (p *Profiler) rotate(restart bool) (window, bool) {
	w := window{start: p.start, end: time.Now()}
	if p.active {
		pprof.StopCPUProfile()
		w.data = p.buf.Bytes()
		p.buf, p.active = nil, false
	}
	if p.wall != nil {
		w.wall = p.wall.take()
		p.start = w.end // the next wall window, when the CPU profiler stays paused
	}
	ok := w.data != nil || len(w.wall.samples) > 0
	if ok {
		p.stats.windows.Add(1)
	}
	if restart {
		if err := p.startCPU(); err != nil {
			// Someone else holds the CPU profiler: skip windows until it is free again.
			p.logErr("profiling paused", err)
		}
	}
	return w, ok
}

func (p *Profiler) loop() {
	defer close(p.loopDone)
	pprof.SetGoroutineLabels(context.Background()) // not part of the request that called Start
	t := time.NewTicker(p.opts.Window)
	defer t.Stop()
	for {
		select {
		case <-p.stopLoop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.stopped {
				p.mu.Unlock()
				return
			}
			w, ok := p.rotate(true)
			p.mu.Unlock()
			if !ok {
				continue
			}
			select {
			case p.queue <- w:
			default:
				// The previous window is still being exported (slow or unreachable collector):
				// drop this one so memory stays bounded.
				p.stats.dropped.Add(1)
				p.logErr("window dropped", errors.New("previous export still running"))
			}
		}
	}
}

func (p *Profiler) exportLoop() {
	defer close(p.expDone)
	pprof.SetGoroutineLabels(context.Background()) // not part of the request that called Start
	for {
		select {
		case w := <-p.queue:
			_ = p.exportWindow(context.Background(), w)
		case <-p.stopExp:
			// The window loop has ended, so nothing more arrives: export what is queued.
			select {
			case w := <-p.queue:
				_ = p.exportWindow(context.Background(), w)
			default:
			}
			return
		}
	}
}

// exportWindow parses, converts and exports one window. Panics are contained: profiling must
// never take the app down.
func (p *Profiler) exportWindow(ctx context.Context, w window) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("spanprofiler: panic: %v", r)
		}
		if err != nil {
			p.stats.failed.Add(1)
			p.logErr("export failed", err)
		}
	}()
	var prof *profile.Profile
	if w.data != nil {
		if prof, err = profile.ParseData(w.data); err != nil {
			return fmt.Errorf("spanprofiler: parse profile: %w", err)
		}
	}
	pd, nCPU, nWall, err := convertWindow(prof, w.wall, w.start, w.end, ConvertOptions{
		Spans:          DefaultSpanIndex,
		Resource:       p.opts.Resource,
		KeepUnlabelled: p.opts.KeepUnlabelled,
		MainModule:     p.module,
	})
	if err != nil {
		return err
	}
	if nCPU+nWall == 0 {
		p.stats.empty.Add(1)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	if err := p.export(ctx, pd); err != nil {
		return fmt.Errorf("spanprofiler: export %d CPU and %d wall samples: %w", nCPU, nWall, err)
	}
	p.stats.exported.Add(1)
	p.stats.samples.Add(int64(nCPU))
	p.stats.wallSamples.Add(int64(nWall))
	return nil
}

// Flush ends the current window now, exports it, and starts the next one. It returns the export
// error, if any (also logged). Profiling continues.
func (p *Profiler) Flush(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return ErrStopped
	}
	w, ok := p.rotate(true)
	if ok {
		p.inflight.Add(1)
	}
	p.mu.Unlock()
	if !ok {
		return nil
	}
	defer p.inflight.Done()
	return p.exportWindow(ctx, w)
}

// Stop ends profiling, exports the last window and releases the connection. Later calls return nil.
func (p *Profiler) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.mu.Unlock()
	// No tick may land after the last window is taken.
	if p.wall != nil {
		p.wall.stop()
	}
	p.mu.Lock()
	w, ok := p.rotate(false)
	p.mu.Unlock()

	close(p.stopLoop)
	<-p.loopDone
	var err error
	if ok {
		err = p.exportWindow(ctx, w)
	}
	// Wait for exports in flight (bounded by Timeout) so nothing uses the connection after close.
	close(p.stopExp)
	<-p.expDone
	p.inflight.Wait()
	if p.closer != nil {
		err = errors.Join(err, p.closer())
	}
	return err
}

// Stats returns counters since Start.
func (p *Profiler) Stats() Stats {
	return Stats{
		Windows:         p.stats.windows.Load(),
		Exported:        p.stats.exported.Load(),
		Empty:           p.stats.empty.Load(),
		Dropped:         p.stats.dropped.Load(),
		Failed:          p.stats.failed.Load(),
		SamplesExported: p.stats.samples.Load(),
		WallTicks:       p.wallTicks(),
		WallFailed:      p.wallFailed(),
		WallDropped:     p.wallDropped(),
		WallExported:    p.stats.wallSamples.Load(),
	}
}

func (p *Profiler) wallTicks() int64 {
	if p.wall == nil {
		return 0
	}
	return p.wall.ticks.Load()
}

func (p *Profiler) wallDropped() int64 {
	if p.wall == nil {
		return 0
	}
	return p.wall.dropped.Load()
}

func (p *Profiler) wallFailed() int64 {
	if p.wall == nil {
		return 0
	}
	return p.wall.failed.Load()
}

// logErr logs at most once a minute, so an unreachable collector costs one line a minute, not
// one per window.
func (p *Profiler) logErr(msg string, err error) {
	now := time.Now().UnixNano()
	last := p.lastLog.Load()
	if last != 0 && now-last < int64(time.Minute) {
		return
	}
	if !p.lastLog.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("spanprofiler: "+msg, "error", err)
}
