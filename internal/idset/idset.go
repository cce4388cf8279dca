// Package idset remembers the last N alert IDs an exporter delivered, so a
// redelivered alert (a persistent queue replaying the batch in flight at a
// crash, a retry of a batch that failed part way) is not delivered twice.
// IDs come from spans and may be hostile: memory is bounded by count and by
// length.
package idset

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxIDLength is the longest ID kept as is; longer ones are kept as their
// sha256, so N overlong IDs cost no more than N normal ones.
const MaxIDLength = 64

// Set remembers the last capacity IDs added, forgetting the oldest first.
// It is not safe for concurrent use: exporters call it under their lock.
type Set struct {
	ids  map[string]struct{}
	ring []string
	next int
}

// New returns an empty Set of the given capacity (at least 1).
func New(capacity int) *Set {
	capacity = max(capacity, 1)
	return &Set{ids: make(map[string]struct{}, capacity), ring: make([]string, 0, capacity)}
}

func norm(id string) string {
	if len(id) <= MaxIDLength {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Has reports whether id is remembered.
func (s *Set) Has(id string) bool {
	_, ok := s.ids[norm(id)]
	return ok
}

// Add remembers id, forgetting the oldest ID when the set is full.
func (s *Set) Add(id string) {
	id = norm(id)
	if _, ok := s.ids[id]; ok {
		return
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, id)
	} else {
		delete(s.ids, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % len(s.ring)
	}
	s.ids[id] = struct{}{}
}

// Len is the number of IDs remembered.
func (s *Set) Len() int { return len(s.ids) }
