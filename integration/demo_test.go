package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemo runs what `make demo DEMO_EXIT=1` runs (cmd/demo with the real
// collector, the Go test app and the fake Mattermost), on free ports: one
// alert and one post per slow route, the newest report it names exists, and
// it stops every process it started.
func TestDemo(t *testing.T) {
	col := collectorPath(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator),
		"./cmd/demo", "./cmd/fakemattermost", "./integration/apps/goapp")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	dir := t.TempDir()
	addr := func() string { return "127.0.0.1:" + strconv.Itoa(freePort(t)) }
	appAddr, mmAddr, grpcAddr, httpAddr := addr(), addr(), addr(), addr()
	metricsPort := strconv.Itoa(freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "demo"), "-exit",
		"-collector", col, "-dir", dir, "-bin", bin,
		"-config", "../collector-config.yaml,../collector-config.mattermost.yaml",
		"-app", appAddr, "-mattermost", mmAddr, "-otlp-grpc", grpcAddr, "-otlp-http", httpAddr,
		"-metrics-port", metricsPort)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("demo ran %s:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		for _, name := range []string{"collector.log", "demoapp.log", "fakemattermost.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			t.Logf("%s:\n%s", name, b)
		}
		t.Fatalf("demo: %v", err)
	}

	if !strings.Contains(string(out), "5 alerts and 5 Mattermost posts") {
		t.Errorf("the demo does not report 5 alerts and 5 posts")
	}
	m := regexp.MustCompile(`(?m)^  newest report +(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("the demo prints no newest report")
	}
	if _, err := os.Stat(string(m[1])); err != nil {
		t.Errorf("newest report: %v", err)
	}
	lines, err := os.ReadFile(filepath.Join(dir, "alerts", "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(lines), "\n"); n != 5 {
		t.Errorf("alerts.jsonl has %d lines, want 5 (one per slow route)", n)
	}
	// Every process it started is gone: their ports are free again.
	for _, a := range []string{appAddr, mmAddr, grpcAddr, httpAddr, "127.0.0.1:" + metricsPort} {
		if err := listenOnce(a); err != nil {
			t.Errorf("%s still taken after the demo exited: %v", a, err)
		}
	}
}

func listenOnce(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return l.Close()
}
