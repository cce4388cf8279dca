package engine

import (
	"context"
	"encoding/json"
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
	// seen are the versions to announce, and their names; knownNames
	// the names of all the versions known here.
	seen       []fleet.Seen
	seenNames  []string
	knownNames []string
	// cur and base are the versions whose windows are read, when read is
	// set: the fleet's current version (this collector's when the fleet
	// knows none) and its baseline's (empty: none).
	cur, base string
	read      bool
	// record is the fleet's baseline of cur (nil: none, or damaged);
	// recordRead is set when it was read, damaged when one was there but
	// did not decode (then none is created: it expires with its TTL).
	// ttl is the trigger's max_age.
	record     *versionBaseline
	recordRead bool
	damaged    bool
	ttl        time.Duration
}

// sharedRegression is a regression key's judgement over the fleet.
type sharedRegression struct {
	cur, base  *versionFigures
	record     *versionBaseline
	recordRead bool
	damaged    bool
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
		r.knownNames = append(r.knownNames, name)
		if fw != nil {
			if _, vw, ok := u.Lookup(versionID(id, maphash.String(ws.seed, kv.Name))); ok && vw.Shaped() {
				fw.Stage(name, vw, now)
			}
		}
		if at, ok := f.announced[name]; !ok || now.Sub(at) >= min(reannounceEvery, t.regression.maxAge/4) {
			// When this collector first saw it: the fleet keeps the
			// earliest, whoever announces first (versions saved by an
			// older slowspan have none: their order in known, a
			// millisecond apart, the current one last).
			first := kv.First
			if first.IsZero() {
				first = now.Add(-time.Duration(len(vs.known)-1-i) * time.Millisecond)
			}
			r.seen = append(r.seen, fleet.Seen{Endpoint: v.key.Hash(), Version: kv.Name, At: first, TTL: t.regression.maxAge})
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
	var endpoints []fleet.Endpoint
	var idx []int
	for i := range keys {
		r := keys[i].regression
		if r == nil || keys[i].shape == (window.Config{}) {
			continue
		}
		seen = append(seen, r.seen...)
		endpoints = append(endpoints, fleet.Endpoint{Name: keys[i].key.Hash(), TTL: r.ttl})
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
	}
	f.prune(now)
	latest, known, err := f.versions.Latest(ctx, endpoints)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(idx))
	read := make([]int, 0, len(idx))
	for j, i := range idx {
		r := keys[i].regression
		r.cur, r.read = r.local, r.started
		switch {
		case known[j]:
			r.cur, r.read = latest[j], true
		case r.started:
			// Redis lost the fleet's versions (a restart without
			// persistence): announced again at the next tick, judged on
			// this collector's current version meanwhile.
			for _, name := range r.knownNames {
				delete(f.announced, name)
			}
		}
		if r.read {
			names = append(names, versionWindowName(keys[i].key, r.cur))
			read = append(read, i)
		}
	}
	have := make([]string, len(names))
	for j, name := range names {
		if c := f.baselines[name]; c != nil {
			have[j] = c.id
		}
	}
	vals, err := f.versions.Baselines(ctx, names, have)
	if err != nil {
		return err
	}
	for j, i := range read {
		r := keys[i].regression
		r.recordRead = true
		r.record, r.damaged = f.baseline(names[j], vals[j], r.cur, now)
		if r.damaged {
			f.logDamaged(keys[i].key, r.cur)
		}
		switch {
		case r.record != nil:
			r.base = r.record.Side.Version
		case r.cur == r.local && r.started && !r.damaged:
			r.base = r.localBase
		}
	}
	return nil
}

// cachedBaseline is a baseline read from the fleet, decoded once: a
// baseline never changes under its id.
type cachedBaseline struct {
	id   string
	b    *versionBaseline // nil: damaged
	used time.Time
}

// baseline is the fleet's baseline of version cur under name, from what
// Baselines read, decoding it only when this collector does not hold it
// yet (called under tickMu); damaged when Redis holds one that does not
// decode.
func (f *fleetStage) baseline(name string, sb fleet.StoredBaseline, cur string, now time.Time) (b *versionBaseline, damaged bool) {
	c := f.baselines[name]
	switch {
	case !sb.Present:
		delete(f.baselines, name)
		return nil, false
	case sb.Value == nil && sb.ID != "" && c != nil && c.id == sb.ID:
	case sb.ID == "":
		delete(f.baselines, name)
		return nil, true
	default:
		c = &cachedBaseline{id: sb.ID, b: decodeBaseline(sb.Value, cur)}
		f.baselines[name] = c
	}
	c.used = now
	return c.b, c.b == nil
}

// logDamaged warns, once per collector, of a baseline in Redis that does
// not decode (called under tickMu).
func (f *fleetStage) logDamaged(key alert.Key, version string) {
	if f.damagedLogged {
		return
	}
	f.damagedLogged = true
	f.logger.Warn("a regression baseline in Redis does not decode (written by another version of slowspan, or by hand?): "+
		"the endpoint's version is judged without it until it expires (max_age); logged once",
		zap.String("endpoint", key.String()), zap.String("version", version))
}

// prune forgets, at most once a minute, the announcements due again
// anyway and the baselines no tick read for as long.
func (f *fleetStage) prune(now time.Time) {
	if now.Sub(f.pruned) < time.Minute {
		return
	}
	f.pruned = now
	for name, at := range f.announced {
		if now.Sub(at) >= reannounceEvery {
			delete(f.announced, name)
		}
	}
	for name, c := range f.baselines {
		if now.Sub(c.used) >= reannounceEvery {
			delete(f.baselines, name)
		}
	}
}

// fleetPublish creates the fleet's baseline of the keys whose judgement
// has one to publish (the fleet had none): the first collector to create
// it sets it for all.
func (e *Engine) fleetPublish(ctx context.Context, keys []fleetKey, merged map[alert.Key]*judgement, now time.Time) error {
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
		// Kept until max_age after its version was last seen, as judged
		// (judgeSharedRegression): then one that still sees it creates a
		// fresher one.
		ttl := max(j.regression.publish.Seen.Add(j.regression.ttl).Sub(now), time.Millisecond)
		bs = append(bs, fleet.Baseline{Name: versionWindowName(k.key, k.regression.cur), Value: data, TTL: ttl})
	}
	set, err := f.versions.Publish(ctx, nil, bs)
	for i, ok := range set {
		if ce := f.logger.Check(zap.DebugLevel, "regression baseline shared with the fleet"); ce != nil {
			ce.Write(zap.String("name", bs[i].Name), zap.Bool("created", ok))
		}
	}
	return err
}

// judgeSharedRegression is judgeRegression on the fleet's versions (read
// by the tick): the fleet's current version against the fleet's baseline
// of it, the same on every collector; or, while the fleet has none, this
// collector's own when its current version is the fleet's (it then creates
// the fleet's, once its figures hold min_count requests). The baseline's
// figures are refreshed from the fleet's window of its version while that
// holds min_count requests, which this collector's share alone may never.
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
	case rec != nil:
		if now.Sub(rec.Seen) >= t.regression.maxAge {
			return nil // too old to compare with, on every collector
		}
		if local && (vs.baseline == nil || vs.baseline.Side.Version != rec.Side.Version || vs.baseline.Count < rec.Count) {
			// Kept here too: while Redis fails, the local judgement
			// compares with the fleet's baseline.
			vs.adopt(rec, t, now)
		}
		b = rec
	case local && !j.damaged:
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
	if j.record == nil && local && j.recordRead && !j.damaged && b.Count >= int64(t.minCount) {
		p := *b
		if p.Seen = vs.seen(b.Side.Version); p.Seen.IsZero() {
			p.Seen = now
		}
		j.publish = &p
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
		sd, err := alert.MarshalVersionSide(side)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(sharedBaseline{SeenMs: b.Seen.UnixMilli(), Side: sd})
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

// decodeBaseline reads the baseline of version cur the fleet shares (any
// collector, or anyone with access to Redis, wrote it): nil when it does
// not decode, has no figures, no time its version was seen, or is of cur
// itself.
func decodeBaseline(data []byte, cur string) *versionBaseline {
	var rec sharedBaseline
	if json.Unmarshal(data, &rec) != nil || rec.SeenMs <= 0 {
		return nil
	}
	side, err := alert.UnmarshalVersionSide(rec.Side)
	if err != nil || side.Window == nil || side.Version == cur {
		return nil
	}
	return &versionBaseline{Side: side, Quantile: max(side.Window.QuantileValue, 0), Count: max(side.Window.Count, 0),
		Seen: time.UnixMilli(rec.SeenMs)}
}

// sharedBaseline is a baseline as Redis holds it: the alert contract's
// version side, and when its creator last saw the version.
type sharedBaseline struct {
	SeenMs int64           `json:"seen_ms"`
	Side   json.RawMessage `json:"side"`
}
