package engine

import (
	"hash/maphash"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/incident"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/versiondiff"
	"github.com/slowspan/slowspan/internal/window"
)

// Mode regression: every span of an endpoint records into the endpoint's
// window (as in the other window modes) and into the window of its
// (endpoint, version) pair, an entry of the same set under the id
// versionID. Per endpoint, versions remembers the versions seen (at most
// keep_versions, none older than max_age), which is current (the one seen
// first most recently) and the baseline: the window figures and the
// exemplar of the version before it. The condition compares the current
// version's quantile with the baseline's.

// versions is what an endpoint in mode regression knows of its versions.
type versions struct {
	// current is the version seen first most recently; started is set
	// once a version was seen.
	current string
	started bool
	// known are the versions remembered, current included, with when
	// each was last seen.
	known []knownVersion
	// baseline is the previous version's figures and exemplar; nil
	// before a second version with enough requests.
	baseline *versionBaseline
}

type knownVersion struct {
	Name string
	Seen time.Time
	// First is when this collector first saw it (for a baseline adopted
	// from the fleet, just before the current version's First): the fleet
	// orders its versions by the earliest First announced.
	First time.Time `json:",omitzero"`
}

// versionBaseline is the previous version: its figures and exemplar, in
// the form the alert carries them (Window set), and its quantile. A
// baseline is never changed once made, only replaced (refreshBaseline):
// alerts and saves hold it outside the set's lock.
type versionBaseline struct {
	Side     alert.VersionSide
	Quantile time.Duration
	Count    int64
	// Seen is when the fleet's baseline's creator last saw its version
	// (fleet-wide windows): one adopted from the fleet is forgotten
	// max_age after it, as it is by the collectors that saw it.
	Seen time.Time `json:",omitzero"`
}

// versionID is the id of the (endpoint, version) pair in the set.
func versionID(id keyID, versionHash uint64) keyID {
	const k3 = 0x94d049bb133111eb
	h := (uint64(id) ^ versionHash ^ 0x5851f42d4c957f2d) * k3
	return keyID(h ^ h>>31)
}

// versionOf is the resource's version under attr (read once per
// resource and attribute), and its hash.
func (in *input) versionOf(attr string, seed maphash.Seed) (string, uint64) {
	if !in.verRead || in.verAttr != attr {
		in.ver, in.verAttr, in.verRead = "", attr, true
		if v, ok := in.rs.Resource().Attributes().Get(attr); ok {
			if v.Type() == pcommon.ValueTypeStr {
				in.ver = sanitize(v.Str(), maxVersionLen)
			} else {
				in.ver = sanitize(v.AsString(), maxVersionLen)
			}
		}
		in.verHash = maphash.String(seed, in.ver)
	}
	return in.ver, in.verHash
}

// maxVersionLen bounds a version read from a resource.
const maxVersionLen = 128

// recordVersion records a span of a regression endpoint into its
// version's window, and reports whether the span is of the current
// version (only those may become the endpoint's worst request). A new
// version makes the current one the baseline.
func (e *Engine) recordVersion(u window.Updater[keyID, endpoint], in *input, id keyID, v *endpoint, t *trigger,
	dur time.Duration, now time.Time) bool {
	ws := e.windows
	ver, vh := in.versionOf(t.regression.attr, ws.seed)
	vs := v.versions
	if vs == nil {
		vs = &versions{}
		v.versions = vs
	}
	isCurrent := vs.started && ver == vs.current
	if !isCurrent {
		i := vs.find(ver)
		if i < 0 {
			e.newVersion(u, id, v, t, ver, now)
			isCurrent = true
		} else {
			vs.known[i].Seen = now
		}
	}
	if isCurrent && len(vs.known) > 0 {
		vs.known[len(vs.known)-1].Seen = now
	}
	_, vw, fresh := u.Entry(versionID(id, vh), now, nil)
	if fresh || !vw.Shaped() {
		vw.Shape(window.Config{Over: t.over, SubWindows: subWindows, Threshold: v.threshold})
	}
	vw.Record(now, dur)
	return isCurrent
}

// find is the index of version name in known, -1 when not known.
func (vs *versions) find(name string) int {
	for i := range vs.known {
		if vs.known[i].Name == name {
			return i
		}
	}
	return -1
}

// newVersion makes ver the endpoint's current version: the current one
// becomes the baseline when its window has min_count requests (a version
// with too little traffic compares with nothing), with its figures and
// its worst request summarised; versions over max_age or keep_versions
// are forgotten. With fleet-wide windows, this collector's share of the
// previous version says little: it becomes the baseline whatever its
// count, and each tick refreshes its figures from the fleet's window.
func (e *Engine) newVersion(u window.Updater[keyID, endpoint], id keyID, v *endpoint, t *trigger, ver string, now time.Time) {
	ws := e.windows
	vs := v.versions
	if vs.started {
		if b := e.snapshotVersion(u, id, v, t, vs.current, now, ws.fleet != nil); b != nil {
			vs.baseline = b
		}
	}
	// The worst request kept is of the previous version.
	ws.dropWorst(v)
	ws.versionsChanged.Store(true)
	vs.current, vs.started = strings.Clone(ver), true
	keep := vs.known[:0]
	for _, k := range vs.known {
		if now.Sub(k.Seen) < t.regression.maxAge {
			keep = append(keep, k)
		}
	}
	keep = append(keep, knownVersion{Name: vs.current, Seen: now, First: now})
	vs.known = keep
	if n := len(vs.known) - t.regression.keepVersions; n > 0 {
		vs.known = append(vs.known[:0], vs.known[n:]...)
	}
}

// snapshotVersion is the baseline of version ver: its window's figures
// and, when the endpoint's worst request is of it, its exemplar; nil when
// its window has fewer than min_count requests, unless anyCount is set.
func (e *Engine) snapshotVersion(u window.Updater[keyID, endpoint], id keyID, v *endpoint, t *trigger, ver string,
	now time.Time, anyCount bool) *versionBaseline {
	ws := e.windows
	_, w, ok := u.Lookup(versionID(id, maphash.String(ws.seed, ver)))
	if !anyCount && (!ok || w.Count(now) < t.minCount) {
		return nil
	}
	b := &versionBaseline{Side: alert.VersionSide{Version: ver}}
	if ok && w.Shaped() && w.Count(now) > 0 {
		var h window.Histogram
		b.refresh(figures(t, v.threshold, w, now, &h))
	}
	if c := v.worst; c != nil && now.Sub(v.worstAt) < t.over {
		wall := time.Duration(c.span.EndTimestamp() - c.span.StartTimestamp())
		samples := e.profiles.Take(c.traceID, c.spanID)
		p := profileindex.Summarize(samples, wall)
		b.Side.Breakdown, _ = c.children.diagnose(p, samples)
		b.Side.Breakdown = boundBreakdown(b.Side.Breakdown)
		b.Side.Stacks, b.Side.CPUTime = stacksOf(p)
	}
	return b
}

// refresh sets the baseline's figures to f (the exemplar stays).
func (b *versionBaseline) refresh(f alert.WindowFigures) {
	b.Side.Window, b.Quantile, b.Count = &f, f.QuantileValue, f.Count
}

// boundBreakdown keeps what a version side needs of a breakdown: its
// groups (at most alert.MaxRegressionChildren), not its timeline.
func boundBreakdown(b *alert.Breakdown) *alert.Breakdown {
	if b == nil {
		return nil
	}
	c := *b
	c.Children = b.Children[:min(len(b.Children), alert.MaxRegressionChildren)]
	c.Spans = nil
	return &c
}

// stacksOf is a profile's CPU stacks and CPU time, bounded.
func stacksOf(p *alert.Profile) ([]alert.Stack, time.Duration) {
	if p == nil {
		return nil, 0
	}
	return p.Stacks[:min(len(p.Stacks), alert.MaxRegressionStacks)], p.CPUTime
}

// judgeRegression fills obs with the regression condition of a key:
// its current version has min_count requests in the window, and its
// quantile is at least factor times the baseline's and min_delta more.
// It returns the current version's window (nil when there is none to
// judge) and the regression the alert would carry.
func (e *Engine) judgeRegression(u window.Updater[keyID, endpoint], id keyID, v *endpoint, t *trigger, now time.Time,
	open bool, obs *incident.Observation) (*window.Window, *alert.Regression) {
	ws := e.windows
	obs.Reason = alert.ReasonRegression
	vs := v.versions
	if vs == nil || !vs.started {
		return nil, nil
	}
	_, w, ok := u.Lookup(versionID(id, maphash.String(ws.seed, vs.current)))
	if !ok {
		return nil, nil
	}
	b := vs.comparable(t, now)
	if b == nil {
		return w, nil
	}
	n := w.Count(now)
	if n == 0 || n < t.minCount {
		return w, nil
	}
	if _, bw, ok := u.Lookup(versionID(id, maphash.String(ws.seed, b.Side.Version))); ok && bw.Count(now) >= t.minCount {
		// The previous version still serves (a rollout): its live window
		// is the fresher baseline; the exemplar stays.
		var h window.Histogram
		vs.refreshBaseline(figures(t, v.threshold, bw, now, &h))
	}
	return w, compareVersions(t, vs.baseline, vs.current, w.Quantile(now, t.quantile), open, obs)
}

// adopt makes b, the fleet's baseline, the baseline here, its version
// known as last seen when b's creator last saw it (or when this collector
// did, if later).
func (vs *versions) adopt(b *versionBaseline, t *trigger, now time.Time) {
	vs.baseline = b
	seen := b.Seen
	if seen.IsZero() || seen.After(now) {
		seen = now
	}
	if i := vs.find(b.Side.Version); i >= 0 {
		if seen.After(vs.known[i].Seen) {
			vs.known[i].Seen = seen
		}
		return
	}
	kv := knownVersion{Name: b.Side.Version, Seen: seen, First: seen}
	n := len(vs.known)
	if n == 0 {
		vs.known = append(vs.known, kv)
		return
	}
	if cur := vs.known[n-1].First; !cur.IsZero() {
		kv.First = cur.Add(-time.Millisecond) // older than the current one
	}
	// Before the current version, the last one.
	vs.known = append(vs.known[:n-1], kv, vs.known[n-1])
	if over := len(vs.known) - t.regression.keepVersions; over > 0 {
		vs.known = append(vs.known[:0], vs.known[over:]...)
	}
}

// comparable is the baseline to compare the current version with, nil
// when there is none, or it was last seen more than max_age ago.
func (vs *versions) comparable(t *trigger, now time.Time) *versionBaseline {
	if b := vs.baseline; b != nil && now.Sub(vs.seen(b.Side.Version)) >= t.regression.maxAge {
		vs.baseline = nil // too old to compare with
	}
	return vs.baseline
}

// refreshBaseline replaces the baseline by a copy with figures f: an
// alert emitted earlier keeps the figures it was given.
func (vs *versions) refreshBaseline(f alert.WindowFigures) *versionBaseline {
	nb := *vs.baseline
	nb.refresh(f)
	vs.baseline = &nb
	return &nb
}

// compareVersions fills obs with the condition for the current version
// cur, whose quantile is q, against baseline b, and returns the regression
// the alert would carry; nil while b has fewer than min_count requests
// (with fleet-wide windows, before a tick read the fleet's).
func compareVersions(t *trigger, b *versionBaseline, cur string, q time.Duration, open bool, obs *incident.Observation) *alert.Regression {
	if b == nil || b.Count < int64(t.minCount) {
		return nil
	}
	r := t.regression
	obs.True = float64(q) >= r.factor*float64(b.Quantile) && q-b.Quantile >= r.minDelta
	if obs.True || open {
		obs.Figure.Duration = q
	}
	return &alert.Regression{Before: b.Side, After: alert.VersionSide{Version: cur}}
}

// isCurrent reports whether ver is the endpoint's current version here.
func (vs *versions) isCurrent(ver string) bool {
	return vs != nil && vs.started && vs.current == ver
}

// seen is when version name was last seen; the zero time when it is no
// longer known (pruned: older than max_age or keep_versions).
func (vs *versions) seen(name string) time.Time {
	if i := vs.find(name); i >= 0 {
		return vs.known[i].Seen
	}
	return time.Time{}
}

// finishRegression completes a regression alert's After side from the
// alert's own request (its breakdown and profile, which finalize has just
// computed) and lists what changed.
func finishRegression(a *alert.Alert) {
	r := a.Regression
	if r == nil {
		return
	}
	if a.Window != nil && r.After.Window == nil {
		f := *a.Window
		r.After.Window = &f
	}
	r.After.Breakdown = boundBreakdown(a.Breakdown)
	r.After.Stacks, r.After.CPUTime = stacksOf(a.Profile)
	r.Changes = versiondiff.Compare(r.Before, r.After)
}
