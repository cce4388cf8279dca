// Package fleet shares the window triggers' state across a fleet of
// collectors through Redis: the sliding windows of the endpoints (Windows),
// so that behind a load balancer each collector judges an endpoint on all
// of its requests rather than on its own 1/N, and the incidents they open
// (Incidents), so that exactly one collector emits each transition, and the
// regression trigger's current versions and baselines (Versions). It only
// provides the primitives: every call is one round trip bounded by a
// timeout, and returns an error when Redis is down or slow, for the caller
// to fall back to its local windows and state.
//
// # Windows: data layout
//
// A window (internal/window) is a ring of sub-windows numbered by epoch,
// floor(time / width). Each sub-window of each endpoint is one Redis hash:
//
//	key    <prefix>win:v<LayoutVersion>:<keyhash>:<width>:<epoch>
//	       e.g. prod:slowspan:win:v1:3f2a9c0d11b4e587:30s:59027040
//	field  the collector's id (WindowSettings.Collector)
//	value  that collector's own counts of the sub-window, in the shared
//	       form of window.(*Window).AppendSub: format, LayoutVersion,
//	       width, threshold, total, count at least the threshold, maximum,
//	       then the non-empty buckets as index-delta/count varints
//	TTL    the window length plus one sub-window from the sub-window's
//	       start, set with each write: a hash outlives by one sub-window
//	       the last window that holds it, then Redis drops it
//
// keyhash is KeyHash of the caller's name of the endpoint (or of any
// window: the regression trigger names the window of one version of an
// endpoint with the endpoint's and the version's); the width is in
// the key, so windows of other shapes never meet; the bucket layout
// version too, so a fleet halfway through an upgrade reads two sets of
// keys instead of mixing layouts. A field of another threshold, or one that
// does not decode, is skipped and counted by Read, never summed.
//
// # Windows: idempotence
//
// A collector writes the absolute counts of each sub-window it holds,
// never increments: HSET of its own field replaces whatever it wrote
// before. Writing the same sub-window twice, retrying a flush that failed
// halfway (a pipeline is not atomic), or rewriting after a restart with the
// same collector id, leaves the same value, so no request is ever counted
// twice. A reader sums one field per collector per sub-window, which a
// request reaches on exactly one collector. The cost is that a flush
// rewrites a whole sub-window, not the few requests added: Stage writes
// only the sub-windows whose stamp (epoch, total) changed since the last
// successful flush, in steady state the current one of each key recorded
// since. A collector that stops leaves its counts until they expire with
// their sub-window; one restarted with another id (or without its saved
// windows) adds its new counts beside its old ones until they expire: ids
// must be stable (the pod name).
//
// # Windows: traffic and memory
//
// Measured (TestTrafficAndMemoryFor1000Keys: 1,000 endpoints, lognormal
// latencies, 10 sub-windows of 30 s, 100 requests per sub-window per key
// split over 3 collectors, redis-server 7.0):
//
//   - Flush: one pipelined round trip of 2 commands (HSET, PEXPIRE) per
//     (key, sub-window) written. In steady state that is one sub-window
//     per key recorded since the last flush: 2,000 commands and about
//     240 B sent per key (75 B of value, the rest key names and protocol),
//     240 KB for 1,000 keys. The first flush, of whole windows, writes
//     every live sub-window: 20,000 commands, 2.4 KB per key.
//   - Read: one pipelined round trip of an HGETALL per key and live
//     sub-window (10,000 for 1,000 keys), 650 B sent and 2.8 KB received
//     per key with 3 collectors; replies grow with the collectors and the
//     buckets their latencies cover.
//   - Redis memory: about 4.0 KB per key for one collector, 6.6 KB per
//     key for three (10 hashes of 3 fields: about 270 B per hash plus
//     about 130 B per collector's field of 75 B), so about 6.6 MB for
//     1,000 keys. An endpoint's hashes expire a window and a sub-window
//     after its last request: memory is bounded by the endpoints active
//     within a window.
//   - Locally, Windows keeps each written key's stamps (a few hundred
//     bytes per key) until its sub-windows leave the window.
//
// # Incidents
//
// An endpoint's incident is one hash, <prefix>inc:<keyhash>, with fields
// id, state (open or resolved), opened_at and updated_at (Unix ms), fired
// (the figure that opened it), peak and esc (the last escalation's
// figure). One Lua script decides each transition atomically on the
// server (EVALSHA, EVAL when the server lost it): Fire opens an incident
// when none is open, with the caller's candidate id, and only that caller
// gets emit (Reclaim, for an incident a collector holds that Redis does
// not, keeps when it opened); Escalate emits for the first caller whose
// figure reaches factor times esc; Resolve emits once; an id that is not
// the open
// incident's never emits, and a Fire after a resolve opens a new incident.
// Every write, and every GetMany (each tick reads the incidents of the
// endpoints it judges), refreshes the hash's TTL (IncidentSettings.TTL, a
// day by default): an open incident stays while any collector judges its
// endpoint, a resolved one a day after the last collector did.
//
// # Versions
//
// The regression trigger compares an endpoint's current version with a
// baseline, the previous version. Every collector must judge the same
// version against the same baseline, or they disagree on the incident: a
// collector whose apps are all still on the old version during a rollout
// would resolve what the others opened, and one started after the deploy
// never saw the previous version. Versions keeps both for the fleet:
//
//	key    <prefix>vers:<keyhash>            (the endpoint's)
//	type   sorted set: version -> when the fleet first saw it (Unix ms)
//	write  ZADD LT by each collector that sees a version, with when it
//	       first saw it (again hourly, and when the set is gone): the
//	       earliest sighting stays, whatever the order of the writes; the
//	       oldest beyond Keep (16) dropped, PEXPIRE max_age
//	read   ZREVRANGE 0 0: the current version, the one first seen last;
//	       PEXPIRE max_age (kept while any collector judges the endpoint)
//
//	key    <prefix>base:<keyhash>            (the endpoint's and version's)
//	value  a 16-character id, new at each creation, then JSON: seen_ms,
//	       when the creator last saw the previous version,
//	       and side, the previous version's side of the alert contract
//	       (figures and exemplar, a few KB; at most MaxBytes, 256 KB, past
//	       which the CPU stacks, then the breakdown, are left out)
//	write  SET NX by the first collector that has a baseline for the
//	       version with min_count requests, kept until max_age after
//	       seen_ms; never overwritten
//
// A value is decoded with the contract's bounds, since anyone with access
// to Redis may have written it, and once per collector: later ticks read
// its id only (GETRANGE), since a value never changes under its id. Per
// tick with regression endpoints: one round trip for the current
// versions, one for their baselines, and one more when there is something
// to announce or create (after a deploy), or a baseline to read again.
//
// # Failures
//
// Every call bounds its one round trip with Settings.Timeout (the client
// must honour context deadlines) and returns an error, saying what failed,
// at which address and what to check, never the credentials. A stopped
// Redis shows as one that does not answer within the timeout (the client
// dials again until the deadline). Nothing is retried or backed off here:
// the caller decides locally meanwhile, and stages again the keys of a
// failed flush (see Windows.Stage).
package fleet
