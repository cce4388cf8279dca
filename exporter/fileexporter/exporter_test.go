package fileexporter

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/exporter/fileexporter/internal/metadata"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
	"github.com/slowspan/slowspan/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGoldenJSONLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	runExporter(t, syncConfig(path), alerttest.Traces(t, fixtureAlert()))
	got, err := os.ReadFile(path)
	require.NoError(t, err)

	golden := filepath.Join("testdata", "alert.golden.jsonl")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./exporter/fileexporter -run TestGoldenJSONLine -update")
	assert.Equal(t, string(want), string(got), "the JSON line changed: if on purpose, run with -update and document it in README.md")
	assert.Equal(t, 1, bytes.Count(got, []byte("\n")), "one alert, one line")
}

func TestFilesAndModes(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "state", "alerts", "alerts.jsonl")
	runExporter(t, syncConfig(path), alerttest.Traces(t, alerttest.Numbered(1)))
	assert.Equal(t, os.FileMode(0o600), permOf(t, path))
	assert.Equal(t, os.FileMode(0o700), permOf(t, filepath.Join(root, "state", "alerts")))
	assert.Equal(t, os.FileMode(0o700), permOf(t, filepath.Join(root, "state")))
}

func TestNonAlertSpansIgnored(t *testing.T) {
	tests := []struct {
		name      string
		alerts    []alert.Alert
		wantLines int
	}{
		{name: "only other spans", wantLines: 0},
		{name: "alerts among other spans", alerts: []alert.Alert{alerttest.Numbered(1), alerttest.Numbered(2)}, wantLines: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			td := alerttest.Traces(t, tt.alerts...)
			// A span that merely looks like a request, without the contract.
			td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("GET /slow")
			runExporter(t, syncConfig(path), td, ptrace.NewTraces())
			lines := readAllLines(t, path)
			assert.Len(t, lines, tt.wantLines)
			idCounts(t, lines)
		})
	}
}

func TestDedupByID(t *testing.T) {
	a, b, c := alerttest.Numbered(1), alerttest.Numbered(2), alerttest.Numbered(3)
	tests := []struct {
		name    string
		batches [][]alert.Alert
		want    []alert.Alert
	}{
		{name: "same alert twice in a batch", batches: [][]alert.Alert{{a, a, b}}, want: []alert.Alert{a, b}},
		{name: "redelivered batch", batches: [][]alert.Alert{{a, b}, {a, b}, {b, c}}, want: []alert.Alert{a, b, c}},
		{name: "same span, other reason is another alert", batches: [][]alert.Alert{{a}, {func() alert.Alert {
			e := a
			e.Reason = alert.ReasonEscalation
			e.ID = alert.NewID(e.TraceID, e.SpanID, e.Reason)
			return e
		}()}}, want: []alert.Alert{a, func() alert.Alert {
			e := a
			e.ID = alert.NewID(e.TraceID, e.SpanID, alert.ReasonEscalation)
			return e
		}()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			var batches []ptrace.Traces
			for _, b := range tt.batches {
				batches = append(batches, alerttest.Traces(t, b...))
			}
			runExporter(t, syncConfig(path), batches...)
			requireEachOnce(t, idCounts(t, readAllLines(t, path)), tt.want)
		})
	}
}

// bigAlert carries about 10 KB of attributes, so a few hundred alerts rotate
// a 1 MB file several times.
func bigAlert(i int) alert.Alert {
	a := alerttest.Numbered(i)
	for j := range 5 {
		a.Attributes["padding."+string(rune('a'+j))] = strings.Repeat("x", alert.MaxValueLength-10)
	}
	return a
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name        string
		compress    bool
		maxBackups  int
		wantAll     bool
		wantBackups int // exact when > 0
	}{
		{name: "keep all", maxBackups: 0, wantAll: true},
		{name: "compressed", compress: true, maxBackups: 0, wantAll: true},
		{name: "max backups", maxBackups: 2, wantBackups: 2},
	}
	const n = 600 // about 6 MB
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			cfg := syncConfig(path)
			cfg.Rotation = RotationConfig{MaxMegabytes: 1, MaxBackups: tt.maxBackups, Compress: tt.compress}
			var alerts []alert.Alert
			var batches []ptrace.Traces
			for i := 0; i < n; i += 10 {
				var batch []alert.Alert
				for j := i; j < i+10; j++ {
					batch = append(batch, bigAlert(j))
				}
				alerts = append(alerts, batch...)
				batches = append(batches, alerttest.Traces(t, batch...))
			}
			runExporter(t, cfg, batches...) // Shutdown waits for compression

			w := newLineWriter(cfg, zap.NewNop())
			backups, err := w.backups()
			require.NoError(t, err)
			if tt.wantBackups > 0 {
				assert.Len(t, backups, tt.wantBackups)
			} else {
				assert.GreaterOrEqual(t, len(backups), 4, "rotated several times")
			}
			for _, b := range backups {
				assert.Equal(t, tt.compress, strings.HasSuffix(b.path, ".gz"), b.path)
				assert.Equal(t, os.FileMode(0o600), permOf(t, b.path))
				fi, err := os.Stat(b.path)
				require.NoError(t, err)
				if !tt.compress {
					assert.LessOrEqual(t, fi.Size(), int64(1<<20), "a rotated file stays under max_megabytes")
				}
			}
			counts := idCounts(t, readAllLines(t, path))
			if tt.wantAll {
				requireEachOnce(t, counts, alerts)
			} else {
				for id, c := range counts {
					assert.Equal(t, 1, c, id)
				}
				assert.Contains(t, counts, alerts[n-1].ID, "the newest alert is kept")
			}
		})
	}
}

// TestRestartWithPersistentQueue runs the exporter as a collector would with
// sending_queue on file_storage, restarts it on the same storage and file,
// and redelivers alerts it had written: each alert is in the file once.
func TestRestartWithPersistentQueue(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts", "alerts.jsonl")
	storageDir := filepath.Join(dir, "storage")
	require.NoError(t, os.MkdirAll(storageDir, 0o700))
	storageID := storagetest.NewStorageID("file_storage")

	newCfg := func() *Config {
		cfg := createDefaultConfig()
		cfg.Path = path
		q := exporterhelper.NewDefaultQueueConfig()
		q.StorageID = &storageID
		q.NumConsumers = 3
		cfg.QueueConfig = configoptional.Some(q)
		cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
		return cfg
	}
	run := func(alerts []alert.Alert, batches ...[]alert.Alert) {
		host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", storageDir)
		set := newSettings(nil)
		// A fixed ID, as in a collector config, so the restarted
		// exporter finds its queue.
		set.ID = component.NewIDWithName(metadata.Type, "restart")
		exp := startExporter(t, newCfg(), set, host)
		for _, b := range batches {
			require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, b...)))
		}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			counts := liveIDCounts(c, path)
			for _, a := range alerts {
				assert.Equal(c, 1, counts[a.ID])
			}
		}, 10*time.Second, 20*time.Millisecond)
		require.NoError(t, exp.Shutdown(context.Background()))
		for _, ext := range host.GetExtensions() {
			require.NoError(t, ext.Shutdown(context.Background()))
		}
	}
	var first, second []alert.Alert
	for i := range 20 {
		first = append(first, alerttest.Numbered(i))
	}
	for i := 20; i < 30; i++ {
		second = append(second, alerttest.Numbered(i))
	}
	run(first, first[:10], first[10:])
	// After the restart: redelivered alerts (as a persistent queue replays
	// the batch in flight at a crash) mixed with new ones.
	run(append(first, second...), append(first[5:15:15], second[:5]...), append(first[15:], second[5:]...), first[:3])

	requireEachOnce(t, idCounts(t, readAllLines(t, path)), append(first, second...))
}

// TestRestartSeedsFromFile checks what the restart relies on: the IDs are read
// back from the end of the file, and from the newest rotated file when the
// current one is short.
func TestRestartSeedsFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := syncConfig(path)
	cfg.Rotation.MaxMegabytes = 1
	var alerts []alert.Alert
	var batches []ptrace.Traces
	for i := range 120 { // a bit over 1 MB: the current file is short after one rotation
		alerts = append(alerts, bigAlert(i))
		batches = append(batches, alerttest.Traces(t, bigAlert(i)))
	}
	runExporter(t, cfg, batches...)
	// Redeliver everything after a restart.
	runExporter(t, cfg, batches...)
	requireEachOnce(t, idCounts(t, readAllLines(t, path)), alerts)
}

func TestPartialLineRepairedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	a, b := alerttest.Numbered(1), alerttest.Numbered(2)
	runExporter(t, syncConfig(path), alerttest.Traces(t, a))
	// A crash in the middle of a write (or a power loss) left a fragment.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"schema":1,"id":"` + b.ID + `","reason":"fir`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	core, logs := observer.New(zap.WarnLevel)
	exp := startExporter(t, syncConfig(path), newSettings(zap.New(core)), componenttest.NewNopHost())
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a, b)))
	require.NoError(t, exp.Shutdown(context.Background()))

	requireEachOnce(t, idCounts(t, readAllLines(t, path)), []alert.Alert{a, b})
	require.Equal(t, 1, logs.FilterMessageSnippet("partial last line").Len())
}

func TestWriteFailures(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{name: "parent is a file", path: func(t *testing.T) string {
			parent := filepath.Join(t.TempDir(), "not-a-dir")
			require.NoError(t, os.WriteFile(parent, nil, 0o600))
			return filepath.Join(parent, "alerts.jsonl")
		}},
		// Linux, like the rest of the suite (CI, /proc in the end-to-end tests).
		{name: "disk full", path: func(*testing.T) string { return "/dev/full" }},
		{name: "path is a directory", path: func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			core, logs := observer.New(zap.InfoLevel)
			exp := startExporter(t, syncConfig(path), newSettings(zap.New(core)), componenttest.NewNopHost())
			err := exp.ConsumeTraces(context.Background(), alerttest.Traces(t, alerttest.Numbered(1)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), path, "the error names the file")
			require.NoError(t, exp.Shutdown(context.Background()))

			// Ours, not exporterhelper's "Exporting failed" line.
			errs := logs.FilterLevelExact(zap.ErrorLevel).FilterMessageSnippet("alert").All()
			require.NotEmpty(t, errs)
			for _, e := range errs {
				assert.Equal(t, path, e.ContextMap()["path"], "logged with the path: %s", e.Message)
			}
		})
	}
}

func TestReports(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	reports := filepath.Join(dir, "reports")
	cfg := syncConfig(path)
	cfg.Reports = reports
	cfg.ReportsMaxCount = 2

	withPprof := fixtureAlert()
	withPprof.Profile.Pprof = mustPprof(t)
	plain := alerttest.Numbered(7) // no profile: an HTML page only
	stacksOnly := fixtureAlert()
	stacksOnly.TraceID = strings.Repeat("ab", 16)
	stacksOnly.ID = alert.NewID(stacksOnly.TraceID, stacksOnly.SpanID, stacksOnly.Reason)

	exp := startExporter(t, cfg, newSettings(nil), componenttest.NewNopHost())
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, withPprof)))
	checkReport(t, reports, withPprof, "supplied.Handler")
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, stacksOnly)))
	checkReport(t, reports, stacksOnly, "main.loadOrder")
	assert.Equal(t, os.FileMode(0o700), permOf(t, reports))

	// A third set goes over reports_max_count: the oldest goes.
	old := time.Now().Add(-time.Hour)
	for _, ext := range []string{".html", ".svg", ".folded", ".pb.gz"} {
		require.NoError(t, os.Chtimes(filepath.Join(reports, report.Name(withPprof)+ext), old, old))
	}
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, plain)))
	assert.True(t, report.Exists(reports, report.Name(plain)))
	assert.NoFileExists(t, filepath.Join(reports, report.Name(plain)+".pb.gz"), "no profile, no pprof")
	assert.False(t, report.Exists(reports, report.Name(withPprof)), "oldest set pruned")
	assert.True(t, report.Exists(reports, report.Name(stacksOnly)))

	// A redelivered alert whose report is gone gets it back, but no second line.
	require.NoError(t, os.Remove(filepath.Join(reports, report.Name(stacksOnly)+".html")))
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, stacksOnly)))
	assert.True(t, report.Exists(reports, report.Name(stacksOnly)))
	require.NoError(t, exp.Shutdown(context.Background()))
	requireEachOnce(t, idCounts(t, readAllLines(t, path)), []alert.Alert{withPprof, stacksOnly, plain})
}

func checkReport(t *testing.T, dir string, a alert.Alert, wantFunc string) {
	t.Helper()
	name := report.Name(a)
	assert.Regexp(t, `^\d{8}T\d{6}Z-[0-9a-f]{16}-[0-9a-f]{8}$`, name)
	for _, ext := range []string{".html", ".svg", ".folded", ".pb.gz"} {
		p := filepath.Join(dir, name+ext)
		require.FileExists(t, p)
		assert.Equal(t, os.FileMode(0o600), permOf(t, p))
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".pb.gz"))
	require.NoError(t, err)
	p, err := profile.Parse(bytes.NewReader(data))
	require.NoError(t, err)
	var names []string
	for _, f := range p.Function {
		names = append(names, f.Name)
	}
	assert.Contains(t, names, wantFunc)
	html, err := os.ReadFile(filepath.Join(dir, name+".html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), "<svg")
	assert.Contains(t, string(html), "42 x")
}

func mustPprof(t *testing.T) []byte {
	t.Helper()
	fn := &profile.Function{ID: 1, Name: "supplied.Handler", SystemName: "supplied.Handler"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "cpu", Unit: "nanoseconds"}},
		Sample:     []*profile.Sample{{Location: []*profile.Location{loc}, Value: []int64{10}}},
		Location:   []*profile.Location{loc}, Function: []*profile.Function{fn},
	}
	var b bytes.Buffer
	require.NoError(t, p.Write(&b))
	return b.Bytes()
}

// TestConcurrentConsumers sends overlapping batches through a queue with
// several consumers: lines never interleave and no alert is written twice.
func TestConcurrentConsumers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := createDefaultConfig()
	cfg.Path = path
	cfg.Rotation.MaxMegabytes = 1
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 4
	q.BlockOnOverflow = true
	cfg.QueueConfig = configoptional.Some(q)
	exp := startExporter(t, cfg, newSettings(nil), componenttest.NewNopHost())
	var alerts []alert.Alert
	for i := range 200 {
		alerts = append(alerts, bigAlert(i))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g * 10; i < len(alerts); i += 20 {
				// Overlapping windows: every alert is sent twice.
				assert.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, alerts[i:min(i+20, len(alerts))]...)))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, exp.Shutdown(context.Background())) // drains the in-memory queue
	requireEachOnce(t, idCounts(t, readAllLines(t, path)), alerts)
}

// TestRotationFailsInsteadOfSpinning: a file name that leaves no room for
// the backup's timestamp (the file system's 255-byte limit) must fail the
// rotation with an error naming the path, never loop.
func TestRotationFailsInsteadOfSpinning(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("a", 240)+".jsonl")
	cfg := syncConfig(path)
	cfg.Rotation = RotationConfig{MaxMegabytes: 1}
	w := newLineWriter(cfg, zap.NewNop())
	require.NoError(t, w.open())
	defer func() { assert.NoError(t, w.close()) }()
	line := append([]byte(strings.Repeat("x", 600<<10)), '\n')
	require.NoError(t, w.writeLine(line))
	err := w.writeLine(line) // over 1 MB: rotates
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rotating alert file")
}

// TestDiagnosedAlert: a diagnosed alert's line carries the diagnosis and its
// evidence (golden), its report shows the verdict right under the title, and
// its .folded file counts milliseconds of CPU.
func TestDiagnosedAlert(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	cfg := syncConfig(path)
	cfg.Reports = filepath.Join(dir, "reports")
	// With a timeline: the line carries breakdown.spans.
	a := figurestest.WithSpans(figurestest.Diagnosed(alert.DiagnosisCPU))
	runExporter(t, cfg, alerttest.Traces(t, a))

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	golden := filepath.Join("testdata", "alert-diagnosis.golden.jsonl")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./exporter/fileexporter -run TestDiagnosedAlert -update")
	assert.Equal(t, string(want), string(got), "the JSON line changed: if on purpose, run with -update and document it in README.md")

	page, err := os.ReadFile(filepath.Join(cfg.Reports, report.Name(a)+".html"))
	require.NoError(t, err)
	title := bytes.Index(page, []byte("<h1>Slow request:"))
	verdict := bytes.Index(page, []byte(`<p class="verdict"><strong>CPU`))
	duration := bytes.Index(page, []byte(`<p class="big">`))
	assert.True(t, title >= 0 && title < verdict && verdict < duration, "title %d, verdict %d, duration %d", title, verdict, duration)
	assert.Contains(t, string(page), `<tr><td class="mono">main.computeChecksums (checksum.go:42)</td><td class="num">76 %</td></tr>`)
	// The timeline from the line's spans: 44 spans, one row per group,
	// the 42 SELECTs and the GET as client bars each at its offset.
	assert.Equal(t, 43, bytes.Count(page, []byte(`<div class="wf-bar client" style="left:`)))
	assert.Contains(t, string(page), `script-src &#39;sha256-`, "the flame graph's script, allowed by its hash")

	folded, err := os.ReadFile(filepath.Join(cfg.Reports, report.Name(a)+".folded"))
	require.NoError(t, err)
	assert.Contains(t, string(folded), "net/http.(*conn).serve;main.handleOrder;main.loadOrder 120\n", "milliseconds of CPU")
}
