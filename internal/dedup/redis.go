package dedup

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
)

// decideScript makes the whole decision for one slow span in one atomic step
// on the server, so that two collectors can never both alert for the same key
// and window. Times and durations are microseconds: they must survive Lua's
// doubles exactly. Values are stored from the ARGV strings, never formatted by
// Lua, which would round large numbers.
//
// KEYS[1] the key; ARGV: now, duration, window, escalation factor (0 off),
// ttl in ms. Returns {reason, suppressed count, suppressed max, last alert,
// last duration, existed}: reason 0 suppressed, 1 first, 2 window_expired,
// 3 escalation; the other fields describe the state before this span.
var decideScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'a', 'd', 'n', 'x')
if not v[1] then
  redis.call('HSET', KEYS[1], 'a', ARGV[1], 'd', ARGV[2], 'n', '0', 'x', '0')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {1, 0, 0, 0, 0, 0}
end
local now, dur = tonumber(ARGV[1]), tonumber(ARGV[2])
local last, lastDur = tonumber(v[1]) or 0, tonumber(v[2]) or 0
local n, mx = tonumber(v[3]) or 0, tonumber(v[4]) or 0
local factor = tonumber(ARGV[4])
local reason = 0
if now - last >= tonumber(ARGV[3]) then
  reason = 2
elseif factor > 0 and dur >= factor * lastDur then
  reason = 3
end
if reason == 0 then
  local newMax = v[4]
  if dur > mx then newMax = ARGV[2] end
  redis.call('HSET', KEYS[1], 'n', tostring(n + 1), 'x', newMax)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {0, n + 1, 0, last, lastDur, 1}
end
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'd', ARGV[2], 'n', '0', 'x', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {reason, n, mx, last, lastDur, 1}
`)

// undoScript restores the state before an alert that was not delivered,
// unless another alert of the key overtook it. ARGV: the alert time we
// wrote, existed (0/1), then the previous a, d, n, x.
var undoScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'a') ~= ARGV[1] then
  return 0
end
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'a', ARGV[3], 'd', ARGV[4], 'n', ARGV[5], 'x', ARGV[6])
return 1
`)

// RedisSettings configure a Redis decider.
type RedisSettings struct {
	Client *redis.Client
	// Prefix starts every key this decider writes.
	Prefix string
	// Timeout bounds each decision; past it the local state decides.
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

	mu        sync.Mutex
	failing   bool
	retryAt   time.Time
	backoff   time.Duration
	errCount  int64
	lastError error
}

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
		ttlMs:  strconv.FormatInt((2 * w).Milliseconds(), 10),
		factor: strconv.FormatFloat(s.Local.settings.EscalationFactor, 'g', -1, 64),
	}
}

type remoteUndo struct {
	key     string
	applied string
	existed bool
	prev    [4]string
}

func (r *Redis) redisKey(k alert.Key) string { return r.prefix + "key:" + k.Hash() }

// Decide asks Redis, or the local state while Redis is failing.
func (r *Redis) Decide(ctx context.Context, key alert.Key, dur time.Duration, now time.Time) Decision {
	if !r.shouldTry(now) {
		return r.local.Decide(ctx, key, dur, now)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	nowUs := strconv.FormatInt(now.UnixMicro(), 10)
	durUs := strconv.FormatInt(max(dur.Microseconds(), 1), 10)
	rk := r.redisKey(key)
	res, err := decideScript.Run(ctx, r.client, []string{rk},
		nowUs, durUs, strconv.FormatInt(r.window, 10), r.factor, r.ttlMs).Int64Slice()
	if err == nil && len(res) != 6 {
		err = errors.New("unexpected reply from the decide script")
	}
	if err != nil {
		r.failed(now, err)
		dec := r.local.Decide(ctx, key, dur, now)
		dec.BackendError = true
		return dec
	}
	r.recovered()

	var reason alert.Reason
	switch res[0] {
	case 0:
		return Decision{}
	case 1:
		reason = alert.ReasonFirst
	case 2:
		reason = alert.ReasonWindowExpired
	default:
		reason = alert.ReasonEscalation
	}
	dec := Decision{Alert: true, Reason: reason}
	u := &remoteUndo{key: rk, applied: nowUs, existed: res[5] == 1}
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

// Undo reverts an alert decision (Redis or local) that was not delivered.
func (r *Redis) Undo(ctx context.Context, dec Decision) {
	if !dec.Alert {
		return
	}
	u := dec.undo.remote
	if u == nil {
		r.local.Undo(ctx, dec)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	existed := "0"
	if u.existed {
		existed = "1"
	}
	if err := undoScript.Run(ctx, r.client, []string{u.key}, u.applied, existed,
		u.prev[0], u.prev[1], u.prev[2], u.prev[3]).Err(); err != nil {
		r.logger.Warn("could not roll back a refused alert in Redis; its key stays silenced for the window",
			zap.Error(err))
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

// Errors is the number of failed Redis decisions so far.
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

func (r *Redis) failed(now time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errCount++
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
