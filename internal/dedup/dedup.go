// Package dedup decides, per endpoint key, whether a slow span alerts or is
// suppressed: one alert per key per window, a re-alert when a span is much
// slower than the last alerted one, and a count of what was suppressed in
// between. State is bounded (least recently alerted keys are evicted first) and
// can be persisted to a collector storage extension so it survives restarts.
package dedup

import (
	"container/list"
	"context"
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
	Decide(ctx context.Context, key alert.Key, dur time.Duration, now time.Time) Decision
	// Undo reverts an alerting decision whose alert was not delivered.
	Undo(ctx context.Context, dec Decision)
	// Len is the number of keys held in this process.
	Len() int
}

// Decision is the outcome for one slow span.
type Decision struct {
	Alert  bool
	Reason alert.Reason
	// Suppressed is what was suppressed since the previous alert of the key;
	// set when Alert is true.
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
	hash          uint64
	lastAlert     int64 // unix nanoseconds
	lastDuration  time.Duration
	suppressed    int64
	suppressedMax time.Duration
	elem          *list.Element // position in lru
	bucket        int
}

type undo struct {
	remote  *remoteUndo // set when a shared backend decided
	key     alert.Key
	had     bool
	prev    entry // valid when had
	applied int64 // lastAlert we set; undo only if still ours
}

// Deduper is safe for concurrent use.
type Deduper struct {
	settings Settings
	escalate bool

	mu sync.Mutex
	// Entries are found by the 64-bit hash of their key: hashing the key
	// once and comparing integers keeps a lookup to about two cache misses
	// however many keys there are (a collision needs ~2^32 keys).
	buckets [numBuckets]map[uint64]*entry
	lru     *list.List // front: least recently alerted
	dirty   uint64     // bit per bucket changed since the last snapshot
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
	}
	for i := range d.buckets {
		d.buckets[i] = make(map[uint64]*entry)
	}
	return d
}

var _ Decider = (*Deduper)(nil)

// Decide records a slow span of key with duration d seen at now.
func (d *Deduper) Decide(_ context.Context, key alert.Key, dur time.Duration, now time.Time) Decision {
	nowNs := now.UnixNano()
	h := keyHash(key)
	b := bucketOf(h)

	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.buckets[b][h]
	if !ok {
		e = &entry{key: key, hash: h, bucket: b}
		d.buckets[b][h] = e
		e.elem = d.lru.PushBack(e)
		d.fire(e, dur, nowNs)
		d.evictLocked()
		return Decision{Alert: true, Reason: alert.ReasonFirst, undo: undo{key: key, applied: nowNs}}
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
		return Decision{}
	}
	dec := Decision{
		Alert:  true,
		Reason: reason,
		Suppressed: alert.Suppressed{
			Count:       e.suppressed,
			MaxDuration: e.suppressedMax,
			Since:       time.Unix(0, e.lastAlert).UTC(),
		},
		undo: undo{key: key, had: true, prev: *e, applied: nowNs},
	}
	d.fire(e, dur, nowNs)
	d.lru.MoveToBack(e.elem)
	return dec
}

// fire resets e for an alert at nowNs.
func (d *Deduper) fire(e *entry, dur time.Duration, nowNs int64) {
	e.lastAlert = nowNs
	e.lastDuration = dur
	e.suppressed = 0
	e.suppressedMax = 0
	d.dirty |= 1 << e.bucket
}

func (d *Deduper) evictLocked() {
	for d.lru.Len() > d.settings.MaxKeys {
		e := d.lru.Remove(d.lru.Front()).(*entry)
		delete(d.buckets[e.bucket], e.hash)
		d.dirty |= 1 << e.bucket
		d.evicted++
	}
}

// Undo reverts the state change of an alerting decision whose alert could not
// be handed on, so that the span alerts again when it is retried. A decision
// that was overtaken by a later alert of the same key is left alone.
func (d *Deduper) Undo(_ context.Context, dec Decision) {
	if !dec.Alert || dec.undo.remote != nil {
		return
	}
	u := dec.undo
	h := keyHash(u.key)
	b := bucketOf(h)
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.buckets[b][h]
	if !ok || e.lastAlert != u.applied {
		return
	}
	d.dirty |= 1 << b
	if !u.had {
		delete(d.buckets[b], h)
		d.lru.Remove(e.elem)
		return
	}
	elem := e.elem
	*e = u.prev
	e.elem = elem
	// Keep the list ordered by last alert: walk back to where it belonged.
	mark := elem
	for p := mark.Prev(); p != nil && p.Value.(*entry).lastAlert > e.lastAlert; p = p.Prev() {
		mark = p
	}
	if mark != elem {
		d.lru.MoveBefore(elem, mark)
	}
}

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
