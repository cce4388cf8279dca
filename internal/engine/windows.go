package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/incident"
	"github.com/slowspan/slowspan/internal/route"
	"github.com/slowspan/slowspan/internal/window"
)

// windowStage is the decide stage of the quantile and ratio modes: every
// span of a selected kind on a kept route records its duration into its
// endpoint's sliding window, and the trigger's condition, judged on the
// window after batches with a slow span and on the timer, opens, escalates
// and resolves incidents (package incident). For each window it keeps the
// slowest request seen (a redacted copy, with the children of its batch) as
// the evidence of the firing alert.
type windowStage struct {
	// set holds the windows by the seeded 64-bit hash of their key (as
	// package dedup does): a lookup compares integers, not the strings of
	// a key stored elsewhere in memory, and a seeded hash cannot be made
	// to collide by crafted routes.
	set  *window.Set[keyID, endpoint]
	seed maphash.Seed
	// triggers[0] is the global trigger, triggers[1+i] that of routes[i].
	triggers []trigger
	tracker  *incident.Tracker
	state    *incidentState
	// every is how often the timer evaluates the active windows.
	every time.Duration
	mu    sync.Mutex
	// lastEval is when the timer last evaluated.
	lastEval time.Time
	// spanOrigins is the origin of each open span-mode incident's last
	// alert, where its resolved alert goes.
	spanOrigins map[alert.Key]Origin
	// batch numbers the scans (under the set's lock).
	batch uint64
	// fleet shares the windows and incidents across collectors
	// (fleet.enabled); nil otherwise.
	fleet *fleetStage
	// exemplarBytes estimates the memory of the kept worst requests (under
	// the set's lock); maxExemplarBytes bounds it.
	exemplarBytes, maxExemplarBytes int64
	// versionsChanged is set when an endpoint takes a new version (a new
	// baseline): the next SaveState writes the versions.
	versionsChanged atomic.Bool
}

// keyID identifies a key in the set: a seeded 64-bit hash of the key
// (idOf).
type keyID uint64

func (ws *windowStage) id(k alert.Key) keyID {
	return ws.idOf(maphash.String(ws.seed, k.Service), k.Method, k.Route)
}

// idOf is id with the service's hash given: a batch hashes each
// resource's service once, and each span's route (and method) only.
func (ws *windowStage) idOf(service uint64, method, route string) keyID {
	const k1, k2 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f
	h := (maphash.String(ws.seed, route) ^ service) * k1
	h = (h ^ methodCode(method)) * k2
	return keyID(h ^ h>>29)
}

// methodCode numbers the methods route.Method returns, cheaper than
// hashing them; any other value (none is expected) is hashed.
func methodCode(m string) uint64 {
	switch m {
	case "":
		return 1
	case "GET":
		return 2
	case "POST":
		return 3
	case "PUT":
		return 4
	case "DELETE":
		return 5
	case "PATCH":
		return 6
	case "HEAD":
		return 7
	case "OPTIONS":
		return 8
	case "CONNECT":
		return 9
	case "TRACE":
		return 10
	case "QUERY":
		return 11
	case "_OTHER":
		return 12
	}
	return maphash.String(methodSeed, m) | 1<<63
}

// methodSeed hashes a method methodCode does not know.
var methodSeed = maphash.MakeSeed()

// endpoint is what the stage keeps per key, beside its window.
type endpoint struct {
	key alert.Key
	// kept, trig, threshold and rule are decided at the key's first span:
	// in the window modes rules and filters are matched per endpoint.
	kept      bool
	trig      int // index in windowStage.triggers
	threshold time.Duration
	rule      string
	origin    Origin
	// slow counts the slow requests recorded since the key's last
	// evaluation: an incident's slow count grows by it.
	slow int64
	// worst is the slowest slow request of the window so far, its duration
	// and when it was kept.
	worst    *candidate
	worstDur time.Duration
	worstAt  time.Time
	// evalAt is when a batch last had the key evaluated; open is whether
	// it had an open incident then.
	evalAt time.Time
	open   bool
	// batch is the scan that last saw a slow request of the key, and pick
	// its index in that scan's picks (-1: none): a batch with many slow
	// endpoints finds each one's place without searching.
	batch uint64
	pick  int
	// versions are the endpoint's versions in mode regression.
	versions *versions
}

// minBatchEval spaces the evaluations of an open incident's key that its
// slow requests cause: a slow endpoint has slow requests in every batch,
// each evaluation sums its histogram for the figures, and they change
// little within a second.
const minBatchEval = time.Second

// maxEvalInterval bounds the time between two evaluations of a window.
const maxEvalInterval = 10 * time.Second

func newWindowStage(cfg *Config, logger *zap.Logger) (*windowStage, error) {
	ws := &windowStage{maxExemplarBytes: cfg.Correlation.MaxPendingBytes}
	ws.triggers = append(ws.triggers, resolveTrigger(cfg.Trigger, cfg.Resolve, nil))
	for i := range cfg.Routes {
		ws.triggers = append(ws.triggers, resolveTrigger(cfg.Trigger, cfg.Resolve, &cfg.Routes[i]))
	}
	windowed, spanIncidents := false, false
	minOver := maxOver
	for _, t := range ws.triggers {
		if t.windowed() {
			windowed = true
			minOver = min(minOver, t.over)
		} else if t.resolveAfter > 0 {
			spanIncidents = true
		}
	}
	if !windowed && !spanIncidents {
		return nil, nil
	}
	ws.tracker = incident.New(incident.Settings{
		Renotify:         cfg.Dedup.Window,
		EscalationFactor: cfg.Dedup.EscalationFactor,
		MaxOpen:          cfg.Dedup.MaxKeys,
	})
	ws.every = maxEvalInterval
	if !windowed {
		// Span mode with resolve.after: incidents, no windows.
		ws.state = &incidentState{tracker: ws.tracker}
		return ws, nil
	}
	ws.every = min(maxEvalInterval, minOver/subWindows)
	set, err := window.NewSet[keyID, endpoint](
		window.Config{Over: minOver, SubWindows: subWindows}, cfg.Dedup.MaxKeys)
	if err != nil {
		return nil, fmt.Errorf("trigger.over: %w", err)
	}
	set.UseHash(func(id keyID) uint64 { return uint64(id) }) // mixed already
	set.OnEvict(func(_ keyID, v *endpoint) { ws.dropWorst(v) })
	ws.set, ws.seed = set, maphash.MakeSeed()
	ws.state = &incidentState{tracker: ws.tracker}
	if ws.fleet = newFleetStage(cfg, logger); ws.fleet != nil {
		// The timer judges the fleet's windows at each flush.
		ws.every = cfg.Fleet.FlushInterval
	}
	return ws, nil
}

// sample is a span of a selected kind, as the stage keeps it: a batch's
// new worst requests.
type sample struct {
	key  alert.Key
	dur  time.Duration
	span ptrace.Span
	rs   ptrace.ResourceSpans
	ss   ptrace.ScopeSpans
}

// scanAll is Process's loop in the window modes, under the set's lock for
// the whole batch: every span of a selected kind, whatever its duration,
// records into its endpoint's window. A key's rule and filter are decided at
// its first span; span-mode keys leave their slow spans to the span path
// (examine); a window key's slow spans are counted into its incident, may
// become its worst request, and have it judged.
func (e *Engine) scanAll(td ptrace.Traces, in *input, st *Stats, origin Origin) {
	ws := e.windows
	now := e.now()
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		ws.batch++
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			in.rs = rss.At(i)
			in.svc.reset(in.rs)
			in.svcHashed = false
			in.verRead = false
			sss := in.rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				in.ss = sss.At(j)
				e.scanWindowed(u, in, st, in.ss.Spans(), origin, now)
			}
		}
	})
}

func (e *Engine) scanWindowed(u window.Updater[keyID, endpoint], in *input, st *Stats, spans ptrace.SpanSlice,
	origin Origin, now time.Time) {
	ws := e.windows
	kinds, minNs := e.selector.kinds, e.selector.minNs
	n := spans.Len()
	st.Spans += int64(n)
	for k := 0; k < n; k++ {
		span := spans.At(k)
		kind := uint32(span.Kind())
		if kind >= 8 || kinds&(1<<kind) == 0 {
			continue
		}
		start, end := span.StartTimestamp(), span.EndTimestamp()
		if end < start {
			continue
		}
		dur := time.Duration(end - start)
		method, rt := route.Key(span.Attributes(), span.Name())
		if !in.svcHashed {
			in.svcHash, in.svcHashed = maphash.String(ws.seed, in.svc.get()), true
		}
		id := ws.idOf(in.svcHash, method, rt)
		v, w, fresh := u.Entry(id, now, nil)
		key := alert.Key{Service: in.svc.get(), Method: method, Route: rt}
		if fresh {
			e.resolveEndpoint(v, w, span)
			v.key = ownKey(key)
		}
		if !v.kept {
			if dur >= v.threshold {
				st.Slow++
				st.Filtered++
			}
			continue
		}
		t := &ws.triggers[v.trig]
		if !t.windowed() {
			if uint64(dur) >= minNs {
				e.examine(in, st, span, dur)
			}
			continue
		}
		w.Record(now, dur)
		if t.regression != nil && !e.recordVersion(u, in, id, v, t, dur, now) && dur >= v.threshold {
			// An older version's request during a rollout: counted, not
			// the current version's worst request.
			st.Slow++
			continue
		}
		if dur < v.threshold {
			continue
		}
		e.slowSample(in, st, v, t, sample{key: key, dur: dur, span: span, rs: in.rs, ss: in.ss}, origin, now)
	}
}

// slowSample counts a window key's slow span: into its incident, as its
// worst request when it beats the kept one, and for a judgement now.
func (e *Engine) slowSample(in *input, st *Stats, v *endpoint, t *trigger, s sample, origin Origin, now time.Time) {
	st.Slow++
	v.slow++
	v.origin = origin
	if in.sc == nil {
		in.sc = e.scratch.get()
	}
	sc := in.sc
	if first := v.batch != e.windows.batch; first {
		v.batch, v.pick = e.windows.batch, -1
		// A key without an incident is judged on counters, at once; an
		// open one's figures sum its histogram, once a second. With
		// fleet-wide windows only the timer judges, on the fleet's window:
		// a batch sees this collector's share of the requests only.
		if e.windows.fleet == nil && (!v.open || now.Sub(v.evalAt) >= minBatchEval) {
			v.evalAt = now
			sc.slowKeys = append(sc.slowKeys, s.key)
		}
	}
	switch {
	case v.pick >= 0:
		if s.dur > sc.picks[v.pick].dur {
			sc.picks[v.pick] = s
		}
	case v.worst == nil || s.dur > v.worstDur || now.Sub(v.worstAt) >= t.over:
		v.pick = len(sc.picks)
		sc.picks = append(sc.picks, s)
	}
}

// resolveEndpoint decides a new key's rule, threshold, trigger and filter
// from its first span, and shapes its window.
func (e *Engine) resolveEndpoint(v *endpoint, w *window.Window, span ptrace.Span) {
	e.resolveEndpointInfo(v, w, route.Extract(span.Attributes(), span.Name()))
}

func (e *Engine) resolveEndpointInfo(v *endpoint, w *window.Window, info route.Info) {
	threshold, rule, idx := e.selector.match(info)
	*v = endpoint{kept: e.filter.keep(info), trig: idx + 1, threshold: threshold, rule: rule}
	if t := &e.windows.triggers[v.trig]; t.windowed() && v.kept {
		w.Shape(window.Config{Over: t.over, SubWindows: subWindows, Threshold: threshold})
	}
}

func appendKey(keys []alert.Key, k alert.Key) []alert.Key {
	for _, have := range keys {
		if have == k {
			return keys
		}
	}
	return append(keys, k)
}

// keepWorst copies the picked worst requests out of the batch (with their
// children in it, which collectChildren adds) and keeps them per key.
func (e *Engine) keepWorst(sc *scratch) []*candidate {
	out := make([]*candidate, 0, len(sc.picks))
	for i := range sc.picks {
		out = append(out, e.newWindowCandidate(&sc.picks[i]))
	}
	return out
}

// storeWorst keeps each new worst request in its endpoint, replacing the
// previous one, within the byte budget.
func (e *Engine) storeWorst(worst []*candidate, now time.Time) {
	ws := e.windows
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		for _, c := range worst {
			v, _, ok := u.Lookup(ws.id(c.alert.Key))
			if !ok {
				continue
			}
			size := estimateBytes(c.td) + c.children.bytes
			ws.dropWorst(v)
			if ws.exemplarBytes+size > ws.maxExemplarBytes {
				continue // over budget: the alert goes without its worst request
			}
			c.bytes = size
			v.worst, v.worstAt = c, now
			v.worstDur = time.Duration(c.span.EndTimestamp() - c.span.StartTimestamp())
			ws.exemplarBytes += size
		}
	})
}

// dropWorst releases v's worst request. Called under the set's lock.
func (ws *windowStage) dropWorst(v *endpoint) {
	if v.worst != nil {
		ws.exemplarBytes -= v.worst.bytes
		v.worst = nil
	}
}

// newWindowCandidate copies a window's slow sample out as a candidate whose
// alert the evaluation fills in.
func (e *Engine) newWindowCandidate(s *sample) *candidate {
	k := keptSpan{span: s.span, rs: s.rs, ss: s.ss, key: s.key, dur: s.dur}
	return e.newCandidate(&k, dedup.Decision{})
}

// evaluation is the outcome of judging one key: the event, the alert's
// figures and its worst request.
type evaluation struct {
	ev      incident.Event
	figures alert.WindowFigures
	worst   *candidate
	origin  Origin
	rule    string
	thresh  time.Duration
	// regression is the alert's before and after (mode regression).
	regression *alert.Regression
}

// evaluate judges keys at now (under the set's lock) and returns the
// events they cause. A key of shared has its condition and figures from
// there (the fleet's merged window) instead of its local window.
func (e *Engine) evaluate(keys []alert.Key, now time.Time, shared map[alert.Key]*judgement) []evaluation {
	ws := e.windows
	var out []evaluation
	var h window.Histogram
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		for _, key := range keys {
			id := ws.id(key)
			v, w, ok := u.Lookup(id)
			var obs incident.Observation
			var t *trigger
			var reg *alert.Regression
			switch {
			case ok && v.kept && ws.triggers[v.trig].windowed():
				t = &ws.triggers[v.trig]
				obs = incident.Observation{Mode: t.mode, ResolveAfter: t.resolveAfter, Slow: v.slow}
				v.slow = 0
				switch j := shared[key]; {
				case j != nil && t.regression != nil:
					reg = judgeSharedRegression(v, t, now, ws.tracker.IsOpen(key), &obs, j.regression)
				case j != nil:
					obs.True, obs.Figure = j.obs.True, j.obs.Figure
				case t.regression != nil:
					// Judged, and described, on the current version's window.
					w, reg = e.judgeRegression(u, id, v, t, now, ws.tracker.IsOpen(key), &obs)
				default:
					judge(t, v.threshold, w, now, ws.tracker.IsOpen(key), &obs)
				}
			case !ok && ws.tracker.IsOpen(key):
				// The key was evicted with its incident open: judged on an
				// empty window, it resolves as configured when it opened.
				obs = incident.Observation{Mode: ws.tracker.ModeOf(key), ResolveAfter: -1}
				w, v = nil, &endpoint{}
			default:
				continue
			}
			ev, fired := ws.tracker.Observe(key, now, obs)
			v.open = ws.tracker.IsOpen(key)
			if !fired {
				continue
			}
			r := evaluation{ev: ev, origin: v.origin, rule: v.rule, thresh: v.threshold}
			if ev.Reason != alert.ReasonResolved {
				r.regression = reg
			}
			if j := shared[key]; j != nil && t != nil {
				r.figures = j.figures
			} else if w != nil {
				r.figures = figures(t, v.threshold, w, now, &h)
			}
			// A regression alert's request is of the version it judged:
			// with fleet-wide windows, the fleet's current version, maybe
			// not this collector's.
			ofVersion := reg == nil || v.versions.isCurrent(reg.After.Version)
			if t != nil && ev.Reason != alert.ReasonResolved && ofVersion && v.worst != nil && now.Sub(v.worstAt) < t.over {
				r.worst = v.worst
				ws.exemplarBytes -= v.worst.bytes
				v.worst = nil
			}
			out = append(out, r)
		}
	})
	return out
}

// judge fills obs with the trigger's condition over w at now, and its
// figure when the condition holds or an incident is open (the quantile's
// estimate sums the window's histogram; the condition reads counters).
func judge(t *trigger, threshold time.Duration, w *window.Window, now time.Time, open bool, obs *incident.Observation) {
	n := w.Count(now)
	if n == 0 || n < t.minCount {
		return
	}
	switch t.mode {
	case alert.ModeQuantile:
		obs.True = w.QuantileAtLeastThreshold(now, t.quantile)
		if obs.True || open {
			obs.Figure.Duration = w.Quantile(now, t.quantile)
		}
	case alert.ModeRatio:
		r := float64(w.CountAtLeastThreshold(now)) / float64(n)
		obs.Figure.Ratio = r
		obs.True = r >= t.ratio
	}
}

// figures describes w at now for an alert.
func figures(t *trigger, threshold time.Duration, w *window.Window, now time.Time, h *window.Histogram) alert.WindowFigures {
	w.Snapshot(now, h)
	f := alert.WindowFigures{
		Over:      t.over,
		Count:     int64(h.Count()),
		SlowCount: int64(w.CountAtLeastThreshold(now)),
		P50:       h.Quantile(0.5),
		P90:       h.Quantile(0.9),
		P95:       h.Quantile(0.95),
		P99:       h.Quantile(0.99),
		Max:       h.Max(),
	}
	switch t.mode {
	case alert.ModeQuantile:
		f.Quantile, f.QuantileValue = t.quantile, h.Quantile(t.quantile)
	case alert.ModeRatio:
		f.Ratio = t.ratio
		if f.Count > 0 {
			f.SlowRatio = float64(f.SlowCount) / float64(f.Count)
		}
	}
	// Every bucket from the first non-empty one to the last, empty ones
	// included, so that merging them keeps the axis even.
	var bounds []time.Duration
	var counts []int64
	next := -1
	for i, n := range h.Buckets() {
		for ; next >= 0 && next < i; next++ {
			bounds = append(bounds, window.UpperBound(next))
			counts = append(counts, 0)
		}
		bounds = append(bounds, window.UpperBound(i))
		counts = append(counts, int64(min(n, math.MaxInt64)))
		next = i + 1
	}
	f.Histogram = alert.CompactHistogram(bounds, counts, alert.MaxHistogramBuckets)
	return f
}

// incidentCandidates turns evaluations into alert candidates: the worst
// request of the window when one is kept, else a span made for the alert.
func (e *Engine) incidentCandidates(evals []evaluation, st *Stats) []*candidate {
	out := make([]*candidate, 0, len(evals))
	for i := range evals {
		r := &evals[i]
		c := r.worst
		if c == nil {
			c = syntheticCandidate(r.ev)
		}
		ev := r.ev
		c.event = &ev
		c.origin = r.origin
		c.alert.Reason = ev.Reason
		c.alert.Key = ev.Key
		c.alert.Rule = r.rule
		c.alert.Threshold = r.thresh
		inc := ev.Incident
		c.alert.Incident = &inc
		if r.figures.Count > 0 || r.figures.Over > 0 {
			f := r.figures
			c.alert.Window = &f
		}
		c.alert.Regression = r.regression
		c.alert.ID = incidentAlertID(ev)
		st.countAlert(ev.Reason)
		out = append(out, c)
	}
	return out
}

// incidentAlertID is deterministic per event: a redelivered alert keeps it.
func incidentAlertID(ev incident.Event) string {
	return alert.NewID(ev.Incident.ID, strconv.FormatInt(ev.At.UnixNano(), 10), ev.Reason)
}

// syntheticCandidate is the span of an incident alert without a request to
// show (a resolved incident, or a window whose worst request was not kept):
// no app sent it, and its ids derive from the event.
func syntheticCandidate(ev incident.Event) *candidate {
	sum := sha256.Sum256([]byte("slowspan incident\x00" + ev.Incident.ID + "\x00" + string(ev.Reason) +
		"\x00" + strconv.FormatInt(ev.At.UnixNano(), 10)))
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	copy(tid[:], sum[:16])
	copy(sid[:], sum[16:24])
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", ev.Key.Service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/slowspan/slowspan")
	span := ss.Spans().AppendEmpty()
	span.SetTraceID(tid)
	span.SetSpanID(sid)
	span.SetKind(ptrace.SpanKindInternal)
	name := ev.Key.Route
	if ev.Key.Method != "" {
		name = ev.Key.Method + " " + name
	}
	span.SetName(name)
	ts := pcommon.NewTimestampFromTime(ev.At)
	span.SetStartTimestamp(ts)
	span.SetEndTimestamp(ts)
	return &candidate{td: td, span: span, traceID: tid, spanID: sid, children: newChildren(span), synthetic: true,
		alert: alert.Alert{ID: hex.EncodeToString(sum[:16])}}
}

// evaluateDue is the timer's evaluation: every window recorded since the
// last one, and every open incident, at most every ws.every.
func (e *Engine) evaluateDue(now time.Time, st *Stats) []*candidate {
	ws := e.windows
	var keys []alert.Key
	every := ws.every
	if ws.fleet != nil {
		// Due comes every flush interval, give or take the ticker's
		// jitter: a tick a little early must not wait for the next.
		every -= every / 10
	}
	ws.mu.Lock()
	if now.Sub(ws.lastEval) < every {
		ws.mu.Unlock()
		return nil
	}
	since := ws.lastEval
	ws.lastEval = now
	ws.mu.Unlock()
	var out []*candidate
	if ws.set != nil && ws.fleet != nil {
		out = e.incidentCandidates(e.fleetEvaluate(now, since, st), st)
	} else if ws.set != nil {
		ws.set.Update(func(u window.Updater[keyID, endpoint]) {
			u.Visit(since, func(_ keyID, v *endpoint, _ *window.Window) bool {
				if v.kept && ws.triggers[v.trig].windowed() {
					keys = append(keys, v.key)
				}
				return true
			})
		})
		for _, k := range ws.tracker.Open(nil) {
			if ws.tracker.ModeOf(k) != alert.ModeSpan {
				keys = appendKey(keys, k)
			}
		}
		out = e.incidentCandidates(e.evaluate(keys, now, nil), st)
	}
	for _, ev := range ws.tracker.ResolveQuiet(now) {
		out = append(out, e.incidentCandidates([]evaluation{{ev: ev, origin: ws.takeOrigin(ev.Key)}}, st)...)
	}
	return out
}

// takeOrigin is where the resolved alert of a span-mode incident goes: the
// origin of its last alert (forgotten with the incident).
func (ws *windowStage) takeOrigin(key alert.Key) Origin {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	o := ws.spanOrigins[key]
	delete(ws.spanOrigins, key)
	return o
}

// spanIncident joins a span-mode alert or suppressed slow span to its
// key's incident, when its trigger resolves incidents.
func (e *Engine) spanIncident(k *keptSpan, origin Origin, now time.Time, c *candidate) {
	ws := e.windows
	if ws == nil {
		return
	}
	if t := &ws.triggers[k.trig]; t.windowed() || t.resolveAfter <= 0 {
		return
	}
	if c == nil {
		ws.tracker.Touch(k.key, now, k.dur)
		return
	}
	ev, opened := ws.tracker.Attach(k.key, now, k.dur, ws.triggers[k.trig].resolveAfter)
	inc := ev.Incident
	c.alert.Incident = &inc
	if opened {
		c.event = &ev
	}
	ws.mu.Lock()
	if ws.spanOrigins == nil {
		ws.spanOrigins = make(map[alert.Key]Origin)
	}
	ws.spanOrigins[k.key] = origin
	ws.mu.Unlock()
}

// saveIncidents writes the open incidents, if persisted.
func (e *Engine) saveIncidents(ctx context.Context) {
	if e.windows == nil || e.incidentStore == nil {
		return
	}
	if err := e.windows.tracker.Save(ctx, e.incidentStore); err != nil {
		e.logger.Warn("saving open incidents failed; they stay in memory and the next save retries",
			zap.Error(err))
	}
}

// holdFor holds an incident alert of the timer's evaluation for its
// children and profile, like any alert, unless it has no request.
func (e *Engine) holdFor(c *candidate) bool {
	return !c.synthetic && e.hold(c, c.origin)
}

// incidentState is the tracker of the open incidents and where they are
// kept.
type incidentState struct {
	tracker *incident.Tracker
	engine  *Engine
}

func (s *incidentState) save(ctx context.Context) { s.engine.saveIncidents(ctx) }

// undone tells the fleet-wide incidents that ev's alert was refused.
func (s *incidentState) undone(ev incident.Event) {
	if s.engine != nil && s.engine.windows != nil && s.engine.windows.fleet != nil {
		s.engine.windows.fleet.refused(ev)
	}
}

// tracker is what a Batch settles incident events with (nil in span mode).
func (e *Engine) tracker() *incidentState {
	if e.windows == nil {
		return nil
	}
	return e.windows.state
}

// openIncidents loads the open incidents from dedup.storage's extension.
// Without it they are kept in memory (with fleet-wide windows, Redis keeps
// the fleet's incidents).
func (e *Engine) openIncidents(ctx context.Context, host component.Host, kind component.Kind, id component.ID) error {
	sid := e.cfg.Dedup.Storage
	if e.windows == nil || sid == nil {
		if e.windows != nil && e.windows.fleet == nil {
			e.logger.Warn("open incidents are kept in memory only: after a restart an open incident fires again " +
				"with a new id; set dedup.storage to a storage extension such as file_storage to keep them")
		}
		return nil
	}
	client, err := dedup.StorageClient(ctx, host, *sid, kind, id, "incidents")
	if err != nil {
		return err
	}
	e.incidentStore = client
	if err := e.windows.tracker.Load(ctx, client); err != nil {
		e.logger.Warn("the open incidents could not be read", zap.Error(err))
	}
	if err := e.loadWindows(ctx); err != nil {
		e.logger.Warn("the saved windows could not be read; they start empty", zap.Error(err))
	}
	if err := e.loadVersions(ctx); err != nil {
		e.logger.Warn("the saved versions could not be read; regressions compare with the versions seen from now on", zap.Error(err))
	}
	e.logger.Info("open incidents loaded", zap.String("storage", sid.String()), zap.Int("incidents", e.windows.tracker.Len()))
	return nil
}

// closeIncidents saves the open incidents and releases their storage.
func (e *Engine) closeIncidents(ctx context.Context) error {
	if e.incidentStore == nil {
		return nil
	}
	e.saveIncidents(ctx)
	if err := e.saveWindows(ctx); err != nil {
		e.logger.Warn("saving the windows failed; they start empty after the restart", zap.Error(err))
	}
	if err := e.saveVersions(ctx); err != nil {
		e.logger.Warn("saving the versions failed; regressions compare with the versions seen after the restart", zap.Error(err))
	}
	e.windows.versionsChanged.Store(false)
	client := e.incidentStore
	e.incidentStore = nil
	return client.Close(ctx)
}

// OpenIncidents is the number of open incidents.
func (e *Engine) OpenIncidents() int {
	if e.windows == nil {
		return 0
	}
	return e.windows.tracker.Len()
}

// recording reports whether spans record into windows (a quantile or
// ratio trigger is configured).
func (e *Engine) recording() bool { return e.windows != nil && e.windows.set != nil }

// WindowKeys is the number of endpoint keys the window stage holds.
func (e *Engine) WindowKeys() int {
	if !e.recording() {
		return 0
	}
	return e.windows.set.Len()
}

// ownKey copies a key that outlives its batch, so it does not pin the
// request's memory.
func ownKey(k alert.Key) alert.Key {
	return alert.Key{Service: strings.Clone(k.Service), Method: strings.Clone(k.Method), Route: strings.Clone(k.Route)}
}
