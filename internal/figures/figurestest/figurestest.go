// Package figurestest has alerts with a diagnosis, one per kind, for the
// renderers' tests (alerttest's fixtures predate the diagnosis).
package figurestest

import (
	"cmp"
	"slices"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
)

const ms = time.Millisecond

// Diagnosed is alerttest.Full diagnosed as kind, with the evidence that
// verdict comes with: a CPU-bound alert has its app-code groups, an N+1 one
// its marked child group, a waiting one its blocking calls.
func Diagnosed(kind alert.DiagnosisKind) alert.Alert {
	a := alerttest.Full()
	d := &alert.Diagnosis{Kind: kind, Time: alert.TimeAccount{OnCPU: 620 * ms, Children: 2000 * ms, OffCPU: 100 * ms}}
	switch kind {
	case alert.DiagnosisCPU:
		a.Profile = CPUProfile()
		d.Text = "CPU: 2.10 s on CPU of 2.40 s, most in main.computeChecksums (checksum.go:42)"
		d.Frame, d.Line = "main.computeChecksums", "checksum.go:42"
		d.Time = alert.TimeAccount{OnCPU: 2100 * ms, Children: 50 * ms, OffCPU: 250 * ms}
	case alert.DiagnosisNPlusOne:
		return NPlusOne()
	case alert.DiagnosisSequentialQueries:
		a.Breakdown.Children[0].Pattern = alert.PatternSequential
		a.Breakdown.Children[1].Pattern = alert.PatternSequential
		d.Text = "Sequential queries: 2 different queries ran one after another for 1.95 s of 2.40 s"
	case alert.DiagnosisSlowQuery:
		a.Breakdown.Children[0].Pattern = alert.PatternSlowQuery
		d.Text = "Slow query: one postgresql query took 1.50 s of 2.40 s"
	case alert.DiagnosisDownstream:
		d.Text = "Downstream: GET inventory:8080 took 450 ms of 2.40 s"
	case alert.DiagnosisWaiting:
		return Waiting()
	case alert.DiagnosisMixed:
		d.Text = "Mixed: 1.50 s in queries, 620 ms on CPU"
	case alert.DiagnosisUnknown:
		a.Breakdown, a.Profile = nil, nil
		d.Text = "Unknown: no child span and no profile reached the collector"
		d.Time = alert.TimeAccount{OffCPU: a.Duration}
	}
	a.Diagnosis = d
	return a
}

// Kinds lists every diagnosis kind.
var Kinds = []alert.DiagnosisKind{alert.DiagnosisCPU, alert.DiagnosisNPlusOne, alert.DiagnosisSequentialQueries,
	alert.DiagnosisSlowQuery, alert.DiagnosisDownstream, alert.DiagnosisWaiting, alert.DiagnosisMixed, alert.DiagnosisUnknown}

// CPUProfile is a profile grouped by the app's own code, with a group that
// has no app frame.
func CPUProfile() *alert.Profile {
	p := alerttest.Full().Profile
	p.CPUTime, p.Samples = 2100*ms, 210
	p.HottestFrame, p.HottestLine = "main.computeChecksums", "checksum.go:42"
	p.ByAppCode = []alert.CodeGroup{
		{Function: "main.computeChecksums", Line: "checksum.go:42", Share: 0.76, Library: []alert.Function{
			{Name: "crypto/sha256.block", Self: 0.6, Total: 0.6}, {Name: "runtime.memmove", Self: 0.1, Total: 0.1}}},
		{Function: "main.loadOrder", Line: "orders.go:88", Share: 0.2},
		{Share: 0.04, Library: []alert.Function{{Name: "runtime.gcBgMarkWorker", Self: 0.04, Total: 0.04}}},
	}
	return p
}

// NPlusOne is 30 runs of the same query taking nearly all of a request.
func NPlusOne() alert.Alert {
	a := alerttest.Full()
	a.Duration = 1220 * ms
	a.Breakdown = &alert.Breakdown{SelfTime: 10 * ms, Children: []alert.ChildGroup{
		{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT orders WHERE id = ?", Count: 30,
			Total: 1210 * ms, Max: 60 * ms, Offset: 5 * ms, Busy: 1210 * ms, Pattern: alert.PatternNPlusOne},
	}}
	a.Profile = nil
	a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisNPlusOne,
		Text: "N+1: 30 x the same postgresql query took 1.21 s of 1.22 s",
		Time: alert.TimeAccount{OnCPU: 0, Children: 1210 * ms, OffCPU: 10 * ms}}
	return a
}

// Waiting is a request that only slept: a profile with no CPU time, its
// wall-clock samples in time.Sleep.
func Waiting() alert.Alert {
	a := alerttest.Full()
	a.Duration = 1500 * ms
	a.Breakdown = nil
	a.Profile = SleepProfile()
	a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisWaiting,
		Text:  "Waiting: 1.5 s off-CPU with no child span; blocked in time.Sleep from main.getOrder (orders.go:17)",
		Frame: "main.getOrder", Line: "orders.go:17",
		Time: alert.TimeAccount{OffCPU: 1500 * ms}}
	return a
}

// SleepProfile has wall-clock samples only: CPUTime 0, no stacks.
func SleepProfile() *alert.Profile {
	return &alert.Profile{Source: "otlp_link", WallTime: 1500 * ms, OffCPUTime: 1500 * ms, WallSamples: 150,
		Waiting: []alert.Blocker{{Call: "time.Sleep", Caller: "main.getOrder", Line: "orders.go:17", Time: 1500 * ms}}}
}

// Hostile puts s in every text field of the diagnosis and its evidence:
// the diagnosis's text, frame and line, the app-code groups and their
// library functions, the blocking calls and the child groups' patterns.
func Hostile(s string) alert.Alert {
	a := Diagnosed(alert.DiagnosisCPU)
	a.Diagnosis.Text, a.Diagnosis.Frame, a.Diagnosis.Line = s, s, s
	a.Profile.HottestFrame, a.Profile.HottestLine = s, s
	a.Profile.ByAppCode[0].Function, a.Profile.ByAppCode[0].Line = s, s
	a.Profile.ByAppCode[0].Library[0].Name = s
	a.Profile.ByAppCode[2].Library[0].Name = s
	a.Profile.Waiting = []alert.Blocker{{Call: s, Caller: s, Line: s, Time: time.Second}}
	a.Breakdown.Children[0].Pattern = s
	a.Diagnosis.Kind = alert.DiagnosisKind(s)
	return a
}

// HostileTexts are values that must never make a link, a mention or raw
// HTML wherever a renderer puts them.
var HostileTexts = []string{
	"@channel", "@here please", "<!channel>", "<@USERID>", "[click](http://evil.example/@all)",
	"<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "``@all``", "`x` @channel `y`",
	"line one\n@channel\n# heading", "&#64;here", "javascript:alert(1)", "main.(*T).@here",
}

// WithSpans gives a's breakdown a timeline: each group's spans one after
// another from the group's offset, each Total/Count long (an N+1 run, as
// the breakdown sees it), by start, at most alert.MaxTimelineSpans.
func WithSpans(a alert.Alert) alert.Alert {
	b := a.Breakdown
	if b == nil {
		return a
	}
	c := *b
	c.Spans = nil
	for i, g := range c.Children {
		n := max(g.Count, 1)
		d := g.Total / time.Duration(n)
		for j := range n {
			c.Spans = append(c.Spans, alert.ChildSpan{Group: i, Offset: g.Offset + time.Duration(j)*d, Duration: d})
		}
	}
	slices.SortStableFunc(c.Spans, func(x, y alert.ChildSpan) int { return cmp.Compare(x.Offset, y.Offset) })
	if len(c.Spans) > alert.MaxTimelineSpans {
		c.SpansOmitted = len(c.Spans) - alert.MaxTimelineSpans
		c.Spans = c.Spans[:alert.MaxTimelineSpans]
	}
	a.Breakdown = &c
	return a
}
