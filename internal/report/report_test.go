package report

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// flameRE matches the inlined flame graph: internal/flamegraph has its own
// tests, and its drawing must be free to change without touching these
// golden files.
var (
	flameRE     = regexp.MustCompile(`(?s)<figure class="flame">.*?</figure>`)
	diffFlameRE = regexp.MustCompile(`(?s)(<figure class="flame-diff">).*?(<figcaption>)`)
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = flameRE.ReplaceAll(got, []byte(`<figure class="flame"><!-- flame graph SVG from internal/flamegraph --></figure>`))
	got = diffFlameRE.ReplaceAll(got, []byte("$1<!-- differential flame graph SVG from internal/flamegraph -->\n$2"))
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test ./internal/report -run %s -update", t.Name())
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file %s (run with -update to accept the change, then review the diff)", t.Name(), path)
	}
}

func TestGoldenReport(t *testing.T) {
	tests := []struct {
		name   string
		alert  func() alert.Alert
		golden string
	}{
		{name: "full", alert: alerttest.Full, golden: "report.golden.html"},
		{name: "minimal", alert: func() alert.Alert {
			a := alerttest.Full()
			a.Breakdown, a.Profile, a.Links, a.Suppressed, a.Rule = nil, nil, alert.Links{}, alert.Suppressed{}, ""
			a.Reason = alert.ReasonFirst
			return a
		}, golden: "report-minimal.golden.html"},
		{name: "storm", alert: func() alert.Alert {
			return alert.Alert{
				ID: "0123456789abcdef0123456789abcdef", Reason: alert.ReasonStorm,
				Key:     alert.Key{Service: "slowspan", Route: "alert storm"},
				TraceID: "0102030405060708090a0b0c0d0e0f10", SpanID: "0102030405060708",
				SpanName: "240 slow-request alerts folded",
				Start:    time.Date(2026, 12, 1, 10, 4, 0, 0, time.UTC),
				Folded: &alert.Folded{Count: 240, Since: time.Date(2026, 12, 1, 10, 4, 0, 0, time.UTC), Omitted: 2,
					Endpoints: []alert.FoldedEndpoint{
						{Key: alert.Key{Service: "shop", Method: "GET", Route: "/search/<script>alert(1)</script>"}, Count: 200, MaxDuration: 2 * time.Second},
						{Key: alert.Key{Service: "shop", Route: "/cart"}, Count: 40, MaxDuration: 1500 * time.Millisecond},
					}},
			}
		}, golden: "report-storm.golden.html"},
		{name: "incident", alert: func() alert.Alert { return incidentAlert(alert.ReasonQuantile) }, golden: "report-incident.golden.html"},
		{name: "incident resolved", alert: func() alert.Alert { return incidentAlert(alert.ReasonResolved) }, golden: "report-resolved.golden.html"},
		// With a timeline (Breakdown.Spans): 44 spans, one row per group.
		{name: "cpu-bound", alert: func() alert.Alert { return figurestest.WithSpans(figurestest.Diagnosed(alert.DiagnosisCPU)) }, golden: "report-cpu.golden.html"},
		// 30 spans, one row each.
		{name: "n+1", alert: func() alert.Alert { return figurestest.WithSpans(figurestest.NPlusOne()) }, golden: "report-nplusone.golden.html"},
		{name: "waiting", alert: figurestest.Waiting, golden: "report-waiting.golden.html"},
		{name: "regression", alert: figurestest.Regression, golden: "report-regression.golden.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Build(tt.alert())
			require.NoError(t, err)
			assert.Empty(t, set.Warnings)
			golden(t, tt.golden, set.HTML)
		})
	}
}

func TestReportContent(t *testing.T) {
	a := alerttest.Full()
	set, err := Build(a)
	require.NoError(t, err)
	html := withoutOwnScript(string(set.HTML))
	for _, want := range []string{
		"Slow request: checkout GET /orders/{id}",
		"2.4s</span> against a threshold of 500ms (4.8&times;)",
		"First slow request since the last alert&#39;s dedup window ended", "(window_expired)",
		"41 slow requests, the slowest 3.1s since 2026-11-17 10:00:00.000 UTC (10 days earlier)",
		`<a href="http://localhost:16686/trace/0102030405060708090a0b0c0d0e0f10"`,
		"0102030405060708090a0b0c0d0e0f10", "0102030405060708",
		`<span class="count">42 x</span> SELECT orders`,
		`style="left:2.083%;width:62.500%"`,
		"http.response.status_code", "service.version",
		"<svg", "main.loadOrder",
		`href="` + set.Name + `.pb.gz"`, `href="` + set.Name + `.folded"`, `href="` + set.Name + `.svg"`,
	} {
		assert.Contains(t, html, want)
	}
	assert.NotContains(t, html, "<script")
	assert.NotContains(t, html, "<?xml")
	assert.NotContains(t, html, "http://fonts", "no external assets")
	assert.NotRegexp(t, regexp.MustCompile(`(?i)\ssrc=|<link|<img|<iframe|<object|<embed|@import|url\(`), html, "no external assets")
}

func TestName(t *testing.T) {
	a := alerttest.Full()
	tests := []struct {
		name string
		id   string
		want string
	}{
		{"hex id", a.ID, a.ID[:8]},
		{"hostile id", "../../etc/passwd", ""},
		{"short id", "ab", ""},
		{"upper-case id", "ABCDEF0123", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a
			b.ID = tt.id
			b.Key.Route = "/<script>/../x"
			b.Start = alerttest.Start.In(time.FixedZone("X", 3600))
			got := Name(b)
			assert.True(t, strings.HasPrefix(got, "20261127T100000Z-"+b.Key.Hash()+"-"), got)
			assert.Regexp(t, memberRE, got+ExtHTML)
			if tt.want != "" {
				assert.Equal(t, "20261127T100000Z-"+b.Key.Hash()+"-"+tt.want, got)
			}
		})
	}
}

// TestFolded: values are the stacks' CPU time in whole milliseconds,
// rounded, whatever nanoseconds the alert carries.
func TestFolded(t *testing.T) {
	got := Folded([]alert.Stack{
		{Frames: []string{"main", "a;b", "c\nd"}, Value: int64(640 * time.Millisecond)},
		{Frames: []string{"main"}, Value: 0},
		{Frames: nil, Value: 5},
		{Frames: []string{"main", "\xff"}, Value: int64(1500 * time.Microsecond)},
		{Frames: []string{"main", "tiny"}, Value: 400_000},
	})
	assert.Equal(t, "main;a_b;c_d 640\nmain;\uFFFD 2\nmain;tiny 0\n", string(got))
}

// suppliedPprof is a real-looking CPU profile with its own function names, so
// the test can tell it from one synthesised from the stacks.
func suppliedPprof(t *testing.T, gzipped bool) []byte {
	t.Helper()
	fn := &profile.Function{ID: 1, Name: "supplied.Handler", SystemName: "supplied.Handler", Filename: "h.go"}
	fn2 := &profile.Function{ID: 2, Name: "supplied.Query", SystemName: "supplied.Query", Filename: "q.go"}
	l1 := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn, Line: 10}}}
	l2 := &profile.Location{ID: 2, Line: []profile.Line{{Function: fn2, Line: 20}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10_000_000,
		Sample:   []*profile.Sample{{Location: []*profile.Location{l2, l1}, Value: []int64{7, 70_000_000}}},
		Location: []*profile.Location{l1, l2}, Function: []*profile.Function{fn, fn2},
	}
	var b bytes.Buffer
	if gzipped {
		require.NoError(t, p.Write(&b))
	} else {
		require.NoError(t, p.WriteUncompressed(&b))
	}
	return b.Bytes()
}

func functionNames(t *testing.T, data []byte) []string {
	t.Helper()
	require.True(t, len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b, "a .pb.gz must be gzipped")
	p, err := profile.Parse(bytes.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, p.CheckValid())
	var names []string
	for _, f := range p.Function {
		names = append(names, f.Name)
	}
	return names
}

func TestPprof(t *testing.T) {
	bomb := func() []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = io.CopyN(zw, zeroReader{}, maxPprofBytes+1)
		_ = zw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name      string
		pprof     []byte
		noStacks  bool
		wantFuncs []string
		wantSame  bool // the supplied bytes are written as they are
		wantWarn  bool
		wantNil   bool
	}{
		{name: "supplied gzipped", pprof: suppliedPprof(t, true), wantFuncs: []string{"supplied.Handler", "supplied.Query"}, wantSame: true},
		{name: "supplied uncompressed", pprof: suppliedPprof(t, false), wantFuncs: []string{"supplied.Handler", "supplied.Query"}},
		{name: "synthesised from stacks", wantFuncs: []string{"net/http.(*conn).serve", "main.loadOrder", "encoding/json.(*decodeState).object", "runtime.mallocgc"}},
		{name: "invalid bytes fall back to stacks", pprof: []byte("not a profile"), wantWarn: true, wantFuncs: []string{"main.loadOrder"}},
		{name: "gzip bomb refused", pprof: bomb(), wantWarn: true, wantFuncs: []string{"main.loadOrder"}},
		{name: "nothing to write", noStacks: true, wantNil: true},
		{name: "invalid bytes and no stacks", pprof: []byte{0x1f, 0x8b, 1, 2}, noStacks: true, wantNil: true, wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alerttest.Full()
			a.Profile.Pprof = tt.pprof
			if tt.noStacks {
				a.Profile.Stacks = nil
			}
			data, warn := Pprof(a)
			if tt.wantWarn {
				assert.Error(t, warn)
			} else {
				assert.NoError(t, warn)
			}
			if tt.wantNil {
				assert.Nil(t, data)
				return
			}
			if tt.wantSame {
				assert.Equal(t, tt.pprof, data)
			}
			names := functionNames(t, data)
			for _, f := range tt.wantFuncs {
				assert.Contains(t, names, f)
			}
		})
	}
}

func TestSynthesizedPprofValues(t *testing.T) {
	a := alerttest.Full()
	data, err := Pprof(a)
	require.NoError(t, err)
	p, err := profile.Parse(bytes.NewReader(data))
	require.NoError(t, err)
	var samples, cpu int64
	for _, s := range p.Sample {
		samples += s.Value[0]
		cpu += s.Value[1]
		assert.Equal(t, "net/http.(*conn).serve", s.Location[len(s.Location)-1].Line[0].Function.Name, "root is the last location")
	}
	assert.Equal(t, int64(62), samples)
	assert.Equal(t, int64(620*time.Millisecond), cpu, "period is cpu time / samples")
	assert.Equal(t, a.Start.UnixNano(), p.TimeNanos)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// incidentAlert is an incident alert as the engine emits it for reason:
// the window's worst request (Full's, with breakdown and profile) while the
// incident fires; a synthetic span without either, 0 long, once it is
// resolved.
func incidentAlert(reason alert.Reason) alert.Alert {
	a := alerttest.Incident()
	full := alerttest.Full()
	a.Reason, a.Breakdown, a.Profile = reason, full.Breakdown, full.Profile
	a.ID = alert.NewID(a.TraceID, a.SpanID, reason)
	switch reason {
	case alert.ReasonRatio:
		a.Incident.Mode = alert.ModeRatio
		a.Incident.Fired, a.Incident.Peak = alert.Figure{Ratio: 0.071}, alert.Figure{Ratio: 0.125}
		a.Window.Quantile, a.Window.QuantileValue, a.Window.Ratio, a.Window.SlowRatio = 0, 0, 0.05, 0.071
	case alert.ReasonResolved:
		a.Incident.State = alert.IncidentResolved
		a.Incident.ResolvedAt = a.Incident.OpenedAt.Add(23 * time.Minute)
		a.Incident.SlowCount = 312
		a.Window.QuantileValue, a.Window.P99, a.Window.SlowCount = 400*time.Millisecond, 400*time.Millisecond, 3
		a.Breakdown, a.Profile, a.Duration, a.Attributes = nil, nil, 0, nil
		a.SpanName = "slowspan incident resolved"
	}
	return a
}

func TestIncidentReport(t *testing.T) {
	tests := []struct {
		name  string
		a     alert.Alert
		want  []string // in this order
		avoid []string
		svg   bool // a flame graph file is written
	}{
		{name: "quantile fires", a: incidentAlert(alert.ReasonQuantile), svg: true, want: []string{
			"<title>Slow endpoint: checkout GET /orders/{id}</title>",
			`<span class="over">p99 2.10 s over 5m ≥ threshold 500 ms</span> (quantile mode)`,
			"<dt>Requests over the last 5m</dt>", "<dt>Slow (&ge; 500 ms)</dt><dd>84 (7.1%)</dd>",
			"<dt>Quantile</dt><dd>p99 2.10 s</dd>", "<dt>Worst request</dt><dd>2.4s</dd>", "<dt>Incident</dt><dd>firing",
			"<h2>Timeline</h2>", `<span class="count">42 x</span>`,
			"<h2>Latency distribution over the last 5m</h2>",
			`<figure class="hist">`, `<g class="marker threshold">`, `<g class="marker quantile">`,
			"the last bar counts the requests of 2.00 s or more",
			`<figure class="flame">`,
			"<summary>Incident</summary>", "<tr><th>Peak</th><td>p99 2.60 s</td></tr>",
			"<summary>Worst request: ids, times and links</summary>",
		}, avoid: []string{"Held back since the last alert", "Resolved"}},
		{name: "ratio fires", a: incidentAlert(alert.ReasonRatio), svg: true, want: []string{
			`<span class="over">7.1% slow over 5m ≥ ratio 5.0% (threshold 500 ms)</span> (ratio mode)`,
			"<dt>Slow ratio</dt><dd>7.1% slow, against a ratio of 5.0%</dd>",
			`<g class="marker threshold">`, "Worst request: ids",
		}, avoid: []string{`<g class="marker quantile">`}},
		{name: "escalation", a: incidentAlert(alert.ReasonEscalation), svg: true, want: []string{
			"<tr><th>Why this alert</th><td>Much slower than the last alert for this endpoint <span class=\"muted mono\">(escalation)</span></td></tr>",
		}},
		{name: "resolved", a: incidentAlert(alert.ReasonResolved), want: []string{
			"<title>✅ Resolved: GET /orders/{id} on checkout after 23m — peak p99 2.60 s, 312 slow requests</title>",
			`<h1 class="resolved">✅ Resolved: GET /orders/{id} on checkout after 23m — peak p99 2.60 s, 312 slow requests</h1>`,
			"<tr><th>Lasted</th><td>23m</td></tr>", "<tr><th>Alert ID</th>",
		}, avoid: []string{"Worst request", "Timeline", "CPU profile", "Span attributes", "<script"}},
		{name: "span mode firing", a: func() alert.Alert {
			a := alerttest.Full()
			a.Incident = &alert.Incident{ID: "i", State: alert.IncidentFiring, Mode: alert.ModeSpan, OpenedAt: alerttest.Start,
				Peak: alert.Figure{Duration: a.Duration}, SlowCount: 2}
			return a
		}(), svg: true, want: []string{
			"<title>Slow request: checkout GET /orders/{id}</title>", "<dt>Held back since the last alert</dt>",
			"<summary>Incident</summary>", "<tr><th>Peak</th><td>2.40 s</td></tr>",
			"<summary>Alert, trace and span ids</summary>", "<th>Held back since the last alert</th>",
		}, avoid: []string{`<figure class="hist">`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Build(tt.a)
			require.NoError(t, err)
			assert.Empty(t, set.Warnings)
			assert.Equal(t, tt.svg, set.SVG != nil)
			html := string(set.HTML)
			checkMarkup(t, html, set.Name)
			rest := html
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				require.GreaterOrEqual(t, i, 0, "%q missing (or out of order)", w)
				rest = rest[i+len(w):]
			}
			for _, w := range tt.avoid {
				assert.NotContains(t, html, w)
			}
		})
	}
}

func TestIncidentReportHostile(t *testing.T) {
	a := alerttest.Incident()
	a.Incident, a.Window = &alert.Incident{ID: "<script>", Mode: "</svg><script>"}, &alert.WindowFigures{Histogram: []alert.HistogramBucket{{}}}
	set, err := Build(a)
	require.NoError(t, err)
	assert.NotContains(t, withoutOwnScript(string(set.HTML)), "<script")
	checkMarkup(t, string(set.HTML), set.Name)

	r := incidentAlert(alert.ReasonResolved)
	r.Key.Route = "/<script>alert(1)</script>"
	set, err = Build(r)
	require.NoError(t, err)
	assert.NotContains(t, withoutOwnScript(string(set.HTML)), "<script")
	assert.Contains(t, string(set.HTML), "<title>✅ Resolved: GET /&lt;script&gt;alert(1)&lt;/script&gt; on checkout")
}

func TestRegressionReport(t *testing.T) {
	set, err := Build(figurestest.Regression())
	require.NoError(t, err)
	page := string(set.HTML)
	assert.Less(t, strings.Index(page, `class="verdict"`), strings.Index(page, "What changed in 1.5.0"), "right under the diagnosis")
	assert.Less(t, strings.Index(page, "What changed in 1.5.0"), strings.Index(page, `class="figs"`))
	assert.Contains(t, page, `<figure class="flame-diff">`+"\n<svg")
	assert.Contains(t, page, "CPU change: 1.4.2 → 1.5.0")
	assert.Contains(t, page, "crypto/sha256.block — 600 ms CPU (87 %) after, new")
	assert.Contains(t, page, "main.render — 30 ms CPU (4 %) after, 30 ms (60 %) before")
	checkMarkup(t, page, set.Name)

	t.Run("without changes or stacks", func(t *testing.T) {
		a := figurestest.Regression()
		a.Regression.Changes = nil
		a.Regression.After.Stacks = nil
		set, err := Build(a)
		require.NoError(t, err)
		page := string(set.HTML)
		assert.Contains(t, page, "new: 1 x </span><span class=\"mono\">postgresql SELECT * FROM audit", "the changes are worked out when missing")
		assert.NotContains(t, page, "flame-diff\">")
	})
	t.Run("a resolved regression has no section", func(t *testing.T) {
		a := figurestest.Regression()
		a.Reason = alert.ReasonResolved
		set, err := Build(a)
		require.NoError(t, err)
		assert.NotContains(t, string(set.HTML), "What changed")
	})
}

func TestRegressionReportHostile(t *testing.T) {
	for _, s := range append(figurestest.HostileTexts, "</svg><script>alert(1)</script>", "</figcaption></figure><script>x</script>") {
		t.Run(s, func(t *testing.T) {
			set, err := Build(figurestest.HostileRegression(s))
			require.NoError(t, err)
			page := withoutOwnScript(string(set.HTML))
			assert.NotRegexp(t, scriptRE, page)
			assert.NotRegexp(t, `<img`, page)
			checkMarkup(t, string(set.HTML), set.Name)
		})
	}
}

// TestScriptHash: the page's one script is the flame graph's, whole, and
// the Content-Security-Policy allows it by the sha256 of its exact text
// (Chromium runs it: see TestReportInBrowser).
func TestScriptHash(t *testing.T) {
	set, err := Build(figurestest.Hostile("</script><script>alert(1)</script>]]>"))
	require.NoError(t, err)
	page := string(set.HTML)
	scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	require.Len(t, scripts, 1)
	assert.Equal(t, flameScript, scripts[0][1])
	sum := sha256.Sum256([]byte(scripts[0][1]))
	assert.Contains(t, page, `script-src &#39;sha256-`+base64.StdEncoding.EncodeToString(sum[:])+`&#39;;`)
	assert.NotContains(t, flameScript, "</", "the script cannot close its element")
	assert.NotContains(t, flameScript, "innerHTML", "the script writes text, never markup")

	set, err = Build(figurestest.NPlusOne()) // no profile, no flame graph
	require.NoError(t, err)
	assert.NotContains(t, string(set.HTML), "<script")
}
