package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a collector may take to serve OTLP. Generous:
	// CI machines have 2 cores and run other packages' tests at the same time.
	startTimeout = 60 * time.Second
	// stopTimeout bounds a graceful shutdown after SIGTERM before SIGKILL.
	stopTimeout = 20 * time.Second
	// pollInterval is how often readiness and log conditions are re-checked.
	pollInterval = 25 * time.Millisecond
)

var (
	collectorOnce sync.Once
	collectorBin  string
	collectorErr  error
)

// collectorPath returns the otelcol-slowspan binary under test: $SLOWSPAN_COLLECTOR,
// else the result of `make build` in the repository root (run once per test binary).
func collectorPath(t *testing.T) string {
	t.Helper()
	collectorOnce.Do(func() { collectorBin, collectorErr = findOrBuildCollector() })
	if collectorErr != nil {
		t.Fatalf("collector binary: %v", collectorErr)
	}
	return collectorBin
}

func findOrBuildCollector() (string, error) {
	if p := os.Getenv("SLOWSPAN_COLLECTOR"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		// Stat (not only exec) the binary: Go's test cache records the file's size
		// and mtime, so cached results are dropped when the collector is rebuilt.
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("SLOWSPAN_COLLECTOR: %w", err)
		}
		return abs, nil
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "builder-config.yaml")); err != nil {
		return "", fmt.Errorf("repository root not found: %w", err)
	}
	cmd := exec.Command("make", "build")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("make build: %w\n%s", err, out)
	}
	bin := filepath.Join(root, "build", "otelcol-slowspan", "otelcol-slowspan")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("make build succeeded but %w", err)
	}
	return bin, nil
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process can take it before the collector binds it: startCollector retries
// when the collector reports the address in use.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// collector is one running otelcol-slowspan process.
type collector struct {
	t        *testing.T
	cmd      *exec.Cmd
	cancel   context.CancelFunc
	done     chan struct{} // closed when the process has exited
	logPath  string
	httpPort int
	stopped  bool
}

// configFunc renders a collector config for the given OTLP HTTP port.
type configFunc func(httpPort int) string

// startCollector writes the config into a temp dir, starts the collector, and
// returns once its OTLP HTTP receiver accepts an export request (receivers are
// started last, so the whole pipeline is up by then). The collector is stopped
// with SIGTERM when the test ends, and its log is printed if the test failed.
func startCollector(t *testing.T, render configFunc, args ...string) *collector {
	t.Helper()
	bin := collectorPath(t)
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		c, err := tryStart(t, bin, render, args...)
		if err == nil {
			return c
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
		t.Logf("attempt %d: %v; retrying with other ports", attempt, err)
	}
	t.Fatalf("start collector: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("collector port already in use")

func tryStart(t *testing.T, bin string, render configFunc, args ...string) (*collector, error) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(render(port)), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // the child has its own copy of the descriptor

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfgPath}, args...)...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Cancelling the context asks for a graceful shutdown; SIGKILL follows after stopTimeout.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	c := &collector{t: t, cmd: cmd, cancel: cancel, done: make(chan struct{}), logPath: logPath, httpPort: port}
	go func() {
		_ = cmd.Wait() // the exit status is read from cmd.ProcessState
		close(c.done)
	}()
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("collector log (%s):\n%s", logPath, c.log())
		}
	})

	if err := c.waitReady(); err != nil {
		c.stop()
		if strings.Contains(c.log(), "address already in use") {
			return nil, fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return nil, err
	}
	return c, nil
}

// waitReady polls the OTLP HTTP endpoint with an empty export request until
// it answers 200, the process exits, or startTimeout passes.
func (c *collector) waitReady() error {
	url := c.tracesURL()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("collector exited before it was ready (%s)", c.cmd.ProcessState)
		default:
		}
		resp, err := client.Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("POST %s: %s", url, resp.Status)
		}
		lastErr = err
		select {
		case <-c.done:
		case <-time.After(pollInterval):
		}
	}
	return fmt.Errorf("collector not ready after %s: %v", startTimeout, lastErr)
}

func (c *collector) tracesURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/v1/traces", c.httpPort)
}

// endpoint is the host:port of the OTLP HTTP receiver, for otlptracehttp.WithEndpoint.
func (c *collector) endpoint() string {
	return fmt.Sprintf("127.0.0.1:%d", c.httpPort)
}

// stop sends SIGTERM and waits for the process (SIGKILL after stopTimeout).
// A collector that does not exit cleanly fails the test.
func (c *collector) stop() {
	if c.stopped {
		return
	}
	c.stopped = true
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(2 * stopTimeout): // WaitDelay kills after stopTimeout; this is a backstop.
		c.t.Errorf("collector did not exit within %s of SIGTERM", 2*stopTimeout)
		return
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Errorf("collector exited with %s after SIGTERM, want a clean shutdown", c.cmd.ProcessState)
	}
}

// kill ends the collector with SIGKILL, as a crash would: nothing is
// flushed on the way out.
func (c *collector) kill() {
	if c.stopped {
		return
	}
	c.stopped = true
	_ = c.cmd.Process.Kill()
	<-c.done
}

// log returns everything the collector wrote to stdout and stderr so far.
func (c *collector) log() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return string(b)
}

// waitLog polls the collector log until cond holds, failing the test after timeout.
func (c *collector) waitLog(timeout time.Duration, what string, cond func(log string) bool) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := c.log()
		if cond(l) {
			return l
		}
		select {
		case <-c.done:
			c.t.Fatalf("collector exited while waiting for %s", what)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval) // poll interval of a bounded wait, not a synchronisation sleep
	}
}

// countAttr counts the alert spans in a debug exporter (verbosity: detailed) log
// that carry attribute key, optionally with the given string value.
func countAttr(log, key, value string) int {
	needle := "-> " + key + ": "
	if value != "" {
		needle += "Str(" + value + ")"
	}
	return bytes.Count([]byte(log), []byte(needle))
}
