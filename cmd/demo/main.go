// Command demo is what `make demo` runs: slowspan end to end on one machine,
// in under a minute, for someone who has just cloned the repository. It
// starts
//
//   - the fake Mattermost (cmd/fakemattermost),
//   - the collector with collector-config.yaml merged with
//     collector-config.mattermost.yaml (what `make run` starts), its state and
//     alerts in a demo directory (wiped at each run, so every run alerts), a
//     500 ms threshold and a 1 minute dedup window,
//   - the Go app of the end-to-end tests (integration/apps/goapp: otelhttp and
//     spanprofiler, one slow route per reason to be slow),
//
// sends a few requests to each slow route, has the app flush its spans and
// profile, waits for one alert per route in alerts.jsonl and one post per
// alert in the fake Mattermost, prints where to look, and runs until Ctrl-C
// (with -exit, it stops there). It stops every process it started on the way
// out, also when it fails.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// demoChannel is the fake Mattermost's channel id (26 letters or digits).
const demoChannel = "slowspandemochannel0000000"

// routes are the goapp's slow routes the demo sends traffic to, each slow
// for its own reason.
var routes = []struct{ path, why string }{
	{"/slow/cpu", "on CPU in main.burnCPU (0.7 s)"},
	{"/slow/db", "N+1: the same query 42 times, each a child span"},
	{"/slow/sequential", "four queries one after another (child spans)"},
	{"/slow/sleep", "waiting in time.Sleep, no child span (1.5 s)"},
	{"/slow/lock", "waiting for a mutex another goroutine holds"},
}

// requestsPerRoute is how many requests each slow route gets: the first
// alerts, the others are suppressed repeats (counted in the alert's
// follow-ups).
const requestsPerRoute = 3

type options struct {
	collector   string // otelcol-slowspan binary
	bin         string // directory with the goapp and fakemattermost binaries
	dir         string // state: data/, alerts/, logs
	configs     []string
	appAddr     string
	mmAddr      string
	otlpGRPC    string // overrides of collector-config.yaml's addresses, when set
	otlpHTTP    string
	metricsPort string
	window      string
	threshold   string
	timeout     time.Duration
	exit        bool
}

func main() {
	var o options
	flag.StringVar(&o.collector, "collector", "build/otelcol-slowspan/otelcol-slowspan", "the otelcol-slowspan binary (make build)")
	flag.StringVar(&o.bin, "bin", "demo-data/bin", "directory holding the goapp and fakemattermost binaries")
	flag.StringVar(&o.dir, "dir", "demo-data", "state directory: the collector's data, the alerts and the logs (wiped at start, bin/ kept)")
	configs := flag.String("config", "collector-config.yaml,collector-config.mattermost.yaml", "collector configs, merged in order")
	flag.StringVar(&o.appAddr, "app", "127.0.0.1:8080", "the demo app's listen address")
	flag.StringVar(&o.mmAddr, "mattermost", "127.0.0.1:8065", "the fake Mattermost's listen address")
	flag.StringVar(&o.otlpGRPC, "otlp-grpc", "", "the collector's OTLP gRPC address (default: collector-config.yaml's, localhost:4317)")
	flag.StringVar(&o.otlpHTTP, "otlp-http", "", "the collector's OTLP HTTP address (default: collector-config.yaml's, localhost:4318)")
	flag.StringVar(&o.metricsPort, "metrics-port", "", "the collector's metrics port (default: collector-config.yaml's, 8888)")
	flag.StringVar(&o.window, "window", "1m", "dedup window (SLOWSPAN_DEDUP_WINDOW): an endpoint alerts again after it")
	flag.StringVar(&o.threshold, "threshold", "500ms", "slow-span threshold (SLOWSPAN_THRESHOLD)")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Second, "how long to wait for the alerts and posts")
	flag.BoolVar(&o.exit, "exit", false, "stop everything and exit once the alerts and posts are there (for CI)")
	flag.Parse()
	o.configs = strings.Split(*configs, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	d := &demo{o: o, out: os.Stdout}
	err := d.run(ctx)
	stop()
	d.stopAll()
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "demo: interrupted; every process it started is stopped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	o     options
	out   io.Writer
	mu    sync.Mutex
	procs []*proc // in start order
}

// proc is one process the demo started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited
	err  error
}

func (d *demo) say(format string, a ...any) { _, _ = fmt.Fprintf(d.out, format+"\n", a...) }

func (d *demo) run(ctx context.Context) error {
	o := d.o
	start := time.Now()
	grpcAddr := or(o.otlpGRPC, "localhost:4317")
	httpAddr := or(o.otlpHTTP, "localhost:4318")
	metricsAddr := "127.0.0.1:" + or(o.metricsPort, "8888")
	for _, a := range []struct{ what, addr string }{
		{"the demo app (-app)", o.appAddr}, {"the fake Mattermost (-mattermost)", o.mmAddr},
		{"the collector's OTLP gRPC receiver", grpcAddr}, {"the collector's OTLP HTTP receiver", httpAddr},
		{"the collector's metrics", metricsAddr},
	} {
		if err := checkFree(a.addr); err != nil {
			return fmt.Errorf("%s: %s is taken (is `make run` or another demo running?): %w", a.what, a.addr, err)
		}
	}

	// A fresh state at each run: every run alerts, whatever the window.
	dataDir, alertsDir := filepath.Join(o.dir, "data"), filepath.Join(o.dir, "alerts")
	for _, p := range []string{dataDir, alertsDir} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	d.say("slowspan demo: state in %s/ (data/, alerts/, logs; wiped at each run)", o.dir)

	// 1. The fake Mattermost.
	mmURL := "http://" + o.mmAddr
	mm, err := d.start(ctx, "fake Mattermost", filepath.Join(o.bin, "fakemattermost"),
		[]string{"-addr", o.mmAddr, "-token", "demo-token", "-channel", demoChannel}, nil)
	if err != nil {
		return err
	}
	if err := d.waitHTTP(ctx, mm, mmURL+"/posts"); err != nil {
		return err
	}
	d.say("  fake Mattermost  %s (log: %s)", mmURL, mm.log)

	// 2. The collector: collector-config.yaml + the Mattermost config, as `make run`.
	args := []string{}
	for _, c := range o.configs {
		args = append(args, "--config", c)
	}
	args = append(args, "--feature-gates=service.profilesSupport")
	if o.otlpGRPC != "" {
		args = append(args, "--set", "receivers::otlp::protocols::grpc::endpoint="+o.otlpGRPC)
	}
	if o.otlpHTTP != "" {
		args = append(args, "--set", "receivers::otlp::protocols::http::endpoint="+o.otlpHTTP)
	}
	if o.metricsPort != "" {
		// --set cannot index a list: the yaml provider replaces the list.
		args = append(args, "--config", "yaml:service::telemetry::metrics::readers: "+
			"[{pull: {exporter: {prometheus: {host: 127.0.0.1, port: "+o.metricsPort+"}}}}]")
	}
	env := []string{
		"SLOWSPAN_DATA_DIR=" + dataDir,
		"SLOWSPAN_ALERTS_DIR=" + alertsDir,
		"SLOWSPAN_DEDUP_WINDOW=" + o.window,
		"SLOWSPAN_THRESHOLD=" + o.threshold,
		"SLOWSPAN_MATTERMOST_ENDPOINT=" + mmURL,
		"SLOWSPAN_MATTERMOST_TOKEN=demo-token",
		"SLOWSPAN_MATTERMOST_CHANNEL_ID=" + demoChannel,
	}
	col, err := d.start(ctx, "collector", o.collector, args, env)
	if err != nil {
		return err
	}
	if err := d.waitTCP(ctx, col, grpcAddr); err != nil {
		return err
	}
	d.say("  collector        OTLP on %s (gRPC) and %s (HTTP), threshold %s, dedup window %s (log: %s)",
		grpcAddr, httpAddr, o.threshold, o.window, col.log)

	// 3. The demo app, exporting spans and profiles to the collector.
	appURL := "http://" + o.appAddr
	app, err := d.start(ctx, "demo app", filepath.Join(o.bin, "goapp"), nil, []string{
		"GOAPP_ADDR=" + o.appAddr, "GOAPP_OTLP_ENDPOINT=" + grpcAddr, "OTEL_SERVICE_NAME=shop",
	})
	if err != nil {
		return err
	}
	if err := d.waitHTTP(ctx, app, appURL+"/fast"); err != nil {
		return err
	}
	d.say("  demo app         %s, service \"shop\" (integration/apps/goapp; log: %s)", appURL, app.log)

	// 4. Traffic: a few requests to each slow route, routes side by side.
	d.say("traffic: %d requests to each slow route:", requestsPerRoute)
	for _, r := range routes {
		d.say("  GET %-17s %s", r.path, r.why)
	}
	if err := traffic(ctx, appURL); err != nil {
		return err
	}
	// The app's POST /flush exports its profile window and pending spans now,
	// rather than at the next tick of the SDK's and the profiler's timers.
	if err := request(ctx, http.MethodPost, appURL+"/flush"); err != nil {
		return fmt.Errorf("flush the demo app: %w", err)
	}
	d.say("waiting for the alerts (each waits up to 15 s for its CPU profile: SLOWSPAN_CORRELATION_WAIT)...")

	// 5. One alert per route, one post per alert.
	alertsPath := filepath.Join(alertsDir, "alerts.jsonl")
	var alerts []alertLine
	if err := d.poll(ctx, o.timeout, "one alert per slow route in "+alertsPath, func() bool {
		alerts = readAlerts(alertsPath)
		return len(alerts) >= len(routes)
	}); err != nil {
		return err
	}
	var posts int
	if err := d.poll(ctx, o.timeout, fmt.Sprintf("%d posts in the fake Mattermost", len(alerts)), func() bool {
		posts = countPosts(ctx, mmURL+"/posts")
		return posts >= len(alerts)
	}); err != nil {
		return err
	}

	d.say("")
	d.say("%d alerts and %d Mattermost posts in %s:", len(alerts), posts, time.Since(start).Round(time.Second))
	for _, a := range alerts {
		d.say("  %-22s %6.0f ms  %s", a.Method+" "+a.Route, a.DurationMS, firstLine(a.Diagnosis.Text))
		d.say("    report: %s", filepath.Join(alertsDir, filepath.FromSlash(a.Report)))
	}
	newest := filepath.Join(alertsDir, filepath.FromSlash(alerts[len(alerts)-1].Report))
	d.say("")
	d.say("Where to look:")
	d.say("  newest report     %s  (open it in a browser)", newest)
	// The report of the request that burned the most CPU has a flame graph.
	cpu := alerts[0]
	for _, a := range alerts {
		if a.Profile.CPUTimeMS > cpu.Profile.CPUTimeMS {
			cpu = a
		}
	}
	if cpu.Profile.CPUTimeMS > 0 {
		d.say("  a flame graph     %s  (%s %s: %.0f ms on CPU)", filepath.Join(alertsDir, filepath.FromSlash(cpu.Report)),
			cpu.Method, cpu.Route, cpu.Profile.CPUTimeMS)
	}
	d.say("  every report      %s/", filepath.Join(alertsDir, "reports"))
	d.say("  alerts            %s  (one JSON object per line: jq . %s)", alertsPath, alertsPath)
	d.say("  Mattermost posts  %s/posts  (JSON, newest first; each post as it arrived: %s)", mmURL, mm.log)
	d.say("  collector log     %s  (what its lines mean: README.md, \"What the log says\")", col.log)
	d.say("")
	if o.exit {
		d.say("-exit: stopping.")
		return nil
	}
	d.say("More traffic: curl %s/slow/cpu (an endpoint alerts again once its %s window is over).", appURL, o.window)
	d.say("Ctrl-C stops the app, the collector and the fake Mattermost.")

	// 6. Until Ctrl-C, or until one of them dies.
	exited := make(chan *proc, len(d.procs))
	for _, p := range []*proc{mm, col, app} {
		go func() { <-p.done; exited <- p }()
	}
	select {
	case <-ctx.Done():
		d.say("")
		d.say("stopping (the alerts and reports stay in %s)", alertsDir)
		return nil
	case p := <-exited:
		return fmt.Errorf("the %s exited: %v; its log: %s\n%s", p.name, p.err, p.log, tail(p.log))
	}
}

// start runs bin with args and env (added to the demo's own environment),
// its output in <dir>/<name>.log, in its own process group so that the
// terminal's Ctrl-C reaches the demo only, which stops it in order.
func (d *demo) start(ctx context.Context, name, bin string, args, env []string) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logPath := filepath.Join(d.o.dir, strings.ReplaceAll(strings.ToLower(name), " ", "")+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start the %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	d.mu.Lock()
	d.procs = append(d.procs, p)
	d.mu.Unlock()
	return p, nil
}

// stopAll stops the processes in reverse start order (the app flushes into
// the collector, the collector delivers to the fake Mattermost): SIGTERM,
// then SIGKILL after 15 s.
func (d *demo) stopAll() {
	d.mu.Lock()
	procs := d.procs
	d.procs = nil
	d.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// poll calls cond every 200 ms until it holds, for at most timeout.
func (d *demo) poll(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s after %s; logs in %s/", what, timeout, d.o.dir)
		}
		if err := d.procsAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// procsAlive fails when a process the demo started has exited.
func (d *demo) procsAlive() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		select {
		case <-p.done:
			return fmt.Errorf("the %s exited: %v; its log (%s) ends with:\n%s", p.name, p.err, p.log, tail(p.log))
		default:
		}
	}
	return nil
}

func (d *demo) waitHTTP(ctx context.Context, p *proc, url string) error {
	return d.poll(ctx, 30*time.Second, "answer from the "+p.name+" at "+url, func() bool {
		return request(ctx, http.MethodGet, url) == nil
	})
}

func (d *demo) waitTCP(ctx context.Context, p *proc, addr string) error {
	return d.poll(ctx, 30*time.Second, "listening "+p.name+" at "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}

// traffic sends requestsPerRoute requests to each route, the routes side by
// side, one request after another on each.
func traffic(ctx context.Context, appURL string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(routes))
	for _, r := range routes {
		wg.Go(func() {
			for range requestsPerRoute {
				if err := request(ctx, http.MethodGet, appURL+r.path); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(<-errs)
}

var client = &http.Client{Timeout: 30 * time.Second}

func request(ctx context.Context, method, url string) error {
	req, err := http.NewRequestWithContext(ctx, method, url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return nil
}

// alertLine is what the demo reads of a line of alerts.jsonl (the alert
// contract: alert/README.md).
type alertLine struct {
	Method     string  `json:"method"`
	Route      string  `json:"route"`
	DurationMS float64 `json:"duration_ms"`
	Report     string  `json:"report"`
	Diagnosis  struct {
		Text string `json:"text"`
	} `json:"diagnosis"`
	Profile struct {
		CPUTimeMS float64 `json:"cpu_time_ms"`
	} `json:"profile"`
}

// readAlerts returns the complete lines of alerts.jsonl that decode.
func readAlerts(path string) []alertLine {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []alertLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var a alertLine
		if json.Unmarshal(sc.Bytes(), &a) == nil && a.Report != "" {
			out = append(out, a)
		}
	}
	return out
}

// countPosts counts the posts the fake Mattermost holds (GET /posts).
func countPosts(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	var list struct {
		Order []string `json:"order"`
	}
	if json.NewDecoder(resp.Body).Decode(&list) != nil {
		return 0
	}
	return len(list.Order)
}

// checkFree fails when addr cannot be listened on.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return "  " + strings.Join(lines[max(0, len(lines)-15):], "\n  ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if r := []rune(line); len(r) > 90 {
		return string(r[:90]) + "…"
	}
	return line
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
