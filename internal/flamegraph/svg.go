package flamegraph

import (
	"hash/fnv"
	"image/color"
	"io"
	"math"
	"strconv"

	"github.com/slowspan/slowspan/internal/figures"
)

const (
	background = "#f8f8f8"
	noteColor  = "#666666"
)

// Colours as RGBA, shared by the SVG and the PNG.
var (
	backgroundRGBA = color.RGBA{0xf8, 0xf8, 0xf8, 0xff}
	noteRGBA       = color.RGBA{0x66, 0x66, 0x66, 0xff}
	cutRGBA        = color.RGBA{0xc0, 0xc0, 0xc0, 0xff} // grey: "…" is no function
)

// frameColor is flamegraph.pl's "hot" palette (red 205-255, green 0-230, blue
// 0-55) picked by a hash of the name rather than at random, so a function
// keeps its colour across graphs and runs.
func frameColor(name string) color.RGBA {
	if name == CutName {
		return cutRGBA
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return color.RGBA{
		R: uint8(205 + v%51),
		G: uint8(v / 51 % 231),
		B: uint8(v / (51 * 231) % 56),
		A: 0xff,
	}
}

// Colours of a differential graph.
var (
	sameRGBA   = color.RGBA{0xd8, 0xd8, 0xd8, 0xff} // about the same share
	newOutline = color.RGBA{0x60, 0x00, 0x00, 0xff} // marks a new frame
)

// diffSame is the change of share (of the total) under which a frame of a
// differential graph reads as unchanged; diffFull the change that gets the
// strongest colour.
const (
	diffSame = 0.01
	diffFull = 0.25
)

// fill is a frame's colour: frameColor in a normal graph; in a
// differential one red when the frame's share of the total grew, blue when
// it shrank, the stronger the larger the change, grey when it is about the
// same or there is no before profile to compare with.
func (g *Graph) fill(f frame) color.RGBA {
	if !g.diff {
		return frameColor(f.name)
	}
	if f.name == CutName {
		return cutRGBA
	}
	if g.beforeTotal <= 0 || g.total <= 0 {
		return sameRGBA
	}
	d := g.shareChange(f)
	if math.Abs(d) < diffSame {
		return sameRGBA
	}
	t := math.Min(math.Abs(d)/diffFull, 1)
	// From a pale tint at the threshold to a saturated colour; integer
	// steps keep the output identical across architectures.
	c := uint8(210 - int(math.Round(t*20))*8)
	if d > 0 {
		return color.RGBA{0xff, c, c, 0xff}
	}
	return color.RGBA{c, c, 0xff, 0xff}
}

// shareChange is the change of f's share of the total, after minus before.
func (g *Graph) shareChange(f frame) float64 {
	var after, before float64
	if g.total > 0 {
		after = float64(f.value) / float64(g.total)
	}
	if g.beforeTotal > 0 {
		before = float64(f.before) / float64(g.beforeTotal)
	}
	return after - before
}

// height is the image height in px: title, one row per level, and a row
// for the "no samples" note when the graph is empty.
func (g *Graph) height() int {
	return g.framesTop() + g.rows()*g.opts.FrameHeight + padBottom
}

func (g *Graph) rows() int {
	if g.total == 0 {
		return 2
	}
	return g.depth + 1
}

func (g *Graph) framesTop() int {
	if g.opts.Title != "" {
		return padTop + titleHeight
	}
	return padTop
}

// frameY is the top of the rect of a frame at depth d: the root sits on the
// bottom row.
func (g *Graph) frameY(d int) int {
	return g.framesTop() + (g.rows()-1-d)*g.opts.FrameHeight
}

// WriteSVG writes the graph as a standalone SVG document. It has no XML
// declaration and no DOCTYPE so it can also be inlined into HTML5 as is;
// styling is by attributes only, since a <style> element in inline SVG
// would apply to the whole page.
func (g *Graph) WriteSVG(w io.Writer) error {
	o := g.opts
	w100 := o.Width * 100
	b := make([]byte, 0, 512+len(g.frames)*256)
	b = append(b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="`...)
	b = strconv.AppendInt(b, int64(o.Width), 10)
	b = append(b, `" height="`...)
	b = strconv.AppendInt(b, int64(g.height()), 10)
	b = append(b, `" viewBox="0 0 `...)
	b = strconv.AppendInt(b, int64(o.Width), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(g.height()), 10)
	b = append(b, `" font-family="monospace" font-size="12">`+"\n"...)
	b = append(b, `<rect width="100%" height="100%" fill="`+background+`"/>`+"\n"...)
	if o.Title != "" {
		b = append(b, `<text x="`...)
		b = appendCenti(b, int64(w100/2))
		b = append(b, `" y="`...)
		b = strconv.AppendInt(b, padTop+16, 10)
		b = append(b, `" text-anchor="middle" font-size="16">`...)
		// Truncated like labels, at 0.6 em of the 16 px font.
		b = appendEscaped(b, label(o.Title, int64(o.Width-2*padX)*100, 960))
		b = append(b, "</text>\n"...)
	}
	if g.total == 0 {
		b = append(b, `<text x="`...)
		b = appendCenti(b, int64(w100/2))
		b = append(b, `" y="`...)
		b = strconv.AppendInt(b, int64(g.frameY(1)+o.FrameHeight-4), 10)
		b = append(b, `" text-anchor="middle" fill="`+noteColor+`">no samples</text>`+"\n"...)
	}
	for _, f := range g.frames {
		y := g.frameY(f.depth)
		b = append(b, `<g class="frame"><title>`...)
		b = g.appendTitle(b, f)
		b = append(b, `</title><rect x="`...)
		b = appendCenti(b, f.x1)
		b = append(b, `" y="`...)
		b = strconv.AppendInt(b, int64(y), 10)
		b = append(b, `" width="`...)
		b = appendCenti(b, f.x2-f.x1)
		b = append(b, `" height="`...)
		b = strconv.AppendInt(b, int64(o.FrameHeight-1), 10)
		b = append(b, `" rx="2" fill="`...)
		b = appendHexColor(b, g.fill(f))
		if f.isNew {
			b = append(b, `" stroke="`...)
			b = appendHexColor(b, newOutline)
			b = append(b, `" stroke-width="1" stroke-dasharray="3,2`...)
		}
		b = append(b, `"/>`...)
		if o.FrameHeight >= minLabelFH {
			if l := label(f.name, f.x2-f.x1, svgCharWidth); l != "" {
				b = append(b, `<text x="`...)
				b = appendCenti(b, f.x1+textPad*100)
				b = append(b, `" y="`...)
				b = strconv.AppendInt(b, int64(y+o.FrameHeight-4), 10)
				b = append(b, `">`...)
				b = appendEscaped(b, l)
				b = append(b, `</text>`...)
			}
		}
		b = append(b, "</g>\n"...)
	}
	b = append(b, "</svg>\n"...)
	_, err := w.Write(b)
	return err
}

// appendTitle appends the hover text: "name — 640 ms CPU (91 %)". Values
// are CPU nanoseconds (what alert.Stack carries), shown in whole
// milliseconds like the .folded files, the share in whole percent.
//
// In a differential graph it says both versions: "name — 640 ms CPU (91 %)
// after, 12 ms (3 %) before", or "..., new" for a frame not in before.
func (g *Graph) appendTitle(b []byte, f frame) []byte {
	b = appendEscaped(b, f.name)
	b = append(b, " — "...)
	b = appendMillis(b, f.value)
	b = append(b, " ms CPU ("...)
	share := 0.0
	if g.total > 0 {
		share = float64(f.value) / float64(g.total)
	}
	b = appendEscaped(b, figures.Share(share))
	b = append(b, ')')
	if !g.diff || g.beforeTotal <= 0 {
		return b
	}
	if f.isNew {
		return append(b, " after, new"...)
	}
	b = append(b, " after, "...)
	b = appendMillis(b, f.before)
	b = append(b, " ms ("...)
	b = appendEscaped(b, figures.Share(float64(f.before)/float64(g.beforeTotal)))
	return append(b, ") before"...)
}

// appendMillis appends CPU nanoseconds in whole milliseconds, "&lt;1" for
// under half a millisecond that is not nothing.
func appendMillis(b []byte, ns int64) []byte {
	if ms := figures.CPUMillis(ns); ms > 0 || ns <= 0 {
		return strconv.AppendInt(b, ms, 10)
	}
	return append(b, "&lt;1"...)
}

// appendCenti formats hundredths as a decimal with trailing zeros trimmed.
func appendCenti(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	switch frac := v % 100; {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b
}

func appendHexColor(b []byte, c color.RGBA) []byte {
	const hex = "0123456789abcdef"
	return append(b, '#',
		hex[c.R>>4], hex[c.R&15],
		hex[c.G>>4], hex[c.G&15],
		hex[c.B>>4], hex[c.B&15])
}
