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
	// topCodeGroups and topLibrary bound ByAppCode: the app functions, and
	// the leaf functions under each.
	topCodeGroups = 8
	topLibrary    = 5
	topBlockers   = 5
	// MaxPprofBytes caps the gzipped pprof attached to an alert.
	MaxPprofBytes = 256 << 10
)

// Summarize turns the samples of one span into the alert's profile. From
// the CPU samples: CPU vs wall time, the functions with the most self and
// total time, the hottest frame in the app's own code and its line, the CPU
// time by app function ("your code first"), the heaviest stacks and a pprof
// file. From the wall-clock and off-CPU samples: the time the request
// waited, and the calls it waited in. It returns nil when there is neither
// CPU time nor wall-clock samples.
func Summarize(s *Samples, wall time.Duration) *alert.Profile {
	if s == nil || len(s.Samples) == 0 {
		return nil
	}
	p := &alert.Profile{Source: s.Source, WallTime: wall}
	var waits []Sample
	for _, smp := range s.Samples {
		switch {
		case !usable(smp):
		case smp.Kind == KindCPU:
			p.CPUTime += smp.CPU
			p.Samples += max(smp.Count, 1)
		default:
			p.WallSamples += max(smp.Count, 1)
			if Waiting(smp) {
				p.OffCPUTime += smp.CPU
				waits = append(waits, smp)
			}
		}
	}
	if p.CPUTime <= 0 && p.WallSamples == 0 {
		return nil
	}
	app := AppCode{MainModule: s.MainModule}
	if p.CPUTime > 0 {
		summarizeCPU(p, s.Samples, app, wall)
	}
	p.Waiting = blockers(waits, app)
	return p
}

// usable: Add keeps no sample without a stack or time, but a caller's own
// samples may have them.
func usable(smp Sample) bool { return len(smp.Frames) > 0 && smp.CPU > 0 }

// isCPU: the samples the CPU figures are made of.
func isCPU(smp Sample) bool { return usable(smp) && smp.Kind == KindCPU }

// summarizeCPU fills in what the CPU samples tell; it skips the others.
func summarizeCPU(p *alert.Profile, samples []Sample, app AppCode, wall time.Duration) {
	self := map[string]time.Duration{}
	total := map[string]time.Duration{}
	stacks := map[string]*alert.Stack{}
	keys := newStackKeys(samples, isCPU)
	for _, smp := range samples {
		if !isCPU(smp) {
			continue
		}
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
		if self[n] > 0 && app.Is(n) {
			p.HottestFrame = n
			break
		}
	}
	if p.HottestFrame != "" {
		var h heaviest
		for _, smp := range samples {
			if isCPU(smp) && smp.Frames[0] == p.HottestFrame {
				h.offer(keys, smp, lineAt(smp, 0))
			}
		}
		p.HottestLine = h.line
	}
	p.ByAppCode = byAppCode(samples, app, keys, p.CPUTime)

	all := make([]alert.Stack, 0, len(stacks))
	for _, st := range stacks {
		all = append(all, *st)
	}
	slices.SortFunc(all, func(a, b alert.Stack) int {
		return cmp.Or(cmp.Compare(b.Value, a.Value), slices.Compare(a.Frames, b.Frames))
	})
	p.Stacks = all[:min(len(all), topStacks)]
	p.Pprof = toPprof(samples, wall)
}

// stackKeys tell stacks apart by their frames and lines, and weigh them:
// "the heaviest stack" of a group gives the group its line. The samples of
// one stack of one message share their slices, so each such stack is
// joined into a key once.
type stackKeys struct {
	byID   map[stackID]string
	weight map[string]time.Duration
}

type stackID struct {
	frames *string
	n      int
	lines  *string
}

// newStackKeys weighs the stacks of the samples that count.
func newStackKeys(samples []Sample, counts func(Sample) bool) *stackKeys {
	k := &stackKeys{byID: map[stackID]string{}, weight: map[string]time.Duration{}}
	for _, smp := range samples {
		if counts(smp) {
			k.weight[k.key(smp)] += smp.CPU
		}
	}
	return k
}

func (k *stackKeys) key(smp Sample) string {
	id := stackID{frames: &smp.Frames[0], n: len(smp.Frames)}
	if len(smp.Lines) > 0 {
		id.lines = &smp.Lines[0]
	}
	if key, ok := k.byID[id]; ok {
		return key
	}
	key := strings.Join(smp.Frames, "\x00") + "\x00\x00" + strings.Join(smp.Lines, "\x00")
	k.byID[id] = key
	return key
}

// heaviest keeps the line offered with the heaviest stack; ties go to the
// smallest key, so the choice does not depend on the samples' order.
type heaviest struct {
	key    string
	weight time.Duration
	line   string
	set    bool
}

func (h *heaviest) offer(keys *stackKeys, smp Sample, line string) {
	key := keys.key(smp)
	w := keys.weight[key]
	if !h.set || w > h.weight || (w == h.weight && key < h.key) {
		*h = heaviest{key: key, weight: w, line: line, set: true}
	}
}

// appFrame is the index of the first frame of the app's own code from the
// leaf, -1 when there is none.
func appFrame(smp Sample, app AppCode) int {
	for i, f := range smp.Frames {
		if app.Is(f) {
			return i
		}
	}
	return -1
}

// byAppCode groups the CPU time by the first app frame from the leaf, and
// lists the leaf functions (library and runtime code) under each.
func byAppCode(samples []Sample, app AppCode, keys *stackKeys, cpuTime time.Duration) []alert.CodeGroup {
	type group struct {
		fn    string
		time  time.Duration
		line  heaviest
		leafs map[string]time.Duration
		under map[string]time.Duration // leaf functions anywhere under fn
	}
	groups := map[string]*group{}
	at := make([]int, len(samples))
	for i, smp := range samples {
		at[i] = -2
		if !isCPU(smp) {
			continue
		}
		a := appFrame(smp, app)
		at[i] = a
		fn := ""
		if a >= 0 {
			fn = smp.Frames[a]
		}
		g := groups[fn]
		if g == nil {
			g = &group{fn: fn, leafs: map[string]time.Duration{}}
			groups[fn] = g
		}
		g.time += smp.CPU
		if a != 0 {
			g.leafs[smp.Frames[0]] += smp.CPU
		}
		if a >= 0 {
			g.line.offer(keys, smp, lineAt(smp, a))
		}
	}
	all := make([]*group, 0, len(groups))
	for _, g := range groups {
		all = append(all, g)
	}
	slices.SortFunc(all, func(a, b *group) int {
		return cmp.Or(cmp.Compare(b.time, a.time), cmp.Compare(a.fn, b.fn))
	})
	all = all[:min(len(all), topCodeGroups)]
	for _, g := range all {
		leafs := make([]string, 0, len(g.leafs))
		for n := range g.leafs {
			leafs = append(leafs, n)
		}
		slices.SortFunc(leafs, func(a, b string) int {
			return cmp.Or(cmp.Compare(g.leafs[b], g.leafs[a]), cmp.Compare(a, b))
		})
		g.under = map[string]time.Duration{}
		for _, n := range leafs[:min(len(leafs), topLibrary)] {
			g.under[n] = 0
		}
	}
	// A leaf function's total under its app function: the time it was on
	// the stack below it, whether as the leaf or calling further.
	for i, smp := range samples {
		if at[i] == -2 {
			continue
		}
		fn, below := "", len(smp.Frames)
		if at[i] >= 0 {
			fn, below = smp.Frames[at[i]], at[i]
		}
		g := groups[fn]
		if g.under == nil {
			continue // not among the groups shown
		}
		for j, f := range smp.Frames[:below] {
			if _, ok := g.under[f]; ok && !slices.Contains(smp.Frames[:j], f) {
				g.under[f] += smp.CPU
			}
		}
	}
	out := make([]alert.CodeGroup, 0, len(all))
	for _, g := range all {
		c := alert.CodeGroup{Function: g.fn, Line: g.line.line, Share: float64(g.time) / float64(cpuTime)}
		for n := range g.under {
			c.Library = append(c.Library, alert.Function{
				Name:  n,
				Self:  float64(g.leafs[n]) / float64(cpuTime),
				Total: float64(g.under[n]) / float64(cpuTime),
			})
		}
		slices.SortFunc(c.Library, func(a, b alert.Function) int {
			return cmp.Or(cmp.Compare(b.Self, a.Self), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, c)
	}
	return out
}

// blockers groups the waiting samples by the call they waited in and the
// app function that made it, longest first.
func blockers(waits []Sample, app AppCode) []alert.Blocker {
	if len(waits) == 0 {
		return nil
	}
	type group struct {
		b    alert.Blocker
		line heaviest
	}
	keys := newStackKeys(waits, usable)
	groups := map[[2]string]*group{}
	for _, smp := range waits {
		call, caller, line := WaitPoint(smp, app)
		g := groups[[2]string{call, caller}]
		if g == nil {
			g = &group{b: alert.Blocker{Call: call, Caller: caller}}
			groups[[2]string{call, caller}] = g
		}
		g.b.Time += smp.CPU
		g.line.offer(keys, smp, line)
	}
	out := make([]alert.Blocker, 0, len(groups))
	for _, g := range groups {
		g.b.Line = g.line.line
		out = append(out, g.b)
	}
	slices.SortFunc(out, func(a, b alert.Blocker) int {
		return cmp.Or(cmp.Compare(b.Time, a.Time), cmp.Compare(a.Call, b.Call), cmp.Compare(a.Caller, b.Caller))
	})
	return out[:min(len(out), topBlockers)]
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
		if !isCPU(smp) {
			continue
		}
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
