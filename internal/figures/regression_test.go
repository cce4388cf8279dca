package figures

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/slowspan/slowspan/alert"
)

func TestRegressionWording(t *testing.T) {
	const ms = time.Millisecond
	assert.Equal(t, "+1.10 s", Signed(1100*ms))
	assert.Equal(t, "−80 ms", Signed(-80*ms))
	assert.Equal(t, "±0 ms", Signed(0))
	assert.NotEmpty(t, Signed(math.MinInt64))

	line := func(c alert.Change) string { l, r := ChangeLine(c); return l + "D" + r }
	head := func(c alert.Change) string { l, r := ChangeHeadline(c); return l + "D" + r }
	slower := alert.Change{Kind: alert.ChangeChild, Description: "D", Before: 80 * ms, After: 200 * ms, CountBefore: 1, CountAfter: 1}
	assert.Equal(t, "+120 ms D", line(slower))
	assert.Equal(t, "+120 ms D", head(slower))
	more := alert.Change{Kind: alert.ChangeChild, Before: 30 * ms, After: 360 * ms, CountBefore: 1, CountAfter: 12}
	assert.Equal(t, "+330 ms D (1 → 12 x)", line(more))
	added := alert.Change{Kind: alert.ChangeChild, After: 1100 * ms, CountAfter: 12, New: true}
	assert.Equal(t, "new: 12 x D (+1.10 s)", line(added))
	assert.Equal(t, "+1.10 s D", head(added))
	gone := alert.Change{Kind: alert.ChangeChild, Before: 30 * ms, CountBefore: 3, Gone: true}
	assert.Equal(t, "gone: 3 x D (−30 ms)", line(gone))
	fn := alert.Change{Kind: alert.ChangeFunction, After: 640 * ms, New: true}
	assert.Equal(t, "+640 ms CPU in D (new)", line(fn))
	assert.Equal(t, "+640 ms CPU in D", head(fn))

	assert.Equal(t, "(no version)", Version(""))
	w := &alert.WindowFigures{Over: 5 * time.Minute, Count: 870, Quantile: 0.95, QuantileValue: 1300 * ms}
	assert.Equal(t, "p95 1.30 s · 870 requests over 5m", VersionFigures(w))
	assert.Equal(t, "p95 180 ms · 1 request", VersionFigures(&alert.WindowFigures{Count: 1, P95: 180 * ms}))
	assert.Equal(t, "", VersionFigures(nil))
	r := &alert.Regression{Before: alert.VersionSide{Window: &alert.WindowFigures{Quantile: 0.95, QuantileValue: 180 * ms}}, After: alert.VersionSide{Window: w}}
	assert.Equal(t, "7.2x", RegressionFactor(r))
	assert.Equal(t, "p95 180 ms → 1.30 s, 7.2x", RegressionFigures(r))
	assert.Equal(t, "", RegressionFigures(&alert.Regression{After: alert.VersionSide{Window: w}}))
	assert.Equal(t, "", RegressionFactor(&alert.Regression{}))
	assert.Equal(t, "", RegressionFactor(nil))
}
