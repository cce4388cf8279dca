package engine

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/incident"
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
	origin   Origin
	due      time.Time
	// bytes is the estimated memory of td, counted while c waits.
	bytes int64
	// waiting is set while c is in the pending set (under its lock).
	waiting bool
	// event is the incident event of an incident alert (window modes).
	event *incident.Event
	// synthetic is set on a span made for an incident alert: there is no
	// request to link to.
	synthetic bool
}

// candidateOverhead is what a candidate holds besides its span copy and
// children: the structs, the alert, the link data.
const candidateOverhead = 2048

// estimateBytes is the memory a waiting alert holds, estimated from the
// wire size of its span copy: decoded pdata takes about twice the bytes.
func estimateBytes(td ptrace.Traces) int64 {
	var m ptrace.ProtoMarshaler
	return candidateOverhead + 2*int64(m.TracesSize(td))
}

// pendingSet holds the alerts waiting for their children and profile,
// indexed by span id so each batch can find their children.
type pendingSet struct {
	n      atomic.Int64 // read on every batch without the lock
	mu     sync.Mutex
	bySpan map[pcommon.SpanID]*candidate
	// bytes estimates the memory of the waiting alerts, children included;
	// maxBytes bounds it.
	bytes, maxBytes int64
	// closed are the origins that were drained (their pipeline shut down):
	// alerts for them never wait, since nothing would deliver them while
	// their consumer still runs.
	closed []Origin
}

// take removes and returns the candidates for which pick is true.
func (p *pendingSet) take(pick func(*candidate) bool) []*candidate {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*candidate
	for id, c := range p.bySpan {
		if pick(c) {
			out = append(out, c)
			p.remove(id, c)
		}
	}
	p.n.Store(int64(len(p.bySpan)))
	return out
}

func (p *pendingSet) remove(id pcommon.SpanID, c *candidate) {
	delete(p.bySpan, id)
	p.bytes -= c.bytes + c.children.bytes
	c.waiting = false
}

// overBudget removes the oldest waiting alerts while the set holds more
// than maxBytes (children keep joining alerts that wait), and returns them.
func (p *pendingSet) overBudget() []*candidate {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes <= p.maxBytes {
		return nil
	}
	byAge := make([]*candidate, 0, len(p.bySpan))
	for _, c := range p.bySpan {
		byAge = append(byAge, c)
	}
	slices.SortFunc(byAge, func(a, b *candidate) int { return a.due.Compare(b.due) })
	var out []*candidate
	for _, c := range byAge {
		if p.bytes <= p.maxBytes {
			break
		}
		p.remove(c.spanID, c)
		out = append(out, c)
	}
	p.n.Store(int64(len(p.bySpan)))
	return out
}

// close marks origin as drained.
func (p *pendingSet) close(origin Origin) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.closed, origin) {
		p.closed = append(p.closed, origin)
	}
}

func (p *pendingSet) len() int { return int(p.n.Load()) }

// add keeps c until due; false when the set is full (by count or bytes),
// holds the span already, or c's origin was drained: c then goes out at once.
func (p *pendingSet) add(c *candidate, due time.Time, limit int) bool {
	size := estimateBytes(c.td)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bySpan) >= limit || p.bytes+size+c.children.bytes > p.maxBytes || slices.Contains(p.closed, c.origin) {
		return false
	}
	if _, dup := p.bySpan[c.spanID]; dup {
		return false
	}
	c.due, c.bytes, c.waiting = due, size, true
	p.bySpan[c.spanID] = c
	p.bytes += size + c.children.bytes
	p.n.Store(int64(len(p.bySpan)))
	return true
}

// Bytes is the estimated memory of the waiting alerts.
func (p *pendingSet) Bytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
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
					before := c.children.bytes
					c.children.add(span)
					if c.waiting {
						e.pending.bytes += c.children.bytes - before
					}
				}
			}
		}
	}
}

// hold keeps a fresh alert waiting for its children and profile, when
// correlation.wait is set and the set has room; false: it goes out now.
func (e *Engine) hold(c *candidate, origin Origin) bool {
	c.origin = origin
	return e.cfg.Correlation.Wait > 0 && !c.synthetic &&
		e.pending.add(c, e.now().Add(e.cfg.Correlation.Wait), e.cfg.Correlation.MaxPending)
}

// Pending is the number of alerts waiting for correlation.
func (e *Engine) Pending() int { return e.pending.len() }

// PendingBytes is the estimated memory the waiting alerts hold.
func (e *Engine) PendingBytes() int64 { return e.pending.Bytes() }

// IndexProfiles indexes the span-linked samples of pd and counts those kept
// and those dropped, by reason. pd itself is not modified.
func (e *Engine) IndexProfiles(pd pprofile.Profiles) profileindex.AddStats {
	return e.profiles.Add(pd, e.now())
}

// ExpireProfiles drops the indexed samples older than profiles.ttl.
func (e *Engine) ExpireProfiles() { e.profiles.Expire(e.now()) }

// ProfileSamples is the number of samples the index holds.
func (e *Engine) ProfileSamples() int { return e.profiles.Len() }
