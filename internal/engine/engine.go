// Package engine is the slowspan logic that the processor and the connector
// both wrap. Read it in the order a span flows:
//
//	select.go     kind and duration against the smallest threshold (the
//	              path of every span), then the threshold of its route
//	key.go        the endpoint key: service, method and route
//	filter.go     include and exclude
//	decide.go     dedup: alert or suppress, for a batch's slow spans at once
//	windows.go    in the quantile and ratio modes instead: every span of a
//	              selected kind records into its endpoint's window, and the
//	              trigger's condition opens, escalates and resolves
//	              incidents (package incident), on batches and on the timer;
//	              the window's worst request is the firing alert's span
//	emit.go       the alert's own redacted copy of the span, finalized into
//	              an alert span
//	correlate.go  child spans and linked profile samples join it, while it
//	              waits out correlation.wait
//	storm.go      alerts.max_per_minute: the rest folded into one summary
//	batch.go      what the engine hands out: alert spans for one Origin and
//	              one Commit or Rollback of their decisions
//
// The engine sees no consumer, timer or metrics instrument: Process, Due
// and Drain return Batches and Stats, and package pipeline makes a collector
// component of it.
package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/route"
	"github.com/slowspan/slowspan/internal/safetext"
)

// Settings are what the wrapping component provides besides the Config.
type Settings struct {
	Logger *zap.Logger
	// Now is the clock of dedup decisions; nil means time.Now. Decisions use
	// the collector's clock, not span timestamps, which apps may skew.
	Now func() time.Time
}

// Engine is safe for concurrent use.
type Engine struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	// The stages, in the order a span meets them.
	selector    selector
	filter      filter
	dedup       *dedup.Store
	redact      map[string]struct{}
	traceLink   *template.Template
	profileLink *template.Template
	pending     pendingSet
	profiles    *profileindex.Index
	storm       stormGuard
	// windows is the decide stage of the quantile and ratio modes; nil
	// when every trigger is in span mode.
	windows *windowStage
	// incidentStore keeps the open incidents (dedup.storage's extension).
	incidentStore storage.Client

	scratch scratchPool
}

// New compiles cfg. cfg must have passed Validate.
func New(cfg *Config, set Settings) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		logger:   set.Logger,
		now:      set.Now,
		selector: newSelector(cfg),
		redact:   make(map[string]struct{}, len(cfg.Redact.Attributes)),
		storm:    stormGuard{max: cfg.Alerts.MaxPerMinute},
		scratch:  newScratchPool(),
	}
	if e.logger == nil {
		e.logger = zap.NewNop()
	}
	if e.now == nil {
		e.now = time.Now
	}
	var err error
	if e.filter, err = newFilter(cfg); err != nil {
		return nil, err
	}
	e.dedup = dedup.NewStore(cfg.Dedup, e.logger, e.now)
	if e.windows, err = newWindowStage(cfg, e.logger); err != nil {
		return nil, err
	}
	if e.windows != nil {
		e.windows.state.engine = e
	}
	for _, k := range cfg.Redact.Attributes {
		e.redact[strings.ToLower(k)] = struct{}{}
	}
	if cfg.Links.Trace != "" {
		if e.traceLink, err = parseLinkTemplate("links.trace", cfg.Links.Trace); err != nil {
			return nil, err
		}
	}
	if cfg.Links.Profile != "" {
		if e.profileLink, err = parseLinkTemplate("links.profile", cfg.Links.Profile); err != nil {
			return nil, err
		}
	}
	e.pending.bySpan = make(map[pcommon.SpanID]*candidate)
	e.pending.maxBytes = cfg.Correlation.MaxPendingBytes
	e.profiles = profileindex.New(profileindex.Settings{
		MaxSamples: cfg.Profiles.MaxSamples,
		MaxBytes:   cfg.Profiles.MaxBytes,
		TTL:        cfg.Profiles.TTL,
	})
	return e, nil
}

// Start connects the dedup state to its backend (storage extension or
// Redis) and loads it. kind and id name the owning component in the
// storage.
func (e *Engine) Start(ctx context.Context, host component.Host, kind component.Kind, id component.ID) error {
	if err := e.dedup.Open(ctx, host, kind, id); err != nil {
		return err
	}
	if e.windows != nil && e.windows.fleet != nil {
		if err := e.windows.fleet.start(ctx); err != nil {
			return err
		}
	}
	return e.openIncidents(ctx, host, kind, id)
}

// Shutdown saves the dedup state and the open incidents, and releases
// their backends.
func (e *Engine) Shutdown(ctx context.Context) error {
	err := e.closeIncidents(ctx)
	if e.windows != nil && e.windows.fleet != nil {
		err = errors.Join(err, e.windows.fleet.shutdown())
	}
	return errors.Join(err, e.dedup.Close(ctx))
}

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// CorrelationWait is how long alerts wait for their children and profile.
func (e *Engine) CorrelationWait() time.Duration { return e.cfg.Correlation.Wait }

// MaxPerMinute is the storm cap (0: off).
func (e *Engine) MaxPerMinute() int { return e.storm.max }

// Keys is the number of endpoint keys the dedup state remembers.
func (e *Engine) Keys() int { return e.dedup.Len() }

// SaveState writes the changed dedup state, if it is persisted: suppression
// counts, which no Commit writes; the open incidents' running figures,
// among them when their condition was last true, which decides when they
// resolve after a restart; and, after a deploy, the endpoints' versions, so
// that a crash does not lose the baseline a new version compares with.
func (e *Engine) SaveState(ctx context.Context) {
	e.dedup.Save(ctx)
	e.saveIncidents(ctx)
	e.saveChangedVersions(ctx)
}

// Process runs the stages over every span of td and returns the alerts to
// send now for origin, with the Stats of td. Alerts that wait for their
// children and profile (correlation.wait) are not in it: Due and Drain hand
// them out. A span that is not slow costs the selector's check and
// allocates nothing; the slow spans of td are decided together, in one dedup
// step bounded by ctx.
func (e *Engine) Process(ctx context.Context, td ptrace.Traces, origin Origin) Batch {
	out := Batch{Origin: origin, store: e.dedup, incidents: e.tracker()}
	var in input
	if e.recording() {
		e.scanAll(td, &in, &out.Stats, origin)
	} else {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			in.rs = rss.At(i)
			in.svc.reset(in.rs)
			sss := in.rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				in.ss = sss.At(j)
				e.scan(&in, &out.Stats, in.ss.Spans())
			}
		}
	}
	var fresh, worst []*candidate
	if in.sc != nil {
		if len(in.sc.picks) > 0 {
			worst = e.keepWorst(in.sc)
		}
		if len(in.sc.kept) > 0 {
			fresh = e.decide(ctx, in.sc, &out.Stats, origin)
		}
	}
	if len(fresh) > 0 || len(worst) > 0 || e.pending.len() > 0 {
		e.collectChildren(td, append(fresh, worst...))
	}
	if len(worst) > 0 {
		e.storeWorst(worst, e.now())
	}
	if in.sc != nil && len(in.sc.slowKeys) > 0 {
		fresh = append(fresh, e.incidentCandidates(e.evaluate(in.sc.slowKeys, e.now(), nil), &out.Stats)...)
	}
	if in.sc != nil {
		e.scratch.put(in.sc)
	}
	for _, c := range fresh {
		if !e.hold(c, origin) {
			out.add(e.finalize(c), c.decision, c.event)
		}
	}
	if out.Alerts > 0 {
		e.storm.admit(e.now(), &out)
	}
	return out
}

// scan is the loop every span goes through: the selector's check, and the
// slow path for the few that may be slow.
func (e *Engine) scan(in *input, st *Stats, spans ptrace.SpanSlice) {
	kinds, minNs := e.selector.kinds, e.selector.minNs
	n := spans.Len()
	st.Spans += int64(n)
	for k := 0; k < n; k++ {
		span := spans.At(k)
		// The kind comes from the wire: a negative or unknown value must
		// not become a shift by a negative amount.
		kind := uint32(span.Kind())
		if kind >= 8 || kinds&(1<<kind) == 0 {
			continue
		}
		start, end := span.StartTimestamp(), span.EndTimestamp()
		if end <= start || uint64(end-start) < minNs {
			continue
		}
		e.examine(in, st, span, time.Duration(end-start))
	}
}

// input is where Process is in its input, for the slow path.
type input struct {
	rs  ptrace.ResourceSpans
	ss  ptrace.ScopeSpans
	svc serviceOf
	sc  *scratch // taken at the first slow span that is kept
	// svcHash is the hash of the resource's service in the window stage.
	svcHash   uint64
	svcHashed bool
	// ver is the resource's version under attribute verAttr (mode
	// regression), verHash its hash; verRead is reset per resource.
	ver, verAttr string
	verHash      uint64
	verRead      bool
}

// examine is the slow path, for spans over the smallest threshold: the
// threshold of the span's route, the filter, and its key, kept for the
// batch's one dedup step. Out of Process's loop, so the loop stays small.
func (e *Engine) examine(in *input, st *Stats, span ptrace.Span, dur time.Duration) {
	e.examineAt(in, st, span, in.rs, in.ss, in.svc.get(), dur)
}

// examineAt is examine for a span of resource rs and scope ss, whose
// service is known.
func (e *Engine) examineAt(in *input, st *Stats, span ptrace.Span, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans,
	service string, dur time.Duration) {
	info := route.Extract(span.Attributes(), span.Name())
	threshold, rule, idx := e.selector.match(info)
	if dur < threshold {
		return
	}
	st.Slow++
	if !e.filter.keep(info) {
		st.Filtered++
		return
	}
	if in.sc == nil {
		in.sc = e.scratch.get()
	}
	in.sc.kept = append(in.sc.kept, keptSpan{span: span, rs: rs, ss: ss, key: keyOf(service, info),
		dur: dur, threshold: threshold, rule: rule, trig: idx + 1})
}

// Due removes the waiting alerts whose wait is over at now (every one when
// all is set, at shutdown), and those that leave early because the waiting
// alerts hold too many bytes, and returns them finalized, one Batch per
// origin; then the storm summaries of the minutes that are over.
func (e *Engine) Due(now time.Time, all bool) []Batch {
	var due []*candidate
	if e.pending.len() > 0 {
		due = e.pending.take(func(c *candidate) bool { return all || !now.Before(c.due) })
		due = append(due, e.pending.overBudget()...)
	}
	var st Stats // the alerts of the windows' evaluation, counted once here
	if e.windows != nil {
		for _, c := range e.evaluateDue(now, &st) {
			if !e.holdFor(c) {
				due = append(due, c)
			}
		}
	}
	out := append(e.batches(now, due), e.storm.take(now, all, nil, e.dedup)...)
	if st != (Stats{}) {
		out = append(out, Batch{Stats: st})
	}
	return out
}

// Drain removes every waiting alert of origin and its storm summary, and
// returns them finalized; from then on no alert of origin waits (Process
// hands it out at once). The wrapper calls it when origin's pipeline shuts
// down, while its consumer still runs: the engine may outlive it.
func (e *Engine) Drain(origin Origin) []Batch {
	e.pending.close(origin)
	now := e.now()
	due := e.pending.take(func(c *candidate) bool { return c.origin == origin })
	return append(e.batches(now, due), e.storm.take(now, false, &origin, e.dedup)...)
}

// batches finalizes waiting alerts, oldest first so alerts go out in the
// order their spans came, groups them by origin and applies the storm cap.
func (e *Engine) batches(now time.Time, due []*candidate) []Batch {
	if len(due) == 0 {
		return nil
	}
	slices.SortStableFunc(due, func(a, b *candidate) int { return a.due.Compare(b.due) })
	var out []Batch
	for _, c := range due {
		i := slices.IndexFunc(out, func(b Batch) bool { return b.Origin == c.origin })
		if i < 0 {
			out = append(out, Batch{Origin: c.origin, store: e.dedup, incidents: e.tracker()})
			i = len(out) - 1
		}
		out[i].add(e.finalize(c), c.decision, c.event)
	}
	for i := range out {
		e.storm.admit(now, &out[i])
	}
	return out
}

// sanitize makes untrusted text a one-line, valid string of at most n
// bytes (see package safetext); a cut result is a copy, so a key that lives
// for the dedup window never pins a huge attribute value.
func sanitize(s string, n int) string {
	s, _ = safetext.Cut(s, 4*n) // bound the work on huge values before scanning them
	clean, _ := safetext.Clean(s, n)
	return clean
}
