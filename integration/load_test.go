package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/slowspan/slowspan/alert"
)

const (
	loadRoutes      = 200
	loadBatchSpans  = 1000
	loadBatchesPerS = 20 // 20,000 spans/s
	loadDuration    = 30 * time.Second
	loadDistinct    = 40 // distinct batches, replayed
)

// loadBatch builds batch b: 1,000 spans of which 1 % are slow server spans,
// their routes cycling over loadRoutes so every route is slow many times.
func loadBatch(b int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "load-shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := range loadBatchSpans {
		sp := spans.AppendEmpty()
		n := b*loadBatchSpans + i
		sp.SetTraceID(pcommon.TraceID{byte(n), byte(n >> 8), byte(n >> 16), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
		sp.SetSpanID(pcommon.SpanID{byte(n), byte(n >> 8), byte(n >> 16), 1, 2, 3, 4, 5})
		dur := time.Duration(5+i%50) * time.Millisecond
		kind := ptrace.SpanKindServer
		route := fmt.Sprintf("/api/r%d/{id}", i%loadRoutes)
		if i%100 == 0 { // 1 % slow
			route = fmt.Sprintf("/api/r%d/{id}", (b*10+i/100)%loadRoutes)
			dur = 1500 * time.Millisecond
		} else if i%3 == 0 {
			kind = ptrace.SpanKindClient
		}
		sp.SetKind(kind)
		sp.SetName("GET " + route)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-dur)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutStr("http.route", route)
		sp.Attributes().PutStr("url.path", strings.Replace(route, "{id}", strconv.Itoa(n), 1))
		sp.Attributes().PutInt("http.response.status_code", 200)
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return body
}

// peakRSS reads VmHWM (the peak resident set) of a process, in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// TestSteadyLoad: 20,000 spans/s for 30 s, 1 % slow server spans over 200
// routes. Every route alerts exactly once (none lost, none doubled), and the
// collector's memory stays bounded.
func TestSteadyLoad(t *testing.T) {
	// The storm cap would fold most of the 200 first alerts into summaries:
	// this test counts alerts per route, so it turns the cap off.
	cfg := &appsConfig{wait: time.Millisecond, extra: "    alerts:\n      max_per_minute: 0"}
	c := startAppsCollector(t, cfg)

	batches := make([][]byte, loadDistinct)
	for i := range batches {
		batches[i] = loadBatch(i)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	ticker := time.NewTicker(time.Second / loadBatchesPerS) // pacing the load, not synchronisation
	defer ticker.Stop()
	start := time.Now()
	sent, failed := 0, 0
	for time.Since(start) < loadDuration {
		<-ticker.C
		resp, err := client.Post(c.tracesURL(), "application/x-protobuf", bytes.NewReader(batches[sent%loadDistinct]))
		sent++
		if err != nil {
			failed++
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
		}
	}
	elapsed := time.Since(start)
	rate := float64(sent*loadBatchSpans) / elapsed.Seconds()
	t.Logf("sent %d spans in %s (%.0f spans/s), %d requests failed", sent*loadBatchSpans, elapsed.Round(time.Millisecond), rate, failed)
	if failed > 0 {
		t.Errorf("%d export requests failed", failed)
	}
	if rate < 0.9*loadBatchesPerS*loadBatchSpans {
		t.Errorf("only %.0f spans/s reached the collector; the load is meant to be %d/s", rate, loadBatchesPerS*loadBatchSpans)
	}

	got := waitAlerts(t, c, cfg.alertFile(), "one alert per route", func(as []alert.Alert) bool { return len(as) >= loadRoutes })
	perRoute := map[string]int{}
	for _, a := range got {
		perRoute[a.Key.Route]++
	}
	if len(got) != loadRoutes || len(perRoute) != loadRoutes {
		t.Errorf("%d alerts over %d routes, want exactly one for each of %d routes", len(got), len(perRoute), loadRoutes)
	}
	rss, err := peakRSS(c.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collector peak RSS: %.1f MiB", float64(rss)/(1<<20))
	if rss > 512<<20 {
		t.Errorf("collector peak RSS %.1f MiB, want it bounded under 512 MiB", float64(rss)/(1<<20))
	}
}
