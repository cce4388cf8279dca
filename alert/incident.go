package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"time"

	"github.com/slowspan/slowspan/internal/safetext"
)

// IncidentState says whether an incident is open.
type IncidentState string

const (
	// IncidentFiring is an open incident: the alert that opened it
	// (ReasonQuantile, ReasonRatio) or an escalation of it.
	IncidentFiring IncidentState = "firing"
	// IncidentResolved is a closed incident (ReasonResolved).
	IncidentResolved IncidentState = "resolved"
)

// Valid reports whether s is a known state.
func (s IncidentState) Valid() bool { return s == IncidentFiring || s == IncidentResolved }

// Mode is what an endpoint is judged on, and so what opens an incident.
type Mode string

const (
	// ModeSpan judges single spans: one slow span is enough.
	ModeSpan Mode = "span"
	// ModeQuantile judges the endpoint's quantile over a window (e.g. its
	// p99 over 5 minutes) against the threshold.
	ModeQuantile Mode = "quantile"
	// ModeRatio judges the share of slow requests over a window against a
	// configured ratio.
	ModeRatio Mode = "ratio"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == ModeSpan || m == ModeQuantile || m == ModeRatio }

// Figure is the measure an incident is judged on, in the unit of its mode:
// Duration in span mode (the span's duration) and quantile mode (the
// quantile's value), Ratio in ratio mode (the share of slow requests, in
// [0, 1]). The other field is zero.
type Figure struct {
	Duration time.Duration
	Ratio    float64
}

// Incident ties together the alerts of one episode of an endpoint being
// slow: the alert that opens it, its escalations and the alert that
// resolves it carry the same Incident.ID.
type Incident struct {
	// ID is stable for the life of the incident (see NewIncidentID).
	ID    string
	State IncidentState
	Mode  Mode
	// OpenedAt is when the incident fired; ResolvedAt when it was resolved,
	// zero while it is firing.
	OpenedAt   time.Time
	ResolvedAt time.Time
	// Fired is the figure when the incident fired: an escalation compares
	// against it. Peak is the worst figure seen since.
	Fired Figure
	Peak  Figure
	// SlowCount is the number of slow requests during the incident so far.
	SlowCount int64
}

// NewIncidentID derives an incident ID from the endpoint and the time the
// incident opened: 32 hex digits of sha256 over the key's hash and the
// opening time in Unix nanoseconds.
func NewIncidentID(k Key, openedAt time.Time) string {
	h := sha256.New()
	h.Write([]byte(k.Hash()))
	h.Write([]byte{0})
	var ns [8]byte
	binary.BigEndian.PutUint64(ns[:], uint64(openedAt.UnixNano()))
	h.Write(ns[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// MaxHistogramBuckets bounds WindowFigures.Histogram.
const MaxHistogramBuckets = 64

// Unbounded is the UpperBound of a bucket without one (the overflow bucket).
const Unbounded = time.Duration(math.MaxInt64)

// WindowFigures describe an endpoint's requests over the window that
// triggered (or resolved) an incident. The threshold is Alert.Threshold.
type WindowFigures struct {
	// Over is the length of the window.
	Over time.Duration
	// Count is the number of requests in the window, SlowCount those above
	// the threshold.
	Count     int64
	SlowCount int64
	// Estimated percentiles and the longest request.
	P50, P90, P95, P99, Max time.Duration
	// Quantile is the configured quantile in quantile mode (e.g. 0.99) and
	// QuantileValue its value over the window; both zero otherwise.
	Quantile      float64
	QuantileValue time.Duration
	// Ratio is the configured share of slow requests in ratio mode and
	// SlowRatio the measured one, both in [0, 1]; both zero otherwise.
	Ratio     float64
	SlowRatio float64
	// Histogram is the distribution of the window's durations for a chart,
	// ascending, at most MaxHistogramBuckets buckets (see CompactHistogram).
	Histogram []HistogramBucket
}

// HistogramBucket counts the requests below UpperBound and at or above the
// previous bucket's UpperBound (0 for the first bucket). The last bucket's
// UpperBound may be Unbounded.
type HistogramBucket struct {
	UpperBound time.Duration
	Count      int64
}

// CompactHistogram pairs bounds with counts (bounds[i] is the upper bound of
// counts[i], ascending; extra elements of the longer slice are ignored) and
// merges neighbouring buckets until at most max remain: the buckets are cut
// into max runs of consecutive buckets, as even in length as possible, so
// the resolution stays uniform along the bounds. A merged bucket keeps the
// upper bound of its last bucket and the sum of the counts. max < 1 or
// above MaxHistogramBuckets means MaxHistogramBuckets. It returns nil for no
// buckets.
func CompactHistogram(bounds []time.Duration, counts []int64, max int) []HistogramBucket {
	n := min(len(bounds), len(counts))
	if n == 0 {
		return nil
	}
	if max < 1 || max > MaxHistogramBuckets {
		max = MaxHistogramBuckets
	}
	groups := min(n, max)
	out := make([]HistogramBucket, groups)
	for g := range groups {
		// Run g covers [g*n/groups, (g+1)*n/groups): every bucket in exactly
		// one run, runs differing in length by at most one.
		from, to := g*n/groups, (g+1)*n/groups
		var sum int64
		for _, c := range counts[from:to] {
			sum = addSat(sum, c)
		}
		out[g] = HistogramBucket{UpperBound: bounds[to-1], Count: sum}
	}
	return out
}

// addSat adds without wrapping around (counts come from anywhere on decode).
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// maxEnumLength bounds a decoded state, mode or incident id: known values
// are short, and an unknown one (from a newer writer) is kept for display.
const maxEnumLength = 64

type jsonIncident struct {
	ID         string     `json:"id"`
	State      string     `json:"state"`
	Mode       string     `json:"mode"`
	OpenedAt   time.Time  `json:"opened_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	FiredMs    float64    `json:"fired_ms,omitempty"`
	FiredRatio float64    `json:"fired_ratio,omitempty"`
	PeakMs     float64    `json:"peak_ms,omitempty"`
	PeakRatio  float64    `json:"peak_ratio,omitempty"`
	SlowCount  int64      `json:"slow_count"`
}

type jsonWindow struct {
	OverMs          float64      `json:"over_ms"`
	Count           int64        `json:"count"`
	SlowCount       int64        `json:"slow_count"`
	P50Ms           float64      `json:"p50_ms"`
	P90Ms           float64      `json:"p90_ms"`
	P95Ms           float64      `json:"p95_ms"`
	P99Ms           float64      `json:"p99_ms"`
	MaxMs           float64      `json:"max_ms"`
	Quantile        float64      `json:"quantile,omitempty"`
	QuantileValueMs *float64     `json:"quantile_value_ms,omitempty"` // set with quantile
	Ratio           float64      `json:"ratio,omitempty"`
	SlowRatio       *float64     `json:"slow_ratio,omitempty"` // set with ratio
	Histogram       []jsonBucket `json:"histogram,omitempty"`
}

type jsonBucket struct {
	// UpperMs is absent for an Unbounded bucket.
	UpperMs *float64 `json:"upper_ms,omitempty"`
	Count   int64    `json:"count"`
}

func (in *Incident) toJSON() *jsonIncident {
	if in == nil {
		return nil
	}
	j := &jsonIncident{
		ID: in.ID, State: string(in.State), Mode: string(in.Mode), OpenedAt: in.OpenedAt.UTC(),
		FiredMs: toMs(in.Fired.Duration), FiredRatio: finite(in.Fired.Ratio),
		PeakMs: toMs(in.Peak.Duration), PeakRatio: finite(in.Peak.Ratio),
		SlowCount: in.SlowCount,
	}
	if !in.ResolvedAt.IsZero() {
		at := in.ResolvedAt.UTC()
		j.ResolvedAt = &at
	}
	return j
}

// fromJSON reads a document that may come from anywhere (a span attribute,
// a line of a file): strings are capped and stripped of control
// characters, ratios outside [0, 1] read as 0.
func (j *jsonIncident) fromJSON() *Incident {
	if j == nil {
		return nil
	}
	in := &Incident{
		ID:        sanitiseShort(j.ID),
		State:     IncidentState(sanitiseShort(j.State)),
		Mode:      Mode(sanitiseShort(j.Mode)),
		OpenedAt:  j.OpenedAt.UTC(),
		Fired:     Figure{Duration: fromMs(j.FiredMs), Ratio: unit(j.FiredRatio)},
		Peak:      Figure{Duration: fromMs(j.PeakMs), Ratio: unit(j.PeakRatio)},
		SlowCount: j.SlowCount,
	}
	if j.ResolvedAt != nil {
		in.ResolvedAt = j.ResolvedAt.UTC()
	}
	return in
}

func (w *WindowFigures) toJSON() *jsonWindow {
	if w == nil {
		return nil
	}
	j := &jsonWindow{
		OverMs: toMs(w.Over), Count: w.Count, SlowCount: w.SlowCount,
		P50Ms: toMs(w.P50), P90Ms: toMs(w.P90), P95Ms: toMs(w.P95), P99Ms: toMs(w.P99), MaxMs: toMs(w.Max),
		Quantile: finite(w.Quantile), Ratio: finite(w.Ratio),
	}
	if j.Quantile != 0 || w.QuantileValue != 0 {
		ms := toMs(w.QuantileValue)
		j.QuantileValueMs = &ms
	}
	if j.Ratio != 0 || finite(w.SlowRatio) != 0 {
		r := finite(w.SlowRatio)
		j.SlowRatio = &r
	}
	hist := w.Histogram
	if len(hist) > MaxHistogramBuckets {
		// A writer that gave more: merged here, so no reader sees them.
		bounds, counts := make([]time.Duration, len(hist)), make([]int64, len(hist))
		for i, b := range hist {
			bounds[i], counts[i] = b.UpperBound, b.Count
		}
		hist = CompactHistogram(bounds, counts, MaxHistogramBuckets)
	}
	if len(hist) > 0 {
		j.Histogram = make([]jsonBucket, len(hist))
		for i, b := range hist {
			j.Histogram[i].Count = b.Count
			if b.UpperBound != Unbounded {
				ms := toMs(b.UpperBound)
				j.Histogram[i].UpperMs = &ms
			}
		}
	}
	return j
}

// fromJSON reads a document that may come from anywhere. The histogram is
// merged down to MaxHistogramBuckets and dropped when it is not a histogram
// (bounds not ascending, negative counts); ratios outside [0, 1] read as 0.
func (j *jsonWindow) fromJSON() *WindowFigures {
	if j == nil {
		return nil
	}
	w := &WindowFigures{
		Over: fromMs(j.OverMs), Count: j.Count, SlowCount: j.SlowCount,
		P50: fromMs(j.P50Ms), P90: fromMs(j.P90Ms), P95: fromMs(j.P95Ms), P99: fromMs(j.P99Ms), Max: fromMs(j.MaxMs),
		Quantile: unit(j.Quantile), Ratio: unit(j.Ratio),
	}
	if j.QuantileValueMs != nil {
		w.QuantileValue = fromMs(*j.QuantileValueMs)
	}
	if j.SlowRatio != nil {
		w.SlowRatio = unit(*j.SlowRatio)
	}
	w.Histogram = decodeHistogram(j.Histogram)
	return w
}

func decodeHistogram(in []jsonBucket) []HistogramBucket {
	if len(in) == 0 {
		return nil
	}
	bounds := make([]time.Duration, len(in))
	counts := make([]int64, len(in))
	prev := time.Duration(0)
	for i, b := range in {
		bound := Unbounded
		if b.UpperMs != nil {
			bound = fromMs(*b.UpperMs)
		}
		if bound <= prev || b.Count < 0 {
			return nil
		}
		bounds[i], counts[i], prev = bound, b.Count, bound
	}
	return CompactHistogram(bounds, counts, MaxHistogramBuckets)
}

// sanitiseShort caps a decoded identifier or enumeration value and removes
// control characters from it.
func sanitiseShort(s string) string { return sanitiseText(s, maxEnumLength) }

// sanitiseText caps decoded text at n bytes of valid UTF-8 and removes
// control characters from it.
func sanitiseText(s string, n int) string {
	// Clean is linear in its input: bound it first (control characters it
	// drops may make room for more of the input, up to a few times over).
	s, _ = safetext.Cut(s, 4*n)
	s, _ = safetext.Clean(s, n)
	return s
}

// finite maps NaN and infinities (which JSON cannot carry) to 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// unit keeps a share in [0, 1] and reads anything else as 0.
func unit(f float64) float64 {
	if !(f >= 0 && f <= 1) {
		return 0
	}
	return f
}
