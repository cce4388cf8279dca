package window

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Set keeps a Window per key, for at most maxKeys keys: recording a new key
// when full evicts the least recently recorded one, and reuses its memory.
// Recency is kept to within a sixteenth of a sub-window (at most a second):
// a key recorded again that soon is not moved in the recency list, which
// saves about a quarter of the cost of a record for busy keys.
//
// Set is safe for concurrent use. One mutex guards it: a Record is a map
// lookup, a list move and a counter increment, tens of nanoseconds, so
// finer locking would cost more than it saves at the rates one collector
// sees.
type Set[K comparable, V any] struct {
	mu      sync.Mutex
	cfg     Config
	maxKeys int
	keys    index[K, V]
	// lru is the sentinel of a circular list, most recently moved first.
	lru entry[K, V]
	// clock is the latest time recorded; entries are stamped with it, so
	// the list is also in order of their stamps even when concurrent
	// callers pass times slightly out of order.
	clock int64
	// moveAfter (at least 1) is how long after its last move a recorded
	// entry is moved to the front again: an entry's last record is in
	// [moved, moved+moveAfter).
	moveAfter int64
	evicted   uint64
	// onEvict, when set, sees the value of each evicted key before its
	// entry is reused.
	onEvict func(key K, v *V)
}

type entry[K comparable, V any] struct {
	key        K
	prev, next *entry[K, V]
	seen       int64 // Set.clock at the entry's last record
	moved      int64 // Set.clock when the entry was last moved to the front
	w          Window
	v          V
}

// NewSet returns an empty Set of windows shaped by cfg.
func NewSet[K comparable, V any](cfg Config, maxKeys int) (*Set[K, V], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if maxKeys < 1 {
		return nil, errors.New("window: max keys must be at least 1")
	}
	s := &Set[K, V]{
		cfg:       cfg,
		maxKeys:   maxKeys,
		keys:      index[K, V]{m: make(map[K]*entry[K, V])},
		moveAfter: max(1, min(int64(cfg.Over)/int64(cfg.SubWindows)/16, int64(time.Second))),
	}
	s.lru.prev, s.lru.next = &s.lru, &s.lru
	return s, nil
}

// Record counts d at time now in key's window. It reports false when the
// record came too late for the window (see Window.Record).
func (s *Set[K, V]) Record(key K, now time.Time, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.record(key, now, d)
}

// Sample is one duration to record for a key.
type Sample[K comparable] struct {
	Key      K
	Duration time.Duration
}

// RecordBatch records the samples of a batch of spans at time now, taking
// the lock once. It returns the number that came too late to be counted.
func (s *Set[K, V]) RecordBatch(now time.Time, samples []Sample[K]) (late int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range samples {
		if !s.record(samples[i].Key, now, samples[i].Duration) {
			late++
		}
	}
	return late
}

func (s *Set[K, V]) record(key K, now time.Time, d time.Duration) bool {
	s.clock = max(s.clock, now.UnixNano())
	e := s.keys.get(key)
	switch {
	case e == nil:
		e = s.add(key)
		s.pushFront(e)
	case s.clock-e.moved >= s.moveAfter:
		s.unlink(e)
		s.pushFront(e)
	}
	e.seen = s.clock
	if len(e.w.subs) == 0 {
		e.w.init(s.cfg)
	}
	return e.w.Record(now, d)
}

// add makes an entry for key, evicting the least recently recorded key
// when the set is full.
func (s *Set[K, V]) add(key K) *entry[K, V] {
	var e *entry[K, V]
	if s.keys.len() >= s.maxKeys {
		e = s.lru.prev
		s.unlink(e)
		s.keys.del(e.key)
		s.evicted++
		if s.onEvict != nil {
			s.onEvict(e.key, &e.v)
		}
		var zero V
		e.v = zero
		e.w.reset()
	} else {
		// The window is shaped at its first record (or by Updater.Entry's
		// caller), so a key that only holds a value costs no sub-windows.
		e = &entry[K, V]{}
	}
	e.key = key
	s.keys.put(key, e)
	return e
}

func (s *Set[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *Set[K, V]) pushFront(e *entry[K, V]) {
	e.moved = s.clock
	e.prev, e.next = &s.lru, s.lru.next
	e.next.prev = e
	s.lru.next = e
}

// Len is the number of keys held.
func (s *Set[K, V]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.len()
}

// Evicted is the number of keys evicted so far to make room.
func (s *Set[K, V]) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}

// Visit calls fn with the keys recorded at or after since (all of them for
// the zero Time), most recent first (to within the recency above), until
// fn returns false. It walks only those keys and the few recorded just
// before, not the whole set. fn runs under the set's lock: it must be
// quick, must not keep w and must not call the Set; Snapshot its window
// into a reused Histogram.
func (s *Set[K, V]) Visit(since time.Time, fn func(key K, w *Window) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.visit(since, func(e *entry[K, V]) bool { return fn(e.key, &e.w) })
}

func (s *Set[K, V]) visit(since time.Time, fn func(e *entry[K, V]) bool) {
	t := int64(math.MinInt64) // the zero Time, and any before 1678: every key
	if since.After(time.Unix(0, math.MinInt64)) {
		t = since.UnixNano()
	}
	// An entry recorded at or after t was moved after t-moveAfter, and the
	// list is in order of moves: the walk stops at the first entry moved
	// before.
	moved := int64(math.MinInt64)
	if t > math.MinInt64+s.moveAfter {
		moved = t - s.moveAfter + 1
	}
	for e := s.lru.next; e != &s.lru && e.moved >= moved; e = e.next {
		if e.seen >= t && !fn(e) {
			return
		}
	}
}

// Active appends the keys recorded at or after since to dst, most recent
// first, for an evaluation that takes the lock once per key (Snapshot)
// rather than for the whole walk (Visit).
func (s *Set[K, V]) Active(since time.Time, dst []K) []K {
	s.Visit(since, func(key K, _ *Window) bool {
		dst = append(dst, key)
		return true
	})
	return dst
}

// Snapshot sets dst to the histogram of key's window at now (see
// Window.Snapshot), and reports whether the key is held.
func (s *Set[K, V]) Snapshot(key K, now time.Time, dst *Histogram) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys.get(key)
	if e == nil {
		dst.Reset()
		return false
	}
	e.w.Snapshot(now, dst)
	return true
}

// UseHash has the Set find its keys by hash(key) instead of a Go map: for
// keys that are well-mixed hashes already (hash returns the key itself), a
// lookup then costs one slot. Call it before the Set is used.
func (s *Set[K, V]) UseHash(hash func(K) uint64) {
	s.keys = index[K, V]{hash: hash}
}

// OnEvict sets fn to see the value of each key evicted to make room, before
// its entry is reused (e.g. to release what the value holds). Call it
// before the Set is used.
func (s *Set[K, V]) OnEvict(fn func(key K, v *V)) { s.onEvict = fn }

// Update runs fn under the set's lock: a batch of lookups and records takes
// the lock once. fn must not call the Set's other methods, nor keep the
// Updater or what it returns.
func (s *Set[K, V]) Update(fn func(u Updater[K, V])) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(Updater[K, V]{s: s})
}

// Updater looks keys up and records under the lock Update holds.
type Updater[K comparable, V any] struct{ s *Set[K, V] }

// Entry returns key's value and window, making the entry when the key is
// not held (evicting the least recently used key when full) and marking it
// used at now. fresh reports a new entry: its value is the zero V, for the
// caller to fill, and its window is empty: unshaped, or shaped as the
// evicted key's was (its buffers are reused), so the caller Shapes it. A
// new entry holds own(key) when own is set: a copy that does not pin the
// memory key points into.
func (u Updater[K, V]) Entry(key K, now time.Time, own func(K) K) (v *V, w *Window, fresh bool) {
	s := u.s
	s.clock = max(s.clock, now.UnixNano())
	e := s.keys.get(key)
	switch {
	case e == nil:
		if own != nil {
			key = own(key)
		}
		e = s.add(key)
		s.pushFront(e)
		fresh = true
	case s.clock-e.moved >= s.moveAfter:
		s.unlink(e)
		s.pushFront(e)
	}
	e.seen = s.clock
	return &e.v, &e.w, fresh
}

// Lookup returns key's value and window without marking it used; ok is
// false when the key is not held.
func (u Updater[K, V]) Lookup(key K) (v *V, w *Window, ok bool) {
	e := u.s.keys.get(key)
	if e == nil {
		return nil, nil, false
	}
	return &e.v, &e.w, true
}

// Visit calls fn with the keys recorded at or after since, as Set.Visit
// does, with their values.
func (u Updater[K, V]) Visit(since time.Time, fn func(key K, v *V, w *Window) bool) {
	u.s.visit(since, func(e *entry[K, V]) bool { return fn(e.key, &e.v, &e.w) })
}
