package dedup

import "github.com/redis/go-redis/v9"

// decideScript decides every slow span of a batch in one atomic step on the
// server, so that two collectors can never both alert for the same key and
// window, and a batch costs one round trip however many slow spans it has.
// Spans are decided in batch order; a key may repeat. Times and durations
// are microseconds: they must survive Lua's doubles exactly. Values are
// stored from the ARGV strings, never formatted by Lua, which would round
// large numbers.
//
// A last alert time beyond the future tolerance is taken as now (and
// stored so), as Deduper does: see FutureTolerance.
//
// KEYS[i] the key of span i; ARGV: now, window, escalation factor (0 off),
// ttl in ms, future tolerance, then two values per span: its duration and
// the token of its decision, which an alert writes into the key (field t)
// for a rollback to match. Returns seven values per span:
// {reason, suppressed count, suppressed max, last alert, last duration,
// existed, previous token}: reason 0 suppressed, 1 first, 2 window_expired,
// 3 escalation; the other values describe the key's state before the span.
var decideScript = redis.NewScript(`
local now, window, factor, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local tolerance = tonumber(ARGV[5])
local out = {}
for i, key in ipairs(KEYS) do
  local durArg, tok = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  local dur = tonumber(durArg)
  local v = redis.call('HMGET', key, 'a', 'd', 'n', 'x', 't')
  if not v[1] then
    redis.call('HSET', key, 'a', ARGV[1], 'd', durArg, 'n', '0', 'x', '0', 't', tok)
    redis.call('PEXPIRE', key, ttl)
    table.insert(out, 1); table.insert(out, 0); table.insert(out, 0)
    table.insert(out, 0); table.insert(out, 0); table.insert(out, 0); table.insert(out, 0)
  else
    local last, lastDur = tonumber(v[1]) or 0, tonumber(v[2]) or 0
    local n, mx = tonumber(v[3]) or 0, tonumber(v[4]) or 0
    local prevTok = tonumber(v[5]) or 0
    local clamped = last > now + tolerance
    if clamped then last = now end
    local reason = 0
    if now - last >= window then
      reason = 2
    elseif factor > 0 and dur >= factor * lastDur then
      reason = 3
    end
    if reason == 0 then
      local newMax = v[4] or '0'
      if dur > mx then newMax = durArg end
      redis.call('HSET', key, 'n', tostring(n + 1), 'x', newMax)
      if clamped then redis.call('HSET', key, 'a', ARGV[1]) end
      n, mx = n + 1, 0
    else
      redis.call('HSET', key, 'a', ARGV[1], 'd', durArg, 'n', '0', 'x', '0', 't', tok)
    end
    redis.call('PEXPIRE', key, ttl)
    table.insert(out, reason); table.insert(out, n); table.insert(out, mx)
    table.insert(out, last); table.insert(out, lastDur); table.insert(out, 1); table.insert(out, prevTok)
  end
end
return out
`)

// undoScript rolls back the refused alerts of a delivery, newest first,
// each unless another alert of its key overtook it. Only the refused
// decision is undone: what other collectors suppressed since it is added
// to the restored count.
//
// KEYS[i] the key of alert i, newest decision first; ARGV: seven values
// per alert: the token it wrote, existed (0/1), the previous a, d, n, x,
// and the previous token. Returns how many were rolled back.
var undoScript = redis.NewScript(`
local undone = 0
for i, key in ipairs(KEYS) do
  local j = (i - 1) * 7
  if redis.call('HGET', key, 't') == ARGV[j + 1] then
    if ARGV[j + 2] == '0' then
      redis.call('DEL', key)
    else
      local v = redis.call('HMGET', key, 'n', 'x')
      local n = (tonumber(v[1]) or 0) + tonumber(ARGV[j + 5])
      local x = ARGV[j + 6]
      if v[2] and tonumber(v[2]) > tonumber(x) then x = v[2] end
      redis.call('HSET', key, 'a', ARGV[j + 3], 'd', ARGV[j + 4], 'n', tostring(n), 'x', x)
      if ARGV[j + 7] == '0' then
        redis.call('HDEL', key, 't')
      else
        redis.call('HSET', key, 't', ARGV[j + 7])
      end
    end
    undone = undone + 1
  end
end
return undone
`)
