package engine

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/profileindex"
)

// candidate is an alert between detection and delivery: the redacted copy
// of the slow span in its own Traces, and what is gathered about it.
type candidate struct {
	td       ptrace.Traces
	span     ptrace.Span
	traceID  pcommon.TraceID
	spanID   pcommon.SpanID
	alert    alert.Alert
	decision dedup.Decision
	children *children
	link     linkData
	sink     consumer.Traces
	due      time.Time
}

// pendingSet holds the alerts waiting for their children and profile,
// indexed by span id so each batch can find their children.
type pendingSet struct {
	n      atomic.Int64 // read on every batch without the lock
	mu     sync.Mutex
	bySpan map[pcommon.SpanID]*candidate
}

func (p *pendingSet) len() int { return int(p.n.Load()) }

// add keeps c until due; false when the set is full (c then goes out at
// once) or holds the span already.
func (p *pendingSet) add(c *candidate, due time.Time, limit int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bySpan) >= limit {
		return false
	}
	if _, dup := p.bySpan[c.spanID]; dup {
		return false
	}
	c.due = due
	p.bySpan[c.spanID] = c
	p.n.Store(int64(len(p.bySpan)))
	return true
}

// collectChildren adds every span of td whose parent is a fresh or pending
// alert to that alert's breakdown. It runs only when there is one.
func (e *Engine) collectChildren(td ptrace.Traces, fresh []*candidate) {
	lookPending := e.pending.len() > 0
	// A linear scan is cheapest for the usual handful of new alerts; a
	// batch full of them gets a map, so the pass stays linear.
	var freshByID map[pcommon.SpanID]*candidate
	if len(fresh) > 8 {
		freshByID = make(map[pcommon.SpanID]*candidate, len(fresh))
		for _, f := range fresh {
			freshByID[f.spanID] = f
		}
	}
	if lookPending {
		e.pending.mu.Lock()
		defer e.pending.mu.Unlock()
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				parent := span.ParentSpanID()
				if parent.IsEmpty() {
					continue
				}
				var c *candidate
				if freshByID != nil {
					c = freshByID[parent]
				} else {
					for _, f := range fresh {
						if f.spanID == parent {
							c = f
							break
						}
					}
				}
				if c == nil && lookPending {
					c = e.pending.bySpan[parent]
				}
				if c != nil && span.TraceID() == c.traceID {
					c.children.add(span)
				}
			}
		}
	}
}

// finalize attaches the breakdown, the profile and the profile link, and
// writes the alert onto its span.
func (e *Engine) finalize(c *candidate) ptrace.Traces {
	c.alert.Breakdown = c.children.breakdown()
	wall := time.Duration(c.span.EndTimestamp() - c.span.StartTimestamp())
	c.alert.Profile = profileindex.Summarize(e.profiles.Take(c.traceID, c.spanID), wall)
	if e.traceLink != nil {
		c.alert.Links.Trace = e.renderLink(e.traceLink, c.link)
	}
	if e.profileLink != nil {
		c.alert.Links.Profile = e.renderLink(e.profileLink, c.link)
	}
	alert.Encode(c.alert, c.span)
	return c.td
}

// Delivery is a batch of alerts whose correlation wait is over, for one
// sink.
type Delivery struct {
	Sink      consumer.Traces
	Traces    ptrace.Traces
	Alerts    int
	decisions []dedup.Decision
}

// Due removes the pending alerts whose wait is over at now (every one when
// all is set, at shutdown) and returns them finalized, one Delivery per sink.
func (e *Engine) Due(now time.Time, all bool) []Delivery {
	if e.pending.len() == 0 {
		return nil
	}
	e.pending.mu.Lock()
	var due []*candidate
	for id, c := range e.pending.bySpan {
		if all || !now.Before(c.due) {
			due = append(due, c)
			delete(e.pending.bySpan, id)
		}
	}
	e.pending.n.Store(int64(len(e.pending.bySpan)))
	e.pending.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	// Oldest first, so alerts go out in the order their spans came.
	slices.SortStableFunc(due, func(a, b *candidate) int { return a.due.Compare(b.due) })
	var out []Delivery
	for _, c := range due {
		td := e.finalize(c)
		i := 0
		for i < len(out) && out[i].Sink != c.sink {
			i++
		}
		if i == len(out) {
			out = append(out, Delivery{Sink: c.sink, Traces: ptrace.NewTraces()})
		}
		td.ResourceSpans().MoveAndAppendTo(out[i].Traces.ResourceSpans())
		out[i].Alerts++
		out[i].decisions = append(out[i].decisions, c.decision)
	}
	return out
}

// Undeliverable reverts the dedup decisions of a delivery the sink refused:
// the span cannot be retried, but the endpoint alerts on its next slow span.
func (e *Engine) Undeliverable(d *Delivery) {
	e.Abort(&Result{decisions: d.decisions})
}

// Delivered confirms the alerts of a delivery the sink took.
func (e *Engine) Delivered(ctx context.Context, d *Delivery) {
	for _, dec := range d.decisions {
		e.dedup.Delivered(ctx, dec)
	}
}

// Pending is the number of alerts waiting for correlation.
func (e *Engine) Pending() int { return e.pending.len() }

// IndexProfiles indexes the span-linked samples of pd and counts those kept
// and those dropped, by reason. pd itself is not modified.
func (e *Engine) IndexProfiles(pd pprofile.Profiles) profileindex.AddStats {
	return e.profiles.Add(pd, e.now())
}

// ExpireProfiles drops the indexed samples older than profiles.ttl. The
// component calls it on its timer: without it, memory would only be
// returned when the next profiles message arrives.
func (e *Engine) ExpireProfiles() { e.profiles.Expire(e.now()) }

// ProfileSamples is the number of samples the index holds.
func (e *Engine) ProfileSamples() int { return e.profiles.Len() }
