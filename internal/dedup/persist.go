package dedup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/slowspan/slowspan/alert"
)

// State is persisted in numBuckets records, each holding the keys whose hash
// falls in it: a batch rewrites only the buckets it touched (a few KB), and a
// restart reads them all back, so eviction order and MaxKeys still hold. The
// storage API has no listing, hence a fixed set of record names.
const numBuckets = 64

// storageKey names a bucket record. The version is in the name so that a
// future format can live beside this one during a migration.
func storageKey(b int) string { return fmt.Sprintf("dedup.v1.bucket.%02d", b) }

// keyHash is FNV-1a over the key's fields, each followed by a zero byte:
// stable across processes, since it places keys in persisted buckets.
func keyHash(k alert.Key) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, s := range [...]string{k.Service, k.Method, k.Route} {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0
		h *= prime
	}
	return h
}

// bucketOf is the persisted bucket of a key hash.
func bucketOf(h uint64) int { return int(h % numBuckets) }

// record is the stored form of an entry; short names keep buckets small.
type record struct {
	Service       string `json:"s"`
	Method        string `json:"m,omitempty"`
	Route         string `json:"r"`
	LastAlert     int64  `json:"t"`
	LastDuration  int64  `json:"d"`
	Suppressed    int64  `json:"n,omitempty"`
	SuppressedMax int64  `json:"x,omitempty"`
}

// Save writes the buckets changed since the last Save in one storage batch.
// On failure they stay marked, so the next Save retries them.
func (d *Deduper) Save(ctx context.Context, client storage.Client) error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()

	d.mu.Lock()
	dirty := d.dirty
	d.dirty = 0
	var ops []*storage.Operation
	for b := range numBuckets {
		if dirty&(1<<b) == 0 {
			continue
		}
		value, err := d.encodeBucketLocked(b)
		if err != nil {
			d.dirty |= dirty
			d.mu.Unlock()
			return err
		}
		if value == nil {
			ops = append(ops, storage.DeleteOperation(storageKey(b)))
		} else {
			ops = append(ops, storage.SetOperation(storageKey(b), value))
		}
	}
	d.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	if err := client.Batch(ctx, ops...); err != nil {
		d.mu.Lock()
		d.dirty |= dirty
		d.mu.Unlock()
		return fmt.Errorf("saving dedup state (%d records): %w", len(ops), err)
	}
	return nil
}

func (d *Deduper) encodeBucketLocked(b int) ([]byte, error) {
	m := d.buckets[b]
	if len(m) == 0 {
		return nil, nil
	}
	recs := make([]record, 0, len(m))
	for _, e := range m {
		r := record{
			Service:       e.key.Service,
			Method:        e.key.Method,
			Route:         e.key.Route,
			LastAlert:     e.lastAlert,
			LastDuration:  int64(e.lastDuration),
			Suppressed:    e.suppressed,
			SuppressedMax: int64(e.suppressedMax),
		}
		if ds := e.durable; ds != nil {
			// An alert of this key is not delivered yet: save the state
			// from before it.
			if !ds.had {
				continue
			}
			r.LastAlert, r.LastDuration = ds.lastAlert, int64(ds.lastDuration)
			r.Suppressed, r.SuppressedMax = ds.suppressed, int64(ds.suppressedMax)
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	// Sorted, so that identical state gives identical bytes.
	slices.SortFunc(recs, func(a, b record) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Method, b.Method), cmp.Compare(a.Route, b.Route))
	})
	return json.Marshal(recs)
}

// Load replaces the state with what client holds, read at now: an alert
// time too far in the future becomes now (see FutureTolerance). A damaged
// record is skipped and reported in the returned error; the rest still
// loads, since a lost key costs at most one repeated alert.
func (d *Deduper) Load(ctx context.Context, client storage.Client, now time.Time) error {
	nowNs := now.UnixNano()
	var clamped uint64 // buckets to rewrite
	var all []*entry
	var errs []error
	for b := range numBuckets {
		value, err := client.Get(ctx, storageKey(b))
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", storageKey(b), err))
			continue
		}
		if value == nil {
			continue
		}
		var recs []record
		if err := json.Unmarshal(value, &recs); err != nil {
			errs = append(errs, fmt.Errorf("decoding %s: %w", storageKey(b), err))
			continue
		}
		for _, r := range recs {
			k := alert.Key{Service: r.Service, Method: r.Method, Route: r.Route}
			h := keyHash(k)
			last := clampFuture(r.LastAlert, nowNs)
			if last != r.LastAlert {
				clamped |= 1 << bucketOf(h)
			}
			// A record in the wrong bucket would be unreachable and
			// never rewritten: place it where it belongs.
			all = append(all, &entry{
				key:           k,
				lastAlert:     last,
				lastDuration:  time.Duration(r.LastDuration),
				suppressed:    r.Suppressed,
				suppressedMax: time.Duration(r.SuppressedMax),
				hash:          h,
				bucket:        bucketOf(h),
			})
		}
	}
	slices.SortStableFunc(all, func(a, b *entry) int { return cmp.Compare(a.lastAlert, b.lastAlert) })

	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.buckets {
		d.buckets[i] = make(map[uint64]*entry)
	}
	d.lru.Init()
	d.dirty |= clamped
	for _, e := range all {
		mk := d.mapKey(e.key)
		if old, ok := d.buckets[e.bucket][mk]; ok {
			d.lru.Remove(old.elem)
		}
		d.buckets[e.bucket][mk] = e
		e.elem = d.lru.PushBack(e)
	}
	d.evictLocked()
	return errors.Join(errs...)
}
