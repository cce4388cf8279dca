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

	// The window modes': every span of a selected kind, the samples of
	// span-mode keys that may be slow, the keys with a slow sample and the
	// new worst requests.
	samples  []sample
	spanMode []int
	slowKeys []alert.Key
	picks    []worstPick
}

// scratchPool keeps a few scratch buffers for reuse. A buffered channel rather than a
// sync.Pool: a garbage collection does not empty it, so the steady state
// allocates nothing at all.
type scratchPool chan *scratch

// maxPooledSpans: the buffers of a rare huge batch are not kept.
const maxPooledSpans = 4096

// maxPooledSamples: in the window modes every span of a selected kind is a
// sample; a batch of up to this many keeps its buffer.
const maxPooledSamples = 1 << 16

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
	if cap(b.kept) > maxPooledSpans || cap(b.samples) > maxPooledSamples {
		return
	}
	clear(b.kept)
	clear(b.reqs)
	clear(b.decs)
	clear(b.samples)
	clear(b.slowKeys)
	b.kept, b.reqs, b.decs = b.kept[:0], b.reqs[:0], b.decs[:0]
	b.samples, b.spanMode, b.slowKeys, b.picks = b.samples[:0], b.spanMode[:0], b.slowKeys[:0], b.picks[:0]
	select {
	case p <- b:
	default:
	}
}
