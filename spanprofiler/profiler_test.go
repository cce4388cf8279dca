package spanprofiler

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// burnCPUForTest spins until d of wall time has passed, hashing so the work cannot be optimised
// away. noinline keeps it a frame of its own in the profile.
//
//go:noinline
func burnCPUForTest(d time.Duration) byte {
	var h [32]byte
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 1000 {
			h = sha256.Sum256(h[:])
		}
	}
	return h[0]
}

// capture is an Exporter hook that keeps what it is given.
type capture struct {
	mu  sync.Mutex
	got []pprofile.Profiles
}

func (c *capture) export(_ context.Context, p pprofile.Profiles) error {
	cp := pprofile.NewProfiles()
	p.CopyTo(cp)
	c.mu.Lock()
	c.got = append(c.got, cp)
	c.mu.Unlock()
	return nil
}

func (c *capture) all() []pprofile.Profiles {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pprofile.Profiles(nil), c.got...)
}

// testApp is an otelhttp server whose handler burns CPU, traced into a span recorder.
type testApp struct {
	srv *httptest.Server
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

func newTestApp(t *testing.T) *testApp {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte{burnCPUForTest(300 * time.Millisecond)})
	}), "GET /burn", otelhttp.WithTracerProvider(WrapTracerProvider(tp)))
	a := &testApp{srv: httptest.NewServer(h), rec: rec, tp: tp}
	t.Cleanup(func() {
		a.srv.Close()
		_ = tp.Shutdown(context.Background())
	})
	return a
}

// request sends one request and returns the server span it produced.
func (a *testApp) request(t *testing.T) trace.SpanContext {
	t.Helper()
	before := len(a.rec.Ended())
	resp, err := a.srv.Client().Get(a.srv.URL + "/burn")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	// otelhttp ends the span before the response completes, so it is recorded by now.
	ended := a.rec.Ended()
	require.Greater(t, len(ended), before)
	for _, s := range ended[before:] {
		if s.SpanKind() == trace.SpanKindServer {
			return s.SpanContext()
		}
	}
	t.Fatal("no server span recorded")
	return trace.SpanContext{}
}

// findLinked reports whether some sample links to sc and has burnCPUForTest on its stack, and
// checks the span_id attribute of such samples.
func findLinked(t *testing.T, all []pprofile.Profiles, sc trace.SpanContext) bool {
	t.Helper()
	for _, pd := range all {
		d := pd.Dictionary()
		str := func(i int32) string { return d.StringTable().At(int(i)) }
		for _, rp := range pd.ResourceProfiles().All() {
			svc, _ := rp.Resource().Attributes().Get("service.name")
			assert.Equal(t, "burner", svc.Str())
			for _, sp := range rp.ScopeProfiles().All() {
				for _, p := range sp.Profiles().All() {
					for _, s := range p.Samples().All() {
						l := d.LinkTable().At(int(s.LinkIndex()))
						if s.LinkIndex() == 0 || l.SpanID() != pcommon.SpanID(sc.SpanID()) {
							continue
						}
						assert.Equal(t, pcommon.TraceID(sc.TraceID()), l.TraceID())
						attrs := map[string]string{}
						for _, ai := range s.AttributeIndices().All() {
							a := d.AttributeTable().At(int(ai))
							attrs[str(a.KeyStrindex())] = a.Value().Str()
						}
						assert.Equal(t, sc.SpanID().String(), attrs[AttrSpanID])
						assert.Equal(t, "GET", attrs[AttrSpanName], "otelhttp names server spans by method")
						for _, li := range d.StackTable().At(int(s.StackIndex())).LocationIndices().All() {
							for _, ln := range d.LocationTable().At(int(li)).Lines().All() {
								if strings.HasSuffix(str(d.FunctionTable().At(int(ln.FunctionIndex())).NameStrindex()), ".burnCPUForTest") {
									return true
								}
							}
						}
					}
				}
			}
		}
	}
	return false
}

var testResource = sdkresource.NewSchemaless(attribute.String("service.name", "burner"))

func TestEndToEndExporterHook(t *testing.T) {
	app := newTestApp(t)
	var c capture
	p, err := Start(context.Background(), Options{Window: time.Hour, Resource: testResource, Exporter: c.export})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Stop(context.Background())) }()

	sc1 := app.request(t)
	sc2 := app.request(t)
	require.NoError(t, p.Flush(context.Background()))

	got := c.all()
	require.Len(t, got, 1)
	assert.True(t, findLinked(t, got, sc1), "no sample linked to span %s with burnCPUForTest", sc1.SpanID())
	assert.True(t, findLinked(t, got, sc2), "no sample linked to span %s with burnCPUForTest", sc2.SpanID())
	// The fallback index saw the local roots too.
	tid, ok := DefaultSpanIndex.TraceID(sc1.SpanID())
	assert.True(t, ok)
	assert.Equal(t, sc1.TraceID(), tid)
	st := p.Stats()
	assert.Equal(t, int64(1), st.Exported)
	assert.Positive(t, st.SamplesExported)
}

// profilesServer is an in-process OTLP profiles gRPC receiver.
type profilesServer struct {
	pprofileotlp.UnimplementedGRPCServer
	c capture
}

func (s *profilesServer) Export(ctx context.Context, req pprofileotlp.ExportRequest) (pprofileotlp.ExportResponse, error) {
	return pprofileotlp.NewExportResponse(), s.c.export(ctx, req.Profiles())
}

func TestEndToEndGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	recv := &profilesServer{}
	pprofileotlp.RegisterGRPCServer(gs, recv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	defer func() {
		gs.Stop()
		require.NoError(t, <-served)
	}()

	app := newTestApp(t)
	p, err := Start(context.Background(), Options{Endpoint: lis.Addr().String(), Insecure: true, Window: time.Hour, Resource: testResource})
	require.NoError(t, err)
	sc := app.request(t)
	// Stop exports the last window synchronously: the server has it when Stop returns.
	require.NoError(t, p.Stop(context.Background()))
	assert.True(t, findLinked(t, recv.c.all(), sc), "no sample linked to span %s with burnCPUForTest", sc.SpanID())
	assert.ErrorIs(t, p.Flush(context.Background()), ErrStopped)
	assert.NoError(t, p.Stop(context.Background()), "second Stop is a no-op")
}

func TestExportFailureDoesNotStopProfiling(t *testing.T) {
	// Nothing listens on this port (we close the listener first): real gRPC exports fail.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, lis.Close())
	dead, err := newGRPCExporter(lis.Addr().String(), true)
	require.NoError(t, err)
	defer func() { _ = dead.close() }()
	var c capture
	var failing atomic.Bool
	failing.Store(true)
	exp := func(ctx context.Context, pd pprofile.Profiles) error {
		if failing.Load() {
			return dead.export(ctx, pd)
		}
		return c.export(ctx, pd)
	}

	app := newTestApp(t)
	p, err := Start(context.Background(), Options{Window: time.Hour, Timeout: 5 * time.Second, Resource: testResource, Logger: discardLogger(), Exporter: exp})
	require.NoError(t, err)
	app.request(t)
	assert.Error(t, p.Flush(context.Background()))
	failing.Store(false) // the collector is back: the next window is still profiled and exported
	sc := app.request(t)
	require.NoError(t, p.Stop(context.Background()))
	assert.True(t, findLinked(t, c.all(), sc))
	assert.Equal(t, int64(1), p.Stats().Failed)
	assert.Equal(t, int64(1), p.Stats().Exported)
}

func TestWindowsRotateAndDropWhenExportIsSlow(t *testing.T) {
	release := make(chan struct{})
	exported := make(chan struct{}, 16)
	block := func(ctx context.Context, _ pprofile.Profiles) error {
		exported <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	app := newTestApp(t)
	p, err := Start(context.Background(), Options{Window: 50 * time.Millisecond, Resource: testResource, Exporter: block, Logger: discardLogger()})
	require.NoError(t, err)
	// Each request spans several windows; the first non-empty one blocks the exporter, the next
	// one waits in the queue and any later one is dropped.
	for i := 0; p.Stats().Dropped == 0; i++ {
		require.Less(t, i, 100, "no window dropped")
		app.request(t)
	}
	<-exported
	close(release)
	require.NoError(t, p.Stop(context.Background()))
	st := p.Stats()
	assert.Positive(t, st.Windows)
	assert.Positive(t, st.Dropped)
	assert.Positive(t, st.Exported)
}

func TestStartFailsWhenCPUProfilerBusy(t *testing.T) {
	p, err := Start(context.Background(), Options{Exporter: (&capture{}).export})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Stop(context.Background())) }()
	_, err = Start(context.Background(), Options{Exporter: (&capture{}).export})
	assert.ErrorContains(t, err, "cpu profiling already in use")
}
