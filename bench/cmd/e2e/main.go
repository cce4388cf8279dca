// Command e2e compares whole collectors under the same OTLP load: the
// otelcol-slowspan build (`make build`) with no alerting, with the slowspan
// processor in its own pipeline, and with the slowspan connector behind the
// user's pipeline, the same connector in quantile mode (p95 over 5 minutes),
// and the contrib-only collector (bench/builder-contrib.yaml) with tail
// sampling and filter. It measures the collector process's CPU
// (utime+stime from /proc/<pid>/stat) per million spans and its peak RSS
// (VmHWM), takes the median of several runs, and prints a Markdown table.
// Loopback only; every wait is bounded.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slowspan/slowspan/bench/replay"
	"github.com/slowspan/slowspan/internal/workload"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100
// on every Linux architecture Go supports here.
const clockTicks = 100

type setup struct {
	name, desc string
	contrib    bool          // run the contrib-only collector
	drain      time.Duration // measured idle time after the load, for work still queued
	alerts     string        // the YAML that adds the alerting, or ""
}

// quantileYAML is the quantile-mode trigger of setup (e), as a user writes
// it; the in-process benchmark takes the same one (inproc.QuantileTrigger,
// kept equal by main_test.go).
const quantileYAML = `    trigger: {mode: quantile, quantile: 0.95, over: 5m, min_count: 20}
    resolve: {after: 10m}`

// tailDecisionWait is tail sampling's default: what a user gets.
const tailDecisionWait = 30 * time.Second

// tailNumTraces holds every trace of the decision window at 20,000 spans/s in
// traces of four (150,000), with headroom. The default (50,000) silently
// drops two thirds of them before any decision at this rate, slow ones
// included, so the setup would no longer make the same selection.
const tailNumTraces = 200000

func setups() []setup {
	include := fmt.Sprintf("[%q]", workload.Include[0])
	return []setup{
		{name: "a", desc: "no alerts: `[memory_limiter, batch] -> nop`", drain: 3 * time.Second},
		{name: "b", desc: "slowspan processor in its own pipeline beside it", drain: 3 * time.Second, alerts: `
processors:
  slowspan:
    include: ` + include + `
    alerts: {max_per_minute: 0}
pipelines:
  traces/alerts:
    receivers: [otlp]
    processors: [slowspan]
    exporters: [debug/alerts]
`},
		{name: "c", desc: "slowspan connector behind it", drain: 3 * time.Second, alerts: `
connectors:
  slowspan:
    include: ` + include + `
    alerts: {max_per_minute: 0}
user_exporters: [nop, slowspan]
pipelines:
  traces/alerts:
    receivers: [slowspan]
    exporters: [debug/alerts]
`},
		{name: "d", desc: "contrib only: tail sampling (latency 1s) then filter (OTTL) in their own pipeline", contrib: true,
			// Traces wait decision_wait before tail sampling decides: measure
			// until the last ones are decided.
			drain: tailDecisionWait + 5*time.Second, alerts: `
processors:
  tail_sampling:
    decision_wait: ` + tailDecisionWait.String() + `
    num_traces: ` + strconv.Itoa(tailNumTraces) + `
    policies:
      - name: slow
        type: latency
        latency:
          threshold_ms: ` + strconv.FormatInt(workload.Threshold.Milliseconds(), 10) + `
  filter/alerts:
    error_mode: ignore
    traces:
      span:
        - '` + workload.FilterDropCondition() + `'
pipelines:
  traces/alerts:
    receivers: [otlp]
    processors: [tail_sampling, filter/alerts]
    exporters: [debug/alerts]
`},
		{name: "e", desc: "slowspan connector behind it, quantile mode (p95 over 5m)", drain: 3 * time.Second, alerts: `
connectors:
  slowspan:
    include: ` + include + `
    alerts: {max_per_minute: 0}
` + quantileYAML + `
user_exporters: [nop, slowspan]
pipelines:
  traces/alerts:
    receivers: [slowspan]
    exporters: [debug/alerts]
`},
	}
}

// config renders a collector config: the user's pipeline, plus the setup's
// alerting spliced in (processors, connectors, an extra pipeline).
func config(s setup, httpPort, grpcPort, metricsPort int) string {
	sections := map[string]string{}
	var cur string
	for _, line := range strings.Split(s.alerts, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			cur, _, _ = strings.Cut(line, ":")
			if cur == "user_exporters" {
				sections[cur] = strings.TrimSpace(strings.TrimPrefix(line, "user_exporters:"))
			}
			continue
		}
		sections[cur] += line + "\n"
	}
	userExporters := "[nop]"
	if e := sections["user_exporters"]; e != "" {
		userExporters = e
	}
	var b strings.Builder
	fmt.Fprintf(&b, `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 4096
    spike_limit_mib: 800
  batch:
%s`, httpPort, grpcPort, sections["processors"])
	if c := sections["connectors"]; c != "" {
		b.WriteString("connectors:\n" + c)
	}
	fmt.Fprintf(&b, `exporters:
  nop:
  debug/alerts:
    verbosity: basic
service:
  telemetry:
    logs:
      sampling:
        enabled: false # debug/alerts lines are counted: none may be dropped
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: %s
%s`, metricsPort, userExporters, indent(sections["pipelines"], "  "))
	return b.String()
}

func indent(s, by string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

type result struct {
	cpuPerM float64 // CPU seconds per million spans
	hwmMiB  float64
	spans   int64
	out     int64 // spans out of the alerts pipeline
	stats   replay.Stats
}

func main() {
	slowspanBin := flag.String("slowspan", "../build/otelcol-slowspan/otelcol-slowspan", "otelcol-slowspan binary (make build)")
	contribBin := flag.String("contrib", "build/otelcol-contrib-bench/otelcol-contrib-bench", "contrib-only collector (make bench-e2e builds it)")
	rate := flag.Int("rate", 20000, "spans per second")
	dur := flag.Duration("duration", 30*time.Second, "load duration per run")
	runs := flag.Int("runs", 3, "runs per setup (the median is reported)")
	protocol := flag.String("protocol", "http", "OTLP protocol of the load: http or grpc")
	only := flag.String("only", "", "comma-separated setups to run (default all)")
	workdir := flag.String("workdir", "build/e2e", "configs and logs")
	flag.Parse()

	all := setups()
	if *only != "" {
		all = slices.DeleteFunc(all, func(s setup) bool { return !slices.Contains(strings.Split(*only, ","), s.name) })
	}
	if err := os.MkdirAll(*workdir, 0o755); err != nil {
		fatal(err)
	}
	// Every config is checked before any load: a setup the collector rejects
	// (quantile mode before the engine takes it) fails now, with the reason,
	// not minutes into the first run.
	for _, s := range all {
		bin := *slowspanBin
		if s.contrib {
			bin = *contribBin
		}
		if err := validate(s, bin, filepath.Join(*workdir, s.name+"-validate")); err != nil {
			fatal(fmt.Errorf("setup %s: %w", s.name, err))
		}
	}
	res := map[string][]result{}
	// Interleave the setups run by run, so drift on the machine spreads over all.
	for r := 1; r <= *runs; r++ {
		for _, s := range all {
			bin := *slowspanBin
			if s.contrib {
				bin = *contribBin
			}
			rr, err := runOnce(s, bin, filepath.Join(*workdir, fmt.Sprintf("%s-%d", s.name, r)), *protocol, *rate, *dur)
			if err != nil {
				fatal(fmt.Errorf("setup %s run %d: %w", s.name, r, err))
			}
			fmt.Fprintf(os.Stderr, "setup %s run %d: %.2f CPU-s/M spans, peak RSS %.0f MiB, %d alert-pipeline spans out; load: %s\n",
				s.name, r, rr.cpuPerM, rr.hwmMiB, rr.out, rr.stats)
			res[s.name] = append(res[s.name], rr)
		}
	}
	printTable(all, res, *rate, *dur, *runs, *protocol)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "e2e:", err)
	os.Exit(1)
}

func runOnce(s setup, bin, dir, protocol string, rate int, dur time.Duration) (result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	httpPort, grpcPort, metricsPort := freePort(), freePort(), freePort()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config(s, httpPort, grpcPort, metricsPort)), 0o644); err != nil {
		return result{}, err
	}
	logPath := filepath.Join(dir, "collector.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If this program dies, the collector must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("collector did not stop within 30s of SIGTERM; killed (%v)", <-done)
		}
	}
	defer func() { _ = stop() }()

	if err := waitReady(httpPort, done); err != nil {
		return result{}, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	pid := cmd.Process.Pid
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return result{}, err
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", httpPort)
	if protocol == "grpc" {
		endpoint = fmt.Sprintf("127.0.0.1:%d", grpcPort)
	}
	st, err := replay.Run(context.Background(), replay.Config{Endpoint: endpoint, Protocol: protocol, Rate: rate, Duration: dur})
	if err != nil {
		return result{}, err
	}
	time.Sleep(s.drain) // measured: batches and traces still in flight are processed
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return result{}, err
	}
	hwm, err := vmHWM(pid)
	if err != nil {
		return result{}, err
	}
	if err := stop(); err != nil {
		return result{}, fmt.Errorf("collector exit: %w (log: %s)", err, logPath)
	}
	if st.Spans == 0 {
		return result{}, errors.New("no span accepted")
	}
	out, err := debugSpans(logPath)
	if err != nil {
		return result{}, err
	}
	return result{
		cpuPerM: float64(cpu1-cpu0) / clockTicks / float64(st.Spans) * 1e6,
		hwmMiB:  float64(hwm) / 1024,
		spans:   st.Spans,
		out:     out,
		stats:   st,
	}, nil
}

// validate runs `<bin> validate` on the setup's config, for at most a minute.
func validate(s setup, bin, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config(s, freePort(), freePort(), freePort())), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "validate", "--config", cfgPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s validate --config %s: %w\n%s", bin, cfgPath, err, out)
	}
	return nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls the OTLP HTTP receiver (started last, so the pipelines are
// up) with an empty request, for at most a minute.
func waitReady(port int, done <-chan error) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/traces", port)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("collector exited before it was ready: %v", err)
		default:
		}
		resp, err := client.Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond) // poll interval of a bounded wait
	}
	return errors.New("collector not ready within a minute")
}

// cpuTicks returns utime+stime of pid (fields 14 and 15 of /proc/<pid>/stat,
// counted after the parenthesised command name, which may hold spaces).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + k, nil
}

// vmHWM returns the peak resident set size of pid in KiB.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("VmHWM not found")
}

var debugSpansRe = regexp.MustCompile(`"otelcol.component.id": "debug/alerts".*"spans": (\d+)`)

// debugSpans sums the span counts the debug/alerts exporter logged: the
// spans that left the alerts pipeline.
func debugSpans(logPath string) (int64, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range debugSpansRe.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n += v
	}
	return n, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(all []setup, res map[string][]result, rate int, dur time.Duration, runs int, protocol string) {
	med := func(name string, f func(result) float64) float64 {
		var xs []float64
		for _, r := range res[name] {
			xs = append(xs, f(r))
		}
		if len(xs) == 0 {
			return 0
		}
		return median(xs)
	}
	cpu := func(r result) float64 { return r.cpuPerM }
	hwm := func(r result) float64 { return r.hwmMiB }
	out := func(r result) float64 { return float64(r.out) }
	baseCPU, baseHWM := med("a", cpu), med("a", hwm)
	fmt.Printf("%d spans/s for %s over OTLP/%s, 1 %% slow server spans over 200 routes; median of %d runs.\n\n", rate, dur, protocol, runs)
	fmt.Println("| setup | CPU-s per million spans | vs (a) | peak RSS (MiB) | vs (a) | spans out of the alerts pipeline (median) | runs (CPU-s/M) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|")
	for _, s := range all {
		c, h := med(s.name, cpu), med(s.name, hwm)
		var each []string
		for _, r := range res[s.name] {
			each = append(each, fmt.Sprintf("%.2f", r.cpuPerM))
		}
		ratio := func(v, base float64) string {
			if base == 0 {
				return "-"
			}
			return fmt.Sprintf("%+.1f %%", (v/base-1)*100)
		}
		fmt.Printf("| (%s) %s | %.2f | %s | %.0f | %s | %.0f | %s |\n", s.name, s.desc, c, ratio(c, baseCPU), h, ratio(h, baseHWM), med(s.name, out), strings.Join(each, ", "))
	}
}
