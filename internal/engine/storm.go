package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/incident"
)

// StormKey is the key of storm summaries: they thread together in chat
// and never collide with an app's endpoint (no app route has a space).
var StormKey = alert.Key{Service: "slowspan", Route: "alert storm"}

// maxFoldKeys bounds the endpoints a fold remembers for its summary; past
// it, alerts are only counted.
const maxFoldKeys = 1000

// maxFoldDecisions bounds the decisions a fold holds until its summary is
// settled: past it, a folded alert's decision is confirmed at once (a
// refused summary then leaves those keys silenced for the window), so a
// flood of new endpoints cannot hold memory for a minute.
const maxFoldDecisions = 10 * maxFoldKeys

// stormGuard caps the alerts sent per minute (alerts.max_per_minute). Past
// the cap an alert is not sent and not dropped: it is folded into one
// summary alert per minute and origin, which lists the endpoints and their
// counts. A folded alert's dedup decision waits with the summary: it is
// confirmed when the summary is delivered, rolled back when it is refused.
type stormGuard struct {
	max int // 0: off

	mu     sync.Mutex
	minute time.Time // start of the current minute
	sent   int       // alerts let through in it
	folds  []*fold
}

// fold gathers the alerts folded in one minute for one origin.
type fold struct {
	origin    Origin
	since     time.Time
	count     int64
	byKey     map[alert.Key]*alert.FoldedEndpoint
	unlisted  map[alert.Key]struct{} // bounded by counting only
	decisions []dedup.Decision
	firstID   string // the first folded alert's id: the summary's id derives from it
}

// admit lets the alerts of b through while the minute's budget lasts and
// folds the rest, taking them and their decisions out of b.
func (g *stormGuard) admit(now time.Time, b *Batch) {
	if g.max <= 0 || b.Alerts == 0 {
		return
	}
	rss := b.Traces.ResourceSpans()
	if rss.Len() != len(b.decisions) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if minute := now.Truncate(time.Minute); !minute.Equal(g.minute) {
		g.minute, g.sent = minute, 0
	}
	if g.sent+rss.Len() <= g.max {
		g.sent += rss.Len()
		return
	}
	// Each resource of an alert batch holds one alert: decisions[i] is
	// the decision of the i-th.
	// An incident alert is never folded: its resolved alert must follow
	// it, and a window condition fires once per incident anyway.
	decisions, events := b.decisions, b.events
	kept := decisions[:0:0]
	var keptEvents []*incident.Event
	i := 0
	rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
		dec := decisions[i]
		var ev *incident.Event
		if i < len(events) {
			ev = events[i]
		}
		i++
		if g.sent < g.max || ev != nil {
			g.sent++
			kept = append(kept, dec)
			keptEvents = append(keptEvents, ev)
			return false
		}
		g.foldFor(b.Origin).add(rs, dec, b.store)
		b.Stats.Folded++
		return true
	})
	b.decisions, b.events, b.Alerts = kept, keptEvents, len(kept)
}

func (g *stormGuard) foldFor(origin Origin) *fold {
	for _, f := range g.folds {
		if f.origin == origin && f.since.Equal(g.minute) {
			return f
		}
	}
	f := &fold{origin: origin, since: g.minute, byKey: make(map[alert.Key]*alert.FoldedEndpoint)}
	g.folds = append(g.folds, f)
	return f
}

func (f *fold) add(rs ptrace.ResourceSpans, dec dedup.Decision, store *dedup.Store) {
	f.count++
	if len(f.decisions) < maxFoldDecisions {
		f.decisions = append(f.decisions, dec)
	} else {
		store.Delivered(context.Background(), dec)
	}
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		spans := sss.At(i).Spans()
		for j := 0; j < spans.Len(); j++ {
			if a, ok := alert.Decode(rs.Resource(), spans.At(j)); ok {
				f.addAlert(a)
			}
		}
	}
}

func (f *fold) addAlert(a alert.Alert) {
	if f.firstID == "" {
		f.firstID = a.ID
	}
	if e, ok := f.byKey[a.Key]; ok {
		e.Count++
		e.MaxDuration = max(e.MaxDuration, a.Duration)
		return
	}
	if len(f.byKey) < maxFoldKeys {
		f.byKey[a.Key] = &alert.FoldedEndpoint{Key: a.Key, Count: 1, MaxDuration: a.Duration}
		return
	}
	if f.unlisted == nil {
		f.unlisted = make(map[alert.Key]struct{})
	}
	if len(f.unlisted) < maxFoldKeys {
		f.unlisted[a.Key] = struct{}{}
	}
}

// take removes the folds whose minute is over at now (every one when all
// is set), or, with only set, every fold of that origin, and returns their
// summaries.
func (g *stormGuard) take(now time.Time, all bool, only *Origin, store *dedup.Store) []Batch {
	g.mu.Lock()
	var done []*fold
	g.folds = slices.DeleteFunc(g.folds, func(f *fold) bool {
		if all || (only != nil && f.origin == *only) || (only == nil && !now.Before(f.since.Add(time.Minute))) {
			done = append(done, f)
			return true
		}
		return false
	})
	g.mu.Unlock()
	out := make([]Batch, 0, len(done))
	for _, f := range done {
		out = append(out, Batch{Origin: f.origin, Traces: f.summary(), Alerts: 1, Folded: int(f.count),
			decisions: f.decisions, store: store})
	}
	return out
}

// summary is the storm alert of f: a synthetic span (no app sent it) whose
// ids derive from the first folded alert, so a retried summary keeps its
// alert id.
func (f *fold) summary() ptrace.Traces {
	eps := make([]alert.FoldedEndpoint, 0, len(f.byKey))
	for _, e := range f.byKey {
		eps = append(eps, *e)
	}
	slices.SortFunc(eps, func(a, b alert.FoldedEndpoint) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(b.MaxDuration, a.MaxDuration),
			cmp.Compare(a.Key.String(), b.Key.String()))
	})
	omitted := len(f.unlisted)
	if len(eps) > alert.MaxFoldedEndpoints {
		omitted += len(eps) - alert.MaxFoldedEndpoints
		eps = eps[:alert.MaxFoldedEndpoints]
	}

	sum := sha256.Sum256([]byte("slowspan storm\x00" + f.firstID))
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	copy(tid[:], sum[:16])
	copy(sid[:], sum[16:24])

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", StormKey.Service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/slowspan/slowspan")
	span := ss.Spans().AppendEmpty()
	span.SetTraceID(tid)
	span.SetSpanID(sid)
	span.SetKind(ptrace.SpanKindInternal)
	span.SetName(fmt.Sprintf("%d slow-request alerts folded", f.count))
	ts := pcommon.NewTimestampFromTime(f.since)
	span.SetStartTimestamp(ts)
	span.SetEndTimestamp(ts)
	alert.Encode(alert.Alert{
		ID:     alert.NewID(hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:]), alert.ReasonStorm),
		Key:    StormKey,
		Reason: alert.ReasonStorm,
		Folded: &alert.Folded{Count: f.count, Since: f.since.UTC(), Endpoints: eps, Omitted: omitted},
	}, span)
	return td
}
