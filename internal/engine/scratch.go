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
	trig      int // index of its trigger (0: global, 1+i: routes[i])
}

// scratch holds the slow spans of one Process call for their dedup step.
// Reused, so that a steady flow of suppressed slow spans allocates nothing.
type scratch struct {
	kept []keptSpan
	reqs []dedup.Request
	decs []dedup.Decision

	// The window modes': the keys with a slow span to judge and the new
	// worst requests.
	slowKeys []alert.Key
	picks    []sample
}

// scratchPool keeps a few scratch buffers for reuse. A buffered channel rather than a
// sync.Pool: a garbage collection does not empty it, so the steady state
// allocates nothing at all.
type scratchPool chan *scratch

// maxPooledSpans: the buffers of a rare huge batch are not kept.
const maxPooledSpans = 4096

func newScratchPool() scratchPool { return make(scratchPool, max(runtime.GOMAXPROCS(0), 2)) }

func (p scratchPool) get() *scratch {
	select {
	case b := <-p:
		return b
	default:
		return new(scratch)
	}
}

// put returns b for reuse, without references into the request's data.
func (p scratchPool) put(b *scratch) {
	if cap(b.kept) > maxPooledSpans || cap(b.picks) > maxPooledSpans {
		return
	}
	clear(b.kept)
	clear(b.reqs)
	clear(b.decs)
	clear(b.picks)
	clear(b.slowKeys)
	b.kept, b.reqs, b.decs = b.kept[:0], b.reqs[:0], b.decs[:0]
	b.slowKeys, b.picks = b.slowKeys[:0], b.picks[:0]
	select {
	case p <- b:
	default:
	}
}
