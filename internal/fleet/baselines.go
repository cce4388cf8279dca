package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// BaselineSettings configure Baselines.
type BaselineSettings struct {
	Settings
	// MaxBytes bounds a value (default DefaultMaxBaselineBytes): Create
	// refuses a larger one, GetMany skips one (another collector, or
	// anyone with access to Redis, may have written it).
	MaxBytes int
}

// DefaultMaxBaselineBytes is the MaxBytes of BaselineSettings that leave it
// zero.
const DefaultMaxBaselineBytes = 256 << 10

// Baselines keeps one value per name for the fleet, set by the first
// collector that creates it and read by all: the regression trigger's
// baseline of each endpoint's current version (the previous version's
// figures and exemplar), so that every collector compares the version with
// the same baseline, one that started after the deploy too. A value is
// never overwritten; it expires with its TTL. It is safe for concurrent
// use.
type Baselines struct {
	conn
	maxBytes int
}

// NewBaselines returns Baselines kept through s.Client.
func NewBaselines(s BaselineSettings) (*Baselines, error) {
	c, err := newConn(s.Settings)
	if err != nil {
		return nil, err
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxBaselineBytes
	}
	return &Baselines{conn: c, maxBytes: s.MaxBytes}, nil
}

// key is the Redis key of name: <prefix>base:<KeyHash(name)>.
func (x *Baselines) key(name string) string { return x.prefix + "base:" + KeyHash(name) }

// GetMany reads the values of names in one round trip bounded by the
// timeout; a value not set (or over MaxBytes) is nil.
func (x *Baselines) GetMany(ctx context.Context, names []string) ([][]byte, error) {
	if len(names) == 0 {
		return nil, nil
	}
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	pipe := x.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.Get(callCtx, x.key(n))
	}
	if _, err := pipe.Exec(callCtx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, x.fail(ctx, fmt.Sprintf("reading the baselines of %d endpoints", len(names)), err)
	}
	out := make([][]byte, len(names))
	for i, c := range cmds {
		if v, err := c.Bytes(); err == nil && len(v) <= x.maxBytes {
			out[i] = v
		}
	}
	return out, nil
}

// Baseline is a value to create.
type Baseline struct {
	Name  string
	Value []byte
	// TTL is how long Redis keeps it (at least a millisecond).
	TTL time.Duration
}

// Create sets each value whose name has none yet (SET NX with its TTL), in
// one round trip bounded by the timeout, and reports which it set: a
// concurrent Create of the same name sets one value, and the others read
// it. A value over MaxBytes, or with a TTL under a millisecond, is an
// error, and nothing is written.
func (x *Baselines) Create(ctx context.Context, bs []Baseline) ([]bool, error) {
	if len(bs) == 0 {
		return nil, nil
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
	cmds := make([]*redis.BoolCmd, len(bs))
	for i, b := range bs {
		cmds[i] = pipe.SetNX(callCtx, x.key(b.Name), b.Value, b.TTL)
	}
	if _, err := pipe.Exec(callCtx); err != nil {
		return nil, x.fail(ctx, fmt.Sprintf("creating the baselines of %d endpoints", len(bs)), err)
	}
	out := make([]bool, len(bs))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}
