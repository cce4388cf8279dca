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

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
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
}

const measureJS = `(() => {
  const visible = (el) => { const b = el.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
  const flame = document.querySelector('.flame svg');
  return {
    flameRects: [...document.querySelectorAll('.flame svg rect')].filter(visible).length,
    flameWidth: flame ? flame.getBoundingClientRect().width : 0,
    barWidths: [...document.querySelectorAll('.wf-bar')].map((b) => b.getBoundingClientRect().width),
    trackWidth: document.querySelector('.wf-track').getBoundingClientRect().width,
    scripts: document.scripts.length,
    title: document.title,
    countLabels: [...document.querySelectorAll('.wf .count')].map((c) => c.textContent),
    externalRefs: performance.getEntriesByType('resource').length,
    histBars: [...document.querySelectorAll('.hist svg rect.bar')].map((r) => r.getBoundingClientRect().width),
    histWidth: (document.querySelector('.hist svg') || {getBoundingClientRect: () => ({width: 0})}).getBoundingClientRect().width,
  };
})()`

// TestReportInBrowser opens written reports in headless Chromium and checks
// that the flame graph, the waterfall and (for an incident) the histogram
// are drawn and that the page logs no error (a CSP violation or a broken
// element would).
func TestReportInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test needs Chromium at %s: install it with `apt-get update && apt-get install -y chromium` (make test does it in .ci/run): %v", chromiumPath, err)
	}
	tests := []struct {
		name     string
		a        alert.Alert
		title    string
		histBars int
	}{
		{name: "slow request", a: alerttest.Full(), title: "Slow request: checkout GET /orders/{id}"},
		{name: "incident", a: incidentAlert(alert.ReasonQuantile), title: "Slow endpoint: checkout GET /orders/{id}", histBars: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkInBrowser(t, tt.a, tt.title, tt.histBars) })
	}
}

func checkInBrowser(t *testing.T, a alert.Alert, title string, histBars int) {
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
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
	)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	var mu sync.Mutex
	var problems []string
	flushed := make(chan struct{})
	var flushOnce sync.Once
	// Listen starts the browser and the tab, before the page loads.
	err = chromedp.Listen(browserCtx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
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

	require.NoError(t, chromedp.Do(browserCtx,
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(".flame svg")),
		// The load event has fired: every resource the page asked for was
		// loaded or refused (a CSP violation is reported by then).
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`),
	), "loading %s in Chromium", pageURL)
	m, err := chromedp.Run(browserCtx, chromedp.Evaluate[pageMetrics](measureJS))
	require.NoError(t, err, "measuring the page")
	// Wait until the listener has every event the page caused so far.
	require.NoError(t, chromedp.Do(browserCtx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%q)", flushMarker))))
	select {
	case <-flushed:
	case <-ctx.Done():
		t.Fatalf("the flush marker logged in the page never reached the listener: %v", ctx.Err())
	}

	assert.Equal(t, title, m.Title)
	require.Len(t, m.HistBars, histBars, "one histogram bar per bucket")
	for i, w := range m.HistBars {
		assert.Greater(t, w, 0.0, "histogram bar %d has no width", i)
	}
	if histBars > 0 {
		assert.Greater(t, m.HistWidth, 300.0, "the histogram fits the page but is not squashed")
	}
	// 9 frames in alerttest.Full's stacks (the root "all" included) plus the
	// background.
	assert.Greater(t, m.FlameRects, 8, "flame graph frames drawn with a non-zero box")
	assert.Greater(t, m.FlameWidth, 300.0, "flame graph fits the page but is not squashed")
	require.Len(t, m.BarWidths, 1+len(a.Breakdown.Children), "one bar for the request and one per child group")
	for i, w := range m.BarWidths {
		assert.Greater(t, w, 0.0, "waterfall bar %d has no width", i)
	}
	assert.InDelta(t, m.TrackWidth, m.BarWidths[0], 1, "the request bar spans the track")
	assert.InDelta(t, m.TrackWidth*0.625, m.BarWidths[1], 2, "the 42 x SELECT bar is 1.5s of 2.4s")
	assert.Contains(t, m.CountLabels, "42 x")
	assert.Zero(t, m.Scripts, "the page has no script")
	assert.Zero(t, m.ExternalRefs, "the page loads nothing")
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, problems, "console errors, warnings or exceptions")

	// Shut the browser down before goleak looks at goroutines.
	cancelBrowser()
	cancelAlloc()
}
