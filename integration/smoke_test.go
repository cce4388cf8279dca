package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/slowspan/slowspan/alert"
)

// alertTimeout bounds the wait for an alert to show up in the collector log.
const alertTimeout = 30 * time.Second

const (
	attrAlertID = "slowspan.alert.id"
	attrReason  = "slowspan.alert.reason"
	attrRoute   = "slowspan.key.route"
)

// smokeConfig: the slowspan processor (threshold 500ms, dedup state in
// file_storage under storageDir) in front of the alertfile exporter (writing
// alertsFile(storageDir)) and the debug exporter.
func smokeConfig(storageDir string) configFunc {
	return func(httpPort int) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
extensions:
  file_storage:
    directory: %q
    create_directory: true
processors:
  slowspan:
    threshold: 500ms
    dedup:
      storage: file_storage
exporters:
  alertfile:
    path: %q
  debug:
    verbosity: detailed
service:
  extensions: [file_storage]
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [alertfile, debug]
  telemetry:
    metrics:
      level: none
`, httpPort, storageDir, alertsFile(storageDir))
	}
}

func alertsFile(storageDir string) string { return filepath.Join(storageDir, "alerts.jsonl") }

// readAlerts parses the alert file: one JSON object per line, each an
// alert.Alert. The collector may be writing while we read, and a reader can
// see part of a line being written, so the text after the last newline is
// left for the next poll; any complete line that is not an alert fails the
// test.
func readAlerts(t *testing.T, path string) []alert.Alert {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	end := strings.LastIndexByte(string(data), '\n')
	if end < 0 {
		return nil
	}
	var out []alert.Alert
	for i, line := range strings.Split(string(data[:end]), "\n") {
		if line == "" {
			continue
		}
		var a alert.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("%s line %d is not an alert: %v\n%s", path, i+1, err, line)
		}
		out = append(out, a)
	}
	return out
}

// waitAlerts polls the alert file until cond holds (bounded).
func waitAlerts(t *testing.T, c *collector, path, what string, cond func([]alert.Alert) bool) []alert.Alert {
	t.Helper()
	var got []alert.Alert
	c.waitLog(alertTimeout, what, func(string) bool {
		got = readAlerts(t, path)
		return cond(got)
	})
	return got
}

func routesOf(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Key.Route)
	}
	return out
}

// spanSender sends server spans with explicit timestamps through the OTel Go
// SDK and its OTLP HTTP exporter.
type spanSender struct {
	t  *testing.T
	tp *sdktrace.TracerProvider
	tr trace.Tracer
}

func newSpanSender(t *testing.T, c *collector, service string) *spanSender {
	t.Helper()
	return newSpanSenderWith(t, c, attribute.String("service.name", service))
}

// newSpanSenderWith sends spans whose resource has attrs.
func newSpanSenderWith(t *testing.T, c *collector, attrs ...attribute.KeyValue) *spanSender {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpoint(c.endpoint()),
		otlptracehttp.WithInsecure(),
		otlptracehttp.WithTimeout(10*time.Second),
	)
	if err != nil {
		t.Fatalf("otlptracehttp: %v", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		// Spans leave only on ForceFlush: one flush is one export request, so spans
		// ended together reach the processor in one batch, in order.
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Hour), sdktrace.WithMaxQueueSize(4096)),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &spanSender{t: t, tp: tp, tr: tp.Tracer("github.com/slowspan/slowspan/integration")}
}

// serverSpan records a finished server span for method+route lasting d, in a
// new trace. No real waiting: the timestamps are set explicitly.
func (s *spanSender) serverSpan(method, route string, d time.Duration) {
	start := time.Now().Add(-time.Minute)
	_, span := s.tr.Start(context.Background(), method+" "+route,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start),
		trace.WithAttributes(
			attribute.String("http.route", route),
			attribute.String("http.request.method", method),
		),
	)
	span.End(trace.WithTimestamp(start.Add(d)))
}

func (s *spanSender) flush() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.tp.ForceFlush(ctx); err != nil {
		s.t.Fatalf("force flush: %v", err)
	}
}

func waitForRouteAlert(c *collector, route string) string {
	return c.waitLog(alertTimeout, "an alert for "+route, func(log string) bool {
		return countAttr(log, attrRoute, route) > 0
	})
}

func TestSmokeOneAlert(t *testing.T) {
	dir := t.TempDir()
	c := startCollector(t, smokeConfig(dir))
	s := newSpanSender(t, c, "smoke-checkout")

	const (
		slowRoute  = "/api/orders/{id}"
		fastRoute  = "/api/fast-lane"
		otherRoute = "/api/reports/{name}"
	)

	// One slow and one fast server span.
	s.serverSpan("GET", slowRoute, 2*time.Second)
	s.serverSpan("GET", fastRoute, 10*time.Millisecond)
	s.flush()

	got := waitAlerts(t, c, alertsFile(dir), "the first alert in the alert file", func(as []alert.Alert) bool { return len(as) > 0 })
	if len(got) != 1 {
		t.Fatalf("want exactly 1 alert after the first batch, got %d: %v", len(got), routesOf(got))
	}
	a := got[0]
	if a.Key.Route != slowRoute || a.Key.Method != "GET" || a.Key.Service != "smoke-checkout" || a.Reason != alert.ReasonFirst {
		t.Errorf("alert key/reason = %v %s, want smoke-checkout GET %s first", a.Key, a.Reason, slowRoute)
	}
	if a.Duration != 2*time.Second || a.Threshold != 500*time.Millisecond || len(a.TraceID) != 32 || len(a.SpanID) != 16 {
		t.Errorf("alert duration %v threshold %v trace %q span %q", a.Duration, a.Threshold, a.TraceID, a.SpanID)
	}
	if n := countAttr(c.log(), attrReason, "first"); n != 1 {
		t.Errorf("the debug exporter saw %d alerts with %s: Str(first), want 1", n, attrReason)
	}

	// The same slow endpoint again (a new trace) must be suppressed. To know the
	// processor has seen it without sleeping, a slow span on another route goes
	// in the same export request after it: once that one's alert is written, the
	// whole batch has been processed.
	s.serverSpan("GET", slowRoute, 2*time.Second)
	s.serverSpan("POST", otherRoute, 3*time.Second)
	s.flush()

	got = waitAlerts(t, c, alertsFile(dir), "the alert for "+otherRoute, func(as []alert.Alert) bool {
		return slices.Contains(routesOf(as), otherRoute)
	})
	if want := []string{slowRoute, otherRoute}; !slices.Equal(routesOf(got), want) {
		t.Errorf("alert file routes = %v, want %v (the repeat of %s suppressed, the fast span never an alert)", routesOf(got), want, slowRoute)
	}
	if strings.Contains(c.log(), fastRoute) {
		t.Errorf("the fast span's route %s appears in the collector log; only slow spans may become alerts", fastRoute)
	}
}

// TestDedupSurvivesRestart: an endpoint alerted before a restart stays
// suppressed after it, because the dedup state lives in file_storage.
func TestDedupSurvivesRestart(t *testing.T) {
	storage := t.TempDir()
	const (
		route = "/api/export"
		probe = "/api/probe"
	)

	first := startCollector(t, smokeConfig(storage))
	s := newSpanSender(t, first, "restart-svc")
	s.serverSpan("GET", route, 2*time.Second)
	s.flush()
	waitForRouteAlert(first, route)
	first.stop() // graceful: the state is flushed to storage

	second := startCollector(t, smokeConfig(storage))
	s = newSpanSender(t, second, "restart-svc")
	s.serverSpan("GET", route, 2*time.Second)
	s.serverSpan("GET", probe, 2*time.Second) // same batch, after it: proves it was processed
	s.flush()

	log := waitForRouteAlert(second, probe)
	if n := countAttr(log, attrRoute, route); n != 0 {
		t.Errorf("after a restart %s alerted again (%d alerts); want it suppressed by the persisted dedup state", route, n)
	}
	if n := countAttr(log, attrAlertID, ""); n != 1 {
		t.Errorf("want exactly 1 alert (the probe) after the restart, got %d", n)
	}
}
