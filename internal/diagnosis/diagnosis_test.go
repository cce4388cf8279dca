package diagnosis

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/profileindex"
)

const ms = time.Millisecond

// start is the request's start (unix nanos) in every case.
const start = int64(1_700_000_000_000_000_000)

func db(desc string, count int) Group {
	return Group{Class: ClassDB, System: "postgresql", Name: "SELECT", Description: "postgresql " + desc, Count: count}
}

func sleepSample(d time.Duration, times ...int64) profileindex.Sample {
	return profileindex.Sample{
		Kind:   profileindex.KindWall,
		Frames: []string{"runtime.gopark", "time.Sleep", "main.getOrder", "net/http.HandlerFunc.ServeHTTP"},
		Lines:  []string{"proc.go:435", "time.go:338", "orders.go:17", "server.go:2294"},
		CPU:    d, Count: int64(d / (50 * ms)), Times: times,
	}
}

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name     string
		req      Request
		kind     alert.DiagnosisKind
		text     []string // substrings of the text
		frame    string
		line     string
		patterns map[int]string
		acc      alert.TimeAccount
	}{
		{
			name: "cpu bound, app code named",
			req: Request{Wall: 1200 * ms, Samples: &profileindex.Samples{Samples: []profileindex.Sample{{Kind: profileindex.KindCPU, CPU: 980 * ms}}},
				Profile: &alert.Profile{CPUTime: 980 * ms, ByAppCode: []alert.CodeGroup{
					{Function: "", Share: 0.9}, // runtime first: skipped
					{Function: "main.computeChecksums", Line: "checksum.go:42", Share: 0.76},
				}}},
			kind: alert.DiagnosisCPU, frame: "main.computeChecksums", line: "checksum.go:42",
			text: []string{"CPU-bound: 980 ms of 1.20 s on CPU", "76 % under main.computeChecksums (checksum.go:42)"},
			acc:  alert.TimeAccount{OnCPU: 980 * ms, OffCPU: 220 * ms},
		},
		{
			name: "n+1 interleaved with connects and another query",
			req: func() Request {
				r := Request{Wall: 1250 * ms, Groups: []Group{
					db("SELECT * FROM orders WHERE id = ?", 30),
					{Class: ClassInternal, Name: "connect", Count: 30},
					db("SELECT * FROM users WHERE id = ?", 1),
				}}
				at := 5 * ms
				for range 30 { // connect, query, connect, query ...
					r.Calls = append(r.Calls, Call{Group: 1, Start: at, End: at + ms})
					r.Calls = append(r.Calls, Call{Group: 0, Start: at + ms, End: at + 41*ms})
					at += 41 * ms
				}
				r.Calls = append(r.Calls, Call{Group: 2, Start: 0, End: 5 * ms})
				return r
			}(),
			kind:     alert.DiagnosisNPlusOne,
			text:     []string{"N+1: 30 x the same postgresql query took 1.20 s of 1.25 s: SELECT * FROM orders WHERE id = ?"},
			patterns: map[int]string{0: alert.PatternNPlusOne},
			acc:      alert.TimeAccount{Children: 1235 * ms, OffCPU: 15 * ms},
		},
		{
			name: "a concurrent fan-out is not an n+1: each query is slow",
			req: Request{Wall: 1000 * ms, Groups: []Group{db("SELECT * FROM items WHERE id = ?", 10)},
				Calls: func() []Call {
					var c []Call
					for range 10 {
						c = append(c, Call{Group: 0, Start: 10 * ms, End: 900 * ms})
					}
					return c
				}()},
			kind:     alert.DiagnosisSlowQuery,
			text:     []string{"Slow query: one postgresql query took 890 ms of 1.00 s"},
			patterns: map[int]string{0: alert.PatternSlowQuery},
		},
		{
			name: "sequential independent queries",
			req: Request{Wall: 1250 * ms, Groups: []Group{
				db("SELECT * FROM users WHERE id = ?", 1), db("SELECT * FROM orders WHERE user_id = ?", 1),
				db("SELECT * FROM addresses WHERE user_id = ?", 1), db("SELECT * FROM payment_methods WHERE user_id = ?", 1),
			}, Calls: []Call{
				{Group: 0, Start: 10 * ms, End: 310 * ms}, {Group: 1, Start: 312 * ms, End: 612 * ms},
				{Group: 2, Start: 615 * ms, End: 915 * ms}, {Group: 3, Start: 915 * ms, End: 1215 * ms},
			}},
			kind:     alert.DiagnosisSequentialQueries,
			text:     []string{"Sequential queries: 4 postgresql queries ran one after another, 1.20 s of 1.25 s", "about 300 ms"},
			patterns: map[int]string{0: alert.PatternSequential, 1: alert.PatternSequential, 2: alert.PatternSequential, 3: alert.PatternSequential},
		},
		{
			name: "queries already in parallel are not sequential",
			req: Request{Wall: 1000 * ms, Groups: []Group{db("SELECT a", 1), db("SELECT b", 1), db("SELECT c", 1)},
				Calls: []Call{{Group: 0, Start: 0, End: 300 * ms}, {Group: 1, Start: 100 * ms, End: 400 * ms}, {Group: 2, Start: 200 * ms, End: 500 * ms}}},
			// Half the time in queries, half unaccounted: on a tie the
			// calls, listed first, win.
			kind: alert.DiagnosisDownstream,
			text: []string{"Downstream: postgresql SELECT a took 300 ms of 1.00 s; 500 ms in all calls to other services"},
		},
		{
			name: "one slow query",
			req: Request{Wall: 1250 * ms, Groups: []Group{db("SELECT * FROM orders WHERE total > ?", 1), db("SELECT 1", 1)},
				Calls: []Call{{Group: 1, Start: 0, End: 20 * ms}, {Group: 0, Start: 40 * ms, End: 1140 * ms}}},
			kind:     alert.DiagnosisSlowQuery,
			text:     []string{"Slow query: one postgresql query took 1.10 s of 1.25 s: SELECT * FROM orders WHERE total > ?"},
			patterns: map[int]string{0: alert.PatternSlowQuery},
		},
		{
			name: "downstream http, overlapping calls counted once",
			req: Request{Wall: 1100 * ms, Groups: []Group{
				{Class: ClassRemote, Name: "GET", Description: "GET payments /charge", Count: 2},
				{Class: ClassRemote, Name: "GET", Description: "GET fraud /score", Count: 1},
			}, Calls: []Call{
				{Group: 0, Start: 0, End: 500 * ms}, {Group: 0, Start: 500 * ms, End: 900 * ms},
				{Group: 1, Start: 100 * ms, End: 400 * ms},
			}},
			kind: alert.DiagnosisDownstream,
			text: []string{"Downstream: 2 x GET payments /charge took 900 ms of 1.10 s; 900 ms in all calls to other services"},
			acc:  alert.TimeAccount{Children: 900 * ms, OffCPU: 200 * ms},
		},
		{
			name: "waiting in a sleep, named from the wall-clock profile",
			req: Request{Start: start, Wall: 1500 * ms, Samples: &profileindex.Samples{Samples: []profileindex.Sample{sleepSample(1500 * ms)}},
				Profile: &alert.Profile{}},
			kind: alert.DiagnosisWaiting, frame: "main.getOrder", line: "orders.go:17",
			text: []string{"Waiting: 1.50 s of 1.50 s off-CPU with no child span; blocked in time.Sleep from main.getOrder (orders.go:17)"},
			acc:  alert.TimeAccount{OffCPU: 1500 * ms},
		},
		{
			name: "waiting inside a query is the query's: the sleep outside it is named",
			req: Request{Start: start, Wall: 2000 * ms,
				Groups: []Group{db("SELECT pg_sleep(?)", 1)},
				Calls:  []Call{{Group: 0, Start: 0, End: 800 * ms}},
				Samples: &profileindex.Samples{Samples: []profileindex.Sample{
					{Kind: profileindex.KindWall, CPU: 800 * ms, Count: 16,
						Frames: []string{"runtime.gopark", "runtime.netpollblock", "internal/poll.runtime_pollWait", "main.query"},
						Times:  []int64{start + int64(100*ms), start + int64(500*ms)}},
					sleepSample(1200*ms, start+int64(900*ms), start+int64(1500*ms)),
				}},
				Profile: &alert.Profile{}},
			kind: alert.DiagnosisWaiting, frame: "main.getOrder",
			text: []string{"off-CPU outside child spans; blocked in time.Sleep from main.getOrder"},
			acc:  alert.TimeAccount{Children: 800 * ms, OffCPU: 1200 * ms},
		},
		{
			name: "cpu-starved: runnable in the app's code, but the process got little CPU",
			req: Request{Start: start, Wall: 700 * ms,
				Samples: &profileindex.Samples{Samples: []profileindex.Sample{
					{Kind: profileindex.KindCPU, CPU: 240 * ms, Frames: []string{"main.burnCPU"}},
					{Kind: profileindex.KindWall, CPU: 600 * ms, Count: 3, Frames: []string{"main.burnCPU", "main.handler"}},
				}},
				Profile: &alert.Profile{CPUTime: 240 * ms, ByAppCode: []alert.CodeGroup{{Function: "main.burnCPU", Line: "main.go:172", Share: 1}}}},
			kind: alert.DiagnosisCPU, frame: "main.burnCPU",
			text: []string{"CPU-bound: 240 ms of 700 ms on CPU, 100 % under main.burnCPU (main.go:172); runnable but waiting for a CPU for 360 ms more (CPU-starved"},
			acc:  alert.TimeAccount{OnCPU: 240 * ms, OffCPU: 460 * ms},
		},
		{
			name: "without CPU samples, a running tick counts only outside the children",
			req: Request{Start: start, Wall: 648 * ms, Groups: []Group{db("SELECT * FROM orders WHERE id = ?", 42)},
				Calls: func() []Call {
					var c []Call
					for i := range 42 {
						at := time.Duration(i) * 15 * ms
						c = append(c, Call{Group: 0, Start: 2*ms + at, End: 2*ms + at + 15*ms})
					}
					return c
				}(),
				Samples: &profileindex.Samples{Samples: []profileindex.Sample{
					{Kind: profileindex.KindWall, CPU: 200 * ms, Count: 1, Frames: []string{"main.handler"}},
				}},
				Profile: &alert.Profile{}},
			kind:     alert.DiagnosisNPlusOne,
			acc:      alert.TimeAccount{OnCPU: 18 * ms, Children: 630 * ms},
			patterns: map[int]string{0: alert.PatternNPlusOne},
		},
		{
			name: "one tick caught running is noise, not starvation",
			req: Request{Start: start, Wall: 1000 * ms,
				Samples: &profileindex.Samples{Samples: []profileindex.Sample{
					{Kind: profileindex.KindCPU, CPU: 50 * ms, Frames: []string{"main.handler"}},
					{Kind: profileindex.KindWall, CPU: 200 * ms, Count: 1, Frames: []string{"main.handler"}},
					{Kind: profileindex.KindWall, CPU: 800 * ms, Count: 4, Frames: []string{"internal/runtime/syscall.Syscall6", "os.ReadFile", "main.handler"}},
				}},
				Profile: &alert.Profile{CPUTime: 50 * ms}},
			kind: alert.DiagnosisWaiting, frame: "main.handler",
			text: []string{"Waiting: 950 ms of 1.00 s off-CPU with no child span; blocked in os.ReadFile from main.handler"},
		},
		{
			name: "a sleep with one running tick is still waiting",
			req: Request{Start: start, Wall: 1500 * ms,
				Samples: &profileindex.Samples{Samples: []profileindex.Sample{
					sleepSample(1300 * ms),
					{Kind: profileindex.KindWall, CPU: 200 * ms, Count: 1, Frames: []string{"main.handler"}},
				}},
				Profile: &alert.Profile{CPUTime: 5 * ms}},
			kind: alert.DiagnosisWaiting, frame: "main.getOrder",
		},
		{
			name: "waiting without a wall-clock profile",
			req: Request{Wall: 1500 * ms, Samples: &profileindex.Samples{Samples: []profileindex.Sample{{Kind: profileindex.KindCPU, CPU: 20 * ms, Frames: []string{"main.x"}}}},
				Profile: &alert.Profile{CPUTime: 20 * ms}},
			kind: alert.DiagnosisWaiting,
			text: []string{"Waiting: 1.48 s of 1.50 s off-CPU with no child span (no wall-clock profile says where it waited)"},
		},
		{
			name: "nothing to go by",
			req:  Request{Wall: 1500 * ms},
			kind: alert.DiagnosisUnknown,
			text: []string{"Unknown: 1.50 s of 1.50 s outside any child span, and no profile sample"},
			acc:  alert.TimeAccount{OffCPU: 1500 * ms},
		},
		{
			name: "mixed: cpu and a downstream call, neither half",
			req: Request{Wall: 1000 * ms,
				Groups:  []Group{{Class: ClassRemote, Description: "GET search /q", Count: 1}},
				Calls:   []Call{{Group: 0, Start: 0, End: 400 * ms}},
				Samples: &profileindex.Samples{Samples: []profileindex.Sample{{Kind: profileindex.KindCPU, CPU: 450 * ms}}},
				Profile: &alert.Profile{CPUTime: 450 * ms, HottestFrame: "main.render", HottestLine: "render.go:9"}},
			kind: alert.DiagnosisMixed, frame: "main.render", line: "render.go:9",
			text: []string{"Mixed: 450 ms on CPU in main.render; 400 ms in calls to other services, of 1.00 s"},
			acc:  alert.TimeAccount{OnCPU: 450 * ms, Children: 400 * ms, OffCPU: 150 * ms},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Diagnose(tt.req)
			require.NotNil(t, res.Diagnosis)
			d := res.Diagnosis
			assert.Equal(t, tt.kind, d.Kind, d.Text)
			for _, s := range tt.text {
				assert.Contains(t, d.Text, s)
			}
			assert.Equal(t, tt.frame, d.Frame)
			if tt.line != "" {
				assert.Equal(t, tt.line, d.Line)
			}
			if tt.acc != (alert.TimeAccount{}) {
				assert.Equal(t, tt.acc, d.Time)
			}
			for i, p := range res.Patterns {
				assert.Equal(t, tt.patterns[i], p, "group %d", i)
			}
			assert.False(t, strings.ContainsAny(d.Text, "\n\r"), "one line")
		})
	}
}

func TestDiagnoseNothingForAnEmptyRequest(t *testing.T) {
	assert.Nil(t, Diagnose(Request{}).Diagnosis)
	res := Diagnose(Request{Wall: time.Second, Groups: []Group{db("x", 1)}, Calls: []Call{{Group: 7, Start: 0, End: time.Second}}})
	require.NotNil(t, res.Diagnosis, "a call of an unknown group is ignored, not a panic")
}

func TestWithin(t *testing.T) {
	spans := merged([]Call{{Start: 50, End: 60}, {Start: 10, End: 20}, {Start: 15, End: 30}, {Start: 40, End: 40}})
	assert.Equal(t, []Call{{Start: 10, End: 30}, {Start: 50, End: 60}}, spans)
	for at, want := range map[time.Duration]bool{0: false, 10: true, 29: true, 30: false, 45: false, 50: true, 59: true, 60: false, 99: false} {
		assert.Equal(t, want, within(spans, at), "at %d", at)
	}
}
