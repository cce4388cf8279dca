package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// VersionSettings configure Versions.
type VersionSettings struct {
	Settings
	// MaxBytes bounds a baseline (default DefaultMaxBaselineBytes):
	// Publish refuses a larger one, Baselines skips one (another
	// collector, or anyone with access to Redis, may have written it).
	MaxBytes int
	// Keep is how many versions of an endpoint are remembered (default
	// DefaultKeepVersions): the first seen are forgotten first.
	Keep int
}

// Defaults of VersionSettings.
const (
	DefaultMaxBaselineBytes = 256 << 10
	DefaultKeepVersions     = 16
)

// Versions keeps, for the regression trigger, what the fleet knows of the
// versions of each endpoint, so that every collector judges the same
// version against the same baseline: one that sees only the old version's
// requests during a rollout, or started after the deploy, too.
//
//   - Which version is current: each collector announces the versions it
//     sees with when it first saw them; the fleet keeps the earliest time
//     for each, and the current version is the one first seen last
//     (Latest). A rollback to an older version leaves the newer one
//     current, as on one collector.
//   - The baseline of each current version (the previous version's
//     figures and exemplar): set by the first collector that has one,
//     under a new id, read by all (Baselines: by id once held, not again
//     whole each tick), never overwritten; it expires with its TTL.
//
// It is safe for concurrent use.
type Versions struct {
	conn
	maxBytes int
	keep     int64
}

// NewVersions returns Versions kept through s.Client.
func NewVersions(s VersionSettings) (*Versions, error) {
	c, err := newConn(s.Settings)
	if err != nil {
		return nil, err
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxBaselineBytes
	}
	if s.Keep <= 0 {
		s.Keep = DefaultKeepVersions
	}
	return &Versions{conn: c, maxBytes: s.MaxBytes, keep: int64(s.Keep)}, nil
}

// seenKey is the sorted set of an endpoint's versions, scored by when the
// fleet first saw each (Unix ms); baselineKey the baseline of a name.
func (x *Versions) seenKey(endpoint string) string { return x.prefix + "vers:" + KeyHash(endpoint) }
func (x *Versions) baselineKey(name string) string { return x.prefix + "base:" + KeyHash(name) }

// Endpoint names an endpoint whose versions to read, and how long they
// are kept from this read on (at least a millisecond): every read
// refreshes the TTL, so the versions of an endpoint some collector judges
// never expire.
type Endpoint struct {
	Name string
	TTL  time.Duration
}

// Latest reads the current version of each endpoint (the one the fleet
// first saw last; ties go to the greater name) in one round trip bounded
// by the timeout; known[i] is false when no version of endpoints[i] was
// announced (or Redis lost them).
func (x *Versions) Latest(ctx context.Context, endpoints []Endpoint) (latest []string, known []bool, err error) {
	if len(endpoints) == 0 {
		return nil, nil, nil
	}
	for _, ep := range endpoints {
		if ep.TTL < time.Millisecond {
			return nil, nil, fmt.Errorf("fleet: the TTL %v of the versions of an endpoint is below a millisecond", ep.TTL)
		}
	}
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	pipe := x.client.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(endpoints))
	for i, ep := range endpoints {
		cmds[i] = pipe.ZRevRangeWithScores(callCtx, x.seenKey(ep.Name), 0, 0)
		pipe.PExpire(callCtx, x.seenKey(ep.Name), ep.TTL) // a no-op on a missing key
	}
	if _, err := pipe.Exec(callCtx); err != nil {
		return nil, nil, x.fail(ctx, fmt.Sprintf("reading the versions of %d endpoints", len(endpoints)), err)
	}
	latest, known = make([]string, len(endpoints)), make([]bool, len(endpoints))
	for i, c := range cmds {
		if z := c.Val(); len(z) == 1 {
			if m, ok := z[0].Member.(string); ok {
				latest[i], known[i] = m, true
			}
		}
	}
	return latest, known, nil
}

// StoredBaseline is what Baselines read of one name.
type StoredBaseline struct {
	// Present is set when Redis holds a baseline for the name.
	Present bool
	// ID names the value: Publish gives each a new one.
	ID string
	// Value is the baseline; nil when it is the one the caller holds
	// (its ID is have), or when it is over MaxBytes or not of Publish's
	// form (Present, with an empty ID: damaged).
	Value []byte
}

// baselineIDLen is the length of the id that starts each stored baseline.
const baselineIDLen = 16

// Baselines reads the baselines of names, bounded by the timeout. A
// baseline is never changed once created, so the caller that holds the
// one of id have[i] gets only its id back (its first bytes, GETRANGE), not
// the value again: one round trip, and a second for the names whose
// baseline was replaced (expired and created again) since.
func (x *Versions) Baselines(ctx context.Context, names, have []string) ([]StoredBaseline, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if len(have) != len(names) {
		return nil, fmt.Errorf("fleet: %d ids held for %d baselines", len(have), len(names))
	}
	out := make([]StoredBaseline, len(names))
	get := make([]int, 0, len(names))
	if err := x.readBaselines(ctx, names, have, out, &get); err != nil {
		return nil, err
	}
	if len(get) > 0 {
		again := make([]string, len(get))
		sub := make([]StoredBaseline, len(get))
		for j, i := range get {
			again[j] = names[i]
		}
		if err := x.readBaselines(ctx, again, make([]string, len(get)), sub, nil); err != nil {
			return nil, err
		}
		for j, i := range get {
			out[i] = sub[j]
		}
	}
	return out, nil
}

// readBaselines is one round trip of Baselines: a GETRANGE of the id of
// each name whose have is set (those whose id changed are appended to get),
// a GET of the others.
func (x *Versions) readBaselines(ctx context.Context, names, have []string, out []StoredBaseline, get *[]int) error {
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	pipe := x.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(names))
	for i, n := range names {
		if have[i] != "" {
			cmds[i] = pipe.GetRange(callCtx, x.baselineKey(n), 0, baselineIDLen-1)
		} else {
			cmds[i] = pipe.Get(callCtx, x.baselineKey(n))
		}
	}
	if _, err := pipe.Exec(callCtx); err != nil && !errors.Is(err, redis.Nil) {
		return x.fail(ctx, fmt.Sprintf("reading the baselines of %d endpoints", len(names)), err)
	}
	for i, c := range cmds {
		v, err := c.Bytes()
		switch {
		case err != nil || len(v) == 0: // none (GETRANGE of a missing key is "")
		case have[i] != "" && string(v) == have[i]:
			out[i] = StoredBaseline{Present: true, ID: have[i]}
		case have[i] != "":
			*get = append(*get, i)
		case len(v) <= baselineIDLen || len(v) > baselineIDLen+x.maxBytes:
			out[i] = StoredBaseline{Present: true}
		default:
			out[i] = StoredBaseline{Present: true, ID: string(v[:baselineIDLen]), Value: v[baselineIDLen:]}
		}
	}
	return nil
}

// Seen is a version of an endpoint a collector saw.
type Seen struct {
	Endpoint, Version string
	// At is when the collector first saw it; the fleet keeps the
	// earliest.
	At time.Time
	// TTL is how long the endpoint's versions are kept after the last
	// announcement (at least a millisecond).
	TTL time.Duration
}

// Baseline is a baseline to create: Value for Name, kept for TTL (at least
// a millisecond).
type Baseline struct {
	Name  string
	Value []byte
	TTL   time.Duration
}

// Publish announces the versions seen (ZADD LT: the fleet keeps the
// earliest time announced for each version, whatever the order of the
// announcements; the oldest beyond Keep are dropped) and creates each baseline whose name has none yet (SET NX), in
// one round trip bounded by the timeout. It reports which baselines it
// set: of concurrent creations of one name, one sets the value and the
// others read it. A baseline over MaxBytes, or a TTL under a millisecond,
// is an error, and nothing is written.
func (x *Versions) Publish(ctx context.Context, seen []Seen, bs []Baseline) ([]bool, error) {
	if len(seen) == 0 && len(bs) == 0 {
		return nil, nil
	}
	for _, s := range seen {
		if s.TTL < time.Millisecond {
			return nil, fmt.Errorf("fleet: the TTL %v of the versions of an endpoint is below a millisecond", s.TTL)
		}
	}
	for _, b := range bs {
		if len(b.Value) > x.maxBytes {
			return nil, fmt.Errorf("fleet: a baseline of %d bytes is over the %d allowed", len(b.Value), x.maxBytes)
		}
		if b.TTL < time.Millisecond {
			return nil, fmt.Errorf("fleet: a baseline's TTL %v is below a millisecond", b.TTL)
		}
	}
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	pipe := x.client.Pipeline()
	for _, s := range seen {
		k := x.seenKey(s.Endpoint)
		// LT: a new version is added, a known one keeps the earliest
		// sighting announced, whoever announced first.
		pipe.ZAddLT(callCtx, k, redis.Z{Score: float64(s.At.UnixMilli()), Member: s.Version})
		pipe.ZRemRangeByRank(callCtx, k, 0, -x.keep-1)
		pipe.PExpire(callCtx, k, s.TTL)
	}
	cmds := make([]*redis.BoolCmd, len(bs))
	for i, b := range bs {
		var id [baselineIDLen / 2]byte
		_, _ = rand.Read(id[:]) // never fails (crypto/rand)
		v := append([]byte(hex.EncodeToString(id[:])), b.Value...)
		cmds[i] = pipe.SetNX(callCtx, x.baselineKey(b.Name), v, b.TTL)
	}
	if _, err := pipe.Exec(callCtx); err != nil {
		return nil, x.fail(ctx, "publishing "+strconv.Itoa(len(seen))+" versions and "+strconv.Itoa(len(bs))+" baselines", err)
	}
	out := make([]bool, len(bs))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}
