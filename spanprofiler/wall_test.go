package spanprofiler

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/otel/trace"
)

// startManualWall starts a profiler whose wall sampler ticks only when the test says so.
func startManualWall(t *testing.T, c *capture) *Profiler {
	t.Helper()
	p, err := Start(context.Background(), Options{Window: time.Hour, Resource: testResource, Exporter: c.export, Logger: discardLogger(), manualWall: true})
	require.NoError(t, err)
	require.NotNil(t, p.wall)
	return p
}

// inSpan runs f on a new goroutine labelled as otel-profiling-go labels a request's goroutine, and
// returns a channel closed when f returns.
func inSpan(sc trace.SpanContext, name string, f func()) <-chan struct{} {
	done := make(chan struct{})
	labels := pprof.Labels(LabelSpanID, sc.SpanID().String(), LabelTraceID, sc.TraceID().String(), LabelSpanName, name)
	go pprof.Do(context.Background(), labels, func(context.Context) {
		defer close(done)
		f()
	})
	return done
}

//go:noinline
func waitOnMutex(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock() //nolint:staticcheck // the wait is the point
}

//go:noinline
func waitOnChannel(ch chan struct{}) { <-ch }

//go:noinline
func unlabelledWait(ch chan struct{}) { <-ch }

// stackHas reports whether some frame of locs is in function fn.
func stackHas(w *wallSample, fn string) bool {
	for _, l := range w.locs {
		for _, ln := range l.Line {
			if ln.Function != nil && ln.Function.Name == fn {
				return true
			}
		}
	}
	return false
}

// tickUntil ticks the sampler until the current window holds a sample of span with fn on its
// stack, i.e. until the goroutine is really blocked there. Polling the condition, not sleeping.
func tickUntil(t *testing.T, w *wallSampler, span trace.SpanID, fn string) {
	t.Helper()
	for range 10000 {
		require.NoError(t, w.tick(time.Now()))
		w.mu.Lock()
		for _, s := range w.order {
			if s.spanID == span.String() && stackHas(s, fn) {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
		runtime.Gosched()
	}
	t.Fatalf("span %s never seen in %s", span, fn)
}

// wallView is one exported wall sample, resolved through the dictionary.
type wallView struct {
	link   pprofile.Link
	attrs  map[string]string
	frames []string // "function file:line", leaf first, every inlined line
	value  int64
	times  []uint64
}

// wallSamples returns the samples of the wall profiles of the captured messages, checking their header, and
// their samples.
func wallSamples(t *testing.T, got []pprofile.Profiles, period int64) []wallView {
	t.Helper()
	var out []wallView
	for _, pd := range got {
		d := pd.Dictionary()
		str := func(i int32) string { return d.StringTable().At(int(i)) }
		for _, rp := range pd.ResourceProfiles().All() {
			mod, ok := rp.Resource().Attributes().Get(AttrMainModule)
			assert.Equal(t, mainModule() != "", ok)
			assert.Equal(t, mainModule(), mod.Str())
			for _, p := range rp.ScopeProfiles().At(0).Profiles().All() {
				if str(p.SampleType().TypeStrindex()) != "wall" {
					continue
				}
				assert.Equal(t, "nanoseconds", str(p.SampleType().UnitStrindex()))
				assert.Equal(t, "wall", str(p.PeriodType().TypeStrindex()))
				assert.Equal(t, "nanoseconds", str(p.PeriodType().UnitStrindex()))
				assert.Equal(t, period, p.Period())
				assert.NotZero(t, p.Time())
				for _, s := range p.Samples().All() {
					v := wallView{link: d.LinkTable().At(int(s.LinkIndex())), attrs: map[string]string{}, value: s.Values().At(0), times: s.TimestampsUnixNano().AsRaw()}
					for _, ai := range s.AttributeIndices().All() {
						a := d.AttributeTable().At(int(ai))
						v.attrs[str(a.KeyStrindex())] = a.Value().Str()
					}
					for _, li := range d.StackTable().At(int(s.StackIndex())).LocationIndices().All() {
						for _, ln := range d.LocationTable().At(int(li)).Lines().All() {
							f := d.FunctionTable().At(int(ln.FunctionIndex()))
							v.frames = append(v.frames, str(f.NameStrindex())+" "+str(f.FilenameStrindex())+":"+strconv.FormatInt(ln.Line(), 10))
						}
					}
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// frameIn returns the first frame of v in function fn ("" when none).
func frameIn(v wallView, fn string) string {
	for _, f := range v.frames {
		if strings.HasPrefix(f, fn+" ") {
			return f
		}
	}
	return ""
}

// bySpan returns the exported wall samples of span whose stack has fn.
func bySpan(all []wallView, span trace.SpanID, fn string) []wallView {
	var out []wallView
	for _, v := range all {
		if v.link.SpanID() == pcommon.SpanID(span) && frameIn(v, fn) != "" {
			out = append(out, v)
		}
	}
	return out
}

const testWallPeriod = int64(time.Second / DefaultWallHz)

func TestWallWaitsLinkedToTheirSpans(t *testing.T) {
	var c capture
	p := startManualWall(t, &c)
	scMu := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceA, SpanID: spanA, TraceFlags: trace.FlagsSampled})
	scCh := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceB, SpanID: spanB, TraceFlags: trace.FlagsSampled})

	var mu sync.Mutex
	mu.Lock()
	ch, other := make(chan struct{}), make(chan struct{})
	doneMu := inSpan(scMu, "GET /lock", func() { waitOnMutex(&mu) })
	doneCh := inSpan(scCh, "GET /chan", func() { waitOnChannel(ch) })
	doneOther := make(chan struct{})
	go func() { defer close(doneOther); unlabelledWait(other) }()

	tickUntil(t, p.wall, spanA, "sync.(*Mutex).Lock")
	tickUntil(t, p.wall, spanB, "runtime.chanrecv1")
	require.NoError(t, p.Flush(context.Background()))
	mu.Unlock()
	close(ch)
	close(other)
	<-doneMu
	<-doneCh
	<-doneOther
	require.NoError(t, p.Stop(context.Background()))

	// Flush's message, although no labelled goroutine burned CPU. (Stop's may add a CPU-only one
	// if the released goroutines happen to be sampled on their way out.)
	got := c.all()
	require.NotEmpty(t, got)
	all := wallSamples(t, got[:1], testWallPeriod)
	for _, v := range all {
		assert.Empty(t, frameIn(v, "github.com/slowspan/slowspan/spanprofiler.unlabelledWait"), "unlabelled goroutine exported")
		assert.Zero(t, v.value%testWallPeriod)
		assert.Len(t, v.times, int(min(v.value/testWallPeriod, maxWallTimestamps)))
	}

	locked := bySpan(all, spanA, "sync.(*Mutex).Lock")
	require.NotEmpty(t, locked, "no wall sample of span A in sync.(*Mutex).Lock: %+v", all)
	v := locked[0]
	t.Logf("span A's blocked stack: %q", v.frames)
	assert.Equal(t, pcommon.TraceID(traceA), v.link.TraceID())
	assert.Equal(t, map[string]string{AttrSpanID: spanA.String(), AttrSpanName: "GET /lock"}, v.attrs)
	caller := frameIn(v, "github.com/slowspan/slowspan/spanprofiler.waitOnMutex")
	assert.Regexp(t, `/wall_test\.go:[1-9][0-9]*$`, caller, "caller with file and line: %v", v.frames)
	assert.Regexp(t, `sync\.\(\*Mutex\)\.Lock .*\.go:[1-9][0-9]*$`, frameIn(v, "sync.(*Mutex).Lock"))

	recv := bySpan(all, spanB, "runtime.chanrecv1")
	require.NotEmpty(t, recv, "no wall sample of span B in runtime.chanrecv1: %+v", all)
	assert.Equal(t, pcommon.TraceID(traceB), recv[0].link.TraceID())
	assert.Regexp(t, `/wall_test\.go:[1-9][0-9]*$`, frameIn(recv[0], "github.com/slowspan/slowspan/spanprofiler.waitOnChannel"))

	st := p.Stats()
	assert.Positive(t, st.WallTicks)
	assert.Equal(t, int64(len(all)), st.WallExported)
	assert.Positive(t, st.Exported)
}

func TestWallTimestampsCapped(t *testing.T) {
	var c capture
	p := startManualWall(t, &c)
	ch := make(chan struct{})
	done := inSpan(trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceA, SpanID: spanA}), "GET /wait", func() { waitOnChannel(ch) })
	tickUntil(t, p.wall, spanA, "runtime.chanrecv1")
	p.wall.take() // start counting from a window where the goroutine is already blocked

	const ticks, base = maxWallTimestamps + 6, int64(1_700_000_000_000_000_000)
	for i := range int64(ticks) {
		require.NoError(t, p.wall.tick(time.Unix(0, base+i)))
	}
	// Stop exports the last window, wall samples included.
	require.NoError(t, p.Stop(context.Background()))
	close(ch)
	<-done

	blocked := bySpan(wallSamples(t, c.all(), testWallPeriod), spanA, "runtime.chanrecv1")
	require.Len(t, blocked, 1)
	assert.Equal(t, ticks*testWallPeriod, blocked[0].value)
	want := make([]uint64, maxWallTimestamps)
	for i := range want {
		want[i] = uint64(base) + uint64(i)
	}
	assert.Equal(t, want, blocked[0].times, "the first 64 tick times")
	assert.Equal(t, int64(1), p.Stats().WallExported)
}

func TestWallDisabled(t *testing.T) {
	var c capture
	p, err := Start(context.Background(), Options{Window: time.Hour, WallHz: -1, Exporter: c.export})
	require.NoError(t, err)
	assert.Nil(t, p.wall, "no sampler")
	require.NoError(t, p.Stop(context.Background()))
	assert.Zero(t, p.Stats().WallTicks)
}

func TestWallSamplerTicksOnItsOwn(t *testing.T) {
	var c capture
	p, err := Start(context.Background(), Options{Window: time.Hour, WallHz: 1000, Exporter: c.export})
	require.NoError(t, err)
	assert.Equal(t, time.Millisecond, p.wall.period)
	ch := make(chan struct{})
	done := inSpan(trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceA, SpanID: spanA}), "GET /wait", func() { waitOnChannel(ch) })
	require.Eventually(t, func() bool { return p.Stats().WallTicks >= 3 }, 10*time.Second, time.Millisecond)
	require.NoError(t, p.Stop(context.Background()))
	close(ch)
	<-done
	select {
	case <-p.wall.done:
	default:
		t.Fatal("the sampler goroutine still runs after Stop")
	}
	assert.Zero(t, p.Stats().WallFailed)
}

func TestWallTickPanicIsContained(t *testing.T) {
	logged := 0
	w := newWallSampler(DefaultWallHz, func(string, error) { logged++ })
	w.prof = nil // WriteTo on a nil profile panics
	assert.NotPanics(t, func() { w.safeTick(time.Now()) })
	assert.Equal(t, int64(1), w.failed.Load())
	assert.Equal(t, 1, logged)
}

func TestWallDefaultRate(t *testing.T) {
	p, err := Start(context.Background(), Options{Window: time.Hour, Exporter: (&capture{}).export})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Stop(context.Background())) }()
	require.NotNil(t, p.wall)
	assert.Equal(t, time.Second/DefaultWallHz, p.wall.period)
}

func TestWallAndCPUShareOneMessage(t *testing.T) {
	var c capture
	p := startManualWall(t, &c)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceA, SpanID: spanA, TraceFlags: trace.FlagsSampled})
	ch := make(chan struct{})
	done := inSpan(sc, "GET /both", func() {
		burnCPUForTest(200 * time.Millisecond) // at 100 Hz, ~20 CPU samples of this span
		waitOnChannel(ch)
	})
	tickUntil(t, p.wall, spanA, "runtime.chanrecv1")
	require.NoError(t, p.Flush(context.Background()))
	close(ch)
	<-done
	require.NoError(t, p.Stop(context.Background()))

	got := c.all()
	require.NotEmpty(t, got)
	pd := got[0]
	d := pd.Dictionary()
	require.Equal(t, 1, pd.ResourceProfiles().Len())
	profiles := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles()
	require.Equal(t, 2, profiles.Len(), "the CPU and the wall profile in one message")
	links := map[string]int32{}
	for _, pr := range profiles.All() {
		typ := d.StringTable().At(int(pr.SampleType().TypeStrindex()))
		for _, s := range pr.Samples().All() {
			if d.LinkTable().At(int(s.LinkIndex())).SpanID() == pcommon.SpanID(spanA) {
				links[typ] = s.LinkIndex()
			}
		}
	}
	require.Contains(t, links, "cpu")
	require.Contains(t, links, "wall")
	assert.Equal(t, links["cpu"], links["wall"], "one dictionary: one link entry for the span")
	assert.NotEmpty(t, bySpan(wallSamples(t, got[:1], testWallPeriod), spanA, "github.com/slowspan/slowspan/spanprofiler.waitOnChannel"))
}

// TestWallWindowBounded: a window keeps at most maxWallSamples distinct
// samples, counts the rest as dropped, and still adds to those it holds.
func TestWallWindowBounded(t *testing.T) {
	w := newWallSampler(DefaultWallHz, func(string, error) {})
	sample := func(i int) *profile.Sample {
		return &profile.Sample{Value: []int64{1}, Label: map[string][]string{LabelSpanID: {fmt.Sprintf("%016x", i)}}}
	}
	w.mu.Lock()
	for i := range maxWallSamples + 5 {
		w.add(sample(i), uint64(i))
	}
	w.add(sample(0), 1) // one it holds: counted
	w.mu.Unlock()
	assert.Len(t, w.order, maxWallSamples)
	assert.Equal(t, int64(5), w.dropped.Load())
	assert.Equal(t, int64(2), w.order[0].count)
}
