package engine

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/fleet"
	"github.com/slowspan/slowspan/internal/incident"
	"github.com/slowspan/slowspan/internal/window"
)

// fleetStage shares the window stage across the collectors of a fleet
// (fleet.enabled): on the timer, every fleet.flush_interval, it writes this
// collector's counts of the windows recorded since its last flush
// (fleet.Windows), reads every collector's sum for the keys to judge, and
// judges that merged window instead of the local one; each transition the
// tracker then yields is claimed in Redis (fleet.Incidents), so exactly one
// collector emits it. Nothing of it runs on the pipeline's goroutine, and
// in fleet mode a batch never judges a window: a collector must not fire on
// its own share of an endpoint's requests.
//
// Any Redis error during a tick makes the tick judge the local windows with
// the local state, as without a fleet (logged once per outage, counted in
// Stats.FleetFallbacks); Redis is tried again after a backoff. When it
// answers again, the incidents opened meanwhile are claimed in Redis: one
// already open there is adopted under the fleet's id.
type fleetStage struct {
	cfg      FleetConfig
	redisCfg RedisConfig
	id       string
	factor   float64
	logger   *zap.Logger

	client    *redis.Client
	timeout   time.Duration
	incidents *fleet.Incidents
	versions  *fleet.Versions
	// announced is when this collector last announced each version of an
	// endpoint (by versionWindowName) to the fleet.
	announced map[string]time.Time
	// baselines are the fleet's baselines read, by name (under tickMu).
	baselines map[string]*cachedBaseline
	pruned    time.Time

	// tickMu makes ticks one at a time.
	tickMu sync.Mutex
	// windows shares the windows of one shape each (per-route triggers
	// may have their own length and threshold).
	windows map[window.Config]*fleet.Windows
	// since is from when keys are staged: shortly before the start of the
	// last successful flush (zero: every key).
	since time.Time
	// confirmed holds the id Redis has for each open incident of this
	// collector's tracker; owned the incidents whose firing alert this
	// collector emitted (it re-notifies them).
	confirmed map[alert.Key]string
	owned     map[alert.Key]bool

	// refusedMu guards refusals: per key, the firing or resolved alert this
	// collector claimed in Redis whose delivery was refused. Redis holds
	// the transition already, so the next claim of it emits again.
	refusedMu sync.Mutex
	refusals  map[alert.Key]refusal

	damagedLogged bool

	failing bool
	retryAt time.Time
	backoff time.Duration

	fallbacks atomic.Int64
}

// refusal is an alert claimed in Redis and refused by the next consumer.
type refusal struct {
	id       string
	resolved bool // else a firing alert
}

// refused records ev's refused alert, if it is a claimed firing or
// resolved alert, for the next claim to emit it again.
func (f *fleetStage) refused(ev incident.Event) {
	var r refusal
	switch {
	case ev.Reason.OpensIncident():
		r = refusal{id: ev.Incident.ID}
	case ev.Reason == alert.ReasonResolved:
		r = refusal{id: ev.Incident.ID, resolved: true}
	default:
		return
	}
	f.refusedMu.Lock()
	defer f.refusedMu.Unlock()
	if f.refusals == nil {
		f.refusals = make(map[alert.Key]refusal)
	}
	if len(f.refusals) < maxRefusals {
		f.refusals[ev.Key] = r
	}
}

// maxRefusals bounds the refusals remembered.
const maxRefusals = 10000

// wasRefused reports whether key's alert of id (resolved or firing) was
// refused here; take forgets it.
func (f *fleetStage) wasRefused(key alert.Key, id string, resolved, take bool) bool {
	f.refusedMu.Lock()
	defer f.refusedMu.Unlock()
	r, ok := f.refusals[key]
	if !ok || r.id != id || r.resolved != resolved {
		return false
	}
	if take {
		delete(f.refusals, key)
	}
	return true
}

// fleetSinceMargin widens each flush's look back, for a batch that took
// its time before this tick's and recorded after it.
const fleetSinceMargin = time.Second

func newFleetStage(cfg *Config, logger *zap.Logger) *fleetStage {
	if !cfg.fleetEnabled() {
		return nil
	}
	id := cfg.Fleet.CollectorID
	if id == "" {
		id = defaultCollectorID()
	}
	return &fleetStage{
		cfg: cfg.Fleet, redisCfg: cfg.Dedup.Redis, id: id, factor: cfg.Dedup.EscalationFactor, logger: logger,
		timeout:   max(cfg.Dedup.Redis.Timeout, fleet.DefaultTimeout),
		windows:   make(map[window.Config]*fleet.Windows),
		confirmed: make(map[alert.Key]string),
		owned:     make(map[alert.Key]bool),
		announced: make(map[string]time.Time),
		baselines: make(map[string]*cachedBaseline),
	}
}

// defaultCollectorID is fleet.collector_id when unset: the host name and
// the process id, unique on a host but not stable across restarts.
func defaultCollectorID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "collector"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// start connects the fleet's own client to dedup.redis. An unreachable
// Redis is not an error: the ticks fall back until it answers.
func (f *fleetStage) start(ctx context.Context) error {
	rc := &f.redisCfg
	tlsCfg, err := rc.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return fmt.Errorf("dedup.redis.tls: %w", err)
	}
	f.client = redis.NewClient(&redis.Options{
		Addr: rc.Endpoint, Username: rc.Username, Password: string(rc.Password), DB: rc.DB, TLSConfig: tlsCfg,
		DialTimeout: f.timeout, ReadTimeout: f.timeout, WriteTimeout: f.timeout,
		MaxRetries: -1, ContextTimeoutEnabled: true,
	})
	set := fleet.Settings{Client: f.client, Prefix: rc.KeyPrefix, Timeout: f.timeout, Logger: f.logger}
	if f.incidents, err = fleet.NewIncidents(fleet.IncidentSettings{Settings: set}); err != nil {
		return err
	}
	if f.versions, err = fleet.NewVersions(fleet.VersionSettings{Settings: set}); err != nil {
		return err
	}
	if err := f.incidents.LoadScripts(ctx); err != nil {
		f.logger.Warn("fleet-wide windows: Redis unreachable at start; judging the local windows until it answers", zap.Error(err))
	}
	f.logger.Info("fleet-wide windows and incidents shared through Redis", zap.String("endpoint", rc.Endpoint),
		zap.String("collector_id", f.id), zap.Duration("flush_interval", f.cfg.FlushInterval))
	return nil
}

func (f *fleetStage) shutdown() error {
	if f.client == nil {
		return nil
	}
	err := f.client.Close()
	f.client = nil
	return err
}

// windowsFor shares the windows of shape cfg (under tickMu).
func (f *fleetStage) windowsFor(cfg window.Config) (*fleet.Windows, error) {
	if w := f.windows[cfg]; w != nil {
		return w, nil
	}
	w, err := fleet.NewWindows(fleet.WindowSettings{
		Settings:  fleet.Settings{Client: f.client, Prefix: f.redisCfg.KeyPrefix, Timeout: f.timeout, Logger: f.logger},
		Collector: f.id, Window: cfg,
	})
	if err != nil {
		return nil, err
	}
	f.windows[cfg] = w
	return w, nil
}

func (f *fleetStage) shouldTry(now time.Time) bool {
	return f.client != nil && (!f.failing || !now.Before(f.retryAt))
}

// failed starts or extends an outage (under tickMu): logged once.
func (f *fleetStage) failed(now time.Time, err error) {
	// Redis may come back without what it held (a restart without
	// persistence): every open incident is claimed again on return.
	clear(f.confirmed)
	if !f.failing {
		f.failing = true
		f.backoff = minFleetBackoff
		f.logger.Warn("fleet-wide windows: Redis failed; judging the local windows with the local incidents until it answers again (logged once per outage)",
			zap.Error(err), zap.Duration("retry_in", f.backoff))
	} else {
		f.backoff = min(2*f.backoff, maxFleetBackoff)
	}
	f.retryAt = now.Add(f.backoff)
}

func (f *fleetStage) recovered() {
	if f.failing {
		f.failing = false
		f.logger.Info("fleet-wide windows: Redis answers again; judging the fleet's windows")
	}
}

// Backoff bounds between attempts while Redis fails.
const (
	minFleetBackoff = time.Second
	maxFleetBackoff = 30 * time.Second
)

// fleetKey is a key to judge in a tick, with what judging it takes.
type fleetKey struct {
	key       alert.Key
	shape     window.Config // zero: the key has no window here
	trig      int
	threshold time.Duration
	open      bool
	// regression: the key's trigger is in mode regression, and what the
	// tick reads of its versions (see fleetRegressionKey).
	regression *fleetRegressionKey
}

// judgement is a key's condition and figures over the fleet's window; in
// mode regression, its versions' windows instead, which evaluate compares
// (judgeSharedRegression) with the fleet's baseline.
type judgement struct {
	obs     incident.Observation // True and Figure
	figures alert.WindowFigures
	// regression: the fleet's windows of the current and baseline
	// versions, and its baseline (mode regression).
	regression *sharedRegression
}

// fleetEvaluate is evaluateDue in fleet mode: it stages the keys recorded
// since the last successful flush, flushes and reads them with the open
// incidents outside every lock, judges the merged windows and claims the
// transitions; on any Redis error, it judges the local ones.
func (e *Engine) fleetEvaluate(now, evalSince time.Time, st *Stats) []evaluation {
	ws, f := e.windows, e.windows.fleet
	f.tickMu.Lock()
	defer f.tickMu.Unlock()
	try := f.shouldTry(now)
	since := evalSince
	if try {
		since = f.since
		if f.failing {
			// Redis may be back without what it held: every window is
			// written again, whole.
			for _, fw := range f.windows {
				fw.Forget()
			}
			since = time.Time{}
		}
	}
	var keys []fleetKey
	var stageErr error
	seen := make(map[alert.Key]struct{})
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		u.Visit(since, func(id keyID, v *endpoint, w *window.Window) bool {
			if !v.kept || !ws.triggers[v.trig].windowed() {
				return true
			}
			shape := w.Config()
			k := fleetKey{key: v.key, shape: shape, trig: v.trig, threshold: v.threshold}
			seen[v.key] = struct{}{}
			var fw *fleet.Windows
			if try && stageErr == nil {
				var err error
				if fw, err = f.windowsFor(shape); err != nil {
					stageErr = err
				} else if ws.triggers[v.trig].regression == nil {
					// A regression key is judged on its versions' windows
					// only (stageVersions).
					fw.Stage(v.key.Hash(), w, now)
				}
			}
			e.stageVersions(u, id, v, &k, fw, now)
			keys = append(keys, k)
			return true
		})
		for _, k := range ws.tracker.Open(nil) {
			if _, ok := seen[k]; ok || ws.tracker.ModeOf(k) == alert.ModeSpan {
				continue
			}
			fk := fleetKey{key: k}
			id := ws.id(k)
			if v, w, ok := u.Lookup(id); ok && v.kept && ws.triggers[v.trig].windowed() {
				fk.shape, fk.trig, fk.threshold = w.Config(), v.trig, v.threshold
				e.stageVersions(u, id, v, &fk, nil, now)
			}
			keys = append(keys, fk)
		}
	})
	plain := make([]alert.Key, len(keys))
	for i := range keys {
		plain[i] = keys[i].key
		keys[i].open = ws.tracker.IsOpen(keys[i].key)
	}
	if !try {
		st.FleetFallbacks++
		f.fallbacks.Add(1)
		return e.evaluate(plain, now, nil)
	}
	ctx := context.Background()
	err := e.fleetVersions(ctx, keys, now)
	var merged map[alert.Key]*judgement
	if err == nil {
		merged, err = e.fleetRead(ctx, keys, now, stageErr)
	}
	var incs []fleet.Incident
	var known []bool
	if err == nil {
		incs, known, err = f.incidents.GetMany(ctx, hashes(plain))
	}
	if err != nil {
		f.failed(now, err)
		st.FleetFallbacks++
		f.fallbacks.Add(1)
		return e.evaluate(plain, now, nil)
	}
	f.since = now.Add(-fleetSinceMargin)
	for i := range keys {
		e.fleetSync(&keys[i], incs[i], known[i], now)
	}
	if err := e.fleetReconcile(ctx, now); err != nil {
		f.failed(now, err)
		st.FleetFallbacks++
		f.fallbacks.Add(1)
		return e.evaluate(plain, now, nil)
	}
	evals := e.evaluate(plain, now, merged)
	if ce := f.logger.Check(zap.DebugLevel, "fleet-wide windows judged"); ce != nil {
		ce.Write(zap.Int("keys", len(keys)), zap.Int("merged", len(merged)), zap.Int("events", len(evals)), zap.Int("open", ws.tracker.Len()))
	}
	out, err := e.fleetClaim(ctx, evals, now)
	if err != nil {
		f.failed(now, err)
		st.FleetFallbacks++
		f.fallbacks.Add(1)
		return out
	}
	if err := e.fleetPublish(ctx, keys, merged, now); err != nil {
		f.failed(now, err)
		st.FleetFallbacks++
		f.fallbacks.Add(1)
		return out
	}
	f.recovered()
	return out
}

func hashes(keys []alert.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Hash()
	}
	return out
}

// fleetSync brings k's local incident in line with the fleet's, inc (when
// known): an incident open in Redis is open here under its id, so that the
// collectors left resolve it when the one that fired is gone; one resolved
// in Redis is dropped here without an alert.
func (e *Engine) fleetSync(k *fleetKey, inc fleet.Incident, known bool, now time.Time) {
	ws, f := e.windows, e.windows.fleet
	local, open := ws.tracker.Incident(k.key)
	switch {
	case !known:
		// Redis lost an incident it held (a restart without persistence
		// between two ticks, which no call saw fail): fleetReconcile
		// claims it again before this tick's judgement, so that its
		// resolution is claimed, and sent.
		delete(f.confirmed, k.key)
		if !open {
			delete(f.owned, k.key)
		}
	case inc.Open && open:
		if local.ID != inc.ID {
			ws.tracker.Adopt(k.key, inc.ID)
		}
		f.confirmed[k.key] = inc.ID
	case inc.Open && f.wasRefused(k.key, inc.ID, false, false):
		// This collector's firing alert of it was refused: the condition
		// fires it here again, and the claim lets it out.
	case inc.Open && k.shape != (window.Config{}):
		t := &ws.triggers[k.trig]
		fired := alert.Figure{Ratio: inc.Fired}
		if t.mode == alert.ModeQuantile {
			fired = alert.Figure{Duration: time.Duration(inc.Fired * float64(time.Second))}
		}
		if ws.tracker.Join(k.key, inc.ID, t.mode, inc.OpenedAt, fired, now, t.resolveAfter) {
			f.confirmed[k.key] = inc.ID
			k.open = true
		}
	case !inc.Open && open && local.ID == inc.ID && !f.wasRefused(k.key, inc.ID, true, false):
		ws.tracker.Drop(k.key, inc.ID)
		delete(f.confirmed, k.key)
		delete(f.owned, k.key)
		k.open = false
	}
}

// fleetRead flushes every shape's staged sub-windows and reads the merged
// windows of keys, judged into a judgement each: a key's own window, or in
// mode regression its current and baseline versions' windows.
func (e *Engine) fleetRead(ctx context.Context, keys []fleetKey, now time.Time, stageErr error) (map[alert.Key]*judgement, error) {
	ws, f := e.windows, e.windows.fleet
	if stageErr != nil {
		return nil, stageErr
	}
	for _, fw := range f.windows {
		if _, err := fw.Flush(ctx); err != nil {
			return nil, err
		}
	}
	// A read is one window: of key (part windowOwn), or of one of its
	// versions.
	const (
		windowOwn = iota
		windowCur
		windowBase
	)
	type read struct {
		key, part int
		name      string
	}
	byShape := make(map[window.Config][]read)
	for i := range keys {
		k := &keys[i]
		switch r := k.regression; {
		case k.shape == (window.Config{}):
		case r == nil:
			byShape[k.shape] = append(byShape[k.shape], read{key: i, part: windowOwn, name: k.key.Hash()})
		case r.read:
			byShape[k.shape] = append(byShape[k.shape], read{key: i, part: windowCur, name: versionWindowName(k.key, r.cur)})
			if r.base != "" {
				byShape[k.shape] = append(byShape[k.shape], read{key: i, part: windowBase, name: versionWindowName(k.key, r.base)})
			}
		}
	}
	out := make(map[alert.Key]*judgement, len(keys))
	var h window.Histogram
	for shape, reads := range byShape {
		fw, err := f.windowsFor(shape)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(reads))
		for j, r := range reads {
			names[j] = r.name
		}
		_, err = fw.Read(ctx, names, now, func(j int, w *window.Window) {
			r := reads[j]
			k := &keys[r.key]
			t := &ws.triggers[k.trig]
			jd := out[k.key]
			if jd == nil {
				jd = &judgement{}
				if r := k.regression; r != nil {
					jd.regression = &sharedRegression{record: r.record, recordRead: r.recordRead, damaged: r.damaged, ttl: r.ttl}
				}
				out[k.key] = jd
			}
			switch r.part {
			case windowOwn:
				judge(t, k.threshold, w, now, k.open, &jd.obs)
				if jd.obs.True || k.open {
					jd.figures = figures(t, k.threshold, w, now, &h)
				}
			case windowCur, windowBase:
				vf := &versionFigures{version: k.regression.cur, count: w.Count(now)}
				if vf.count > 0 {
					vf.quantile = w.Quantile(now, t.quantile)
					vf.figures = figures(t, k.threshold, w, now, &h)
				}
				if r.part == windowBase {
					vf.version, jd.regression.base = k.regression.base, vf
				} else {
					jd.regression.cur, jd.figures = vf, vf.figures
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fleetClaim claims each event of the merged windows in Redis and keeps
// those this collector emits: a firing alert for an incident another
// collector opened adopts its id instead, an escalation or resolved alert
// another collector emitted is dropped. On an error, the events not
// claimed yet are kept (the local state decides them).
func (e *Engine) fleetClaim(ctx context.Context, evals []evaluation, now time.Time) ([]evaluation, error) {
	ws, f := e.windows, e.windows.fleet
	out := evals[:0]
	for i, r := range evals {
		ev := r.ev
		var emit bool
		var err error
		switch {
		case ev.Reason.OpensIncident():
			var id string
			emit, id, err = f.incidents.Fire(ctx, ev.Key.Hash(), ev.Incident.ID, figureOf(ev.Incident.Fired), now)
			if err == nil {
				if !emit && f.wasRefused(ev.Key, id, false, true) {
					// Our own firing alert, refused: it goes out again.
					emit = true
					r.ev.Incident.ID = id
				}
				f.confirmed[ev.Key] = id
				f.owned[ev.Key] = emit
				if id != ev.Incident.ID {
					ws.tracker.Adopt(ev.Key, id)
				}
			}
		case ev.Reason == alert.ReasonEscalation:
			emit, err = f.incidents.Escalate(ctx, ev.Key.Hash(), ev.Incident.ID, figureOf(ev.Incident.Peak), max(f.factor, 1), now)
		case ev.Reason == alert.ReasonResolved:
			emit, err = f.incidents.Resolve(ctx, ev.Key.Hash(), ev.Incident.ID, now)
			if err == nil && !emit && f.wasRefused(ev.Key, ev.Incident.ID, true, true) {
				emit = true // our own resolved alert, refused: it goes out again
			}
			if err == nil {
				delete(f.confirmed, ev.Key)
				delete(f.owned, ev.Key)
			}
		default: // a re-notification: the collector that fired it sends it
			emit = f.owned[ev.Key]
		}
		if err != nil {
			return append(out, evals[i:]...), err
		}
		f.logger.Debug("fleet-wide incident transition claimed", zap.String("endpoint", ev.Key.String()),
			zap.String("reason", string(ev.Reason)), zap.String("incident_id", ev.Incident.ID), zap.Bool("emit", emit))
		if emit {
			out = append(out, r)
		}
	}
	return out, nil
}

// fleetReconcile claims in Redis the open incidents it does not know under
// their local id (opened while Redis was failing, or lost by Redis), before
// the tick judges them: an incident open there
// already is adopted (its firing alert here was the outage's duplicate), or
// Redis takes the local one. It forgets the claims of incidents no longer
// open here.
func (e *Engine) fleetReconcile(ctx context.Context, now time.Time) error {
	ws, f := e.windows, e.windows.fleet
	open := ws.tracker.Open(nil)
	for k, id := range f.confirmed {
		if inc, ok := ws.tracker.Incident(k); !ok || inc.ID != id {
			delete(f.confirmed, k)
			delete(f.owned, k)
		}
	}
	for _, k := range open {
		if ws.tracker.ModeOf(k) == alert.ModeSpan {
			continue
		}
		inc, ok := ws.tracker.Incident(k)
		if !ok {
			continue
		}
		if _, ok := f.confirmed[k]; ok {
			continue
		}
		emit, id, err := f.incidents.Reclaim(ctx, k.Hash(), inc.ID, figureOf(inc.Peak), inc.OpenedAt, now)
		if err != nil {
			return err
		}
		f.confirmed[k] = id
		f.owned[k] = emit
		if !emit {
			ws.tracker.Adopt(k, id)
		}
	}
	return nil
}

// figureOf is a figure as one number: seconds, or the ratio.
func figureOf(fig alert.Figure) float64 {
	if fig.Duration > 0 {
		return fig.Duration.Seconds()
	}
	return fig.Ratio
}

// FleetFlushInterval is fleet.flush_interval when the windows are shared
// (0 otherwise): the wrapper calls Due at least that often.
func (e *Engine) FleetFlushInterval() time.Duration {
	if e.windows == nil || e.windows.fleet == nil {
		return 0
	}
	return e.windows.fleet.cfg.FlushInterval
}

// FleetFallbacks is the number of ticks of the fleet-wide windows that
// judged the local windows because Redis failed or was backed off.
func (e *Engine) FleetFallbacks() int64 {
	if e.windows == nil || e.windows.fleet == nil {
		return 0
	}
	return e.windows.fleet.fallbacks.Load()
}
