package integration

import (
	"fmt"
	"testing"
	"time"
)

// connectorConfig: the user's own pipeline (with batch, a mutating
// processor) lists the slowspan connector among its exporters; the connector
// feeds the alerts pipeline.
func connectorConfig(httpPort int) string {
	return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 50ms
connectors:
  slowspan:
    threshold: 500ms
    exclude: ["*/health"]
exporters:
  nop:
  debug:
    verbosity: detailed
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [nop, slowspan]
    traces/alerts:
      receivers: [slowspan]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
`, httpPort)
}

func TestConnectorPlacement(t *testing.T) {
	c := startCollector(t, connectorConfig)
	s := newSpanSender(t, c, "connector-shop")
	s.serverSpan("GET", "/api/slow", 2*time.Second)
	s.serverSpan("GET", "/api/slow", 3*time.Second)
	s.serverSpan("GET", "/v1/health", 5*time.Second)
	s.serverSpan("GET", "/api/fast", 5*time.Millisecond)
	s.serverSpan("GET", "/api/probe", 2*time.Second)
	s.flush()

	log := waitForRouteAlert(c, "/api/probe")
	if n := countAttr(log, attrRoute, "/api/slow"); n != 1 {
		t.Errorf("/api/slow: %d alerts, want 1", n)
	}
	if n := countAttr(log, attrAlertID, ""); n != 2 {
		t.Errorf("%d alerts in all, want 2 (/api/slow and /api/probe; health excluded, fast ignored)", n)
	}
}
