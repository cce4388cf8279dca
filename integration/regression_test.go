package integration

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/versiondiff"
)

// regressionConfig: the slowspan processor in regression mode (p95 over 1m,
// min_count 20, factor 1.5, min_delta 100ms) in front of alertfile, profiles
// indexed. The threshold is low: every request of the app's regression
// routes may be a version's exemplar.
func regressionConfig(grpcPort int, dir string) configFunc {
	return func(httpPort int) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
processors:
  slowspan:
    threshold: 20ms
    trigger:
      mode: regression
      quantile: 0.95
      over: 1m
      min_count: 20
      regression:
        factor: 1.5
        min_delta: 100ms
    correlation:
      wait: 10s
exporters:
  alertfile:
    path: %q
    sending_queue:
      enabled: false
  nop:
service:
  pipelines:
    traces/alerts:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [alertfile]
    profiles:
      receivers: [otlp]
      processors: [slowspan]
      exporters: [nop]
  telemetry:
    metrics:
      level: none
`, grpcPort, httpPort, filepath.Join(dir, "alerts.jsonl"))
	}
}

// TestRegressionAfterADeploy runs apps/goapp as version 1.0, then as 1.1,
// which adds a slow query to /orders/{id} and a CPU-heavy loop to
// /checksum/{id}: exactly two regression alerts, each naming what 1.1
// added as its top difference; /catalog/{id}, unchanged, stays silent, and
// /rare/{id}, slower in 1.1 but with too few requests, never fires.
func TestRegressionAfterADeploy(t *testing.T) {
	dir := t.TempDir()
	grpcPort := freePort(t)
	c := startCollector(t, regressionConfig(grpcPort, dir), "--feature-gates=service.profilesSupport")
	otlp := fmt.Sprintf("127.0.0.1:%d", grpcPort)
	file := filepath.Join(dir, "alerts.jsonl")

	drive := func(a *app, path string, n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 2) // no more requests at once than the test machine has cores
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs <- getOK(fmt.Sprintf("http://%s%s/%d", a.addr, path, i+1))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}

	v10 := startGoApp(t, otlp, "regression-shop", "GOAPP_VERSION=1.0")
	for _, p := range []string{"/orders", "/checksum", "/catalog", "/rare"} {
		drive(v10, p, 30)
	}
	v10.flush()
	v10.stop()
	assert.Empty(t, readAlerts(t, file), "a first version compares with nothing")

	v11 := startGoApp(t, otlp, "regression-shop", "GOAPP_VERSION=1.1")
	for _, p := range []string{"/orders", "/checksum", "/catalog"} {
		drive(v11, p, 30)
	}
	drive(v11, "/rare", 5) // under min_count
	v11.flush()

	waitAlerts(t, c, file, "two regression alerts", func(as []alert.Alert) bool { return len(as) >= 2 })
	// One more timer evaluation (every 6 s) and correlation.wait: nothing
	// else fires.
	time.Sleep(12 * time.Second)
	got := readAlerts(t, file)
	require.Len(t, got, 2, "exactly the two changed routes")
	byRoute := map[string]alert.Alert{}
	for _, a := range got {
		assert.Equal(t, alert.ReasonRegression, a.Reason)
		require.NotNil(t, a.Regression, a.Key.Route)
		assert.Equal(t, "1.0", a.Regression.Before.Version)
		assert.Equal(t, "1.1", a.Regression.After.Version)
		require.NotNil(t, a.Regression.Before.Window)
		require.NotNil(t, a.Regression.After.Window)
		t.Logf("%s: p95 %v -> %v, CPU %v -> %v; top change: %s", a.Key.Route, a.Regression.Before.Window.QuantileValue,
			a.Regression.After.Window.QuantileValue, a.Regression.Before.CPUTime, a.Regression.After.CPUTime,
			versiondiff.Top(a.Regression.Changes))
		byRoute[a.Key.Route] = a
	}
	orders, ok := byRoute["/orders/{id}"]
	require.True(t, ok, "an alert for /orders/{id}")
	require.NotEmpty(t, orders.Regression.Changes)
	assert.Equal(t, alert.ChangeChild, orders.Regression.Changes[0].Kind)
	assert.Contains(t, orders.Regression.Changes[0].Description, "audit_log")

	checksum, ok := byRoute["/checksum/{id}"]
	require.True(t, ok, "an alert for /checksum/{id}")
	require.NotEmpty(t, checksum.Regression.Changes)
	assert.Equal(t, alert.ChangeFunction, checksum.Regression.Changes[0].Kind)
	assert.Equal(t, "main.computeChecksums", checksum.Regression.Changes[0].Description)
}
