package engine

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
)

// keptSpan is a slow span that passed the filters, waiting for its dedup
// decision: what building its alert needs.
type keptSpan struct {
	span      ptrace.Span
	rs        ptrace.ResourceSpans
	ss        ptrace.ScopeSpans
	key       alert.Key
	dur       time.Duration
	threshold time.Duration
	rule      string
}

// batch holds the slow spans of one Process call for their dedup step.
// Pooled, so that a steady flow of suppressed slow spans allocates nothing.
type batch struct {
	kept []keptSpan
	reqs []dedup.Request
	decs []dedup.Decision
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

// maxPooledSpans: the buffers of a rare huge batch are not kept.
const maxPooledSpans = 4096

// release returns b to the pool, without references into the request's
// data.
func (b *batch) release() {
	if cap(b.kept) > maxPooledSpans {
		return
	}
	clear(b.kept)
	clear(b.reqs)
	clear(b.decs)
	b.kept, b.reqs, b.decs = b.kept[:0], b.reqs[:0], b.decs[:0]
	batchPool.Put(b)
}
