package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestPendingBytesBound: waiting alerts are bounded by the memory they hold,
// not only by their count. An alert whose span is too large to wait goes
// out at once; children joining waiting alerts push the oldest out early.
func TestPendingBytesBound(t *testing.T) {
	const budget = 100 << 10
	e, clk := newEngine(t, func(c *Config) {
		c.Correlation.Wait = time.Minute
		c.Correlation.MaxPendingBytes = budget
	})

	// Small alerts wait.
	for i := range 4 {
		sp := server(2*time.Second, map[string]any{"http.route": fmt.Sprintf("/small/%d", i)})
		sp.id = byte(10 + i) // each its own span: a span already waiting would go out at once
		clk.now = clk.now.Add(time.Second)
		res := e.Process(t.Context(), build(t, sp), 0)
		require.Zero(t, res.Alerts)
	}
	require.Equal(t, 4, e.Pending())
	small := e.PendingBytes()
	assert.Greater(t, small, int64(4*candidateOverhead))

	// A span with a 200 KiB attribute does not fit beside them: out at once.
	huge := map[string]any{"http.route": "/huge", "http.request.header.x-trace": strings.Repeat("x", 200<<10)}
	hugeSpan := server(2*time.Second, huge)
	hugeSpan.id = 50
	res := e.Process(t.Context(), build(t, hugeSpan), 0)
	assert.Equal(t, 1, res.Alerts, "too large to wait")
	assert.Equal(t, 4, e.Pending())
	assert.Equal(t, small, e.PendingBytes())

	// Children of a waiting alert grow it past the budget: the next pass of
	// the flush loop sends the oldest alerts early, though not yet due.
	td, _ := request(2 * time.Second)
	res = e.Process(t.Context(), td, 0)
	require.Zero(t, res.Alerts)
	td = ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range maxTrackedGroups {
		child(spans, ptrace.SpanKindClient, fmt.Sprintf("call-%d-%s", i, strings.Repeat("n", 100)), 0, time.Millisecond, nil)
	}
	require.Zero(t, e.Process(t.Context(), td, 0).Alerts)
	require.Greater(t, e.PendingBytes(), int64(budget))
	early := e.Due(t0, false) // none is due yet
	require.NotEmpty(t, early)
	assert.LessOrEqual(t, e.PendingBytes(), int64(budget))
	assert.Less(t, e.Pending(), 5)
	first := alerts(early[0])
	assert.Equal(t, "/small/0", first[0].Key.Route, "the oldest leaves first")

	// Everything delivered: nothing is accounted any more.
	e.Due(clk.now, true)
	assert.Zero(t, e.Pending())
	assert.Zero(t, e.PendingBytes())
}

func TestPendingBytesEstimateGrowsWithTheSpan(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetSpanID(pcommon.SpanID{1})
	base := estimateBytes(td)
	sp.Attributes().PutStr("big", strings.Repeat("y", 1<<20))
	assert.GreaterOrEqual(t, estimateBytes(td)-base, int64(1<<20))
}
