package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// alertTimeout bounds the wait for an alert to show up in the collector log.
const alertTimeout = 30 * time.Second

const (
	attrAlertID = "slowspan.alert.id"
	attrReason  = "slowspan.alert.reason"
	attrRoute   = "slowspan.key.route"
)

// smokeConfig: the slowspan processor (threshold 500ms, dedup state in
// file_storage under storageDir) in front of the debug exporter.
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
  debug:
    verbosity: detailed
service:
  extensions: [file_storage]
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
`, httpPort, storageDir)
	}
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
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
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
	c := startCollector(t, smokeConfig(t.TempDir()))
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

	log := waitForRouteAlert(c, slowRoute)
	if n := countAttr(log, attrAlertID, ""); n != 1 {
		t.Fatalf("want exactly 1 alert span after the first batch, got %d", n)
	}
	if n := countAttr(log, attrReason, "first"); n != 1 {
		t.Errorf("want the alert to carry %s: Str(first), got %d such lines", attrReason, n)
	}

	// The same slow endpoint again (a new trace) must be suppressed. To know the
	// processor has seen it without sleeping, a slow span on another route goes
	// in the same export request after it: once that one's alert is logged, the
	// whole batch has been processed.
	s.serverSpan("GET", slowRoute, 2*time.Second)
	s.serverSpan("POST", otherRoute, 3*time.Second)
	s.flush()

	log = waitForRouteAlert(c, otherRoute)
	if n := countAttr(log, attrRoute, slowRoute); n != 1 {
		t.Errorf("want the repeated slow span on %s suppressed (1 alert in total), got %d alerts", slowRoute, n)
	}
	if n := countAttr(log, attrAlertID, ""); n != 2 {
		t.Errorf("want 2 alert spans in total (%s once, %s once), got %d", slowRoute, otherRoute, n)
	}
	if n := countAttr(log, attrReason, "first"); n != 2 {
		t.Errorf("want both alerts with reason first, got %d", n)
	}
	if strings.Contains(log, fastRoute) {
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
