package integration

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/slowspan/slowspan/alert"
)

// hostilePaths go through the real app as request paths.
var hostilePaths = []string{
	"/@channel",
	"/%3C!here%3E",              // <!here>
	"/%5Bx%5D(http:%2F%2Fevil)", // [x](http://evil)
	"/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
	"/" + strings.Repeat("a", 8000), // an 8 KB path
	"/%60%60%60code%60%60%60",       // backtick runs
}

// TestHostileTraffic: hostile paths through the instrumented app and
// invalid UTF-8 from a raw OTLP client. The collector stays up, the alert
// file stays valid JSON lines, and no report carries markup from the input.
func TestHostileTraffic(t *testing.T) {
	cfg := &appsConfig{wait: time.Millisecond}
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, "127.0.0.1:"+strconv.Itoa(cfg.grpcPort), "hostile-shop")
	for _, p := range hostilePaths {
		a.request("GET", p)
	}
	a.flush()

	// A raw OTLP client: invalid UTF-8 and control characters everywhere.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "raw\xff\xfe-client")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0xde, 0xad})
	sp.SetSpanID(pcommon.SpanID{0xbe, 0xef})
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetName("GET \xff\x00\x1b[31m")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-2 * time.Second)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	sp.Attributes().PutStr("http.route", "/raw/\xff\xfe/@here")
	sp.Attributes().PutStr("http.request.method", "G\xffT")
	sp.Attributes().PutStr("user_agent.original", "<!channel> \xc3\x28")
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(c.tracesURL(), "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("raw OTLP export: %s", resp.Status)
	}

	want := len(hostilePaths) + 1
	got := waitAlerts(t, c, cfg.alertFile(), "the hostile alerts", func(as []alert.Alert) bool { return len(as) >= want })
	if len(got) != want {
		t.Errorf("%d alerts, want %d: %q", len(got), want, routesOf(got))
	}
	for _, al := range got {
		for _, s := range []string{al.Key.Service, al.Key.Method, al.Key.Route, al.SpanName} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\x1b") {
				t.Errorf("unsafe text reached the alert: %q", s)
			}
		}
		if len(al.Key.Route) > 512 {
			t.Errorf("route of %d bytes: keys must stay bounded", len(al.Key.Route))
		}
	}

	// The collector is still up and serving.
	if err := c.waitReady(); err != nil {
		t.Fatalf("collector not serving after hostile traffic: %v", err)
	}
	pages, _ := filepath.Glob(filepath.Join(cfg.dir, "reports", "*.html"))
	if len(pages) != want {
		t.Errorf("%d reports, want %d", len(pages), want)
	}
	for _, p := range pages {
		b, _ := os.ReadFile(p)
		for _, bad := range []string{"<script", "<!here>", "<!channel>", "href=\"http://evil"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("report %s contains %q unescaped", filepath.Base(p), bad)
			}
		}
	}
}
