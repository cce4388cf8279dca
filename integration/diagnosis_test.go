package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// diagnosisCase is one slow route of the Go test app and the diagnosis its
// alert must carry.
type diagnosisCase struct {
	route string
	kind  alert.DiagnosisKind
	// frame is the app function the verdict must name, with its file:line
	// in the app's main.go; "" when the verdict names none.
	frame string
	// text must be part of the diagnosis' sentence; "" for no check.
	text string
	// Bounds of the time accounting.
	minOnCPU, minChildren, minOffCPU time.Duration
	noChildren                       bool
	// queries, when set, are the tables of the child groups the breakdown
	// must hold, one query each (the app's shape, checked before the
	// diagnosis); pattern is the ChildGroup.Pattern each child group must
	// carry.
	queries []string
	pattern string
	// wait, when set, must be among the profile's Waiting calls: the
	// blocking call and the app function that called it.
	wait *alert.Blocker
}

// TestGoAppDiagnosis: a real otelhttp app with spanprofiler (CPU and
// wall-clock profiles). Each slow route is slow for another reason, and its
// alert says which, naming the app function to look at: on CPU in
// main.burnCPU; N+1 queries; main.getOrder waiting in time.Sleep;
// main.reserveStock waiting in sync.(*Mutex).Lock (on a lock a background
// goroutine holds, no child span); four different queries one after
// another. The time accounting adds up to the request's duration.
func TestGoAppDiagnosis(t *testing.T) {
	cases := []diagnosisCase{
		{
			route: "/slow/cpu", kind: alert.DiagnosisCPU, frame: "main.burnCPU",
			// Any CPU at all: on a crowded CI host the process may get a
			// fraction of the 700 ms it wanted (the diagnosis then says
			// CPU-starved, still cpu and still main.burnCPU).
			minOnCPU: time.Millisecond,
		},
		{
			route: "/slow/db", kind: alert.DiagnosisNPlusOne, pattern: alert.PatternNPlusOne,
			minChildren: 500 * time.Millisecond, // 42 x 15 ms
		},
		{
			route: "/slow/sleep", kind: alert.DiagnosisWaiting, frame: "main.getOrder", text: "time.Sleep",
			minOffCPU: time.Second, noChildren: true, // 1.5 s asleep
			wait: &alert.Blocker{Call: "time.Sleep", Caller: "main.getOrder"},
		},
		{
			route: "/slow/lock", kind: alert.DiagnosisWaiting, frame: "main.reserveStock", text: "sync.(*Mutex).Lock",
			minOffCPU: time.Second, noChildren: true, // the lock is held 1.2 s
			wait: &alert.Blocker{Call: "sync.(*Mutex).Lock", Caller: "main.reserveStock"},
		},
		{
			route: "/slow/sequential", kind: alert.DiagnosisSequentialQueries, pattern: alert.PatternSequential,
			queries:     []string{"users", "orders", "addresses", "payment_methods"},
			minChildren: time.Second, // 4 x 300 ms
		},
	}

	cfg := &appsConfig{}
	c := startAppsCollector(t, cfg)
	a := startGoApp(t, fmt.Sprintf("127.0.0.1:%d", cfg.grpcPort), "go-diagnosis")
	for _, tc := range cases {
		a.request("GET", tc.route)
		// Export this request's profile, then its span, now: the SDK's 5 s
		// batch timer could otherwise send a span while its profile stays
		// in the app for longer than correlation.wait (the requests take
		// over 5 s together).
		a.flush()
	}

	var want []string
	for _, tc := range cases {
		want = append(want, tc.route)
	}
	slices.Sort(want)
	got := waitAlerts(t, c, cfg.alertFile(), "alerts for "+strings.Join(want, ", "), func(as []alert.Alert) bool {
		return len(as) >= len(want)
	})
	routes := routesOf(got)
	slices.Sort(routes)
	if !slices.Equal(routes, want) {
		t.Fatalf("alert routes = %v, want %v (once each)", routes, want)
	}
	m := byRoute(got)

	for _, tc := range cases {
		t.Run(strings.TrimPrefix(tc.route, "/"), func(t *testing.T) {
			checkDiagnosis(t, tc, m[tc.route][0])
		})
	}
}

func checkDiagnosis(t *testing.T, tc diagnosisCase, a alert.Alert) {
	t.Helper()
	if tc.queries != nil {
		var tables []string
		if a.Breakdown != nil {
			for _, g := range a.Breakdown.Children {
				if g.Count == 1 && strings.HasPrefix(g.Description, "postgresql SELECT * FROM ") {
					tables = append(tables, strings.Fields(strings.TrimPrefix(g.Description, "postgresql SELECT * FROM "))[0])
				}
			}
		}
		slices.Sort(tables)
		want := slices.Sorted(slices.Values(tc.queries))
		if !slices.Equal(tables, want) {
			t.Errorf("breakdown %+v: want one postgresql query on each of %v", a.Breakdown, want)
		}
	}
	d := a.Diagnosis
	if d == nil {
		t.Fatalf("%s: no diagnosis (duration %v, breakdown %v, profile %v)", tc.route, a.Duration, a.Breakdown != nil, a.Profile != nil)
	}
	t.Logf("%s (%v): %s %q frame %q line %q, on CPU %v, children %v, off CPU %v",
		tc.route, a.Duration, d.Kind, d.Text, d.Frame, d.Line, d.Time.OnCPU, d.Time.Children, d.Time.OffCPU)
	if d.Kind != tc.kind {
		t.Errorf("kind %q, want %q (text %q)", d.Kind, tc.kind, d.Text)
	}
	if strings.TrimSpace(d.Text) == "" {
		t.Errorf("empty text")
	}
	if tc.text != "" && !strings.Contains(d.Text, tc.text) {
		t.Errorf("text %q does not mention %s", d.Text, tc.text)
	}
	if tc.frame != "" {
		if d.Frame != tc.frame {
			t.Errorf("frame %q, want %q", d.Frame, tc.frame)
		}
		// The app is one file: the line is main.go:N.
		if !strings.Contains(d.Line, "main.go:") {
			t.Errorf("line %q, want main.go:N (the file:line of %s)", d.Line, tc.frame)
		}
	}

	// The time accounting: concurrent children count once and CPU spent in
	// a child span counts twice, so the sum may pass the duration a little
	// (and sampling rounds the CPU time), but it must cover it.
	tm := d.Time
	sum := tm.OnCPU + tm.Children + tm.OffCPU
	if sum < a.Duration*8/10 || sum > a.Duration*13/10 {
		t.Errorf("on CPU %v + children %v + off CPU %v = %v, want about the duration %v",
			tm.OnCPU, tm.Children, tm.OffCPU, sum, a.Duration)
	}
	if tm.Children > a.Duration {
		t.Errorf("children %v longer than the request %v", tm.Children, a.Duration)
	}
	if tm.OnCPU < tc.minOnCPU {
		t.Errorf("on CPU %v, want at least %v", tm.OnCPU, tc.minOnCPU)
	}
	if tm.Children < tc.minChildren {
		t.Errorf("children %v, want at least %v", tm.Children, tc.minChildren)
	}
	if tm.OffCPU < tc.minOffCPU {
		t.Errorf("off CPU %v, want at least %v", tm.OffCPU, tc.minOffCPU)
	}
	if tc.noChildren && tm.Children != 0 {
		t.Errorf("children %v, want 0 (the route has no child span)", tm.Children)
	}

	if tc.pattern != "" {
		if a.Breakdown == nil || len(a.Breakdown.Children) == 0 {
			t.Errorf("no breakdown, want child groups marked %s", tc.pattern)
		} else {
			for _, g := range a.Breakdown.Children {
				if g.Pattern != tc.pattern {
					t.Errorf("child group %q (x%d) has pattern %q, want %q", g.Description, g.Count, g.Pattern, tc.pattern)
				}
			}
		}
	}

	if tc.wait != nil {
		p := a.Profile
		if p == nil {
			t.Fatalf("no profile: the wall-clock samples of the wait must be linked to the span")
		}
		if len(p.Waiting) == 0 {
			t.Fatalf("the profile has no waiting calls (off CPU %v, %d wall-clock samples)", p.OffCPUTime, p.WallSamples)
		}
		if !slices.ContainsFunc(p.Waiting, func(b alert.Blocker) bool {
			return b.Call == tc.wait.Call && b.Caller == tc.wait.Caller && b.Time > 0
		}) {
			t.Errorf("waiting calls %+v, want %s called by %s", p.Waiting, tc.wait.Call, tc.wait.Caller)
		}
	}
}
