// Package flamegraph renders a flame graph from collapsed stacks
// (alert.Stack, the folded format of Brendan Gregg's flamegraph.pl) as an SVG
// document or a PNG image, so the person on call sees where the CPU time of a
// slow request went without opening a profiler.
//
// The layout is the classic one: the root frame "all" at the bottom, callees
// stacked above their callers, each frame as wide as its share of the CPU
// time (stack values are CPU nanoseconds, as alert.Stack carries them; the
// tooltips say milliseconds), siblings sorted by name (as flamegraph.pl
// does) so the same input always gives byte-identical output, whatever the
// order of the stacks.
//
// BuildDiff draws a differential flame graph of two profiles of the same
// endpoint (the previous version's and the new one's): the new profile's
// graph, each frame coloured by the change of its share of the CPU time
// (red grew, blue shrank, grey about the same), frames not in the previous
// profile outlined as new, and tooltips with both versions' milliseconds and
// shares.
//
// Safety: the SVG is inlined into self-contained HTML reports that are opened
// from alerts, and function names come from profiled programs, so they are
// untrusted. The output therefore has no script, no event handler attributes,
// no external references, no style sheet and no ids (which would leak into or
// collide with the host page). All text is sanitized (invalid UTF-8 becomes
// U+FFFD; characters XML 1.0 forbids and other control characters are
// dropped; tab, newline and CR become spaces) and then XML-escaped, so a name
// like "</text><script>" renders as inert text and the output always parses
// as XML.
//
// Bounded: a profile can have any number of stacks, arbitrarily deep. The
// output is capped (MaxDepth levels, MaxFrames rectangles, names cut at
// 512 bytes, Width and FrameHeight clamped) so a hostile or pathological
// profile cannot produce a report too big to send or to open: with the
// defaults the SVG stays within a few megabytes and the PNG within
// Width x (MaxDepth+1) x FrameHeight pixels.
package flamegraph

import (
	"cmp"
	"container/heap"
	"math"
	"math/bits"
	"slices"

	"github.com/slowspan/slowspan/alert"
)

// Defaults and limits of Options.
const (
	DefaultWidth       = 1200
	DefaultFrameHeight = 16
	DefaultMinWidth    = 0.3
	DefaultMaxDepth    = 256
	DefaultMaxFrames   = 5000

	// The limits keep the PNG's pixel buffer and the SVG's size bounded
	// whatever the caller passes.
	minWidth       = 100
	maxWidth       = 4096
	minFrameHeight = 4
	maxFrameHeight = 32
	maxMaxDepth    = 1024
	maxMaxFrames   = 100000
)

// RootName is the name of the root frame; CutName the name of the frame that
// marks stacks cut at MaxDepth.
const (
	RootName = "all"
	CutName  = "…"
)

// unknownName replaces empty names, as flamegraph.pl does.
const unknownName = "[unknown]"

// maxNameBytes caps a frame name: titles are the bulk of the SVG, and no
// real function name needs more to be recognised.
const maxNameBytes = 512

// Geometry, in pixels.
const (
	padX        = 10
	padTop      = 10
	padBottom   = 10
	titleHeight = 26 // room for the 16 px title when there is one
	// Label widths, in centipixels a character: browsers' monospace fonts
	// are 0.6 em wide (7.2 px at 12 px), basicfont's advance is 7 px. Being
	// exact keeps labels from spilling over the next frame, since there is
	// no clipping (clipPath needs an id, and ids collide when inlined).
	svgCharWidth = 720
	pngCharWidth = 700
	textPad      = 3  // label inset from the rect's left edge
	minLabelLen  = 3  // fewer characters than this say nothing: no label
	minLabelFH   = 12 // frames lower than this have no room for 12 px text
)

// Options control the layout. Zero values take the defaults.
type Options struct {
	Width       int    // px, default 1200, clamped to [100, 4096]
	FrameHeight int    // px, default 16, clamped to [4, 32]
	Title       string // optional, drawn at the top (escaped)
	// MinWidth is in px: frames narrower than this are not drawn (their
	// width still counts in the parent). Default 0.3.
	MinWidth float64
	// MaxDepth is the number of frame levels above the root, default 256
	// (at most 1024). Deeper stacks are cut: their frame at level MaxDepth is
	// replaced by one frame named "…" that holds the rest.
	MaxDepth int
	// MaxFrames caps the rectangles drawn (the root included), default
	// 5000 (at most 100000); the smallest frames are dropped first.
	MaxFrames int
}

func (o Options) withDefaults() Options {
	if o.Width <= 0 {
		o.Width = DefaultWidth
	}
	o.Width = min(max(o.Width, minWidth), maxWidth)
	if o.FrameHeight <= 0 {
		o.FrameHeight = DefaultFrameHeight
	}
	o.FrameHeight = min(max(o.FrameHeight, minFrameHeight), maxFrameHeight)
	if !(o.MinWidth > 0) || math.IsInf(o.MinWidth, 0) { // also catches NaN
		o.MinWidth = DefaultMinWidth
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	o.MaxDepth = min(o.MaxDepth, maxMaxDepth)
	if o.MaxFrames <= 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	o.MaxFrames = min(o.MaxFrames, maxMaxFrames)
	o.Title = cleanText(o.Title, maxNameBytes)
	return o
}

// Frame is one laid-out frame of a Graph.
type Frame struct {
	Name  string // sanitized, as drawn in the title
	Value int64  // CPU nanoseconds, the frame's children included
	Depth int    // 0 for the root "all"
	// X and Width are in px from the left edge of the image.
	X, Width float64
	Share    float64 // Value / Total, 0 when there is no CPU time
	// Before is the frame's value in the before profile of a differential
	// graph (BuildDiff), BeforeShare its share of the before total, and New
	// is set when the frame's path is not in the before profile; all zero
	// otherwise.
	Before      int64
	BeforeShare float64
	New         bool
}

// Graph is a laid-out flame graph, ready to be written.
type Graph struct {
	opts   Options
	total  int64
	depth  int
	frames []frame // drawn frames, in pre-order (parents before children)
	// diff is set by BuildDiff; beforeTotal is then the before profile's
	// total.
	diff        bool
	beforeTotal int64
}

// frame keeps positions in hundredths of a pixel, computed with integer
// arithmetic: floating point could differ across architectures (fused
// multiply-add) and the output must be byte-identical everywhere.
type frame struct {
	name   string
	value  int64
	depth  int
	x1, x2 int64 // centipixels
	// before is the frame's value in the before profile (BuildDiff only);
	// isNew is set when its path is not there at all.
	before int64
	isNew  bool
}

// Total is the CPU time in nanoseconds (the value of the root).
func (g *Graph) Total() int64 { return g.total }

// Depth is the number of frame levels drawn above the root.
func (g *Graph) Depth() int { return g.depth }

// Frames returns the drawn frames, parents before children, siblings left to
// right.
func (g *Graph) Frames() []Frame {
	out := make([]Frame, len(g.frames))
	for i, f := range g.frames {
		out[i] = Frame{
			Name:  f.name,
			Value: f.value,
			Depth: f.depth,
			X:     float64(f.x1) / 100,
			Width: float64(f.x2-f.x1) / 100,
		}
		if g.total > 0 {
			out[i].Share = float64(f.value) / float64(g.total)
		}
		if g.diff {
			out[i].Before, out[i].New = f.before, f.isNew
			if g.beforeTotal > 0 {
				out[i].BeforeShare = float64(f.before) / float64(g.beforeTotal)
			}
		}
	}
	return out
}

// node is a merged tree node; children are a linked list in name order, kept
// in an arena with int32 links to stay small for big profiles.
type node struct {
	name                     string
	value                    int64
	firstChild, next, lastCh int32
}

const noNode = -1

// Build merges stacks into a tree (same frame names at the same depth under
// the same parent merge, like flamegraph.pl) and lays it out. Children are
// sorted by name and values summed (saturating, so absurd values cannot
// wrap); stacks with Value <= 0 are ignored; empty names become "[unknown]".
// The stacks are not modified.
func Build(stacks []alert.Stack, opts Options) *Graph {
	opts = opts.withDefaults()
	arena := merge(stacks, opts.MaxDepth)
	g := &Graph{opts: opts, total: arena[0].value}
	g.layout(arena, nil)
	return g
}

// BuildDiff builds a differential flame graph: the graph of after (frames
// as wide as their after values), each frame coloured by the change of its
// share of the total from before to after: red when it grew, blue when it
// shrank, grey when it is about the same; a frame whose path is not in
// before at all is marked new (outlined). Frames that are only in before
// are not drawn. With no before samples every frame is grey and none is
// new: there is nothing to compare with. Bounds and safety are Build's.
func BuildDiff(before, after []alert.Stack, opts Options) *Graph {
	opts = opts.withDefaults()
	arena := merge(after, opts.MaxDepth)
	prev := merge(before, opts.MaxDepth)
	g := &Graph{opts: opts, total: arena[0].value, diff: true, beforeTotal: prev[0].value}
	g.layout(arena, prev)
	return g
}

// merge builds the tree of stacks, in an arena whose node 0 is the root.
func merge(stacks []alert.Stack, maxDepth int) []node {

	type item struct {
		frames []string
		value  int64
	}
	items := make([]item, 0, len(stacks))
	nodes := 1 // an upper bound, to allocate the arena once
	for _, s := range stacks {
		if s.Value <= 0 {
			continue
		}
		frames := normalizeFrames(s.Frames, maxDepth)
		items = append(items, item{frames, s.Value})
		nodes += len(frames)
	}
	// Sorting the stacks groups equal prefixes, so the tree is built in one
	// pass with no maps and children come out in name order, independent of
	// the input order.
	slices.SortFunc(items, func(a, b item) int { return slices.Compare(a.frames, b.frames) })

	arena := make([]node, 1, min(nodes, math.MaxInt32))
	arena[0] = node{name: RootName, firstChild: noNode, next: noNode, lastCh: noNode}
	var path []int32 // path[d] is the node at depth d+1 of the previous stack
	var prev []string
	for _, it := range items {
		common := 0
		for common < len(prev) && common < len(it.frames) && prev[common] == it.frames[common] {
			common++
		}
		path = path[:common]
		for d := common; d < len(it.frames); d++ {
			if len(arena) >= math.MaxInt32 {
				break // unreachable in practice; keeps the int32 links valid
			}
			parent := int32(0)
			if d > 0 {
				parent = path[d-1]
			}
			id := int32(len(arena))
			arena = append(arena, node{name: it.frames[d], firstChild: noNode, next: noNode, lastCh: noNode})
			if arena[parent].lastCh == noNode {
				arena[parent].firstChild = id
			} else {
				arena[arena[parent].lastCh].next = id
			}
			arena[parent].lastCh = id
			path = append(path, id)
		}
		arena[0].value = satAdd(arena[0].value, it.value)
		for _, id := range path {
			arena[id].value = satAdd(arena[id].value, it.value)
		}
		prev = it.frames[:len(path)]
	}
	return arena
}

// normalizeFrames sanitizes names and cuts the stack at maxDepth. It copies
// only when something changes: the caller's slice is never modified.
func normalizeFrames(frames []string, maxDepth int) []string {
	cut := len(frames) > maxDepth
	n := len(frames)
	if cut {
		n = maxDepth - 1 // the last level holds the cut marker
	}
	var out []string
	for i, name := range frames[:n] {
		clean := cleanName(name)
		if out == nil && clean != name {
			out = make([]string, n, n+1)
			copy(out, frames[:i])
		}
		if out != nil {
			out[i] = clean
		}
	}
	if !cut {
		if out == nil {
			return frames
		}
		return out
	}
	if out == nil {
		out = make([]string, n, n+1)
		copy(out, frames[:n])
	}
	return append(out, CutName)
}

func cleanName(name string) string {
	name = cleanText(name, maxNameBytes)
	if name == "" {
		return unknownName
	}
	return name
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// mulDiv returns a*m/d without overflow; a <= d.
func mulDiv(a, m, d int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(m))
	q, _ := bits.Div64(hi, lo, uint64(d))
	return int64(q)
}

// layout places the frames and keeps at most MaxFrames of them, the largest.
// With prev (a differential graph), each frame also gets the value of the
// same path in prev.
func (g *Graph) layout(arena, prev []node) {
	o := g.opts
	span := int64(o.Width-2*padX) * 100
	if g.total == 0 {
		g.frames = []frame{{name: RootName, x1: padX * 100, x2: padX*100 + span}}
		return
	}
	// Widths are compared in centipixels; a rect must be at least 0.01 px
	// wide to be drawn at all.
	minC := max(int64(math.Round(o.MinWidth*100)), 1)
	if o.MinWidth*100 > float64(span) {
		minC = span // only frames as wide as the whole graph survive
	}

	h := &candHeap{limit: o.MaxFrames}
	order := 0
	var visit func(id, pid int32, depth int, start, end int64)
	visit = func(id, pid int32, depth int, start, end int64) {
		n := &arena[id]
		x1 := padX*100 + mulDiv(start, span, g.total)
		x2 := padX*100 + mulDiv(end, span, g.total)
		if x2-x1 < minC {
			return // children are no wider
		}
		f := frame{name: n.name, value: n.value, depth: depth, x1: x1, x2: x2}
		if prev != nil {
			if pid != noNode {
				f.before = prev[pid].value
			} else {
				f.isNew = prev[0].value > 0
			}
		}
		c := cand{f, order}
		order++
		if !h.offer(c) {
			return // children rank lower still
		}
		// Children are laid left to right from the parent's left edge; the
		// parent's self time is the gap on the right. Clamping to the
		// parent keeps saturated sums inside it.
		at := start
		// The same path in prev: children of both are in name order, so
		// one pass over prev's children finds them.
		pch := int32(noNode)
		if prev != nil && pid != noNode {
			pch = prev[pid].firstChild
		}
		for ch := n.firstChild; ch != noNode; ch = arena[ch].next {
			if at >= end {
				break
			}
			for pch != noNode && prev[pch].name < arena[ch].name {
				pch = prev[pch].next
			}
			match := int32(noNode)
			if pch != noNode && prev[pch].name == arena[ch].name {
				match = pch
			}
			chEnd := min(satAdd(at, arena[ch].value), end)
			visit(ch, match, depth+1, at, chEnd)
			at = chEnd
		}
	}
	root := int32(noNode)
	if prev != nil {
		root = 0
	}
	visit(0, root, 0, 0, g.total)

	kept := h.items
	slices.SortFunc(kept, func(a, b cand) int { return cmp.Compare(a.order, b.order) })
	g.frames = make([]frame, len(kept))
	for i, c := range kept {
		g.frames[i] = c.frame
		g.depth = max(g.depth, c.depth)
	}
}

// cand is a frame competing for one of the MaxFrames places.
type cand struct {
	frame
	order int // pre-order index, to break ties deterministically
}

// better ranks larger values first, then shallower, then earlier frames. A
// parent always ranks above its children (value >=, depth <), so the kept set
// never has a frame without its parent.
func better(a, b cand) bool {
	if a.value != b.value {
		return a.value > b.value
	}
	if a.depth != b.depth {
		return a.depth < b.depth
	}
	return a.order < b.order
}

// candHeap keeps the best limit candidates; the worst one is at the top so it
// is the first to go.
type candHeap struct {
	items []cand
	limit int
}

func (h *candHeap) Len() int           { return len(h.items) }
func (h *candHeap) Less(i, j int) bool { return better(h.items[j], h.items[i]) }
func (h *candHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *candHeap) Push(x any)         { h.items = append(h.items, x.(cand)) }
func (h *candHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

// offer adds c if it ranks among the best limit; it reports whether it did.
func (h *candHeap) offer(c cand) bool {
	if len(h.items) < h.limit {
		heap.Push(h, c)
		return true
	}
	if !better(c, h.items[0]) {
		return false
	}
	h.items[0] = c
	heap.Fix(h, 0)
	return true
}
