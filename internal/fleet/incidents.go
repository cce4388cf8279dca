package fleet

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// IncidentSettings configure Incidents.
type IncidentSettings struct {
	Settings
	// TTL is how long an incident's state stays in Redis after its last
	// transition or Fire (default DefaultIncidentTTL): refreshed while
	// the incident is open and fired again, it bounds how long a resolved
	// incident, or one whose collectors all went away, is kept.
	TTL time.Duration
}

// DefaultIncidentTTL is the TTL of IncidentSettings that leave it zero.
const DefaultIncidentTTL = 24 * time.Hour

// Incidents claims the transitions of the endpoints' incidents for the
// fleet: each transition (open, escalate, resolve) is decided by one atomic
// script on the Redis server, so that exactly one collector emits it. It is
// safe for concurrent use.
type Incidents struct {
	conn
	ttl   time.Duration
	ttlMs string // as the script takes it
}

// NewIncidents returns Incidents keeping their state through s.Client.
func NewIncidents(s IncidentSettings) (*Incidents, error) {
	c, err := newConn(s.Settings)
	if err != nil {
		return nil, err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultIncidentTTL
	}
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("fleet: incident TTL %v is below a millisecond", ttl)
	}
	return &Incidents{conn: c, ttl: ttl, ttlMs: strconv.FormatInt(ttl.Milliseconds(), 10)}, nil
}

func (x *Incidents) stateKey(key string) string { return x.prefix + "inc:" + KeyHash(key) }

// LoadScripts loads the script into Redis, so that the first transition
// costs one round trip too (an unknown script costs a second one).
func (x *Incidents) LoadScripts(ctx context.Context) error {
	ctx, cancel := x.callCtx(ctx)
	defer cancel()
	if err := incidentScript.Load(ctx, x.client).Err(); err != nil {
		return x.fail(ctx, "loading the incident script", err)
	}
	return nil
}

// Fire claims the opening of an incident of key, whose condition holds on
// this collector with figure (the quantile, or the ratio, that fired) at
// now. When no incident of key is open, this call opens one, with
// candidateID as its id, and returns emit true: this collector alerts.
// When one is open already (another collector, or this one, opened it),
// it returns its id and emit false, raising its peak to figure. Exactly
// one of concurrent Fires emits. candidateID must be unique to this
// attempt (a new id per incident).
func (x *Incidents) Fire(ctx context.Context, key, candidateID string, figure float64, now time.Time) (emit bool, incidentID string, err error) {
	return x.fire(ctx, "firing", key, candidateID, figure, now, now)
}

// Reclaim is Fire for an incident this collector holds open under
// candidateID since openedAt, which Redis does not know (it was opened
// while Redis failed, or Redis lost it): opened again, it keeps openedAt,
// so that the collectors that join it report when it really began.
func (x *Incidents) Reclaim(ctx context.Context, key, candidateID string, figure float64, openedAt, now time.Time) (emit bool, incidentID string, err error) {
	if openedAt.IsZero() || openedAt.After(now) {
		openedAt = now
	}
	return x.fire(ctx, "reclaiming", key, candidateID, figure, openedAt, now)
}

func (x *Incidents) fire(ctx context.Context, verb, key, candidateID string, figure float64, openedAt, now time.Time) (bool, string, error) {
	if candidateID == "" {
		return false, "", fmt.Errorf("fleet: %s an incident without a candidate id", verb)
	}
	if err := checkFigure(figure); err != nil {
		return false, "", err
	}
	return x.run(ctx, verb+" the incident of an endpoint", key, "fire", now, candidateID, formatFigure(figure),
		strconv.FormatInt(openedAt.UnixMilli(), 10))
}

// Escalate claims an escalation of key's open incident id: it emits, for
// the first collector only, when figure is at least factor times the
// figure of the last escalation (or, before any, the one that fired),
// which it becomes. A stale id (the incident was resolved or replaced)
// never emits.
func (x *Incidents) Escalate(ctx context.Context, key, id string, figure, factor float64, now time.Time) (emit bool, err error) {
	if err := checkFigure(figure); err != nil {
		return false, err
	}
	if !(factor >= 1) || math.IsInf(factor, 0) {
		return false, fmt.Errorf("fleet: escalation factor %v: want a finite number of at least 1", factor)
	}
	emit, _, err = x.run(ctx, "escalating the incident of an endpoint", key, "escalate", now, id, formatFigure(figure), formatFigure(factor))
	return emit, err
}

// Resolve claims the resolution of key's open incident id: the first
// collector to call it emits; a stale id never does. A later Fire opens a
// new incident.
func (x *Incidents) Resolve(ctx context.Context, key, id string, now time.Time) (emit bool, err error) {
	emit, _, err = x.run(ctx, "resolving the incident of an endpoint", key, "resolve", now, id)
	return emit, err
}

func (x *Incidents) run(ctx context.Context, what, key, op string, now time.Time, args ...any) (bool, string, error) {
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	argv := append([]any{op, strconv.FormatInt(now.UnixMilli(), 10), x.ttlMs}, args...)
	res, err := incidentScript.Run(callCtx, x.client, []string{x.stateKey(key)}, argv...).Slice()
	if err != nil {
		return false, "", x.fail(ctx, what, err)
	}
	if len(res) != 2 {
		return false, "", fmt.Errorf("fleet: %s: the incident script returned %d values, want 2", what, len(res))
	}
	emit, _ := res[0].(int64)
	id, _ := res[1].(string)
	return emit == 1, id, nil
}

func checkFigure(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("fleet: incident figure %v is not a finite number", f)
	}
	return nil
}

// formatFigure writes f exactly; Lua's tonumber reads it back to the same
// double.
func formatFigure(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Incident is the shared state of an endpoint's incident.
type Incident struct {
	ID   string
	Open bool
	// Fired is the figure that opened it, Peak the highest one fired or
	// escalated with, Escalation the one of the last escalation (Fired
	// before any).
	Fired, Peak, Escalation float64
	OpenedAt, UpdatedAt     time.Time
}

// Get reads key's incident state; ok is false when there is none (never
// fired, or expired).
func (x *Incidents) Get(ctx context.Context, key string) (inc Incident, ok bool, err error) {
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	v, err := x.client.HGetAll(callCtx, x.stateKey(key)).Result()
	if err != nil {
		return inc, false, x.fail(ctx, "reading the incident of an endpoint", err)
	}
	inc, ok = parseIncident(v)
	return inc, ok, nil
}

// GetMany reads the incident states of keys in one pipelined round trip
// bounded by the timeout: incs[i] is keys[i]'s, ok[i] false when it has
// none. It also refreshes their TTL: an incident open for days without a
// transition stays while any collector still judges its endpoint (each
// tick reads the keys it judges), so it is resolved once, never forgotten
// and fired anew.
func (x *Incidents) GetMany(ctx context.Context, keys []string) (incs []Incident, ok []bool, err error) {
	if len(keys) == 0 {
		return nil, nil, nil
	}
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	pipe := x.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(callCtx, x.stateKey(k))
		pipe.PExpire(callCtx, x.stateKey(k), x.ttl) // a no-op on a missing key
	}
	if _, err := pipe.Exec(callCtx); err != nil {
		return nil, nil, x.fail(ctx, fmt.Sprintf("reading the incidents of %d endpoints", len(keys)), err)
	}
	incs, ok = make([]Incident, len(keys)), make([]bool, len(keys))
	for i, c := range cmds {
		incs[i], ok[i] = parseIncident(c.Val())
	}
	return incs, ok, nil
}

func parseIncident(v map[string]string) (Incident, bool) {
	if v["id"] == "" {
		return Incident{}, false
	}
	num := func(f string) float64 { n, _ := strconv.ParseFloat(v[f], 64); return n }
	ms := func(f string) time.Time { n, _ := strconv.ParseInt(v[f], 10, 64); return time.UnixMilli(n).UTC() }
	return Incident{
		ID: v["id"], Open: v["state"] == stateOpen,
		Fired: num("fired"), Peak: num("peak"), Escalation: num("esc"),
		OpenedAt: ms("opened_at"), UpdatedAt: ms("updated_at"),
	}, true
}

const stateOpen = "open"

// incidentScript decides one transition of one endpoint's incident,
// atomically: the state hash KEYS[1] holds id, state (open or resolved),
// opened_at and updated_at (Unix ms), fired, peak and esc (the figures
// that opened it, the highest seen, the last escalation's). Figures are
// compared as numbers but stored from the ARGV strings, never formatted by
// Lua. Every write refreshes the TTL.
//
// ARGV: op (fire, escalate, resolve), now (ms), ttl (ms), then for fire
// the candidate id, the figure and when it opened (ms: now, or Reclaim's
// time; now when left out); for escalate the id, the figure and the
// factor; for resolve the id. Returns {emit (0/1), the incident's id ("" if
// none)}.
var incidentScript = redis.NewScript(`
local key, op, now, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local v = redis.call('HMGET', key, 'id', 'state', 'fired', 'peak', 'esc')
local id, open = v[1], v[2] == 'open'
local function raisePeak(fig)
  if tonumber(fig) > (tonumber(v[4]) or 0) then redis.call('HSET', key, 'peak', fig) end
end
if op == 'fire' then
  local cand, fig, opened = ARGV[4], ARGV[5], ARGV[6] or now
  if open then
    raisePeak(fig)
    redis.call('HSET', key, 'updated_at', now)
    redis.call('PEXPIRE', key, ttl)
    return {0, id}
  end
  redis.call('DEL', key)
  redis.call('HSET', key, 'id', cand, 'state', 'open', 'opened_at', opened, 'updated_at', now,
    'fired', fig, 'peak', fig, 'esc', fig)
  redis.call('PEXPIRE', key, ttl)
  return {1, cand}
end
local want = ARGV[4]
if not open or id ~= want then
  return {0, id or ''}
end
if op == 'escalate' then
  local fig, factor = ARGV[5], tonumber(ARGV[6])
  raisePeak(fig)
  local last = tonumber(v[5]) or tonumber(v[3]) or 0
  local emit = 0
  if tonumber(fig) >= factor * last then
    redis.call('HSET', key, 'esc', fig)
    emit = 1
  end
  redis.call('HSET', key, 'updated_at', now)
  redis.call('PEXPIRE', key, ttl)
  return {emit, id}
elseif op == 'resolve' then
  redis.call('HSET', key, 'state', 'resolved', 'updated_at', now)
  redis.call('PEXPIRE', key, ttl)
  return {1, id}
end
return redis.error_reply('unknown incident operation ' .. tostring(op))
`)
