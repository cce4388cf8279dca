package engine

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/fleet"
	"github.com/slowspan/slowspan/internal/incident"
	"github.com/slowspan/slowspan/internal/window"
)

// Mode regression with fleet-wide windows. Every collector must judge an
// endpoint the same way, or one that sees only the old version's requests
// (its apps' connections are pinned to it during a rollout) would resolve
// the incident the others opened. So the tick judges what the fleet knows,
// from Redis (fleet.Versions), not what this collector saw:
//
//   - the current version is the one the fleet first saw last: each
//     collector announces the versions it sees;
//   - the baseline is the fleet's baseline of that version, created by the
//     first collector that had one (its figures, once they hold min_count
//     requests, and its exemplar), and read by all;
//   - both versions' windows are the fleet's, and the baseline's figures
//     are refreshed from the fleet's window of its version while that holds
//     min_count requests.
//
// The local versions still decide what is staged (every known version's
// window), the baseline this collector may create, and the exemplar of the
// current version in its alerts (only when its current version is the
// fleet's).

// fleetRegressionKey is what a tick knows of a regression key's versions.
type fleetRegressionKey struct {
	// started is set when the endpoint has a version here; local and
	// localBase are its current version and its baseline's version.
	started          bool
	local, localBase string
	// seen are the versions to announce, and their names.
	seen      []fleet.Seen
	seenNames []string
	// cur and base are the versions whose windows are read, when read is
	// set: the fleet's current version (this collector's when the fleet
	// knows none) and its baseline's (empty: none).
	cur, base string
	read      bool
	// record is the fleet's baseline of cur (nil: none, or damaged);
	// recordRead is set when it was read. ttl is the trigger's max_age.
	record     *versionBaseline
	recordRead bool
	ttl        time.Duration
}

// sharedRegression is a regression key's judgement over the fleet.
type sharedRegression struct {
	cur, base  *versionFigures
	record     *versionBaseline
	recordRead bool
	ttl        time.Duration
	// publish is set by judgeSharedRegression to the baseline this
	// collector creates for the fleet, which has none.
	publish *versionBaseline
}

// versionFigures are a version's window over the fleet.
type versionFigures struct {
	version  string
	count    uint64
	quantile time.Duration
	figures  alert.WindowFigures
}

// versionWindowName is the name under which the fleet shares the window
// of version ver of key, and its baseline: unlike the endpoints' names, it
// has a NUL byte, which no key's hash has.
func versionWindowName(key alert.Key, ver string) string {
	return key.Hash() + "\x00version\x00" + ver
}

// reannounceEvery is how often a version still seen is announced again,
// which keeps the fleet's versions of the endpoint from expiring.
const reannounceEvery = time.Hour

// stageVersions fills k's versions (mode regression), stages the windows
// of v's known versions with fw (when set) and lists those to announce.
// Called under the set's lock and tickMu.
func (e *Engine) stageVersions(u window.Updater[keyID, endpoint], id keyID, v *endpoint, k *fleetKey, fw *fleet.Windows, now time.Time) {
	ws, f := e.windows, e.windows.fleet
	t := &ws.triggers[v.trig]
	if t.regression == nil {
		return
	}
	r := &fleetRegressionKey{ttl: t.regression.maxAge}
	k.regression = r
	vs := v.versions
	if vs == nil || !vs.started {
		return
	}
	r.started, r.local = true, vs.current
	if vs.baseline != nil {
		r.localBase = vs.baseline.Side.Version
	}
	for i, kv := range vs.known {
		name := versionWindowName(v.key, kv.Name)
		if fw != nil {
			if _, vw, ok := u.Lookup(versionID(id, maphash.String(ws.seed, kv.Name))); ok && vw.Shaped() {
				fw.Stage(name, vw, now)
			}
		}
		if at, ok := f.announced[name]; !ok || now.Sub(at) >= reannounceEvery {
			// Known in the order first seen, the current one last: a
			// millisecond apart, so that the fleet orders them so too if
			// it knows none of them.
			at := now.Add(-time.Duration(len(vs.known)-1-i) * time.Millisecond)
			r.seen = append(r.seen, fleet.Seen{Endpoint: v.key.Hash(), Version: kv.Name, At: at, TTL: t.regression.maxAge})
			r.seenNames = append(r.seenNames, name)
		}
	}
}

// fleetVersions announces the versions seen, then reads the fleet's current
// version of each regression key and its baseline, which decide the
// windows fleetRead reads.
func (e *Engine) fleetVersions(ctx context.Context, keys []fleetKey, now time.Time) error {
	f := e.windows.fleet
	var seen []fleet.Seen
	var endpoints []string
	var idx []int
	for i := range keys {
		r := keys[i].regression
		if r == nil || keys[i].shape == (window.Config{}) {
			continue
		}
		seen = append(seen, r.seen...)
		endpoints = append(endpoints, keys[i].key.Hash())
		idx = append(idx, i)
	}
	if len(seen) > 0 {
		if _, err := f.versions.Publish(ctx, seen, nil); err != nil {
			return err
		}
		for _, i := range idx {
			for _, name := range keys[i].regression.seenNames {
				f.announced[name] = now
			}
		}
		f.pruneAnnounced(now)
	}
	latest, known, err := f.versions.Latest(ctx, endpoints)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(idx))
	for j, i := range idx {
		r := keys[i].regression
		r.cur, r.read = r.local, r.started
		if known[j] {
			r.cur, r.read = latest[j], true
		}
		names = append(names, versionWindowName(keys[i].key, r.cur))
	}
	vals, err := f.versions.Baselines(ctx, names)
	if err != nil {
		return err
	}
	for j, i := range idx {
		r := keys[i].regression
		r.recordRead = true
		if vals[j] != nil {
			r.record = decodeBaseline(vals[j])
		}
		switch {
		case r.record != nil && r.record.Side.Version != r.cur:
			r.base = r.record.Side.Version
		case r.cur == r.local && r.started:
			r.base = r.localBase
		}
	}
	return nil
}

// pruneAnnounced forgets, at most once a minute, the announcements due
// again anyway.
func (f *fleetStage) pruneAnnounced(now time.Time) {
	if now.Sub(f.pruned) < time.Minute {
		return
	}
	f.pruned = now
	for name, at := range f.announced {
		if now.Sub(at) >= reannounceEvery {
			delete(f.announced, name)
		}
	}
}

// fleetPublish creates the fleet's baseline of the keys whose judgement
// has one to publish (the fleet had none): the first collector to create
// it sets it for all.
func (e *Engine) fleetPublish(ctx context.Context, keys []fleetKey, merged map[alert.Key]*judgement) error {
	f := e.windows.fleet
	var bs []fleet.Baseline
	for i := range keys {
		k := &keys[i]
		j := merged[k.key]
		if j == nil || j.regression == nil || j.regression.publish == nil || k.regression == nil {
			continue
		}
		data, err := encodeBaseline(j.regression.publish, fleet.DefaultMaxBaselineBytes)
		if err != nil {
			f.logger.Debug("a baseline could not be shared", zap.String("endpoint", k.key.String()), zap.Error(err))
			continue
		}
		bs = append(bs, fleet.Baseline{Name: versionWindowName(k.key, k.regression.cur), Value: data, TTL: j.regression.ttl})
	}
	_, err := f.versions.Publish(ctx, nil, bs)
	return err
}

// judgeSharedRegression is judgeRegression on the fleet's versions (read
// by the tick): the fleet's current version against the fleet's baseline
// of it, or this collector's own when the fleet has none yet and its
// current version is the fleet's (it then creates the fleet's, once its
// figures hold min_count requests). The baseline's figures are refreshed
// from the fleet's window of its version while that holds min_count
// requests, which this collector's share alone may never.
func judgeSharedRegression(v *endpoint, t *trigger, now time.Time, open bool, obs *incident.Observation,
	j *sharedRegression) *alert.Regression {
	obs.Reason = alert.ReasonRegression
	if j == nil || j.cur == nil {
		return nil
	}
	cur := j.cur.version
	vs := v.versions
	local := vs.isCurrent(cur)
	var b *versionBaseline
	switch rec := j.record; {
	case rec != nil && rec.Side.Version != cur:
		b = rec
		if local {
			if lb := vs.baseline; lb == nil || lb.Side.Version != rec.Side.Version || lb.Count < rec.Count {
				// Kept here too: the local fallback, while Redis fails,
				// compares with the fleet's baseline.
				vs.adopt(rec, t, now)
			}
			b = vs.baseline
		}
	case local:
		b = vs.comparable(t, now)
	}
	if b == nil {
		return nil
	}
	if j.base != nil && j.base.version == b.Side.Version && j.base.count >= t.minCount {
		if local && vs.baseline == b {
			b = vs.refreshBaseline(j.base.figures)
		} else {
			nb := *b
			nb.refresh(j.base.figures)
			b = &nb
		}
	}
	if local && j.recordRead && j.record == nil && b.Count >= int64(t.minCount) {
		j.publish = b
	}
	if j.cur.count == 0 || j.cur.count < t.minCount {
		return nil
	}
	return compareVersions(t, b, cur, j.cur.quantile, open, obs)
}

// encodeBaseline is b as the fleet shares it, at most maxBytes: the side
// of the alert contract (its figures and exemplar), without its CPU stacks
// and then its breakdown when too large.
func encodeBaseline(b *versionBaseline, maxBytes int) ([]byte, error) {
	side := b.Side
	for {
		data, err := alert.MarshalVersionSide(side)
		if err != nil || len(data) <= maxBytes {
			return data, err
		}
		switch {
		case len(side.Stacks) > 0:
			side.Stacks = nil
		case side.Breakdown != nil:
			side.Breakdown = nil
		default:
			return nil, fmt.Errorf("a baseline of %d bytes without its exemplar is over the %d allowed", len(data), maxBytes)
		}
	}
}

// decodeBaseline reads a baseline the fleet shares (any collector, or
// anyone with access to Redis, wrote it): nil when it does not decode.
func decodeBaseline(data []byte) *versionBaseline {
	side, err := alert.UnmarshalVersionSide(data)
	if err != nil {
		return nil
	}
	b := &versionBaseline{Side: side}
	if w := side.Window; w != nil {
		b.Quantile, b.Count = max(w.QuantileValue, 0), max(w.Count, 0)
	}
	return b
}
