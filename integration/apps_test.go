package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	goAppOnce sync.Once
	goAppBin  string
	goAppErr  error
)

// goAppPath builds the instrumented Go test app (apps/goapp) once.
func goAppPath(t *testing.T) string {
	t.Helper()
	goAppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slowspan-goapp-")
		if err != nil {
			goAppErr = err
			return
		}
		goAppBin = filepath.Join(dir, "goapp")
		out, err := exec.Command("go", "build", "-o", goAppBin, "./apps/goapp").CombinedOutput()
		if err != nil {
			goAppErr = fmt.Errorf("go build ./apps/goapp: %v\n%s", err, out)
		}
	})
	if goAppErr != nil {
		t.Fatal(goAppErr)
	}
	return goAppBin
}

// app is a running test app process.
type app struct {
	t       *testing.T
	name    string
	addr    string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// startApp runs bin with env and waits until it accepts connections on addr.
func startApp(t *testing.T, name string, cmd *exec.Cmd, addr string) *app {
	t.Helper()
	a := &app{t: t, name: name, addr: addr, cmd: cmd, done: make(chan struct{}), logPath: filepath.Join(t.TempDir(), name+".log")}
	logFile, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logFile.Close() }()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return a
		}
		select {
		case <-a.done:
			b, _ := os.ReadFile(a.logPath)
			t.Fatalf("%s exited before it listened: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after %s", name, addr, startTimeout)
		}
		time.Sleep(pollInterval) // poll interval of a bounded wait
	}
}

func (a *app) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(stopTimeout):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// startGoApp starts apps/goapp exporting spans and profiles to the
// collector's OTLP gRPC endpoint.
func startGoApp(t *testing.T, otlpGRPC, service string, env ...string) *app {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(goAppPath(t))
	cmd.Env = append(os.Environ(),
		"GOAPP_ADDR="+addr,
		"GOAPP_OTLP_ENDPOINT="+otlpGRPC,
		"OTEL_SERVICE_NAME="+service,
	)
	cmd.Env = append(cmd.Env, env...)
	return startApp(t, "goapp", cmd, addr)
}

var appClient = &http.Client{Timeout: 30 * time.Second}

// request sends one request and drains the answer; the status is not
// checked (hostile paths may well be 404).
func (a *app) request(method, path string) {
	a.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, "http://"+a.addr+path, nil)
	if err != nil {
		a.t.Fatalf("request %q: %v", path, err)
	}
	resp, err := appClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// flush makes the app export its spans (and its profile window) now.
func (a *app) flush() {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.addr+"/flush", nil)
	resp, err := appClient.Do(req)
	if err != nil {
		a.t.Fatalf("flush %s: %v", a.name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("flush %s: %s %s", a.name, resp.Status, body)
	}
}

// startNodeApp starts apps/nodeapp (express with the contrib HTTP and
// express instrumentations) exporting spans over OTLP/HTTP to the collector.
// Its npm packages come from the committed lockfile (`make deps`).
func startNodeApp(t *testing.T, otlpHTTPPort int, service string) *app {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: the Node test app needs Node.js 18.19 or later (`make deps` installs it): %v", err)
	}
	if _, err := os.Stat("apps/nodeapp/node_modules/express"); err != nil {
		t.Fatalf("the Node test app's packages are missing: run `make deps` (npm ci --prefix integration/apps/nodeapp): %v", err)
	}
	port := freePort(t)
	cmd := exec.Command(node, "server.js")
	cmd.Dir = "apps/nodeapp"
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("NODEAPP_PORT=%d", port),
		fmt.Sprintf("NODEAPP_OTLP_URL=http://127.0.0.1:%d/v1/traces", otlpHTTPPort),
		"OTEL_SERVICE_NAME="+service,
	)
	return startApp(t, "nodeapp", cmd, fmt.Sprintf("127.0.0.1:%d", port))
}
