package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/internal/window"
)

// WindowSettings configure Windows.
type WindowSettings struct {
	Settings
	// Collector names this collector in the fleet: unique among the
	// collectors sharing Redis and Prefix, and stable across restarts
	// (e.g. the pod or host name), so that a restarted collector
	// overwrites its own counts instead of adding a second copy.
	Collector string
	// Window is the shape of the windows shared: the same on every
	// collector (sub-windows of another width are other keys; another
	// threshold is refused when read).
	Window window.Config
}

// Windows shares the sliding windows of the endpoints across a fleet: each
// collector writes the absolute counts of its own sub-windows (Stage, then
// Flush), and any collector reads the sum of all of them (Read). It is
// safe for concurrent use.
type Windows struct {
	conn
	collector string
	cfg       window.Config
	width     time.Duration
	subs      int64
	widthTag  string // the width in the keys, e.g. "30s"

	// flushMu makes flushes one at a time: two in flight could land in
	// Redis in the other order than they mark sub-windows written.
	flushMu sync.Mutex
	mu      sync.Mutex
	// written holds, per key, the stamps of the sub-windows written by
	// the last successful flushes, to write only what changed since.
	written map[string]*keyState
	pending []pendingSub
	buf     []byte // the encoded sub-windows of pending
	spare   []pendingSub
	spareB  []byte
	stamps  []window.SubStamp
	newest  int64 // the latest epoch staged, to forget expired keys

	skipped    atomic.Int64
	skipLogged atomic.Bool
	scratch    sync.Pool // *window.Window shaped by cfg, for Read
}

type keyState struct {
	hash   string
	stamps []window.SubStamp
}

// pendingSub is one sub-window staged for the next flush: buf[from:to].
type pendingSub struct {
	key      *keyState
	stamp    window.SubStamp
	from, to int
	ttl      time.Duration
}

// NewWindows returns Windows writing and reading through s.Client.
func NewWindows(s WindowSettings) (*Windows, error) {
	c, err := newConn(s.Settings)
	if err != nil {
		return nil, err
	}
	if err := s.Window.Validate(); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if s.Collector == "" {
		return nil, errors.New("fleet: no collector id: every collector of the fleet needs its own, stable one (e.g. the pod name)")
	}
	width := s.Window.Over / time.Duration(s.Window.SubWindows)
	x := &Windows{
		conn:      c,
		collector: s.Collector,
		cfg:       s.Window,
		width:     width,
		subs:      int64(s.Window.SubWindows),
		widthTag:  width.String(),
		written:   make(map[string]*keyState),
		newest:    math.MinInt64,
	}
	x.scratch.New = func() any {
		w, _ := window.NewWindow(x.cfg) // validated above
		return w
	}
	return x, nil
}

// subKey is the Redis key of key's sub-window of epoch.
func (x *Windows) subKey(hash string, epoch int64) string {
	return x.prefix + "win:v" + strconv.Itoa(window.LayoutVersion) + ":" + hash + ":" + x.widthTag + ":" + strconv.FormatInt(epoch, 10)
}

// ttl is how long the hash of epoch's sub-window stays in Redis after
// now: until the window length plus one sub-window past its start, a
// sub-window after the last window that holds it.
func (x *Windows) ttl(epoch int64, now time.Time) time.Duration {
	end := time.Unix(0, (epoch+x.subs+1)*int64(x.width))
	return end.Sub(now)
}

// Stage encodes the sub-windows of key's window w, at now, that changed
// since they were last written, for the next Flush; it returns how many.
// Call it with the lock that guards w held (inside Set.Visit), for each key
// recorded since the start of the last successful Flush: a failed flush
// writes nothing, so the keys it carried must be staged again.
func (x *Windows) Stage(key string, w *window.Window, now time.Time) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	ks := x.written[key]
	if ks == nil {
		ks = &keyState{hash: KeyHash(key)}
		x.written[key] = ks
	}
	x.stamps = w.Stamps(now, x.stamps[:0])
	n := 0
	for _, st := range x.stamps {
		if hasStamp(ks.stamps, st) {
			continue
		}
		from := len(x.buf)
		var ok bool
		if x.buf, ok = w.AppendSub(st.Epoch, x.buf); !ok {
			continue
		}
		x.pending = append(x.pending, pendingSub{key: ks, stamp: st, from: from, to: len(x.buf), ttl: x.ttl(st.Epoch, now)})
		x.newest = max(x.newest, st.Epoch)
		n++
	}
	return n
}

// Forget drops what Windows knows of the sub-windows it wrote, so that the
// next Stage of each key stages all of its live sub-windows again: after
// Redis failed, it may have come back without them (a restart without
// persistence), and a window judged without them would look quiet.
func (x *Windows) Forget() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ks := range x.written {
		ks.stamps = ks.stamps[:0]
	}
}

func hasStamp(stamps []window.SubStamp, st window.SubStamp) bool {
	for _, s := range stamps {
		if s == st {
			return true
		}
	}
	return false
}

// FlushStats describe one Flush.
type FlushStats struct {
	// Keys is the number of distinct keys written, SubWindows the number
	// of (key, sub-window) hashes written: one HSET and one PEXPIRE each.
	Keys, SubWindows int
	// Commands is the number of commands sent, all in one round trip.
	Commands int
	// Bytes is the size of the encoded sub-windows sent (values only).
	Bytes int
}

// Flush writes the staged sub-windows, in one pipelined round trip bounded
// by the timeout: per (key, sub-window), HSET of this collector's field to
// its absolute counts and PEXPIRE. Writing absolute counts is idempotent,
// so a flush that failed halfway, or ran twice, counts nothing twice. On
// error nothing is marked written: the caller stages the keys again (see
// Stage) and the next flush rewrites them. Flushes run one at a time;
// Stage does not wait for one.
func (x *Windows) Flush(ctx context.Context) (FlushStats, error) {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	x.mu.Lock()
	batch, buf := x.pending, x.buf
	x.pending, x.buf = x.spare[:0], x.spareB[:0]
	x.spare, x.spareB = nil, nil
	x.mu.Unlock()

	stats := FlushStats{SubWindows: len(batch), Commands: 2 * len(batch), Bytes: len(buf)}
	var err error
	if len(batch) > 0 {
		seen := make(map[*keyState]struct{}, len(batch))
		callCtx, cancel := x.callCtx(ctx)
		pipe := x.client.Pipeline()
		for _, p := range batch {
			seen[p.key] = struct{}{}
			rk := x.subKey(p.key.hash, p.stamp.Epoch)
			pipe.HSet(callCtx, rk, x.collector, buf[p.from:p.to])
			pipe.PExpire(callCtx, rk, p.ttl)
		}
		stats.Keys = len(seen)
		_, err = pipe.Exec(callCtx)
		cancel()
		if err != nil {
			err = x.fail(ctx, fmt.Sprintf("writing %d sub-windows of %d endpoints", len(batch), stats.Keys), err)
		}
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	if err == nil {
		for _, p := range batch {
			p.key.stamps = setStamp(p.key.stamps, p.stamp)
		}
		x.forgetExpired()
	}
	clear(batch) // drop the keyState pointers
	x.spare, x.spareB = batch[:0], buf[:0]
	return stats, err
}

// setStamp records st as written: it replaces the stamp of its epoch.
func setStamp(stamps []window.SubStamp, st window.SubStamp) []window.SubStamp {
	for i := range stamps {
		if stamps[i].Epoch == st.Epoch {
			stamps[i] = st
			return stamps
		}
	}
	return append(stamps, st)
}

// forgetExpired drops the stamps of sub-windows out of the window at the
// newest epoch staged, and the keys left without any: the memory Windows
// keeps is bounded by the keys written within a window.
func (x *Windows) forgetExpired() {
	if x.newest < math.MinInt64+x.subs {
		return // nothing staged yet
	}
	oldest := x.newest - x.subs + 1
	for key, ks := range x.written {
		kept := ks.stamps[:0]
		for _, st := range ks.stamps {
			if st.Epoch >= oldest {
				kept = append(kept, st)
			}
		}
		ks.stamps = kept
		if len(kept) == 0 && !x.staged(ks) {
			delete(x.written, key)
		}
	}
}

// staged reports whether a pending sub-window refers to ks.
func (x *Windows) staged(ks *keyState) bool {
	for i := range x.pending {
		if x.pending[i].key == ks {
			return true
		}
	}
	return false
}

// Tracked is the number of keys whose written sub-windows Windows
// remembers.
func (x *Windows) Tracked() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.written)
}

// ReadStats describe one Read.
type ReadStats struct {
	// Fields is the number of collector fields summed; Skipped the
	// number refused (another bucket layout, threshold, or damaged).
	Fields, Skipped int
	// Commands is the number of HGETALL sent, all in one round trip.
	Commands int
}

// Read sums, for each of keys, every collector's sub-windows of the window
// at now, in one pipelined round trip bounded by the timeout (an HGETALL
// per key and live sub-window), and calls fn with the merged window of each
// key, keys[i], in order. The merged window answers the same queries as a
// local one (Quantile, QuantileAtLeastThreshold, Count, ...) at now; it is
// reused for the next key, so fn must not keep it. This collector's own
// counts are the ones of its last Flush. A field that does not decode is
// skipped, counted in the stats and Skipped, and logged once: it is never
// trusted. On error fn is not called.
func (x *Windows) Read(ctx context.Context, keys []string, now time.Time, fn func(i int, merged *window.Window)) (ReadStats, error) {
	var stats ReadStats
	if len(keys) == 0 {
		return stats, nil
	}
	newest := epochOf(now, x.width)
	oldest := newest - x.subs + 1
	callCtx, cancel := x.callCtx(ctx)
	defer cancel()
	pipe := x.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, 0, len(keys)*int(x.subs))
	for _, key := range keys {
		hash := KeyHash(key)
		for e := oldest; e <= newest; e++ {
			cmds = append(cmds, pipe.HGetAll(callCtx, x.subKey(hash, e)))
		}
	}
	stats.Commands = len(cmds)
	if _, err := pipe.Exec(callCtx); err != nil {
		return stats, x.fail(ctx, fmt.Sprintf("reading the shared windows of %d endpoints", len(keys)), err)
	}
	merged := x.scratch.Get().(*window.Window)
	defer x.scratch.Put(merged)
	var firstErr error
	for i := range keys {
		merged.Clear()
		for j, e := 0, oldest; e <= newest; j, e = j+1, e+1 {
			for collector, v := range cmds[i*int(x.subs)+j].Val() {
				if err := merged.MergeSub(e, []byte(v)); err != nil {
					stats.Skipped++
					if firstErr == nil {
						firstErr = fmt.Errorf("collector %q: %w", collector, err)
					}
					continue
				}
				stats.Fields++
			}
		}
		fn(i, merged)
	}
	if stats.Skipped > 0 {
		x.skipped.Add(int64(stats.Skipped))
		if !x.skipLogged.Swap(true) {
			x.logger.Warn("skipping shared sub-windows that do not fit this collector's window (another version or window configuration on some collector?); logged once",
				zap.Int("skipped", stats.Skipped), zap.Error(firstErr))
		}
	}
	return stats, nil
}

// Skipped is the number of shared sub-windows Read refused so far.
func (x *Windows) Skipped() int64 { return x.skipped.Load() }

// epochOf is window.Window's numbering of sub-windows: floor(now/width).
func epochOf(now time.Time, width time.Duration) int64 {
	ns, w := now.UnixNano(), int64(width)
	e := ns / w
	if ns%w < 0 {
		e--
	}
	return e
}
