package integration

import (
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// shutdownRuns is how many times each placement and queue kind is stopped
// while an alert waits: the collector's shutdown order across pipelines is
// not fixed, and the defect this guards against showed in about 4 runs of 10.
const shutdownRuns = 20

// waitingConfig: one slowspan instance that serves a traces and a profiles
// pipeline, as collector-config.yaml has it, in the processor or the
// connector placement; alerts wait out a correlation.wait no test reaches,
// so only shutdown can deliver them. persistent puts alertfile's sending
// queue on file_storage; otherwise it is the in-memory queue.
func waitingConfig(dir string, connector, persistent bool) configFunc {
	queue := ""
	if persistent {
		queue = "\n    sending_queue:\n      storage: file_storage"
	}
	slowspan := `
    threshold: 500ms
    dedup:
      storage: file_storage
    correlation:
      wait: 1h`
	return func(httpPort int) string {
		head := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
extensions:
  file_storage:
    directory: %q
    create_directory: true
exporters:
  nop:
  alertfile:
    path: %q%s
`, httpPort, filepath.Join(dir, "state"), filepath.Join(dir, "alerts.jsonl"), queue)
		if connector {
			return head + `
connectors:
  slowspan:` + slowspan + `
service:
  extensions: [file_storage]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop, slowspan]
    profiles:
      receivers: [otlp]
      exporters: [slowspan]
    traces/alerts:
      receivers: [slowspan]
      exporters: [alertfile]
  telemetry:
    metrics:
      level: none
`
		}
		return head + `
processors:
  slowspan:` + slowspan + `
service:
  extensions: [file_storage]
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
`
	}
}

// TestShutdownDeliversWaitingAlerts: an alert accepted before SIGTERM is
// delivered by a graceful shutdown, every time, in both placements and with
// both queue kinds; and a key is saved as alerted only when its alert was
// delivered, so the endpoint stays silent after a restart.
//
// With the in-memory queue the alert is in the file when the collector has
// exited (the queue drains at shutdown). The persistent queue stops its
// consumers at shutdown and keeps what they did not take on disk: the alert
// is then in the file once the next start has sent it, and only once.
func TestShutdownDeliversWaitingAlerts(t *testing.T) {
	for _, placement := range []string{"processor", "connector"} {
		for _, queue := range []string{"memory", "persistent"} {
			t.Run(placement+"/"+queue, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				render := waitingConfig(dir, placement == "connector", queue == "persistent")
				file := filepath.Join(dir, "alerts.jsonl")
				start := func(want []string) *collector {
					c := startCollector(t, render, "--feature-gates=service.profilesSupport")
					if queue == "persistent" {
						waitAlerts(t, c, file, fmt.Sprintf("the alerts %v", want), func(as []alert.Alert) bool {
							return len(as) >= len(want)
						})
					}
					if got := routesOf(readAlerts(t, file)); !slices.Equal(got, want) {
						t.Fatalf("after %d runs: alert file holds %v, want %v", len(want), got, want)
					}
					return c
				}

				var want []string
				for runs, tries := 0, 0; runs < shutdownRuns; tries++ {
					if tries == shutdownRuns+5 {
						t.Fatalf("only %d graceful shutdowns in %d tries", runs, tries)
					}
					c := start(want)
					s := newSpanSender(t, c, "shutdown-shop")
					route := fmt.Sprintf("/run%d", runs)
					s.serverSpan("GET", route, 2*time.Second)
					s.flush() // returns once the collector accepted the span
					if !c.stopGracefully() {
						continue // SIGTERM came before the collector handled it: the alert was never accepted for delivery
					}
					runs++
					want = append(want, route)
					if queue == "memory" {
						if got := routesOf(readAlerts(t, file)); !slices.Equal(got, want) {
							t.Fatalf("run %d: after shutdown the alert file holds %v, want %v", runs, got, want)
						}
					}
				}

				// Restart: the delivered keys are silent, a new one alerts.
				c := start(want)
				s := newSpanSender(t, c, "shutdown-shop")
				s.serverSpan("GET", "/run0", 2*time.Second)
				s.serverSpan("GET", "/probe", 2*time.Second)
				s.flush()
				c.stop()
				want = append(want, "/probe")
				c = start(want)
				c.stop()
			})
		}
	}
}

// stopGracefully sends SIGTERM and waits for the exit. It reports false when
// the signal killed the process: the collector installs its handler only
// after its receivers are up, so a SIGTERM right after readiness can come
// first. Any other unclean exit fails the test.
func (c *collector) stopGracefully() bool {
	c.t.Helper()
	c.stopped = true
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(2 * stopTimeout):
		c.t.Fatalf("collector did not exit within %s of SIGTERM", 2*stopTimeout)
	}
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
		c.t.Logf("SIGTERM reached the collector before its handler; trying again")
		return false
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Fatalf("collector exited with %s after SIGTERM, want a clean shutdown", c.cmd.ProcessState)
	}
	return true
}
