package figures

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// Labels of the evidence under a diagnosis, the same in a post and a report.
const (
	YourCode     = "Your code"
	HottestFrame = "Hottest frame"
	WaitedIn     = "Waited in"
	// NoAppFrame names the CPU time of a CodeGroup without an app frame
	// (runtime, GC).
	NoAppFrame = "(runtime / no app frame)"
)

// Verdict is the short label of a diagnosis kind ("N+1 queries"); a kind
// this version does not know reads as "Unknown", so a damaged or newer
// alert never puts its own text here.
func Verdict(k alert.DiagnosisKind) string {
	switch k {
	case alert.DiagnosisCPU:
		return "CPU-bound"
	case alert.DiagnosisNPlusOne:
		return "N+1 queries"
	case alert.DiagnosisSequentialQueries:
		return "Sequential queries"
	case alert.DiagnosisSlowQuery:
		return "Slow query"
	case alert.DiagnosisDownstream:
		return "Downstream calls"
	case alert.DiagnosisWaiting:
		return "Waiting (off-CPU)"
	case alert.DiagnosisMixed:
		return "Mixed"
	}
	return "Unknown"
}

// TimeLine is a diagnosis's time accounting on one line: "on CPU 980 ms ·
// in child spans 100 ms · waiting 120 ms of 1.20 s" (wall is the
// request's duration; " of …" is left out when it is not positive).
func TimeLine(t alert.TimeAccount, wall time.Duration) string {
	s := "on CPU " + Duration(t.OnCPU) + " · in child spans " + Duration(t.Children) + " · waiting " + Duration(t.OffCPU)
	if wall > 0 {
		s += " of " + Duration(wall)
	}
	return s
}

// Pattern is the marker of a child group's pattern ("N+1", "sequential",
// "slow query"); "" for none or one this version does not know.
func Pattern(p string) string {
	switch p {
	case alert.PatternNPlusOne:
		return "N+1"
	case alert.PatternSequential:
		return "sequential"
	case alert.PatternSlowQuery:
		return "slow query"
	}
	return ""
}

// Share formats a share of the CPU time in whole percent ("76 %"); below
// half a percent it is "<1 %" rather than a misleading 0, and anything
// outside [0, 1] (NaN included) reads as 0 or 1.
func Share(x float64) string {
	if math.IsNaN(x) || x <= 0 {
		return "0 %"
	}
	x = math.Min(x, 1) * 100
	if x < 0.5 {
		return "<1 %"
	}
	return strconv.FormatFloat(math.Round(x), 'f', 0, 64) + " %"
}

// At is a function and its file:line, "main.x (x.go:42)", or the function
// alone when line is empty. Both come from the alert: the caller escapes
// the result for its target.
func At(function, line string) string {
	if line == "" {
		return function
	}
	return function + " (" + line + ")"
}

// CodeGroupName is what a CodeGroup is listed as: At(Function, Line), or
// NoAppFrame for the group without an app frame. Escape it as At's.
func CodeGroupName(g alert.CodeGroup) string {
	if g.Function == "" {
		return NoAppFrame
	}
	return At(g.Function, g.Line)
}

// ProfileLine sums a profile up: "CPU 620 ms of 2.40 s wall, 62 samples ·
// off CPU 1.50 s (150 wall samples)", the off-CPU part only when wall-clock
// samples saw some.
func ProfileLine(p *alert.Profile) string {
	var b strings.Builder
	b.WriteString("CPU " + Duration(p.CPUTime) + " of " + Duration(p.WallTime) + " wall, " + strconv.FormatInt(max(p.Samples, 0), 10) + " samples")
	if p.OffCPUTime > 0 || p.WallSamples > 0 {
		b.WriteString(" · off CPU " + Duration(p.OffCPUTime))
		if p.WallSamples > 0 {
			b.WriteString(" (" + strconv.FormatInt(p.WallSamples, 10) + " wall samples)")
		}
	}
	return b.String()
}

// CPUMillis is a CPU time in nanoseconds (the value of an alert.Stack) in
// whole milliseconds, rounded half up: the unit of the flame graph's
// tooltips and of the .folded files.
func CPUMillis(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	const ms = int64(time.Millisecond)
	return ns/ms + (ns%ms*2)/ms // (ns%ms)*2 < 2ms: no overflow
}
