package dedup

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
)

// RedisSettings configure a Redis decider.
type RedisSettings struct {
	Client *redis.Client
	// Prefix starts every key this decider writes.
	Prefix string
	// Timeout bounds the one round trip that decides a batch; past it the
	// local state decides. The client must honour context deadlines
	// (redis.Options.ContextTimeoutEnabled).
	Timeout time.Duration
	// Local decides while Redis is unreachable. Its Window and
	// EscalationFactor apply to Redis too.
	Local  *Deduper
	Logger *zap.Logger
}

// Redis keeps the dedup state in Redis so a fleet of collectors alerts once
// per key and window. Only slow spans reach it. When Redis fails, the local
// Deduper decides and Redis is not tried again until a backoff has passed,
// so an outage costs neither alerts nor pipeline latency. After an outage a
// key may alert once more (the two states are not merged): a duplicate rather
// than a lost alert.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
	local   *Deduper
	logger  *zap.Logger
	window  int64 // µs
	ttlMs   string
	factor  string

	// tokens number this process's alert decisions: a random 20-bit
	// process part over a 32-bit counter, below 2^53 so Lua's doubles hold
	// them exactly. An alert writes its token into the key; a rollback
	// matches on it, so two alerts of a key decided in the same microsecond
	// are told apart.
	tokenBase int64
	tokenSeq  atomic.Uint32

	mu        sync.Mutex
	failing   bool
	retryAt   time.Time
	backoff   time.Duration
	errCount  int64
	lastError error
}

var toleranceUs = strconv.FormatInt(FutureTolerance.Microseconds(), 10)

// Backoff bounds between attempts while Redis is failing.
const (
	minRedisBackoff = time.Second
	maxRedisBackoff = 30 * time.Second
)

var _ Decider = (*Redis)(nil)

// NewRedis returns a decider backed by s.Client.
func NewRedis(s RedisSettings) *Redis {
	logger := s.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	w := s.Local.settings.Window
	return &Redis{
		client:  s.Client,
		prefix:  s.Prefix,
		timeout: s.Timeout,
		local:   s.Local,
		logger:  logger,
		window:  w.Microseconds(),
		// Keys outlive the window so the next alert can still report what
		// was suppressed; refreshed on every write, so memory stays bounded
		// by the keys active in the last two windows.
		ttlMs:     strconv.FormatInt((2 * w).Milliseconds(), 10),
		factor:    strconv.FormatFloat(s.Local.settings.EscalationFactor, 'g', -1, 64),
		tokenBase: (rand.Int64N(1<<20) + 1) << 32,
	}
}

// nextToken returns a token for one alert decision; later decisions of this
// process get larger tokens.
func (r *Redis) nextToken() int64 { return r.tokenBase | int64(r.tokenSeq.Add(1)) }

type remoteUndo struct {
	key       string
	token     int64 // this decision's, written into the key
	existed   bool
	prev      [4]string // a, d, n, x before the decision
	prevToken string    // the key's token before it ("0": none)
}

func (r *Redis) redisKey(k alert.Key) string { return r.prefix + "key:" + k.Hash() }

// LoadScripts loads the scripts into Redis, so that the first batch costs
// one round trip too (a script unknown to the server costs a second one).
func (r *Redis) LoadScripts(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	for _, s := range []*redis.Script{decideScript, undoScript} {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			return fmt.Errorf("loading the dedup scripts into Redis: %w", err)
		}
	}
	return nil
}

// Decide decides one slow span: a batch of one.
func (r *Redis) Decide(ctx context.Context, key alert.Key, dur time.Duration, now time.Time) Decision {
	return r.DecideBatch(ctx, []Request{{Key: key, Duration: dur}}, now, nil)[0]
}

// DecideBatch asks Redis in one round trip, bounded by the timeout, or the
// local state while Redis is failing, slow, or the caller gave up.
func (r *Redis) DecideBatch(ctx context.Context, reqs []Request, now time.Time, decs []Decision) []Decision {
	if len(reqs) == 0 {
		return decs
	}
	if !r.shouldTry(now) {
		return r.local.DecideBatch(ctx, reqs, now, decs)
	}
	if ctx.Err() != nil {
		// The caller is gone: nothing would come back, and Redis is not
		// to blame, so no backoff.
		return r.fallback(ctx, reqs, now, decs)
	}
	// A cancellation during the call is not acted on (the client sees only
	// deadlines): its answer, due within the timeout, is what a rollback
	// of a refused batch needs, as the script may have run anyway.
	callCtx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	nowUs := strconv.FormatInt(now.UnixMicro(), 10)
	keys := make([]string, len(reqs))
	args := make([]any, 5, 5+2*len(reqs))
	args[0], args[1], args[2], args[3], args[4] = nowUs, strconv.FormatInt(r.window, 10), r.factor, r.ttlMs, toleranceUs
	tokens := make([]int64, len(reqs))
	for i, q := range reqs {
		keys[i] = r.redisKey(q.Key)
		tokens[i] = r.nextToken()
		args = append(args, strconv.FormatInt(max(q.Duration.Microseconds(), 1), 10), strconv.FormatInt(tokens[i], 10))
	}
	res, err := decideScript.Run(callCtx, r.client, keys, args...).Int64Slice()
	if err == nil && len(res) != decideValues*len(reqs) {
		err = fmt.Errorf("decide script: %d values for %d spans, want %d each", len(res), len(reqs), decideValues)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.failed(now, fmt.Errorf("deciding %d slow spans in Redis: %w", len(reqs), err), len(reqs))
		}
		return r.fallback(ctx, reqs, now, decs)
	}
	r.recovered()
	for i := range reqs {
		decs = append(decs, remoteDecision(keys[i], tokens[i], res[decideValues*i:decideValues*(i+1)]))
	}
	return decs
}

// fallback decides reqs with the local state, marked as not decided by
// Redis.
func (r *Redis) fallback(ctx context.Context, reqs []Request, now time.Time, decs []Decision) []Decision {
	n := len(decs)
	decs = r.local.DecideBatch(ctx, reqs, now, decs)
	for i := n; i < len(decs); i++ {
		decs[i].BackendError = true
	}
	return decs
}

// decideValues is how many values decideScript returns per span.
const decideValues = 7

// remoteDecision reads the values decideScript returns for one span.
func remoteDecision(rk string, token int64, res []int64) Decision {
	var reason alert.Reason
	switch res[0] {
	case 0:
		// res[1] is the count after this span.
		return Decision{Suppressed: alert.Suppressed{Count: res[1]}}
	case 1:
		reason = alert.ReasonFirst
	case 2:
		reason = alert.ReasonWindowExpired
	default:
		reason = alert.ReasonEscalation
	}
	dec := Decision{Alert: true, Reason: reason}
	u := &remoteUndo{key: rk, token: token, existed: res[5] == 1, prevToken: strconv.FormatInt(res[6], 10)}
	if u.existed {
		dec.Suppressed = alert.Suppressed{
			Count:       res[1],
			MaxDuration: time.Duration(res[2]) * time.Microsecond,
			Since:       time.UnixMicro(res[3]).UTC(),
		}
		u.prev = [4]string{
			strconv.FormatInt(res[3], 10), strconv.FormatInt(res[4], 10),
			strconv.FormatInt(res[1], 10), strconv.FormatInt(res[2], 10),
		}
	}
	dec.undo.remote = u
	return dec
}

// Undo reverts one alert decision (Redis or local) that was not delivered.
func (r *Redis) Undo(ctx context.Context, dec Decision) { r.UndoBatch(ctx, []Decision{dec}) }

// UndoBatch reverts the undelivered alert decisions of decs: the local ones
// in the local state, the Redis ones in one round trip.
func (r *Redis) UndoBatch(ctx context.Context, decs []Decision) {
	r.local.UndoBatch(ctx, decs)
	var remote []*remoteUndo
	for i := range decs {
		if u := decs[i].undo.remote; decs[i].Alert && u != nil {
			remote = append(remote, u)
		}
	}
	// Newest decision first, whatever order the batch holds them in, so
	// each finds the state its decision left.
	slices.SortFunc(remote, func(a, b *remoteUndo) int { return cmp.Compare(b.token, a.token) })
	var keys []string
	var args []any
	for _, u := range remote {
		existed := "0"
		if u.existed {
			existed = "1"
		}
		keys = append(keys, u.key)
		args = append(args, strconv.FormatInt(u.token, 10), existed, u.prev[0], u.prev[1], u.prev[2], u.prev[3], u.prevToken)
	}
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := undoScript.Run(ctx, r.client, keys, args...).Err(); err != nil {
		r.logger.Warn("could not roll back refused alerts in Redis; their keys stay silenced for the window",
			zap.Int("alerts", len(keys)), zap.Error(err))
	}
}

// Delivered confirms a decision. Redis holds the decision from the start
// (it is shared: other collectors must see it at once); a local fallback
// decision is confirmed locally.
func (r *Redis) Delivered(ctx context.Context, dec Decision) {
	if dec.undo.remote == nil {
		r.local.Delivered(ctx, dec)
	}
}

// Len is the number of keys in the local fallback state.
func (r *Redis) Len() int { return r.local.Len() }

// Errors is the number of decisions Redis failed to make so far.
func (r *Redis) Errors() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errCount
}

func (r *Redis) shouldTry(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.failing || !now.Before(r.retryAt)
}

// failed records a round trip that failed to decide n spans.
func (r *Redis) failed(now time.Time, err error, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errCount += int64(n)
	r.lastError = err
	if !r.failing {
		r.failing = true
		r.backoff = minRedisBackoff
		// Logged once per outage, not per span.
		r.logger.Warn("Redis dedup backend failed; deciding with local state until it answers again",
			zap.Error(err), zap.Duration("retry_in", r.backoff))
	} else {
		r.backoff = min(2*r.backoff, maxRedisBackoff)
	}
	r.retryAt = now.Add(r.backoff)
}

func (r *Redis) recovered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		r.failing = false
		r.logger.Info("Redis dedup backend answers again; fleet-wide dedup resumed")
	}
}

// Forget deletes key's shared state, within the timeout.
func (r *Redis) Forget(ctx context.Context, key alert.Key) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Del(ctx, r.redisKey(key)).Err(); err != nil {
		r.logger.Warn("forgetting a resolved endpoint in Redis failed; it stays silenced until its dedup window ends",
			zap.Error(err))
	}
}
