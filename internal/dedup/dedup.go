// Package dedup decides, per endpoint key, whether a slow span alerts or is
// suppressed: one alert per key per window, a re-alert when a span is much
// slower than the last alerted one, and a count of what was suppressed in
// between. State is bounded (least recently alerted keys are evicted first) and
// can be persisted to a collector storage extension so it survives restarts.
package dedup

import (
	"cmp"
	"container/list"
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// Settings configure a Deduper.
type Settings struct {
	// Window is how long an alert silences its key.
	Window time.Duration
	// EscalationFactor re-alerts inside the window when a span is at least
	// this many times slower than the last alerted one; 0 turns it off.
	EscalationFactor float64
	// MaxKeys bounds the number of remembered keys.
	MaxKeys int
}

// Decider decides, per key, whether a slow span alerts. Deduper keeps the
// state in this process; Redis shares it across a fleet of collectors.
type Decider interface {
	// DecideBatch decides the slow spans of one batch, in their order, as
	// one step (one lock, or one Redis round trip), and appends the
	// decisions to decs, one per request in the same order: callers reuse
	// decs, so that suppressed spans allocate nothing.
	DecideBatch(ctx context.Context, reqs []Request, now time.Time, decs []Decision) []Decision
	// UndoBatch reverts the alerting decisions among decs, given in the
	// order they were made, whose alerts were not delivered.
	UndoBatch(ctx context.Context, decs []Decision)
	// Delivered confirms an alerting decision: its alert was handed on.
	Delivered(ctx context.Context, dec Decision)
	// Len is the number of keys held in this process.
	Len() int
}

// Request is one slow span to decide on.
type Request struct {
	Key      alert.Key
	Duration time.Duration
}

// Decision is the outcome for one slow span.
type Decision struct {
	Alert  bool
	Reason alert.Reason
	// Suppressed is what was suppressed since the previous alert of the key;
	// set when Alert is true. On a suppression, only Suppressed.Count is
	// set: the key's suppressed spans so far, this one included (for the
	// debug log).
	Suppressed alert.Suppressed
	// BackendError is set when a shared backend failed and the local state
	// decided instead.
	BackendError bool
	// undo restores the key's state if the alert could not be delivered.
	undo undo
}

// entry is the state of one key.
type entry struct {
	key           alert.Key
	hash          uint64 // FNV-1a of the key: places it in a persisted bucket
	lastAlert     int64  // unix nanoseconds
	lastDuration  time.Duration
	suppressed    int64
	suppressedMax time.Duration
	elem          *list.Element // position in lru
	bucket        int
	// seq numbers the alert that set lastAlert (0: loaded): undo and
	// delivery find their decision by it, even when two alerts of a batch
	// share a time or the clock moved back.
	seq uint64
	// durable is what Save writes while an alert of the entry is not yet
	// delivered: the state before it. A crash before delivery then repeats
	// the alert instead of losing it (and silencing the key for a window).
	// nil: the current state is durable.
	durable *durableState
}

type durableState struct {
	had           bool   // false: the key did not exist; nothing to save
	seq           uint64 // the alert whose state this is
	lastAlert     int64
	lastDuration  time.Duration
	suppressed    int64
	suppressedMax time.Duration
}

func (e *entry) snapshot() *durableState {
	return &durableState{had: true, seq: e.seq, lastAlert: e.lastAlert, lastDuration: e.lastDuration,
		suppressed: e.suppressed, suppressedMax: e.suppressedMax}
}

type undo struct {
	remote  *remoteUndo // set when a shared backend decided
	key     alert.Key
	had     bool
	prev    entry  // valid when had
	seq     uint64 // the alert we made; undo only if still the latest
	applied int64  // lastAlert we set
	dur     time.Duration
}

// Deduper is safe for concurrent use.
type Deduper struct {
	settings Settings
	escalate bool

	mu sync.Mutex
	// Entries are found by a seeded 64-bit hash of their key (maphash, a
	// random seed per process, so keys cannot be crafted to collide):
	// comparing integers keeps a lookup to about two cache misses however
	// many keys there are.
	buckets [numBuckets]map[uint64]*entry
	seed    maphash.Seed
	lru     *list.List // front: least recently alerted
	dirty   uint64     // bit per bucket changed since the last snapshot
	seq     uint64     // numbers alerts
	evicted int64

	// saveMu orders snapshots with their writes, so an older snapshot never
	// overwrites a newer one in storage.
	saveMu sync.Mutex
}

// New returns an empty in-memory Deduper.
func New(s Settings) *Deduper {
	d := &Deduper{
		settings: s,
		escalate: s.EscalationFactor > 0,
		lru:      list.New(),
		seed:     maphash.MakeSeed(),
	}
	for i := range d.buckets {
		d.buckets[i] = make(map[uint64]*entry)
	}
	return d
}

var _ Decider = (*Deduper)(nil)

// Decide records a slow span of key with duration d seen at now.
func (d *Deduper) Decide(_ context.Context, key alert.Key, dur time.Duration, now time.Time) Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.decideLocked(key, dur, now.UnixNano())
}

// DecideBatch decides reqs in order under one lock.
func (d *Deduper) DecideBatch(_ context.Context, reqs []Request, now time.Time, decs []Decision) []Decision {
	if len(reqs) == 0 {
		return decs
	}
	nowNs := now.UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range reqs {
		decs = append(decs, d.decideLocked(r.Key, r.Duration, nowNs))
	}
	return decs
}

func (d *Deduper) decideLocked(key alert.Key, dur time.Duration, nowNs int64) Decision {
	h := keyHash(key)
	b := bucketOf(h)
	mk := d.mapKey(key)
	e, ok := d.buckets[b][mk]
	if !ok {
		e = &entry{key: key, hash: h, bucket: b, durable: &durableState{}}
		d.buckets[b][mk] = e
		e.elem = d.lru.PushBack(e)
		d.fire(e, dur, nowNs)
		d.evictLocked()
		return Decision{Alert: true, Reason: alert.ReasonFirst, undo: undo{key: key, seq: e.seq, applied: nowNs, dur: dur}}
	}

	if last := clampFuture(e.lastAlert, nowNs); last != e.lastAlert {
		e.lastAlert = last
		if ds := e.durable; ds != nil && ds.had {
			ds.lastAlert = clampFuture(ds.lastAlert, nowNs)
		}
		d.dirty |= 1 << b
	}
	var reason alert.Reason
	switch {
	case nowNs-e.lastAlert >= int64(d.settings.Window):
		reason = alert.ReasonWindowExpired
	case d.escalate && float64(dur) >= d.settings.EscalationFactor*float64(e.lastDuration):
		reason = alert.ReasonEscalation
	default:
		e.suppressed++
		e.suppressedMax = max(e.suppressedMax, dur)
		d.dirty |= 1 << b
		return Decision{Suppressed: alert.Suppressed{Count: e.suppressed}}
	}
	dec := Decision{
		Alert:  true,
		Reason: reason,
		Suppressed: alert.Suppressed{
			Count:       e.suppressed,
			MaxDuration: e.suppressedMax,
			Since:       time.Unix(0, e.lastAlert).UTC(),
		},
		undo: undo{key: key, had: true, prev: *e, applied: nowNs, dur: dur},
	}
	if e.durable == nil {
		e.durable = e.snapshot()
	}
	d.fire(e, dur, nowNs)
	dec.undo.seq = e.seq
	d.lru.MoveToBack(e.elem)
	return dec
}

// FutureTolerance is how far ahead of the clock a remembered alert time may
// be. Beyond it the alert was stamped while the clock ran ahead (a wrong
// NTP step, a VM restored with a bad clock) and is taken as made now:
// otherwise its key would stay silent until that future time plus the
// window. The slack covers collectors of a fleet whose clocks differ a
// little.
const FutureTolerance = time.Minute

// clampFuture returns the alert time t (ns) as read at now: now when t lies
// beyond FutureTolerance ahead of it.
func clampFuture(t, now int64) int64 {
	if t > now+int64(FutureTolerance) {
		return now
	}
	return t
}

// fire resets e for an alert at nowNs.
func (d *Deduper) fire(e *entry, dur time.Duration, nowNs int64) {
	d.seq++
	e.seq = d.seq
	e.lastAlert = nowNs
	e.lastDuration = dur
	e.suppressed = 0
	e.suppressedMax = 0
	d.dirty |= 1 << e.bucket
}

func (d *Deduper) evictLocked() {
	for d.lru.Len() > d.settings.MaxKeys {
		e := d.lru.Remove(d.lru.Front()).(*entry)
		delete(d.buckets[e.bucket], d.mapKey(e.key))
		d.dirty |= 1 << e.bucket
		d.evicted++
	}
}

// Undo reverts the state change of an alerting decision whose alert could not
// be handed on, so that the span alerts again when it is retried. A decision
// that was overtaken by a later alert of the same key is left alone.
func (d *Deduper) Undo(_ context.Context, dec Decision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.undoLocked(dec)
}

// UndoBatch undoes decs under one lock, newest decision first (by the
// order they were made, not their order in decs: a storm summary or a
// correlation wait can reorder them), so that each finds the state its
// decision left.
func (d *Deduper) UndoBatch(_ context.Context, decs []Decision) {
	if len(decs) == 0 {
		return
	}
	byAge := slices.Clone(decs)
	slices.SortStableFunc(byAge, func(a, b Decision) int { return cmp.Compare(b.undo.seq, a.undo.seq) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dec := range byAge {
		d.undoLocked(dec)
	}
}

func (d *Deduper) undoLocked(dec Decision) {
	if !dec.Alert || dec.undo.remote != nil {
		return
	}
	u := dec.undo
	b := bucketOf(keyHash(u.key))
	mk := d.mapKey(u.key)
	e, ok := d.buckets[b][mk]
	if !ok || e.seq != u.seq {
		return
	}
	d.dirty |= 1 << b
	if !u.had {
		delete(d.buckets[b], mk)
		d.lru.Remove(e.elem)
		return
	}
	// Only the refused decision is undone: the durable snapshot stays, as
	// an earlier alert of the key may have been delivered since this one was
	// decided (Delivered then moved the snapshot forward to it).
	// What was suppressed since the decision stays counted.
	elem, durable := e.elem, e.durable
	suppressed, suppressedMax := e.suppressed, e.suppressedMax
	*e = u.prev
	e.elem, e.durable = elem, durable
	e.suppressed += suppressed
	e.suppressedMax = max(e.suppressedMax, suppressedMax)
	if durable != nil && durable.had && durable.seq == e.seq {
		// The restored state is that of a delivered alert, with the
		// suppressions counted since: all of it is durable.
		e.durable = nil
	}
	// Keep the list ordered by last alert: walk back to where it belonged.
	mark := elem
	for p := mark.Prev(); p != nil && p.Value.(*entry).lastAlert > e.lastAlert; p = p.Prev() {
		mark = p
	}
	if mark != elem {
		d.lru.MoveBefore(elem, mark)
	}
}

// Delivered marks an alerting decision as handed on: from now on Save
// writes the state that includes it. Until then Save writes the state from
// before it, so a crash repeats the alert rather than losing it.
func (d *Deduper) Delivered(_ context.Context, dec Decision) {
	if !dec.Alert || dec.undo.remote != nil {
		return
	}
	u := dec.undo
	b := bucketOf(keyHash(u.key))
	mk := d.mapKey(u.key)
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.buckets[b][mk]
	if !ok || e.durable == nil {
		return
	}
	switch {
	case e.seq == u.seq:
		e.durable = nil
	case e.seq > u.seq && (!e.durable.had || e.durable.seq < u.seq):
		// A later alert of the key, still undelivered, overtook this one:
		// the state right after this alert is durable now, so a crash or a
		// refusal of the later one does not repeat this one.
		e.durable = &durableState{had: true, seq: u.seq, lastAlert: u.applied, lastDuration: u.dur}
	default:
		return
	}
	d.dirty |= 1 << b
}

// mapKey is the in-memory lookup hash of a key.
func (d *Deduper) mapKey(k alert.Key) uint64 { return maphash.Comparable(d.seed, k) }

// Len is the number of remembered keys.
func (d *Deduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len()
}

// Evicted is the number of keys evicted because of MaxKeys.
func (d *Deduper) Evicted() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.evicted
}

// Forget removes key's state, so its next slow span alerts as a first one:
// the engine calls it when the key's span-mode incident resolved.
func (d *Deduper) Forget(key alert.Key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, mk := bucketOf(keyHash(key)), d.mapKey(key)
	if e, ok := d.buckets[b][mk]; ok {
		d.lru.Remove(e.elem)
		delete(d.buckets[b], mk)
		d.dirty |= 1 << b
	}
}
