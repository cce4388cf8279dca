package report

import (
	"fmt"
	"strconv"
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// maxSpanRows is the most child spans drawn one row each; beyond it the
// timeline has one row per group, every span of the group drawn at its
// offset in that row (an N+1 run then reads as a train of small bars).
const maxSpanRows = 40

// timelineView is the waterfall: the request on a time axis, and its child
// spans (or, for an alert without Breakdown.Spans, its child groups) placed
// at their offsets.
type timelineView struct {
	// PerGroup is set when rows are groups (many spans, or an older alert
	// without spans); Grouped, when they are groups of real spans.
	PerGroup, FromSpans bool
	Rows                []timelineRow
	Ticks               []tick
	Omitted             int
	Groups              []groupDetail
}

type tick struct{ Left, Label string }

type timelineRow struct {
	Kind        string // a CSS class from a fixed set
	Name        string
	Description string
	Count       string // "30 x" for a group, "3/30" for one of its spans
	Pattern     string
	Title       string // the full label, for the hover
	Right       string // the duration at the right
	// Repeat marks a span of the same group as the row above: its label
	// is muted, the pattern and description left to the first.
	Repeat bool
	Bars   []timelineBar
}

type timelineBar struct {
	Left, Width string // percent of the request, three decimals
	Title       string
}

// groupDetail is one child group in the table under the waterfall.
type groupDetail struct {
	Kind, Name, Description, Pattern string
	Count                            int
	Total, Max, Offset               string
}

var knownKinds = map[string]bool{"client": true, "server": true, "internal": true, "producer": true, "consumer": true}

func kindClass(kind string) string {
	if k := lowerASCII(kind); knownKinds[k] {
		return k
	}
	return "other"
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func makeTimeline(b *alert.Breakdown, total time.Duration) *timelineView {
	v := &timelineView{Omitted: max(b.SpansOmitted, 0)}
	for i := 0; i <= 4; i++ {
		v.Ticks = append(v.Ticks, tick{Left: strconv.Itoa(25 * i), Label: figures.Duration(total * time.Duration(i) / 4)})
	}
	if v.Ticks[0].Label == "0 ms" {
		v.Ticks[0].Label = "0"
	}
	for _, c := range b.Children {
		v.Groups = append(v.Groups, groupDetail{
			Kind: validUTF8(c.Kind), Name: validUTF8(c.Name), Description: validUTF8(c.Description),
			Pattern: figures.Pattern(c.Pattern), Count: c.Count,
			Total: figures.Duration(c.Total), Max: figures.Duration(c.Max), Offset: figures.Duration(c.Offset),
		})
	}
	group := func(i int) (alert.ChildGroup, bool) {
		if i < 0 || i >= len(b.Children) {
			return alert.ChildGroup{Kind: "other", Name: "other child spans"}, false
		}
		return b.Children[i], true
	}
	label := func(c alert.ChildGroup) timelineRow {
		r := timelineRow{Kind: kindClass(c.Kind), Name: validUTF8(c.Name), Description: validUTF8(c.Description),
			Pattern: figures.Pattern(c.Pattern)}
		r.Title = r.Name
		if r.Description != "" {
			r.Title += " — " + r.Description
		}
		if r.Pattern != "" {
			r.Title = r.Pattern + ": " + r.Title
		}
		return r
	}
	spans := b.Spans
	switch {
	case len(spans) == 0:
		// An alert from before Spans: one bar per group, from its first
		// offset, as long as the group's total.
		v.PerGroup = true
		for _, c := range b.Children {
			r := label(c)
			r.Count = fmt.Sprintf("%d x", c.Count)
			r.Right = figures.Duration(c.Total)
			left, width := barGeometry(c.Offset, c.Total, total)
			r.Bars = []timelineBar{{Left: pct3(left), Width: pct3(width),
				Title: fmt.Sprintf("%s: %d x, total %s, longest %s, first at +%s", r.Title, c.Count,
					figures.Duration(c.Total), figures.Duration(c.Max), figures.Duration(c.Offset))}}
			v.Rows = append(v.Rows, r)
		}
	case len(spans) <= maxSpanRows:
		v.FromSpans = true
		seen := map[int]int{}
		last := -2
		for _, s := range spans {
			c, ok := group(s.Group)
			key := s.Group
			if !ok {
				key = -1
			}
			seen[key]++
			r := label(c)
			if ok && c.Count > 1 {
				r.Count = fmt.Sprintf("%d/%d", seen[key], c.Count)
			}
			r.Right = figures.Duration(s.Duration)
			r.Bars = []timelineBar{spanBar(r.Title, s, total)}
			r.Repeat, last = key == last, key
			v.Rows = append(v.Rows, r)
		}
	default:
		v.PerGroup, v.FromSpans = true, true
		rows := map[int]int{} // group key -> row index
		for _, s := range spans {
			c, ok := group(s.Group)
			key := s.Group
			if !ok {
				key = -1
			}
			i, have := rows[key]
			if !have {
				r := label(c)
				i = len(v.Rows)
				rows[key] = i
				v.Rows = append(v.Rows, r)
			}
			v.Rows[i].Bars = append(v.Rows[i].Bars, spanBar(v.Rows[i].Title, s, total))
		}
		for key, i := range rows {
			r := &v.Rows[i]
			if c, ok := group(key); ok {
				r.Count = fmt.Sprintf("%d x", c.Count)
				r.Right = figures.Duration(c.Total)
			} else {
				r.Count = fmt.Sprintf("%d x", len(r.Bars))
			}
		}
	}
	return v
}

// spanBar places one child span: at its offset, as long as it lasted,
// clamped to the request.
func spanBar(title string, s alert.ChildSpan, total time.Duration) timelineBar {
	left, width := 0.0, 100.0
	if total > 0 {
		left = clamp(100*float64(s.Offset)/float64(total), 0, 100)
		width = clamp(100*float64(s.Duration)/float64(total), 0, 100-left)
	}
	return timelineBar{Left: pct3(left), Width: pct3(width),
		Title: title + ": " + figures.Duration(s.Duration) + " at +" + figures.Duration(s.Offset)}
}

func pct3(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
