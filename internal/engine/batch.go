package engine

import (
	"runtime"
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
// Reused, so that a steady flow of suppressed slow spans allocates nothing.
type batch struct {
	kept []keptSpan
	reqs []dedup.Request
	decs []dedup.Decision
}

// batchPool keeps a few batches for reuse. A buffered channel rather than a
// sync.Pool: a garbage collection does not empty it, so the steady state
// allocates nothing at all.
type batchPool chan *batch

// maxPooledSpans: the buffers of a rare huge batch are not kept.
const maxPooledSpans = 4096

func newBatchPool() batchPool { return make(batchPool, max(runtime.GOMAXPROCS(0), 2)) }

func (p batchPool) get() *batch {
	select {
	case b := <-p:
		return b
	default:
		return new(batch)
	}
}

// put returns b for reuse, without references into the request's data.
func (p batchPool) put(b *batch) {
	if cap(b.kept) > maxPooledSpans {
		return
	}
	clear(b.kept)
	clear(b.reqs)
	clear(b.decs)
	b.kept, b.reqs, b.decs = b.kept[:0], b.reqs[:0], b.decs[:0]
	select {
	case p <- b:
	default:
	}
}
