package window

// index finds a Set's entries by key: a Go map, or, when the keys come
// hashed already (the engine keys windows by a seeded 64-bit hash), an
// open-addressing table of (hash, entry) slots. The table saves the map's
// second hashing of the key and its group probing: a lookup is one slot,
// usually, and the entry it points to.
type index[K comparable, V any] struct {
	m     map[K]*entry[K, V] // when hash is nil
	hash  func(K) uint64
	slots []slot[K, V] // power of two, at most half full
	n     int
}

type slot[K comparable, V any] struct {
	h uint64
	e *entry[K, V] // nil: empty
}

// minSlots is the first table's size.
const minSlots = 64

func (x *index[K, V]) get(k K) *entry[K, V] {
	if x.hash == nil {
		return x.m[k]
	}
	if len(x.slots) == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	h := x.hash(k)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.e == nil {
			return nil
		}
		if s.h == h && s.e.key == k {
			return s.e
		}
	}
}

// put adds e under k, which is not held.
func (x *index[K, V]) put(k K, e *entry[K, V]) {
	if x.hash == nil {
		x.m[k] = e
		return
	}
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	x.insert(x.hash(k), e)
	x.n++
}

func (x *index[K, V]) insert(h uint64, e *entry[K, V]) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].e != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = slot[K, V]{h: h, e: e}
}

func (x *index[K, V]) grow() {
	old := x.slots
	x.slots = make([]slot[K, V], max(minSlots, 2*len(old)))
	for _, s := range old {
		if s.e != nil {
			x.insert(s.h, s.e)
		}
	}
}

// del removes k, shifting the slots after it back so that every held key
// stays reachable from its home slot (no tombstones).
func (x *index[K, V]) del(k K) {
	if x.hash == nil {
		delete(x.m, k)
		return
	}
	if len(x.slots) == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	h := x.hash(k)
	i := h & mask
	for {
		s := &x.slots[i]
		if s.e == nil {
			return
		}
		if s.h == h && s.e.key == k {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; x.slots[j].e != nil; j = (j + 1) & mask {
		// The slot at j may move back to i when i is no farther from its
		// home than j is.
		home := x.slots[j].h & mask
		if (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot[K, V]{}
	x.n--
}

func (x *index[K, V]) len() int {
	if x.hash == nil {
		return len(x.m)
	}
	return x.n
}
