package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
)

func TestTimeline(t *testing.T) {
	const ms = time.Millisecond
	t.Run("one row per span", func(t *testing.T) {
		a := figurestest.WithSpans(figurestest.NPlusOne())
		v := makeTimeline(a.Breakdown, a.Duration)
		assert.False(t, v.PerGroup)
		require.Len(t, v.Rows, 30)
		assert.Equal(t, "1/30", v.Rows[0].Count)
		assert.Equal(t, "N+1", v.Rows[0].Pattern)
		assert.False(t, v.Rows[0].Repeat)
		assert.True(t, v.Rows[29].Repeat, "the same group as the row above")
		assert.Equal(t, "30/30", v.Rows[29].Count)
		// 5 ms + i x 40.33 ms of 1.22 s, one after another.
		assert.Equal(t, timelineBar{Left: "0.410", Width: "3.306",
			Title: "N+1: SELECT orders — postgresql SELECT orders WHERE id = ?: 40 ms at +5 ms"}, v.Rows[0].Bars[0])
		assert.Equal(t, "96.284", v.Rows[29].Bars[0].Left)
		assert.Equal(t, []tick{{"0", "0"}, {"25", "305 ms"}, {"50", "610 ms"}, {"75", "915 ms"}, {"100", "1.22 s"}}, v.Ticks)
	})
	t.Run("one row per group", func(t *testing.T) {
		a := figurestest.WithSpans(figurestest.Diagnosed(alert.DiagnosisCPU))
		a.Breakdown.Spans = append(a.Breakdown.Spans, alert.ChildSpan{Group: -1, Offset: 2350 * ms, Duration: 10 * ms},
			alert.ChildSpan{Group: 99, Offset: -ms, Duration: time.Hour})
		a.Breakdown.SpansOmitted = 7
		v := makeTimeline(a.Breakdown, a.Duration)
		assert.True(t, v.PerGroup)
		assert.True(t, v.FromSpans)
		assert.Equal(t, 7, v.Omitted)
		require.Len(t, v.Rows, 4, "three groups and the spans of no listed group")
		assert.Len(t, v.Rows[0].Bars, 42)
		assert.Equal(t, "42 x", v.Rows[0].Count)
		assert.Equal(t, "other child spans", v.Rows[3].Name)
		assert.Equal(t, "2 x", v.Rows[3].Count)
		// Out of the request: clamped to it.
		assert.Equal(t, timelineBar{Left: "0.000", Width: "100.000", Title: "other child spans: 1h 00m at +0 ms"}, v.Rows[3].Bars[1])
	})
	t.Run("older alert without spans", func(t *testing.T) {
		a := figurestest.Diagnosed(alert.DiagnosisCPU)
		v := makeTimeline(a.Breakdown, a.Duration)
		assert.True(t, v.PerGroup)
		assert.False(t, v.FromSpans)
		require.Len(t, v.Rows, 3)
		assert.Equal(t, []timelineBar{{Left: "2.083", Width: "62.500",
			Title: "SELECT orders — postgresql SELECT orders WHERE id = ?: 42 x, total 1.50 s, longest 90 ms, first at +50 ms"}}, v.Rows[0].Bars)
	})
	t.Run("zero duration", func(t *testing.T) {
		v := makeTimeline(&alert.Breakdown{Children: []alert.ChildGroup{{Name: "x", Count: 1}},
			Spans: []alert.ChildSpan{{Group: 0, Offset: ms, Duration: ms}}}, 0)
		assert.Equal(t, "0.000", v.Rows[0].Bars[0].Left)
		assert.Equal(t, "100.000", v.Rows[0].Bars[0].Width)
	})
}
