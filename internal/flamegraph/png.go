package flamegraph

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// face is a bitmap font compiled into the binary, so rendering needs no
// system fonts. It covers ASCII (other runes are drawn as U+FFFD) and its
// 7 px advance is the width the labels are truncated for.
var face = basicfont.Face7x13

// WritePNG writes the graph as a PNG image with the same layout and colours
// as WriteSVG, for chat attachments where SVG is not displayed. The encoding
// is deterministic: same graph, same bytes. It holds the image in memory,
// 4 bytes a pixel: about 20 MB for a graph of the default MaxDepth, Width and
// FrameHeight.
func (g *Graph) WritePNG(w io.Writer) error {
	o := g.opts
	img := image.NewRGBA(image.Rect(0, 0, o.Width, g.height()))
	draw.Draw(img, img.Bounds(), image.NewUniform(backgroundRGBA), image.Point{}, draw.Src)

	if o.Title != "" {
		drawCentered(img, img.Bounds(), o.Title, padTop+16, image.Black)
	}
	if g.total == 0 {
		drawCentered(img, img.Bounds(), "no samples", g.frameY(1)+o.FrameHeight-4, image.NewUniform(noteRGBA))
	}
	for _, f := range g.frames {
		y := g.frameY(f.depth)
		// Round to whole pixels, but never lose a frame that the SVG draws.
		x1, x2 := int((f.x1+50)/100), int((f.x2+50)/100)
		if x2 <= x1 {
			x2 = x1 + 1
		}
		r := image.Rect(x1, y, x2, y+o.FrameHeight-1)
		draw.Draw(img, r, image.NewUniform(g.fill(f)), image.Point{}, draw.Src)
		if f.isNew {
			outline(img, r, newOutline)
		}
		if o.FrameHeight < minLabelFH {
			continue
		}
		l := label(f.name, f.x2-f.x1, pngCharWidth)
		if l == "" {
			continue
		}
		// The font has no "…"; dots read the same. Drawing into the rect's
		// sub-image clips whatever overflows.
		l = strings.ReplaceAll(l, CutName, "...")
		d := font.Drawer{
			Dst:  img.SubImage(r).(*image.RGBA),
			Src:  image.Black,
			Face: face,
			Dot:  fixed.P(x1+textPad, y+o.FrameHeight-4),
		}
		d.DrawString(l)
	}
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	return enc.Encode(w, img)
}

// outline draws a one-pixel border just inside r.
func outline(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	u := image.NewUniform(c)
	for _, e := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+1)},
		{image.Pt(r.Min.X, r.Max.Y-1), r.Max},
		{r.Min, image.Pt(r.Min.X+1, r.Max.Y)},
		{image.Pt(r.Max.X-1, r.Min.Y), r.Max},
	} {
		draw.Draw(img, e.Intersect(r), u, image.Point{}, draw.Src)
	}
}

// drawCentered draws s centred horizontally in bounds on the baseline y,
// truncated with ".." to fit.
func drawCentered(img *image.RGBA, bounds image.Rectangle, s string, y int, src image.Image) {
	s = label(s, int64(bounds.Dx()-2*padX)*100, pngCharWidth)
	n := utf8.RuneCountInString(s)
	d := font.Drawer{
		Dst:  img,
		Src:  src,
		Face: face,
		Dot:  fixed.P((bounds.Dx()-n*pngCharWidth/100)/2, y),
	}
	d.DrawString(s)
}
