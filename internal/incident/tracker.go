// Package incident keeps the open incidents of a component: per endpoint
// key, the episode that opened when its trigger's condition became true,
// and the alerts it owes (firing, escalation, re-notification, resolved).
// The engine judges the condition; the Tracker decides what it means for
// the incident, and keeps the state across restarts in a storage
// extension.
//
// An event becomes durable only when its alert was delivered (Delivered):
// a firing alert that was refused (Undo) leaves no incident behind, so the
// condition fires it again; a refused resolved alert leaves the incident
// open, so it resolves again.
package incident

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// Settings shape a Tracker.
type Settings struct {
	// Renotify repeats the firing alert of an incident still open this long
	// after its last alert (dedup.window); 0: never.
	Renotify time.Duration
	// EscalationFactor alerts again when the figure reaches this many times
	// the figure of the incident's last alert; 0: never.
	EscalationFactor float64
	// MaxOpen bounds the open incidents; past it, the longest quiet one is
	// dropped (without a resolved alert) to make room.
	MaxOpen int
}

// Observation is what the engine saw of a key at one evaluation.
type Observation struct {
	Mode alert.Mode
	// True is the condition: quantile or ratio at or above the trigger's,
	// or, in span mode, a slow request.
	True bool
	// Figure is the current figure (see alert.Figure).
	Figure alert.Figure
	// Slow is the number of slow requests seen since the previous
	// observation of the key (the first observation: those in the window).
	Slow int64
	// Reason, when set, is the reason of the alert that opens an incident
	// (e.g. regression); unset: the mode's.
	Reason alert.Reason
	// ResolveAfter closes the incident once the condition has been false
	// this long; 0: never; negative: as when the incident opened (for a
	// key whose trigger is no longer known).
	ResolveAfter time.Duration
}

// Event is an alert an incident owes: its reason and the incident as the
// alert shows it.
type Event struct {
	Key      alert.Key
	Reason   alert.Reason
	Incident alert.Incident
	// At is when the event happened.
	At time.Time

	prev *state // the state before the event (nil: there was none)
	seq  uint64 // the event's number: Undo and Delivered find it by it
	// notifiedAt and notified are the reference the event set: Delivered
	// saves them, not the state's, which a later event still in flight
	// (and perhaps refused) may have moved.
	notifiedAt time.Time
	notified   alert.Figure
}

type state struct {
	inc alert.Incident
	// lastTrue is when the condition was last true; notifiedAt and
	// notified when, and at which figure, the last alert went out.
	lastTrue   time.Time
	notifiedAt time.Time
	notified   alert.Figure
	seq        uint64
	// resolveAfter is the incident's resolve.after, as last observed:
	// span-mode incidents resolve on the timer (ResolveQuiet), and a window
	// incident whose key was evicted resolves with it.
	resolveAfter time.Duration
}

// Tracker is safe for concurrent use.
type Tracker struct {
	set Settings
	// saveMu keeps Saves in turn: one that snapshot earlier must not write
	// after one that snapshot later (batches commit concurrently).
	saveMu sync.Mutex

	mu   sync.Mutex
	open map[alert.Key]*state
	// durable is what Save writes: the incidents whose alerts were
	// delivered, as of their last delivered alert, with their running
	// figures.
	durable map[alert.Key]*state
	seq     uint64
	dirty   bool
}

// New returns an empty Tracker.
func New(set Settings) *Tracker {
	return &Tracker{set: set, open: make(map[alert.Key]*state), durable: make(map[alert.Key]*state)}
}

// Observe applies one evaluation of key at now and returns the event it
// causes, if any.
func (t *Tracker) Observe(key alert.Key, now time.Time, o Observation) (Event, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.open[key]
	if st == nil {
		if !o.True {
			return Event{}, false
		}
		t.makeRoom()
		t.seq++
		st = &state{
			inc: alert.Incident{
				ID:        alert.NewIncidentID(key, now),
				State:     alert.IncidentFiring,
				Mode:      o.Mode,
				OpenedAt:  now,
				Fired:     o.Figure,
				Peak:      o.Figure,
				SlowCount: max(o.Slow, 0),
			},
			lastTrue:     now,
			notifiedAt:   now,
			notified:     o.Figure,
			seq:          t.seq,
			resolveAfter: max(o.ResolveAfter, 0),
		}
		t.open[key] = st
		reason := o.Reason
		if reason == "" {
			reason = firingReason(o.Mode)
		}
		return t.event(key, reason, st, nil, now), true
	}

	if o.ResolveAfter < 0 {
		o.ResolveAfter = st.resolveAfter
	}
	st.resolveAfter = o.ResolveAfter
	st.inc.SlowCount += max(o.Slow, 0)
	changed := o.Slow > 0 || o.True
	if greater(o.Figure, st.inc.Peak) {
		st.inc.Peak, changed = o.Figure, true
	}
	if changed {
		t.runningChanged(key)
	}
	if o.True {
		st.lastTrue = now
		switch {
		case t.set.EscalationFactor > 0 && atLeast(o.Figure, st.notified, t.set.EscalationFactor):
			prev := *st
			t.seq++
			st.seq, st.notifiedAt, st.notified = t.seq, now, o.Figure
			return t.event(key, alert.ReasonEscalation, st, &prev, now), true
		case t.set.Renotify > 0 && now.Sub(st.notifiedAt) >= t.set.Renotify:
			prev := *st
			t.seq++
			// A re-notification is an alert too: its figure is the next
			// escalation's reference, as after dedup's window_expired.
			st.seq, st.notifiedAt, st.notified = t.seq, now, o.Figure
			return t.event(key, alert.ReasonWindowExpired, st, &prev, now), true
		}
		return Event{}, false
	}
	if o.ResolveAfter > 0 && now.Sub(st.lastTrue) >= o.ResolveAfter {
		prev := *st
		delete(t.open, key)
		t.seq++
		st.seq = t.seq
		st.inc.State, st.inc.ResolvedAt = alert.IncidentResolved, now
		return t.event(key, alert.ReasonResolved, st, &prev, now), true
	}
	return Event{}, false
}

func (t *Tracker) event(key alert.Key, reason alert.Reason, st *state, prev *state, now time.Time) Event {
	t.dirty = true
	return Event{Key: key, Reason: reason, Incident: st.inc, At: now, prev: prev, seq: st.seq,
		notifiedAt: st.notifiedAt, notified: st.notified}
}

func firingReason(m alert.Mode) alert.Reason {
	switch m {
	case alert.ModeQuantile:
		return alert.ReasonQuantile
	case alert.ModeRatio:
		return alert.ReasonRatio
	}
	return alert.ReasonFirst
}

// makeRoom drops the incident whose condition was true longest ago when
// the tracker is full. Called with the lock held.
func (t *Tracker) makeRoom() {
	if t.set.MaxOpen <= 0 || len(t.open) < t.set.MaxOpen {
		return
	}
	var oldest alert.Key
	var at time.Time
	first := true
	for k, st := range t.open {
		if first || st.lastTrue.Before(at) {
			oldest, at, first = k, st.lastTrue, false
		}
	}
	delete(t.open, oldest)
	delete(t.durable, oldest)
}

// greater compares figures of one mode: durations, or ratios.
func greater(a, b alert.Figure) bool {
	return a.Duration > b.Duration || a.Ratio > b.Ratio
}

// atLeast reports whether a is at least factor times b.
func atLeast(a, b alert.Figure, factor float64) bool {
	if b.Duration > 0 {
		return float64(a.Duration) >= factor*float64(b.Duration)
	}
	if b.Ratio > 0 {
		return a.Ratio >= factor*b.Ratio
	}
	return false
}

// Open lists the keys of the open incidents, so the engine evaluates them
// even when their endpoint has gone quiet (no request: the condition is
// false, and the incident resolves).
func (t *Tracker) Open(dst []alert.Key) []alert.Key {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(dst)
	for k := range t.open {
		dst = append(dst, k)
	}
	// Only what was appended: dst's own entries keep their place.
	slices.SortFunc(dst[n:], compareKeys)
	return dst
}

// IsOpen reports whether key has an open incident.
func (t *Tracker) IsOpen(key alert.Key) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open[key] != nil
}

// Len is the number of open incidents.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.open)
}

// Delivered makes ev durable: its alert was handed on.
func (t *Tracker) Delivered(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dirty = true
	if ev.Reason == alert.ReasonResolved {
		if d := t.durable[ev.Key]; d != nil && d.inc.ID == ev.Incident.ID {
			delete(t.durable, ev.Key)
		}
		return
	}
	st := t.open[ev.Key]
	if st == nil || st.inc.ID != ev.Incident.ID {
		return // resolved or replaced since
	}
	if d := t.durable[ev.Key]; d != nil && d.inc.ID == ev.Incident.ID && d.seq > ev.seq {
		return // a later alert of the incident was delivered first: its reference stands
	}
	cp := *st
	cp.seq, cp.notifiedAt, cp.notified = ev.seq, ev.notifiedAt, ev.notified
	t.durable[ev.Key] = &cp
}

// Undo reverts ev, whose alert was refused, so that the incident owes it
// again: a firing alert's incident is dropped (the condition opens it
// anew), an escalation or re-notification is owed again, a resolved
// incident is open again.
func (t *Tracker) Undo(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.open[ev.Key]
	switch {
	case ev.Reason == alert.ReasonResolved:
		if st == nil && ev.prev != nil {
			prev := *ev.prev
			t.open[ev.Key] = &prev
		}
	case st == nil || st.seq != ev.seq:
		// A later event of the key came after it: leave that one be.
	case ev.prev == nil:
		delete(t.open, ev.Key)
	default:
		st.notifiedAt, st.notified = ev.prev.notifiedAt, ev.prev.notified
	}
}

// Attach joins a span-mode alert of key to its incident, opening one when
// none is open (opened: the event settles it, like a firing alert's). It
// returns the incident as the alert shows it. resolveAfter is kept with the
// incident for ResolveQuiet.
func (t *Tracker) Attach(key alert.Key, now time.Time, dur time.Duration, resolveAfter time.Duration) (ev Event, opened bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fig := alert.Figure{Duration: dur}
	st := t.open[key]
	if st == nil {
		t.makeRoom()
		t.seq++
		st = &state{
			inc: alert.Incident{ID: alert.NewIncidentID(key, now), State: alert.IncidentFiring, Mode: alert.ModeSpan,
				OpenedAt: now, Fired: fig, Peak: fig, SlowCount: 1},
			lastTrue: now, notifiedAt: now, notified: fig, seq: t.seq, resolveAfter: resolveAfter,
		}
		t.open[key] = st
		return t.event(key, alert.ReasonFirst, st, nil, now), true
	}
	t.touchLocked(key, st, now, fig)
	st.notifiedAt, st.notified = now, fig
	return Event{Key: key, Incident: st.inc, At: now}, false
}

// Touch counts a suppressed slow span of key into its open incident, if
// any.
func (t *Tracker) Touch(key alert.Key, now time.Time, dur time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.open[key]; st != nil {
		t.touchLocked(key, st, now, alert.Figure{Duration: dur})
	}
}

func (t *Tracker) touchLocked(key alert.Key, st *state, now time.Time, fig alert.Figure) {
	st.inc.SlowCount++
	st.lastTrue = now
	if greater(fig, st.inc.Peak) {
		st.inc.Peak = fig
	}
	t.runningChanged(key)
}

// runningChanged marks the tracker dirty when key's incident is durable:
// Save writes its running figures (peak, slow count, when last true), so
// that the Save at shutdown keeps them. Save runs only when alerts commit
// and at shutdown, so this adds no write of its own. Called with the lock
// held.
func (t *Tracker) runningChanged(key alert.Key) {
	if t.durable[key] != nil {
		t.dirty = true
	}
}

// ResolveQuiet resolves the span-mode incidents without a slow span for
// their resolveAfter, and returns their events.
func (t *Tracker) ResolveQuiet(now time.Time) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Event
	for key, st := range t.open {
		if st.inc.Mode != alert.ModeSpan || st.resolveAfter <= 0 || now.Sub(st.lastTrue) < st.resolveAfter {
			continue
		}
		prev := *st
		delete(t.open, key)
		t.seq++
		st.seq = t.seq
		st.inc.State, st.inc.ResolvedAt = alert.IncidentResolved, now
		out = append(out, t.event(key, alert.ReasonResolved, st, &prev, now))
	}
	slices.SortFunc(out, func(a, b Event) int { return compareKeys(a.Key, b.Key) })
	return out
}

// Incident returns key's open incident, as its next alert would show it.
func (t *Tracker) Incident(key alert.Key) (alert.Incident, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.open[key]; st != nil {
		return st.inc, true
	}
	return alert.Incident{}, false
}

// Adopt gives key's open incident the id id: the one a fleet of
// collectors shares for it (another collector opened it first). It
// reports whether key has an open incident. The incident's alerts from
// then on carry id; its figures and times stay this tracker's.
func (t *Tracker) Adopt(key alert.Key, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.open[key]
	if st == nil {
		return false
	}
	if st.inc.ID != id {
		st.inc.ID = id
		t.dirty = true
		delete(t.durable, key) // an alert of the adopted id is delivered by its owner
	}
	return true
}

// Join opens key's incident as another collector of the fleet opened it,
// without an event (its alert went out there): id, mode, when it opened and
// the figure that fired it. Its condition counts as true at now, so it
// resolves resolveAfter after the condition was last seen true here. It
// reports false, changing nothing, when key has an open incident.
func (t *Tracker) Join(key alert.Key, id string, mode alert.Mode, openedAt time.Time, fired alert.Figure,
	now time.Time, resolveAfter time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open[key] != nil {
		return false
	}
	t.makeRoom()
	t.seq++
	t.open[key] = &state{
		inc:      alert.Incident{ID: id, State: alert.IncidentFiring, Mode: mode, OpenedAt: openedAt, Fired: fired, Peak: fired},
		lastTrue: now, notifiedAt: now, notified: fired, seq: t.seq, resolveAfter: max(resolveAfter, 0),
	}
	return true
}

// Drop forgets key's open incident id without an event: the fleet resolved
// it elsewhere. It reports whether it was open.
func (t *Tracker) Drop(key alert.Key, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.open[key]
	if st == nil || st.inc.ID != id {
		return false
	}
	delete(t.open, key)
	delete(t.durable, key)
	t.dirty = true
	return true
}

// ModeOf is the mode of key's open incident ("" when none is open).
func (t *Tracker) ModeOf(key alert.Key) alert.Mode {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.open[key]; st != nil {
		return st.inc.Mode
	}
	return ""
}

// compareKeys orders keys by their fields, not by String, which two keys
// can share ({"a b", "", "c"} and {"a", "b", "c"} both read "a b c"): the
// order stays stable.
func compareKeys(a, b alert.Key) int {
	return cmp.Or(strings.Compare(a.Service, b.Service), strings.Compare(a.Method, b.Method), strings.Compare(a.Route, b.Route))
}
