package profileindex

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/slowspan/slowspan/alert"
)

// Limits of what a summary carries, so an alert stays small enough for a
// chat message and a JSON line.
const (
	topFunctions = 10
	topStacks    = 20
	// MaxPprofBytes caps the gzipped pprof attached to an alert.
	MaxPprofBytes = 256 << 10
)

// Summarize turns the samples of one span into the alert's profile: CPU vs
// wall time, the functions with the most self and total time, the hottest
// frame in the app's own code, the heaviest stacks and a pprof file.
func Summarize(s *Samples, wall time.Duration) *alert.Profile {
	if s == nil || len(s.Samples) == 0 {
		return nil
	}
	p := &alert.Profile{Source: s.Source, WallTime: wall}
	self := map[string]time.Duration{}
	total := map[string]time.Duration{}
	stacks := map[string]*alert.Stack{}
	for _, smp := range s.Samples {
		p.CPUTime += smp.CPU
		p.Samples += max(smp.Count, 1)
		self[smp.Frames[0]] += smp.CPU
		seen := make(map[string]bool, len(smp.Frames))
		for _, f := range smp.Frames {
			if !seen[f] { // recursion counts once
				seen[f] = true
				total[f] += smp.CPU
			}
		}
		rootFirst := make([]string, len(smp.Frames))
		for i, f := range smp.Frames {
			rootFirst[len(smp.Frames)-1-i] = f
		}
		k := strings.Join(rootFirst, ";")
		if st, ok := stacks[k]; ok {
			st.Value += int64(smp.CPU)
		} else {
			stacks[k] = &alert.Stack{Frames: rootFirst, Value: int64(smp.CPU)}
		}
	}
	if p.CPUTime <= 0 {
		return nil
	}

	names := make([]string, 0, len(total))
	for n := range total {
		names = append(names, n)
	}
	// By self time, then total, then name: deterministic.
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(self[b], self[a]), cmp.Compare(total[b], total[a]), cmp.Compare(a, b))
	})
	for _, n := range names[:min(len(names), topFunctions)] {
		p.TopFunctions = append(p.TopFunctions, alert.Function{
			Name:  n,
			Self:  float64(self[n]) / float64(p.CPUTime),
			Total: float64(total[n]) / float64(p.CPUTime),
		})
	}
	for _, n := range names {
		if self[n] > 0 && IsAppCode(n) {
			p.HottestFrame = n
			break
		}
	}

	all := make([]alert.Stack, 0, len(stacks))
	for _, st := range stacks {
		all = append(all, *st)
	}
	slices.SortFunc(all, func(a, b alert.Stack) int {
		return cmp.Or(cmp.Compare(b.Value, a.Value), slices.Compare(a.Frames, b.Frames))
	})
	p.Stacks = all[:min(len(all), topStacks)]
	p.Pprof = toPprof(s.Samples, wall)
	return p
}

// IsAppCode reports whether a Go function name is outside the runtime and
// the standard library: the frame a person can act on. A package path whose
// first element has no dot is the standard library, except main.
func IsAppCode(fn string) bool {
	if fn == "" || strings.HasPrefix(fn, "[") {
		return false
	}
	pkg := fn
	if slash := strings.LastIndexByte(pkg, '/'); slash >= 0 {
		if dot := strings.IndexByte(pkg[slash:], '.'); dot >= 0 {
			pkg = pkg[:slash+dot]
		}
	} else if dot := strings.IndexByte(pkg, '.'); dot >= 0 {
		pkg = pkg[:dot]
	}
	first, _, _ := strings.Cut(pkg, "/")
	if first == "main" {
		return true
	}
	return strings.Contains(first, ".")
}

// toPprof writes the samples as a gzipped pprof profile (cpu/nanoseconds),
// nil when it would exceed MaxPprofBytes.
func toPprof(samples []Sample, wall time.Duration) []byte {
	prof := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        int64(10 * time.Millisecond),
		DurationNanos: int64(wall),
	}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	for _, smp := range samples {
		ps := &profile.Sample{Value: []int64{int64(smp.CPU)}}
		for _, f := range smp.Frames { // leaf first, as pprof wants
			loc, ok := locs[f]
			if !ok {
				fn := &profile.Function{ID: uint64(len(funcs) + 1), Name: f, SystemName: f}
				funcs[f] = fn
				prof.Function = append(prof.Function, fn)
				loc = &profile.Location{ID: uint64(len(locs) + 1), Line: []profile.Line{{Function: fn}}}
				locs[f] = loc
				prof.Location = append(prof.Location, loc)
			}
			ps.Location = append(ps.Location, loc)
		}
		prof.Sample = append(prof.Sample, ps)
	}
	var buf bytes.Buffer
	if err := prof.Write(&buf); err != nil || buf.Len() > MaxPprofBytes {
		return nil
	}
	return buf.Bytes()
}
