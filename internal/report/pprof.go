package report

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/pprof/profile"

	"github.com/slowspan/slowspan/alert"
)

// maxPprofBytes bounds the decompressed size of a supplied profile, so a small
// gzip bomb in an alert cannot exhaust memory.
const maxPprofBytes = 64 << 20

// defaultPeriod is one sample at 100 Hz, the rate of Go's CPU profiler and of
// the span profiler, used when the alert does not say.
const defaultPeriod = 10 * time.Millisecond

// Pprof returns the gzipped pprof profile of a's request: the supplied
// Profile.Pprof bytes when they parse as a valid profile (unchanged when
// already gzipped), otherwise one synthesised from Profile.Stacks, otherwise
// nil. warn explains why supplied bytes were not used.
func Pprof(a alert.Alert) (data []byte, warn error) {
	if a.Profile == nil {
		return nil, nil
	}
	if len(a.Profile.Pprof) > 0 {
		p, gzipped, err := parsePprof(a.Profile.Pprof)
		if err == nil {
			if gzipped {
				return a.Profile.Pprof, nil
			}
			var b bytes.Buffer
			if err = p.Write(&b); err == nil {
				return b.Bytes(), nil
			}
		}
		warn = fmt.Errorf("profile pprof bytes are not a valid profile (%v); using the collapsed stacks instead", err)
	}
	stacks := cleanStacks(a.Profile.Stacks)
	if len(stacks) == 0 {
		return nil, warn
	}
	var b bytes.Buffer
	if err := Synthesize(stacks, a.Profile, a.Start).Write(&b); err != nil {
		return nil, errors.Join(warn, fmt.Errorf("writing synthesised pprof: %w", err))
	}
	return b.Bytes(), warn
}

// parsePprof parses gzipped or plain protobuf pprof data, refusing anything
// that decompresses beyond maxPprofBytes.
func parsePprof(data []byte) (p *profile.Profile, gzipped bool, err error) {
	raw := data
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		gzipped = true
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, true, err
		}
		raw, err = io.ReadAll(io.LimitReader(zr, maxPprofBytes+1))
		if err != nil {
			return nil, true, err
		}
		if len(raw) > maxPprofBytes {
			return nil, true, fmt.Errorf("decompresses to more than %d bytes", maxPprofBytes)
		}
	}
	p, err = profile.ParseUncompressed(raw)
	if err != nil {
		return nil, gzipped, err
	}
	if err := p.CheckValid(); err != nil {
		return nil, gzipped, err
	}
	if len(p.Sample) == 0 {
		return nil, gzipped, errors.New("no samples")
	}
	return p, gzipped, nil
}

// Synthesize builds a CPU profile from collapsed stacks (root first, values
// in CPU nanoseconds, as Summarize writes them), with
// sample types samples/count and cpu/nanoseconds like Go's CPU profiles, so
// that `go tool pprof` shows the same numbers as the flame graph.
func Synthesize(stacks []alert.Stack, prof *alert.Profile, start time.Time) *profile.Profile {
	period := int64(defaultPeriod)
	if prof != nil && prof.Samples > 0 && prof.CPUTime > 0 {
		period = int64(prof.CPUTime) / prof.Samples
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     period,
		TimeNanos:  start.UnixNano(),
		Comments:   []string{"synthesised by slowspan from the alert's collapsed stacks"},
	}
	if prof != nil {
		p.DurationNanos = int64(prof.WallTime)
	}
	// One function and one location per distinct frame name.
	locs := map[string]*profile.Location{}
	loc := func(name string) *profile.Location {
		if l, ok := locs[name]; ok {
			return l
		}
		id := uint64(len(locs) + 1)
		fn := &profile.Function{ID: id, Name: name, SystemName: name}
		l := &profile.Location{ID: id, Line: []profile.Line{{Function: fn}}}
		p.Function = append(p.Function, fn)
		p.Location = append(p.Location, l)
		locs[name] = l
		return l
	}
	for _, s := range cleanStacks(stacks) {
		// A stack's value is CPU nanoseconds; the sample count is what
		// the period makes of it.
		sample := &profile.Sample{Value: []int64{max(1, (s.Value+period/2)/period), s.Value}}
		// pprof stacks are leaf first.
		for i := len(s.Frames) - 1; i >= 0; i-- {
			sample.Location = append(sample.Location, loc(s.Frames[i]))
		}
		p.Sample = append(p.Sample, sample)
	}
	return p
}
