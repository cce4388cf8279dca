package spanprofiler

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// maxWallTimestamps caps the tick times kept per wall sample: enough to place a wait on the
// request's timeline, bounded for a goroutine stuck for a whole window.
const maxWallTimestamps = 64

// maxWallSamples bounds one window's distinct (span, stack) samples, so a
// flood of short requests, or goroutines that kept a request's labels and
// live on (pools started inside a handler), cannot grow a window and its
// OTLP message without bound; past it, new samples are counted as dropped.
const maxWallSamples = 20000

// wallSample is one (stack, span) of a window: how many goroutine-ticks it was seen in and when.
type wallSample struct {
	locs                      []*profile.Location // leaf first, interned per window by address
	spanID, traceID, spanName string
	// count is goroutine-ticks: a tick that sees n goroutines of the span on this stack adds n.
	count int64
	times []uint64 // unix nanos of the first maxWallTimestamps ticks that saw it
}

// wallWindow is what the sampler collected since the previous take.
type wallWindow struct {
	samples []*wallSample
	period  int64 // nanoseconds between ticks
}

// wallSampler snapshots the labelled goroutine profile at a low rate: goroutines that wait (sleep,
// lock, channel, I/O) get no CPU samples, so this is the only place their waits show up.
type wallSampler struct {
	period time.Duration
	prof   *pprof.Profile
	logErr func(msg string, err error)

	bufMu sync.Mutex // guards the buffers reused between ticks
	raw   bytes.Buffer
	plain bytes.Buffer
	gz    *gzip.Reader
	key   []byte

	mu       sync.Mutex // guards the window below: tick adds, take swaps it out
	bySample map[string]*wallSample
	order    []*wallSample // bySample in first-seen order, so exports are reproducible
	locs     map[uint64]*profile.Location

	ticks, failed, dropped atomic.Int64
	stopOnce               sync.Once
	stopCh, done           chan struct{}
}

func newWallSampler(hz int, logErr func(string, error)) *wallSampler {
	return &wallSampler{
		period:   max(time.Second/time.Duration(hz), time.Millisecond), // above 1 kHz is no longer "low"
		prof:     pprof.Lookup("goroutine"),
		logErr:   logErr,
		bySample: map[string]*wallSample{},
		locs:     map[uint64]*profile.Location{},
		stopCh:   make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// run ticks until stop. It drops the labels it may have inherited from the goroutine that called
// Start, so the sampler never samples itself as part of a request.
func (w *wallSampler) run() {
	defer close(w.done)
	pprof.SetGoroutineLabels(context.Background())
	t := time.NewTicker(w.period)
	defer t.Stop()
	for {
		select {
		case <-w.stopCh:
			return
		case <-t.C:
			w.safeTick(time.Now())
		}
	}
}

// stop ends run and waits for it; safe to call more than once. Without run (manual ticking in
// tests) the caller closes done instead of starting run.
func (w *wallSampler) stop() {
	w.stopOnce.Do(func() { close(w.stopCh) })
	<-w.done
}

// safeTick is tick with panics contained: sampling must never take the app down.
func (w *wallSampler) safeTick(now time.Time) {
	defer func() {
		if r := recover(); r != nil {
			w.failed.Add(1)
			w.logErr("wall sampling failed", fmt.Errorf("spanprofiler: wall tick panic: %v", r))
		}
	}()
	if err := w.tick(now); err != nil {
		w.failed.Add(1)
		w.logErr("wall sampling failed", err)
	}
}

// tick takes one goroutine profile and adds its span-labelled samples to the window.
func (w *wallSampler) tick(now time.Time) error {
	w.bufMu.Lock()
	defer w.bufMu.Unlock()
	prof, err := w.snapshot()
	if err != nil {
		return err
	}
	w.ticks.Add(1)
	ts := uint64(now.UnixNano())
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range prof.Sample {
		if len(s.Value) == 0 || s.Value[0] <= 0 || firstLabel(s, LabelSpanID) == "" {
			continue
		}
		w.add(s, ts)
	}
	return nil
}

// snapshot writes and parses the goroutine profile, reusing the compressed and plain buffers and
// the gzip reader (the parser copies what it keeps). w.bufMu must be held.
func (w *wallSampler) snapshot() (*profile.Profile, error) {
	w.raw.Reset()
	if err := w.prof.WriteTo(&w.raw, 0); err != nil {
		return nil, fmt.Errorf("spanprofiler: write goroutine profile: %w", err)
	}
	var err error
	if w.gz == nil {
		w.gz, err = gzip.NewReader(&w.raw)
	} else {
		err = w.gz.Reset(&w.raw)
	}
	if err != nil {
		return nil, fmt.Errorf("spanprofiler: read goroutine profile: %w", err)
	}
	w.plain.Reset()
	if _, err := io.Copy(&w.plain, w.gz); err != nil {
		return nil, fmt.Errorf("spanprofiler: read goroutine profile: %w", err)
	}
	prof, err := profile.ParseUncompressed(w.plain.Bytes())
	if err != nil {
		return nil, fmt.Errorf("spanprofiler: parse goroutine profile: %w", err)
	}
	return prof, nil
}

// add counts one labelled goroutine-profile sample. The key is the span labels plus the stack's
// addresses, built in a reused buffer (the map lookup with string(key) does not allocate).
// w.mu must be held.
func (w *wallSampler) add(s *profile.Sample, ts uint64) {
	span, tid, name := firstLabel(s, LabelSpanID), firstLabel(s, LabelTraceID), firstLabel(s, LabelSpanName)
	k := w.key[:0]
	k = append(k, span...)
	k = append(append(k, 0), tid...)
	k = append(append(k, 0), name...)
	k = append(k, 0)
	for _, l := range s.Location {
		k = binary.LittleEndian.AppendUint64(k, l.Address)
	}
	w.key = k
	ws, ok := w.bySample[string(k)]
	if !ok {
		if len(w.order) >= maxWallSamples {
			w.dropped.Add(1)
			return
		}
		ws = &wallSample{spanID: span, traceID: tid, spanName: name, locs: w.internStack(s.Location)}
		w.bySample[string(k)] = ws
		w.order = append(w.order, ws)
	}
	ws.count += s.Value[0]
	if len(ws.times) < maxWallTimestamps {
		ws.times = append(ws.times, ts)
	}
}

// internStack maps each location to the window's first location with that address, so stacks
// seen in many ticks share one location each in the exported dictionary.
func (w *wallSampler) internStack(locs []*profile.Location) []*profile.Location {
	out := make([]*profile.Location, len(locs))
	for i, l := range locs {
		if il, ok := w.locs[l.Address]; ok && l.Address != 0 {
			out[i] = il
			continue
		}
		w.locs[l.Address] = l
		out[i] = l
	}
	return out
}

// take returns the window's samples and starts a new window.
func (w *wallSampler) take() wallWindow {
	w.mu.Lock()
	defer w.mu.Unlock()
	ww := wallWindow{samples: w.order, period: int64(w.period)}
	if len(w.order) == 0 {
		return ww
	}
	w.order = nil
	w.bySample = map[string]*wallSample{}
	w.locs = map[uint64]*profile.Location{}
	return ww
}

// convertWindow turns one window into one OTLP message: the CPU profile (when cpu is not nil and
// has samples to keep) and the wall profile (when wall has samples), sharing one dictionary. It
// returns the number of CPU and wall samples written.
func convertWindow(cpu *profile.Profile, wall wallWindow, start, end time.Time, opts ConvertOptions) (pprofile.Profiles, int, int, error) {
	out, c, sp := newOutput(opts)
	var nCPU int
	if cpu != nil {
		var err error
		if nCPU, err = c.cpuProfile(sp.Profiles(), cpu, opts); err != nil {
			return out, 0, 0, err
		}
		if nCPU == 0 {
			// Keep the message to the wall profile, if any: an empty CPU profile says nothing.
			sp.Profiles().RemoveIf(func(pprofile.Profile) bool { return true })
		}
	}
	nWall := c.wallProfile(sp.Profiles(), wall, start, end, opts)
	return out, nCPU, nWall, nil
}

// wallProfile appends the wall profile of a window when it has samples: value = goroutine-ticks
// times the period, timestamps = the tick times. It returns the number of samples.
func (c *converter) wallProfile(dst pprofile.ProfilesSlice, wall wallWindow, start, end time.Time, opts ConvertOptions) int {
	if len(wall.samples) == 0 {
		return 0
	}
	p := c.newProfile(dst, "wall", start.UnixNano(), end.Sub(start).Nanoseconds(), wall.period)
	samples := p.Samples()
	for _, ws := range wall.samples {
		link, attrs, labelled := c.spanRefs(ws.spanID, ws.traceID, ws.spanName, opts.Spans)
		if !labelled {
			continue // the sampler keeps only span-labelled goroutines; a malformed id ends here
		}
		o := samples.AppendEmpty()
		o.SetStackIndex(c.stack(ws.locs))
		o.SetLinkIndex(link)
		o.AttributeIndices().FromRaw(attrs)
		o.Values().Append(ws.count * wall.period)
		o.TimestampsUnixNano().FromRaw(ws.times)
	}
	return samples.Len()
}
