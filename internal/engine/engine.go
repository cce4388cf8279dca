// Package engine is the slowspan logic that the processor and the connector
// both wrap: select slow spans, find their route, filter, deduplicate, and
// build the alert spans. It owns no pipeline plumbing and no metrics
// instruments; callers record the Stats it returns under their own names.
package engine

import (
	"context"
	"encoding/hex"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/glob"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/route"
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

	kinds       uint8  // bit per ptrace.SpanKind examined
	minNs       uint64 // the smallest threshold: faster spans cost one compare
	thresholdNs int64
	rules       []rule
	include     *glob.Set
	exclude     *glob.Set
	redact      map[string]struct{}
	traceLink   *template.Template
	profileLink *template.Template

	pending  pendingSet
	profiles *profileindex.Index
	batches  batchPool

	dedup *dedup.Store
}

type rule struct {
	match     *glob.Pattern
	methods   []string
	threshold time.Duration
}

// New compiles cfg. cfg must have passed Validate.
func New(cfg *Config, set Settings) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:         cfg,
		logger:      set.Logger,
		now:         set.Now,
		thresholdNs: int64(cfg.Threshold),
		minNs:       uint64(cfg.Threshold),
		redact:      make(map[string]struct{}, len(cfg.Redact.Attributes)),
	}
	if e.logger == nil {
		e.logger = zap.NewNop()
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.dedup = dedup.NewStore(cfg.Dedup, e.logger, e.now)
	for _, k := range cfg.SpanKinds {
		kind, _ := parseSpanKind(k)
		e.kinds |= 1 << uint(kind)
	}
	for _, r := range cfg.Routes {
		compiled := rule{match: glob.MustCompile(r.Match), threshold: r.Threshold}
		for _, m := range r.Methods {
			compiled.methods = append(compiled.methods, strings.ToUpper(strings.TrimSpace(m)))
		}
		e.rules = append(e.rules, compiled)
		e.minNs = min(e.minNs, uint64(r.Threshold))
	}
	var err error
	if e.include, err = glob.CompileSet(cfg.Include); err != nil {
		return nil, err
	}
	if e.exclude, err = glob.CompileSet(cfg.Exclude); err != nil {
		return nil, err
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
	e.batches = newBatchPool()
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
	return e.dedup.Open(ctx, host, kind, id)
}

// Shutdown saves the dedup state and releases its backend.
func (e *Engine) Shutdown(ctx context.Context) error { return e.dedup.Close(ctx) }

// Keys is the number of endpoint keys the dedup state remembers.
func (e *Engine) Keys() int { return e.dedup.Len() }

// Stats count what one Process call saw.
type Stats struct {
	Spans      int64 // every span in the batch
	Slow       int64 // over the threshold that applies to them
	Filtered   int64 // slow, but dropped by include/exclude
	Suppressed int64 // slow, kept, but silenced by dedup
	Alerts     [3]int64
	// BackendErrors counts decisions a shared dedup backend failed to make
	// (the local state made them).
	BackendErrors int64
}

// AlertsFor returns the alert count of one reason.
func (s *Stats) AlertsFor(r alert.Reason) int64 {
	switch r {
	case alert.ReasonFirst:
		return s.Alerts[0]
	case alert.ReasonWindowExpired:
		return s.Alerts[1]
	case alert.ReasonEscalation:
		return s.Alerts[2]
	}
	return 0
}

func (s *Stats) countAlert(r alert.Reason) {
	switch r {
	case alert.ReasonFirst:
		s.Alerts[0]++
	case alert.ReasonWindowExpired:
		s.Alerts[1]++
	case alert.ReasonEscalation:
		s.Alerts[2]++
	}
}

// Result of Process. Hand Traces on when Alerts > 0, then call Commit, or
// Abort when the next consumer refused them. Alerts that wait for their
// children and profile (correlation.wait) are not in it: Due hands them out.
type Result struct {
	Stats Stats
	// Traces holds copies of the alert spans only, with their resources and
	// scopes; the input is never modified. Valid when Alerts() > 0.
	Traces    ptrace.Traces
	alerts    int
	decisions []dedup.Decision
}

// Alerts is the number of alert spans in Traces.
func (r Result) Alerts() int { return r.alerts }

// Process examines every span of td. It allocates nothing unless a span is
// slow: kind and duration are checked against the smallest threshold before
// any attribute is read. The slow spans of td are deduplicated together, in
// one step (one Redis round trip), bounded by ctx. sink is where alerts that
// wait for correlation go once their wait is over.
func (e *Engine) Process(ctx context.Context, td ptrace.Traces, sink consumer.Traces) Result {
	var out emitter
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		out.startResource(rss.At(i))
		sss := out.rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			out.ss = sss.At(j)
			spans := out.ss.Spans()
			n := spans.Len()
			out.res.Stats.Spans += int64(n)
			for k := 0; k < n; k++ {
				span := spans.At(k)
				// The kind comes from the wire: a negative or unknown value
				// must not become a shift by a negative amount.
				kind := uint32(span.Kind())
				if kind >= 8 || e.kinds&(1<<kind) == 0 {
					continue
				}
				start, end := span.StartTimestamp(), span.EndTimestamp()
				if end <= start || uint64(end-start) < e.minNs {
					continue
				}
				e.examine(&out, span, time.Duration(end-start))
			}
		}
	}
	if out.batch != nil {
		e.decide(ctx, &out)
		e.batches.put(out.batch)
	}
	if len(out.fresh) > 0 || e.pending.len() > 0 {
		e.collectChildren(td, out.fresh)
	}
	for _, c := range out.fresh {
		c.sink = sink
		if e.cfg.Correlation.Wait > 0 && e.pending.add(c, e.now().Add(e.cfg.Correlation.Wait), e.cfg.Correlation.MaxPending) {
			continue
		}
		out.res.addAlert(e.finalize(c), c.decision)
	}
	return out.res
}

func (r *Result) addAlert(td ptrace.Traces, dec dedup.Decision) {
	if r.alerts == 0 {
		r.Traces = ptrace.NewTraces()
	}
	td.ResourceSpans().MoveAndAppendTo(r.Traces.ResourceSpans())
	r.alerts++
	r.decisions = append(r.decisions, dec)
}

// emitter carries the state of one Process call; a batch without slow
// spans allocates nothing.
type emitter struct {
	res     Result
	rs      ptrace.ResourceSpans
	ss      ptrace.ScopeSpans
	service string
	batch   *batch // from the first slow span kept
	fresh   []*candidate
}

func (o *emitter) startResource(rs ptrace.ResourceSpans) {
	o.rs = rs
	o.service = ""
}

func (o *emitter) serviceName() string {
	if o.service == "" {
		o.service = "unknown_service"
		if v, ok := o.rs.Resource().Attributes().Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			o.service = sanitize(v.Str(), maxServiceLen)
		}
	}
	return o.service
}

// examine is the slow path, for spans over the smallest threshold: it keeps
// the slow spans that pass the filters for one dedup step over the batch.
func (e *Engine) examine(out *emitter, span ptrace.Span, dur time.Duration) {
	info := route.Extract(span.Attributes(), span.Name())
	threshold, ruleMatch := e.thresholdFor(info)
	if dur < threshold {
		return
	}
	out.res.Stats.Slow++
	if !e.keep(info) {
		out.res.Stats.Filtered++
		return
	}
	if out.batch == nil {
		out.batch = e.batches.get()
	}
	out.batch.kept = append(out.batch.kept, keptSpan{
		span:      span,
		rs:        out.rs,
		ss:        out.ss,
		key:       alert.Key{Service: out.serviceName(), Method: info.Method, Route: info.Route},
		dur:       dur,
		threshold: threshold,
		rule:      ruleMatch,
	})
}

// decide asks the dedup state about the batch's slow spans at once and
// turns those that alert into candidates.
func (e *Engine) decide(ctx context.Context, out *emitter) {
	b := out.batch
	for i := range b.kept {
		b.reqs = append(b.reqs, dedup.Request{Key: b.kept[i].key, Duration: b.kept[i].dur})
	}
	b.decs = e.dedup.DecideBatch(ctx, b.reqs, e.now(), b.decs)
	for i, dec := range b.decs {
		if dec.BackendError {
			out.res.Stats.BackendErrors++
		}
		if !dec.Alert {
			out.res.Stats.Suppressed++
			continue
		}
		out.res.Stats.countAlert(dec.Reason)
		out.fresh = append(out.fresh, e.newCandidate(&b.kept[i], dec))
	}
}

// newCandidate copies the slow span out with its resource and scope,
// redacted, for its alert.
func (e *Engine) newCandidate(s *keptSpan, dec dedup.Decision) *candidate {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	s.rs.Resource().CopyTo(rs.Resource())
	rs.SetSchemaUrl(s.rs.SchemaUrl())
	ss := rs.ScopeSpans().AppendEmpty()
	s.ss.Scope().CopyTo(ss.Scope())
	ss.SetSchemaUrl(s.ss.SchemaUrl())
	cp := ss.Spans().AppendEmpty()
	s.span.CopyTo(cp)
	e.redactSpan(cp)

	key := s.key
	tid, sid := cp.TraceID(), cp.SpanID()
	traceHex, spanHex := hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:])
	return &candidate{
		td:       td,
		span:     cp,
		traceID:  tid,
		spanID:   sid,
		decision: dec,
		children: newChildren(cp),
		alert: alert.Alert{
			ID:         alert.NewID(traceHex, spanHex, dec.Reason),
			Key:        key,
			Reason:     dec.Reason,
			Rule:       s.rule,
			Threshold:  s.threshold,
			Suppressed: dec.Suppressed,
		},
		link: linkData{
			TraceID:        traceHex,
			SpanID:         spanHex,
			Service:        key.Service,
			Method:         key.Method,
			Route:          key.Route,
			Start:          cp.StartTimestamp().AsTime(),
			End:            cp.EndTimestamp().AsTime(),
			StartUnixMilli: cp.StartTimestamp().AsTime().UnixMilli(),
			EndUnixMilli:   cp.EndTimestamp().AsTime().UnixMilli(),
			ProfileID:      attrStr(cp.Attributes(), "pyroscope.profile.id"),
		},
	}
}

// thresholdFor returns the threshold of the first matching routes rule (and
// its pattern), else the global one.
func (e *Engine) thresholdFor(info route.Info) (time.Duration, string) {
	for i := range e.rules {
		r := &e.rules[i]
		if len(r.methods) > 0 && !contains(r.methods, info.Method) {
			continue
		}
		if r.match.Match(info.Route) || (info.Path != "" && r.match.Match(info.Path)) {
			return r.threshold, r.match.String()
		}
	}
	return time.Duration(e.thresholdNs), ""
}

// keep applies include and exclude to the route and the raw path.
func (e *Engine) keep(info route.Info) bool {
	matches := func(s *glob.Set) bool {
		return s.Match(info.Route) || (info.Path != "" && s.Match(info.Path))
	}
	if e.include.Len() > 0 && !matches(e.include) {
		return false
	}
	return !matches(e.exclude)
}

// redactSpan removes what must never reach an alert from the copy: listed
// credentials, query strings, and any slowspan.* attribute the app sent (only
// we write those).
func (e *Engine) redactSpan(span ptrace.Span) {
	attrs := span.Attributes()
	attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
		if k == "url.query" || strings.HasPrefix(k, "slowspan.") {
			return true
		}
		_, ok := e.redact[strings.ToLower(k)]
		return ok
	})
	for _, k := range [...]string{"url.full", "http.url", "http.target"} {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			if s, cut := stripQuery(v.Str()); cut {
				v.SetStr(s)
			}
		}
	}
	if s, cut := stripQuery(span.Name()); cut {
		span.SetName(s)
	}
}

func (e *Engine) renderLink(t *template.Template, data linkData) string {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		e.logger.Debug("link template failed", zap.String("template", t.Name()), zap.Error(err))
		return ""
	}
	return b.String()
}

// Commit confirms the alerts of res, once they were handed on, and saves
// the dedup state. Until confirmed, an alert's key is saved in its state
// from before the alert, so a crash in between repeats the alert rather
// than losing it. Suppression counts alone are not saved here (that would
// put a storage write on the path of every batch with a slow span): the
// component saves them periodically and at shutdown.
func (e *Engine) Commit(ctx context.Context, res *Result) {
	if len(res.decisions) == 0 {
		return
	}
	for _, dec := range res.decisions {
		e.dedup.Delivered(ctx, dec)
	}
	e.saveState(ctx)
}

// saveState writes the changed dedup state, if it is persisted.
func (e *Engine) saveState(ctx context.Context) { e.dedup.Save(ctx) }

// Abort reverts the decisions of res, so that the alerts fire again when the
// data is retried. It does not take the request's context: a rollback is
// due even when the request was cancelled (the backend's timeout bounds it).
func (e *Engine) Abort(res *Result) {
	e.dedup.UndoBatch(context.Background(), res.decisions)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func stripQuery(s string) (string, bool) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i], true
	}
	return s, false
}

const maxServiceLen = 256

// sanitize makes untrusted text valid UTF-8 of at most n bytes, without
// control characters (a newline or a terminal escape in a service name would
// reach every message and log line of its alerts).
func sanitize(s string, n int) string {
	if len(s) > 4*n {
		s = s[:4*n] // bound the work on huge values before scanning them
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return -1
			}
			return r
		}, s)
	}
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		// Clone: the key lives for the dedup window and must not pin a
		// huge attribute value in memory.
		s = strings.Clone(s[:cut])
	}
	return s
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
