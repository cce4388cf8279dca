package report

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
)

const chromiumPath = "/usr/bin/chromium"

// flushMarker is logged by the test after every check: the tab delivers its
// events in order, so once the listener sees it, every console, log and
// exception event the page caused before has been seen too.
const flushMarker = "slowspan-report-test: flush"

// pageMetrics is what the page looks like once laid out, measured inside the
// browser.
type pageMetrics struct {
	FlameRects   int       `json:"flameRects"`
	FlameWidth   float64   `json:"flameWidth"`
	BarWidths    []float64 `json:"barWidths"`
	TrackWidth   float64   `json:"trackWidth"`
	Scripts      int       `json:"scripts"`
	Title        string    `json:"title"`
	CountLabels  []string  `json:"countLabels"`
	ExternalRefs int       `json:"externalRefs"`
	HistBars     []float64 `json:"histBars"`
	HistWidth    float64   `json:"histWidth"`
	BarLefts     []float64 `json:"barLefts"`
	RowBars      []int     `json:"rowBars"` // bars in each child row
}

const measureJS = `(() => {
  const visible = (el) => { const b = el.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
  const flame = document.querySelector('.flame svg');
  return {
    flameRects: [...document.querySelectorAll('.flame svg rect')].filter(visible).length,
    flameWidth: flame ? flame.getBoundingClientRect().width : 0,
    barWidths: [...document.querySelectorAll('.wf-bar')].map((b) => b.getBoundingClientRect().width),
    barLefts: [...document.querySelectorAll('.wf-bar')].map((b) => b.getBoundingClientRect().left),
    rowBars: [...document.querySelectorAll('.wf .wf-track')].slice(1).map((t) => t.querySelectorAll('.wf-bar').length),
    trackWidth: document.querySelector('.wf-track').getBoundingClientRect().width,
    scripts: document.scripts.length,
    title: document.title,
    countLabels: [...document.querySelectorAll('.wf .count')].map((c) => c.textContent),
    externalRefs: performance.getEntriesByType('resource').length,
    histBars: [...document.querySelectorAll('.hist svg rect.bar')].map((r) => r.getBoundingClientRect().width),
    histWidth: (document.querySelector('.hist svg') || {getBoundingClientRect: () => ({width: 0})}).getBoundingClientRect().width,
  };
})()`

// viewport is the first screen a person sees: a laptop browser window.
const viewportW, viewportH = 1280, 800

// firstScreen is where the page's top parts are, measured at 1280x800
// before any scroll.
type firstScreen struct {
	ScrollY      float64 `json:"scrollY"`
	InnerHeight  float64 `json:"innerHeight"`
	VerdictTop   float64 `json:"verdictTop"`
	VerdictBot   float64 `json:"verdictBottom"`
	FiguresTop   float64 `json:"figuresTop"`
	FiguresBot   float64 `json:"figuresBottom"`
	WaterfallTop float64 `json:"waterfallTop"` // the first child span's row, -1 without
	FlameTop     float64 `json:"flameTop"`     // -1 without a flame graph
	HistTop      float64 `json:"histTop"`      // -1 without a histogram
	IDsTop       float64 `json:"idsTop"`
	// ChangesBot is the bottom of a regression's changes table, -1 without.
	ChangesBot  float64  `json:"changesBottom"`
	IDsOpen     bool     `json:"idsOpen"`
	Interactive bool     `json:"interactive"`
	CSP         string   `json:"csp"`
	Violations  []string `json:"violations"`
}

const firstScreenJS = `(() => {
  const top = (sel, bottom) => { const el = document.querySelector(sel); if (!el) return -1; const b = el.getBoundingClientRect(); return bottom ? b.bottom : b.top; };
  return {
    scrollY: window.scrollY, innerHeight: window.innerHeight,
    verdictTop: top('header .verdict'), verdictBottom: top('header .verdict', true),
    figuresTop: top('.figs'), figuresBottom: top('.figs', true),
    waterfallTop: top('.wf .wf-track ~ .wf-label'),
    flameTop: top('.flame svg'), histTop: top('.hist svg'), idsTop: top('details.ids'),
    changesBottom: top('.regression table.changes', true),
    idsOpen: !!document.querySelector('details.ids[open]'),
    interactive: !!document.querySelector('figure.flame.interactive') && !document.getElementById('fg-controls').hidden,
    csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]').content,
    violations: window.__violations || [],
  };
})()`

// flameState is the flame graph as drawn: every frame's name, whether it
// shows, its width, its label and its fill.
type flameState struct {
	Frames []struct {
		Name    string  `json:"name"`
		Shown   bool    `json:"shown"`
		X       float64 `json:"x"`
		Width   float64 `json:"width"`
		Label   string  `json:"label"`
		Fill    string  `json:"fill"`
		Match   bool    `json:"match"`
		Fits    bool    `json:"fits"` // the full name fits the frame
		Overrun bool    `json:"overrun"`
	} `json:"frames"`
	Match string `json:"match"`
	Reset bool   `json:"resetDisabled"`
}

const flameStateJS = `(() => {
  const svg = document.querySelector('.flame svg');
  const probe = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  probe.textContent = 'MMMMMMMMMM'; svg.appendChild(probe);
  const charW = probe.getComputedTextLength() / 10; svg.removeChild(probe);
  return {
    frames: [...svg.querySelectorAll('g.frame')].map((g) => {
      const r = g.querySelector('rect'), t = g.querySelector('text');
      const tip = g.querySelector('title').textContent;
      const name = tip.slice(0, tip.lastIndexOf(' \u2014 '));
      const w = Number(r.getAttribute('width'));
      const label = t ? t.textContent : '';
      return {name, shown: g.getBoundingClientRect().width > 0, x: Number(r.getAttribute('x')), width: w,
        label, fill: r.getAttribute('fill'), match: g.classList.contains('match'),
        fits: name.length * charW <= w - 6,
        overrun: t && label ? t.getComputedTextLength() > w - 2 : false};
    }),
    match: document.getElementById('fg-match').textContent,
    resetDisabled: document.getElementById('fg-reset').disabled,
  };
})()`

// browserCase is one alert opened in Chromium and what its page must show.
type browserCase struct {
	name     string
	a        alert.Alert
	title    string
	histBars int
	// bars is the number of waterfall bars, the request's included;
	// sequential, that the child spans' bars follow one another.
	bars       int
	sequential bool
	// firstScreen lists what must be in the 1280x800 viewport:
	// "waterfall" (the first child row's top), "flame" (the graph's top).
	firstScreen []string
	// zoom is a frame to click: it must then fill the graph's width.
	zoom, search string
	check        func(t *testing.T, m pageMetrics)
}

// TestReportInBrowser opens written reports in headless Chromium at
// 1280x800 and checks what the first screen shows, the waterfall, the
// histogram and the interactive flame graph (zoom, search, reset), and that
// the page logs no error, violates no CSP directive and makes no network
// request but its own load.
func TestReportInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test needs Chromium at %s: install it with `apt-get update && apt-get install -y chromium` (make test does it in .ci/run): %v", chromiumPath, err)
	}
	tests := []browserCase{
		{name: "slow request", a: alerttest.Full(), title: "Slow request: checkout GET /orders/{id}", bars: 4,
			firstScreen: []string{"waterfall"}, zoom: "main.handleOrder", search: "main.",
			check: func(t *testing.T, m pageMetrics) {
				// An alert without Breakdown.Spans: one bar per group.
				assert.InDelta(t, m.TrackWidth*0.625, m.BarWidths[1], 2, "the 42 x SELECT bar is 1.5s of 2.4s")
				assert.Contains(t, m.CountLabels, "42 x")
			}},
		{name: "incident", a: incidentAlert(alert.ReasonQuantile), title: "Slow endpoint: checkout GET /orders/{id}", histBars: 6, bars: 4,
			firstScreen: []string{"waterfall"}},
		{name: "nplusone", a: figurestest.WithSpans(figurestest.NPlusOne()), title: "Slow request: checkout GET /orders/{id}",
			bars: 31, sequential: true, firstScreen: []string{"waterfall"},
			check: func(t *testing.T, m pageMetrics) {
				assert.Contains(t, m.CountLabels, "1/30")
				assert.Contains(t, m.CountLabels, "30/30")
			}},
		{name: "cpu", a: figurestest.WithSpans(figurestest.Diagnosed(alert.DiagnosisCPU)), title: "Slow request: checkout GET /orders/{id}",
			bars: 1 + 44, firstScreen: []string{"flame"}, zoom: "main.loadOrder", search: "json",
			check: func(t *testing.T, m pageMetrics) {
				// 44 spans: one row per group, the 42 SELECTs one after
				// another in the first.
				require.Len(t, m.RowBars, 3)
				assert.Equal(t, 42, m.RowBars[0])
				assert.Contains(t, m.CountLabels, "42 x")
			}},
		{name: "regression", a: figurestest.Regression(), title: "Slower since 1.5.0: checkout GET /orders/{id}", histBars: 6, bars: 5},
		{name: "hostile", a: hostileTimeline(), title: "Slow request: checkout GET /</script><script>alert(1)</script>",
			bars: 1 + 44, zoom: hostileFrame, search: "script",
			check: func(t *testing.T, m pageMetrics) {
				assert.Contains(t, m.CountLabels, "42 x")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkInBrowser(t, tt) })
	}
}

// hostileFrame is a frame name that tries to leave the SVG, the page and
// the script.
const hostileFrame = `main.</script><script>alert("x")</script>]]><!--'"` + "`"

// hostileTimeline is an alert with hostile text everywhere the page shows
// it, a timeline and a flame graph with hostile and very long frame names.
func hostileTimeline() alert.Alert {
	s := "</script><script>alert(1)</script>"
	a := figurestest.WithSpans(figurestest.Hostile(s))
	a.Key.Route, a.SpanName = "/"+s, "GET /"+s+`"'`
	a.Breakdown.Children[0].Name = s + "]]>"
	a.Breakdown.Children[0].Description = strings.Repeat(`SELECT "x" FROM </script> `, 40)
	a.Attributes = map[string]string{s: s + `"'` + "]]>"}
	long := "main." + strings.Repeat("VeryLongFunctionName", 30)
	a.Profile.Stacks = append(a.Profile.Stacks,
		alert.Stack{Frames: []string{"net/http.(*conn).serve", hostileFrame, long, "crypto/sha256.block"}, Value: 300 * int64(time.Millisecond)})
	return a
}

// screenshotDir, when set, receives a PNG of each case's first screen
// (report-<case>.png), to look at.
var screenshotDir = os.Getenv("SLOWSPAN_REPORT_SCREENSHOTS")

func checkInBrowser(t *testing.T, tc browserCase) {
	a := tc.a
	dir := t.TempDir()
	set, err := Build(a)
	require.NoError(t, err)
	require.NoError(t, WriteSet(dir, set, false))
	pageURL := (&url.URL{Scheme: "file", Path: filepath.Join(dir, set.Name+ExtHTML)}).String()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportW, viewportH),
	)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	var mu sync.Mutex
	var problems, requests []string
	flushed := make(chan struct{})
	var flushOnce sync.Once
	// Listen starts the browser and the tab, before the page loads.
	err = chromedp.Listen(browserCtx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *cdppage.EventJavascriptDialogOpening:
			problems = append(problems, "dialog: "+ev.Message)
		case *network.EventRequestWillBeSent:
			if ev.Request != nil && ev.Request.URL != pageURL {
				requests = append(requests, ev.Request.URL)
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			problems = append(problems, fmt.Sprintf("exception: %s at %s:%d", d.Text, d.URL, d.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeDebug && len(ev.Args) == 1 && string(ev.Args[0].Value) == strconv.Quote(flushMarker) {
				flushOnce.Do(func() { close(flushed) })
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	require.NoError(t, err, "starting Chromium (%s)", chromiumPath)

	// Record every CSP violation from the very start of the document (a
	// script added through the DevTools protocol is not subject to the
	// page's CSP).
	_, err = chromedp.Call(browserCtx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));`,
	})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(browserCtx,
		chromedp.EmulateViewport(viewportW, viewportH),
		chromedp.Navigate(pageURL),
		chromedp.WaitReady(chromedp.CSS("footer")),
		// The load event has fired: every resource the page asked for was
		// loaded or refused (a CSP violation is reported by then).
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`),
	), "loading %s in Chromium", pageURL)

	// The first screen, before any scroll.
	fs, err := chromedp.Run(browserCtx, chromedp.Evaluate[firstScreen](firstScreenJS))
	require.NoError(t, err, "measuring the first screen")
	t.Logf("first screen %dx%d: verdict %.0f-%.0f, figures %.0f-%.0f, waterfall row %.0f, flame graph %.0f, histogram %.0f, ids %.0f",
		viewportW, viewportH, fs.VerdictTop, fs.VerdictBot, fs.FiguresTop, fs.FiguresBot, fs.WaterfallTop, fs.FlameTop, fs.HistTop, fs.IDsTop)
	if screenshotDir != "" {
		png, err := chromedp.Run(browserCtx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, "report-"+tc.name+".png"), png, 0o644))
	}
	assert.Zero(t, fs.ScrollY)
	assert.InDelta(t, viewportH, fs.InnerHeight, 1, "the viewport is 1280x800")
	if a.Diagnosis != nil {
		assert.True(t, fs.VerdictTop >= 0 && fs.VerdictBot <= fs.InnerHeight, "the diagnosis is on the first screen: %+v", fs)
	}
	if a.Regression != nil {
		// What changed in the new version is the first screen of a
		// regression (its versions' figures included); the window's
		// figures follow.
		assert.True(t, fs.ChangesBot > fs.VerdictBot && fs.ChangesBot <= fs.InnerHeight, "what changed is on the first screen: %+v", fs)
		assert.Greater(t, fs.FiguresTop, fs.ChangesBot, "the window's figures follow what changed")
	} else {
		assert.True(t, fs.FiguresTop >= 0 && fs.FiguresBot <= fs.InnerHeight, "the key figures are on the first screen: %+v", fs)
	}
	for _, what := range tc.firstScreen {
		at := map[string]float64{"waterfall": fs.WaterfallTop, "flame": fs.FlameTop}[what]
		assert.True(t, at > fs.FiguresBot && at+16 <= fs.InnerHeight, "the top of the %s is on the first screen: %+v", what, fs)
	}
	assert.False(t, fs.IDsOpen, "ids are collapsed")
	assert.Greater(t, fs.IDsTop, fs.FiguresBot, "ids come after the figures")
	if fs.FlameTop >= 0 && fs.WaterfallTop >= 0 && fs.HistTop >= 0 {
		assert.Less(t, fs.WaterfallTop, fs.HistTop, "the histogram after the waterfall")
	}
	assert.Contains(t, fs.CSP, "default-src 'none'")
	assert.Regexp(t, `(^|; )script-src 'sha256-[A-Za-z0-9+/]{43}='(;|$)`, fs.CSP, "no script but the hashed one")
	assert.Empty(t, fs.Violations, "CSP violations")

	m, err := chromedp.Run(browserCtx, chromedp.Evaluate[pageMetrics](measureJS))
	require.NoError(t, err, "measuring the page")
	assert.Equal(t, tc.title, m.Title)
	require.Len(t, m.HistBars, tc.histBars, "one histogram bar per bucket")
	for i, w := range m.HistBars {
		assert.Greater(t, w, 0.0, "histogram bar %d has no width", i)
	}
	if tc.histBars > 0 {
		assert.Greater(t, m.HistWidth, 300.0, "the histogram fits the page but is not squashed")
	}
	require.Len(t, m.BarWidths, tc.bars, "waterfall bars, the request's included")
	for i, w := range m.BarWidths {
		assert.Greater(t, w, 0.0, "waterfall bar %d has no width", i)
	}
	assert.InDelta(t, m.TrackWidth, m.BarWidths[0], 1, "the request bar spans the track")
	if tc.sequential {
		for i := 2; i < len(m.BarLefts); i++ {
			assert.GreaterOrEqual(t, m.BarLefts[i], m.BarLefts[i-1]+m.BarWidths[i-1]-1, "span %d starts after span %d ends", i, i-1)
		}
		assert.Greater(t, m.BarLefts[len(m.BarLefts)-1]-m.BarLefts[1], m.TrackWidth*0.9, "the run of spans covers the request")
	}
	if tc.check != nil {
		tc.check(t, m)
	}
	assert.Equal(t, 0, m.ExternalRefs, "the page loads nothing")
	if set.SVG != nil {
		assert.Equal(t, 1, m.Scripts, "the flame graph's script")
		assert.True(t, fs.Interactive, "the flame graph's script ran (its hash matches the CSP)")
		assert.Greater(t, m.FlameRects, 8, "flame graph frames drawn with a non-zero box")
		assert.Greater(t, m.FlameWidth, 300.0, "flame graph fits the page but is not squashed")
		checkFlameGraph(t, browserCtx, tc)
	} else {
		assert.Zero(t, m.Scripts, "no flame graph, no script")
	}

	// Wait until the listener has every event the page caused so far.
	require.NoError(t, chromedp.Do(browserCtx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%q)", flushMarker))))
	select {
	case <-flushed:
	case <-ctx.Done():
		t.Fatalf("the flush marker logged in the page never reached the listener: %v", ctx.Err())
	}
	v, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]string](`window.__violations`))
	require.NoError(t, err)
	assert.Empty(t, v, "CSP violations")
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, problems, "console errors, warnings or exceptions")
	assert.Empty(t, requests, "network requests besides the page itself")

	// Shut the browser down before goleak looks at goroutines.
	cancelBrowser()
	cancelAlloc()
}

// checkFlameGraph clicks a frame, searches and resets, measuring the
// frames after each step.
func checkFlameGraph(t *testing.T, ctx context.Context, tc browserCase) {
	state := func() flameState {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[flameState](flameStateJS))
		require.NoError(t, err)
		return s
	}
	before := state()
	root := before.Frames[0]
	require.Equal(t, "all", root.Name)
	byName := func(s flameState, name string) int {
		for i, f := range s.Frames {
			if f.Name == name {
				return i
			}
		}
		t.Fatalf("no frame %q", name)
		return -1
	}
	for _, f := range before.Frames {
		assert.True(t, f.Shown, "frame %s shown before any click", f.Name)
		if f.Fits {
			assert.Equal(t, f.Name, f.Label, "a name that fits its frame is shown whole")
		}
		assert.False(t, f.Overrun, "label %q runs over its frame", f.Label)
	}
	assert.True(t, before.Reset, "reset is off before a zoom")
	if tc.zoom == "" {
		return
	}

	// A click on a frame: it fills the graph's width, its descendants
	// grow by the same factor, frames outside its subtree go.
	z := byName(before, tc.zoom)
	require.Less(t, before.Frames[z].Width, root.Width-1)
	clickFrame(t, ctx, z)
	after := state()
	scale := root.Width / before.Frames[z].Width
	assert.InDelta(t, root.Width, after.Frames[z].Width, 0.05, "the clicked frame fills the width")
	assert.InDelta(t, root.X, after.Frames[z].X, 0.05)
	var grown, hidden int
	for i, f := range before.Frames {
		g := after.Frames[i]
		inside := f.X >= before.Frames[z].X-0.01 && f.X+f.Width <= before.Frames[z].X+before.Frames[z].Width+0.01
		switch {
		case i == z:
		case inside && g.Shown:
			assert.InDelta(t, f.Width*scale, g.Width, 0.05, "frame %s grows by the zoom's factor", f.Name)
			grown++
		case !inside && !g.Shown:
			hidden++
		}
		if g.Shown && g.Fits {
			assert.Equal(t, g.Name, g.Label, "a name that fits its frame is shown whole after the zoom")
		}
	}
	assert.Positive(t, grown, "frames under the zoomed one grow")
	assert.Positive(t, hidden, "frames outside the zoomed one are hidden")
	assert.False(t, after.Reset, "reset is on after a zoom")

	// Search: matching frames are highlighted and their share shown.
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#fg-search"), tc.search)))
	found := state()
	var matched int
	for _, f := range found.Frames {
		want := strings.Contains(strings.ToLower(f.Name), tc.search)
		assert.Equal(t, want, f.Match, "frame %s", f.Name)
		if want {
			assert.Equal(t, "#c026d3", f.Fill)
			matched++
		}
	}
	assert.Positive(t, matched)
	assert.Regexp(t, `^(1 frame matches|\d+ frames match), (<1|\d+) % of the CPU time$`, found.Match)
	if screenshotDir != "" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, "report-"+tc.name+"-zoomed.png"), png, 0o644))
	}

	// Reset: the graph as it was, nothing highlighted.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#fg-reset"))))
	reset := state()
	for i, f := range before.Frames {
		g := reset.Frames[i]
		assert.True(t, g.Shown, "frame %s shown after reset", f.Name)
		assert.InDelta(t, f.Width, g.Width, 0.01)
		assert.InDelta(t, f.X, g.X, 0.01)
		assert.Equal(t, f.Fill, g.Fill)
		assert.False(t, g.Match)
	}
	assert.Empty(t, reset.Match)
	assert.True(t, reset.Reset)
}

// clickFrame clicks the middle of frame i with the mouse, scrolled into
// view.
func clickFrame(t *testing.T, ctx context.Context, i int) {
	type box struct{ X, Y float64 }
	b, err := chromedp.Run(ctx, chromedp.Evaluate[box](fmt.Sprintf(`(() => {
  const r = document.querySelectorAll('.flame svg g.frame rect')[%d];
  r.scrollIntoView({block: 'center'});
  const b = r.getBoundingClientRect();
  return {X: b.left + b.width / 2, Y: b.top + b.height / 2};
})()`, i)))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.MouseClickXY(b.X, b.Y)))
}

// TestReportWithoutScript: with script disabled the page reads the same,
// the static flame graph whole, its useless controls hidden.
func TestReportWithoutScript(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test needs Chromium at %s: %v", chromiumPath, err)
	}
	dir := t.TempDir()
	set, err := Build(figurestest.WithSpans(figurestest.Diagnosed(alert.DiagnosisCPU)))
	require.NoError(t, err)
	require.NoError(t, WriteSet(dir, set, false))
	pageURL := (&url.URL{Scheme: "file", Path: filepath.Join(dir, set.Name+ExtHTML)}).String()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromiumPath), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	_, err = chromedp.Call(browserCtx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(browserCtx,
		chromedp.EmulateViewport(viewportW, viewportH),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(".flame svg")),
	))
	type state struct {
		Interactive, ControlsShown bool
		Frames, Labels             int
	}
	s, err := chromedp.Run(browserCtx, chromedp.Evaluate[state](`({
  Interactive: !!document.querySelector('figure.flame.interactive'),
  ControlsShown: document.getElementById('fg-controls').getBoundingClientRect().height > 0 ||
    document.getElementById('fg-info').getBoundingClientRect().height > 0,
  Frames: [...document.querySelectorAll('.flame svg g.frame rect')].filter((r) => r.getBoundingClientRect().width > 0).length,
  Labels: [...document.querySelectorAll('.flame svg g.frame text')].filter((t) => t.textContent !== '').length,
})`))
	require.NoError(t, err)
	assert.False(t, s.Interactive, "the script did not run")
	assert.False(t, s.ControlsShown, "no search box, reset button or click hint that would do nothing")
	assert.Greater(t, s.Frames, 8, "the static flame graph is drawn")
	assert.Greater(t, s.Labels, 5, "with its labels")

	cancelBrowser()
	cancelAlloc()
}
