package flamegraph

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg golden files")

// testWidth leaves 1000 px between the paddings, so 100 samples are 10 px
// each and expected positions are easy to read.
const testWidth = 1000 + 2*padX

func st(value int64, frames ...string) alert.Stack {
	return alert.Stack{Frames: frames, Value: value}
}

// folded parses "a;b;c 10" lines, the format of flamegraph.pl's input.
func folded(s string) []alert.Stack {
	var out []alert.Stack
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		i := strings.LastIndexByte(line, ' ')
		var v int64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			panic(fmt.Sprintf("folded %q: %v", line, err)) // a typo in a test's stacks
		}
		out = append(out, alert.Stack{Frames: strings.Split(strings.TrimSpace(line[:i]), ";"), Value: v})
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name   string
		stacks []alert.Stack
		total  int64
		depth  int
		want   []Frame // Share is checked separately
	}{
		{
			name:   "single stack",
			stacks: []alert.Stack{st(10, "main", "handler", "burn")},
			total:  10, depth: 3,
			want: []Frame{
				{Name: "all", Value: 10, Depth: 0, X: 10, Width: 1000},
				{Name: "main", Value: 10, Depth: 1, X: 10, Width: 1000},
				{Name: "handler", Value: 10, Depth: 2, X: 10, Width: 1000},
				{Name: "burn", Value: 10, Depth: 3, X: 10, Width: 1000},
			},
		},
		{
			name: "merge common prefix, children sorted by name, self time on the right",
			stacks: folded(`
main;handler;query 30
main;handler;burn 50
main;gc 10
main 10`),
			total: 100, depth: 3,
			want: []Frame{
				{Name: "all", Value: 100, Depth: 0, X: 10, Width: 1000},
				{Name: "main", Value: 100, Depth: 1, X: 10, Width: 1000},
				{Name: "gc", Value: 10, Depth: 2, X: 10, Width: 100},
				{Name: "handler", Value: 80, Depth: 2, X: 110, Width: 800},
				{Name: "burn", Value: 50, Depth: 3, X: 110, Width: 500},
				{Name: "query", Value: 30, Depth: 3, X: 610, Width: 300},
			},
		},
		{
			name: "duplicate stacks sum, same name under other parents stays apart",
			stacks: folded(`
a;x 20
b;x 30
a;x 50`),
			total: 100, depth: 2,
			want: []Frame{
				{Name: "all", Value: 100, Depth: 0, X: 10, Width: 1000},
				{Name: "a", Value: 70, Depth: 1, X: 10, Width: 700},
				{Name: "x", Value: 70, Depth: 2, X: 10, Width: 700},
				{Name: "b", Value: 30, Depth: 1, X: 710, Width: 300},
				{Name: "x", Value: 30, Depth: 2, X: 710, Width: 300},
			},
		},
		{
			name: "non-positive values ignored",
			stacks: []alert.Stack{
				st(0, "zero"), st(-5, "negative"), st(math.MinInt64, "min"),
				st(4, "ok"),
			},
			total: 4, depth: 1,
			want: []Frame{
				{Name: "all", Value: 4, Depth: 0, X: 10, Width: 1000},
				{Name: "ok", Value: 4, Depth: 1, X: 10, Width: 1000},
			},
		},
		{
			name:   "empty names become [unknown] and merge",
			stacks: []alert.Stack{st(1, "main", ""), st(3, "main", "")},
			total:  4, depth: 2,
			want: []Frame{
				{Name: "all", Value: 4, Depth: 0, X: 10, Width: 1000},
				{Name: "main", Value: 4, Depth: 1, X: 10, Width: 1000},
				{Name: "[unknown]", Value: 4, Depth: 2, X: 10, Width: 1000},
			},
		},
		{
			name:   "stack without frames counts in the root only",
			stacks: []alert.Stack{st(3), st(1, "main")},
			total:  4, depth: 1,
			want: []Frame{
				{Name: "all", Value: 4, Depth: 0, X: 10, Width: 1000},
				{Name: "main", Value: 1, Depth: 1, X: 10, Width: 250},
			},
		},
		{
			name:   "values saturate instead of wrapping",
			stacks: []alert.Stack{st(math.MaxInt64, "a"), st(math.MaxInt64, "b")},
			total:  math.MaxInt64, depth: 1,
			want: []Frame{
				{Name: "all", Value: math.MaxInt64, Depth: 0, X: 10, Width: 1000},
				{Name: "a", Value: math.MaxInt64, Depth: 1, X: 10, Width: 1000},
				// b starts at the root's right edge: zero width, not drawn.
			},
		},
		{
			name:   "empty input",
			stacks: nil,
			total:  0, depth: 0,
			want: []Frame{{Name: "all", X: 10, Width: 1000}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Build(tt.stacks, Options{Width: testWidth})
			assert.Equal(t, tt.total, g.Total())
			assert.Equal(t, tt.depth, g.Depth())
			got := g.Frames()
			for i := range got {
				if tt.total > 0 {
					assert.InDelta(t, float64(got[i].Value)/float64(tt.total), got[i].Share, 1e-12)
				}
				got[i].Share = 0
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	frames := []string{"a", "", "b\x00"}
	Build([]alert.Stack{{Frames: frames, Value: 1}}, Options{MaxDepth: 2})
	assert.Equal(t, []string{"a", "", "b\x00"}, frames)
}

func TestEmpty(t *testing.T) {
	for _, stacks := range [][]alert.Stack{nil, {st(0, "a"), st(-1, "b")}} {
		g := Build(stacks, Options{Title: "GET /slow"})
		assert.Zero(t, g.Total())
		svg := writeSVG(t, g)
		checkSVG(t, svg)
		assert.Contains(t, string(svg), ">no samples</text>")
		assert.Contains(t, string(svg), "<title>all — 0 ms CPU (0 %)</title>")
		assert.Equal(t, 1, strings.Count(string(svg), `<g class="frame">`))
		checkPNG(t, g)
	}
}

func TestDeterministic(t *testing.T) {
	stacks := synthStacks(2000, 1)
	want := writeSVG(t, Build(stacks, Options{}))
	wantPNG := writePNG(t, Build(stacks, Options{}))
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 3 {
		shuffled := append([]alert.Stack(nil), stacks...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		g := Build(shuffled, Options{})
		require.Equal(t, want, writeSVG(t, g), "shuffle %d", i)
		require.Equal(t, wantPNG, writePNG(t, g), "shuffle %d", i)
	}
}

func TestGolden(t *testing.T) {
	stacks := folded(`
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;main.loadOrders;database/sql.(*DB).QueryContext;runtime.netpoll 120
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;main.loadOrders;main.scanRows 60
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;main.priceAll;main.price;math/big.(*Int).Exp 400
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;main.priceAll;main.price;runtime.mallocgc 90
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;encoding/json.Marshal;encoding/json.(*encodeState).reflectValue 80
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;main.render;std::vector<int>::push_back 12
runtime.goexit;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.(*api).orders;main.render;"quoted" & 'single' 3
runtime.goexit;runtime.gcBgMarkWorker;runtime.gcDrain 25
runtime.goexit;net/http.(*conn).serve;net/http.(*conn).readRequest 1`)
	for i := range stacks { // milliseconds of CPU, as the tooltips say
		stacks[i].Value *= int64(time.Millisecond)
	}
	g := Build(stacks, Options{Title: "GET /api/orders: 791 ms CPU"})
	got := writeSVG(t, g)
	checkSVG(t, got)
	path := filepath.Join("testdata", "basic.svg")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "run go test -update if the change is intended")
}

func TestHostileNames(t *testing.T) {
	long := strings.Repeat("A", 10<<10)
	tests := []struct {
		name      string
		frame     string
		wantTitle string // the name as it must appear in the title (unescaped)
	}{
		{"script tag", "</text><script>alert(1)</script>", "</text><script>alert(1)</script>"},
		{"uppercase script", "<SCRIPT SRC=//x>", "<SCRIPT SRC=//x>"},
		{"event handler", `x" onload="alert(1)`, `x" onload="alert(1)`},
		{"single quotes", "it's", "it's"},
		{"ampersand and entity", "a &amp; b &lt;", "a &amp; b &lt;"},
		{"cdata end", "]]><!--", "]]><!--"},
		{"invalid utf-8", "bad\xff\xfe utf8\xc3", "bad\uFFFD\uFFFD utf8\uFFFD"},
		{"NUL and controls", "nul\x00\x01\x1b[31mred\x7f\u0085", "nul[31mred"},
		{"tab newline CR", "a\tb\nc\rd", "a b c d"},
		{"XML non-characters", "x\uFFFEy\uFFFFz", "xyz"},
		{"only NUL", "\x00\x00", "[unknown]"},
		{"10 KB name", long, long[:maxNameBytes-len(CutName)] + CutName},
		{"unicode", "日本語.関数", "日本語.関数"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Build([]alert.Stack{st(10, "main", tt.frame), st(5, "main", "other")},
				Options{Title: tt.frame})
			svg := writeSVG(t, g)
			titles := checkSVG(t, svg)
			assert.Contains(t, titles, tt.wantTitle+" — <1 ms CPU (67 %)")
			assert.NotContains(t, strings.ToLower(string(svg)), "<script")
			assert.Less(t, len(svg), 8<<10, "long names are capped")
			checkPNG(t, g)
		})
	}
}

func TestBounds(t *testing.T) {
	t.Run("MaxDepth cuts deep stacks with one … frame", func(t *testing.T) {
		deep := make([]string, 10000)
		for i := range deep {
			deep[i] = fmt.Sprintf("f%d", i)
		}
		deeper := append(append([]string(nil), deep...), "extra")
		for _, maxDepth := range []int{0, 1, 5, 256} {
			g := Build([]alert.Stack{st(3, deep...), st(2, deeper...), st(1, "shallow")}, Options{MaxDepth: maxDepth})
			want := maxDepth
			if want == 0 {
				want = DefaultMaxDepth
			}
			assert.Equal(t, want, g.Depth())
			var cuts []Frame
			for _, f := range g.Frames() {
				if f.Name == CutName {
					cuts = append(cuts, f)
				}
			}
			require.Len(t, cuts, 1, "the cut merges into one frame")
			assert.Equal(t, want, cuts[0].Depth)
			assert.Equal(t, int64(5), cuts[0].Value)
			svg := writeSVG(t, g)
			checkSVG(t, svg)
			checkPNG(t, g)
		}
	})
	t.Run("MaxFrames keeps the largest, parents included", func(t *testing.T) {
		var stacks []alert.Stack
		for i := range 100 {
			stacks = append(stacks, st(int64(i+1), "main", fmt.Sprintf("f%03d", i), "leaf"))
		}
		g := Build(stacks, Options{MaxFrames: 21})
		frames := g.Frames()
		require.Len(t, frames, 21)
		// all, main, then 19 frames: the 10 biggest f and 9 of their leaves;
		// on equal values the shallower frame wins.
		smallest := int64(math.MaxInt64)
		for _, f := range frames[2:] {
			smallest = min(smallest, f.Value)
		}
		assert.Equal(t, int64(91), smallest)
		assertParentsPresent(t, frames)
		checkSVG(t, writeSVG(t, g))
	})
	t.Run("MinWidth drops narrow frames, their width stays in the parent", func(t *testing.T) {
		stacks := []alert.Stack{st(999, "main", "big"), st(1, "main", "tiny")}
		for _, tc := range []struct {
			minWidth float64
			wantTiny bool
		}{{0.5, true}, {1, true}, {1.01, false}, {0, true}} {
			g := Build(stacks, Options{Width: testWidth, MinWidth: tc.minWidth}) // tiny is 1 px
			names := map[string]Frame{}
			for _, f := range g.Frames() {
				names[f.Name] = f
			}
			_, ok := names["tiny"]
			assert.Equal(t, tc.wantTiny, ok, "MinWidth %v", tc.minWidth)
			assert.Equal(t, 1000.0, names["main"].Width)
			assert.Equal(t, 999.0, names["big"].Width)
		}
	})
	t.Run("20k distinct stacks stay small", func(t *testing.T) {
		for name, stacks := range map[string][]alert.Stack{
			"service": synthStacks(20000, 2),
			"wide":    wideStacks(20000),
		} {
			g := Build(stacks, Options{})
			assert.LessOrEqual(t, len(g.Frames()), DefaultMaxFrames)
			assertParentsPresent(t, g.Frames())
			svg := writeSVG(t, g)
			checkSVG(t, svg)
			assert.Less(t, len(svg), 2<<20)
			pngBytes := writePNG(t, g)
			if os.Getenv("FLAMEGRAPH_DUMP") != "" { // to look at them
				require.NoError(t, os.WriteFile(filepath.Join(os.TempDir(), name+".svg"), svg, 0o644))
				require.NoError(t, os.WriteFile(filepath.Join(os.TempDir(), name+".png"), pngBytes, 0o644))
			}
			t.Logf("20k %s stacks: %d frames drawn, depth %d, SVG %d bytes, PNG %d bytes",
				name, len(g.Frames()), g.Depth(), len(svg), len(pngBytes))
		}
	})
	t.Run("options are clamped", func(t *testing.T) {
		g := Build([]alert.Stack{st(1, "a")}, Options{
			Width: 1 << 30, FrameHeight: 1 << 20, MinWidth: math.NaN(),
			MaxDepth: 1 << 30, MaxFrames: 1 << 30,
		})
		assert.Equal(t, Options{Width: maxWidth, FrameHeight: maxFrameHeight, MinWidth: DefaultMinWidth,
			MaxDepth: maxMaxDepth, MaxFrames: maxMaxFrames}, g.opts)
		img, err := png.Decode(bytes.NewReader(writePNG(t, g)))
		require.NoError(t, err)
		assert.Equal(t, maxWidth, img.Bounds().Dx())
	})
}

func TestPNG(t *testing.T) {
	g := Build(folded(`
main;handler;burn 90
main;handler;query 30
main;gc 10`), Options{Title: "title"})
	b := writePNG(t, g)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, 1200, img.Bounds().Dx())
	// title + 4 rows + paddings
	assert.Equal(t, padTop+titleHeight+4*DefaultFrameHeight+padBottom, img.Bounds().Dy())
	// The root's fill, away from its label, has the same colour as in the SVG.
	y := g.frameY(0) + 1
	r, gr, bl, _ := img.At(1100, y).RGBA()
	c := frameColor(RootName)
	assert.Equal(t, [3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}, [3]uint32{r >> 8, gr >> 8, bl >> 8})
	assert.Equal(t, b, writePNG(t, g), "deterministic bytes")
}

func TestLabel(t *testing.T) {
	tests := []struct {
		name   string
		widthC int64
		want   string
	}{
		{"main", 100 * 100, "main"},
		{"main", (3 + 4*7) * 100, "main"},
		{"main", (3+4*7)*100 - 1, "m.."},
		{"handler", (3 + 5*7) * 100, "han.."},
		{"handler", (3 + 3*7) * 100, "h.."},
		{"handler", (3+3*7)*100 - 1, ""},
		{"日本語関数", (3 + 4*7) * 100, "日本.."},
		{"", 10000, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, label(tt.name, tt.widthC, pngCharWidth), "%q in %d", tt.name, tt.widthC)
	}
	// Browsers' monospace is 7.2 px wide at 12 px.
	assert.Equal(t, "main", label("main", 300+4*720, svgCharWidth))
	assert.Equal(t, "m..", label("main", 300+4*720-1, svgCharWidth))
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x00b", "ab"},
		{"\xff", "\uFFFD"},
		{"\uFFFD", "\uFFFD"},
		{"a\u2028b", "a\u2028b"},
		{"😀", "😀"},
		{strings.Repeat("é", 300), strings.Repeat("é", 254) + CutName},
	}
	for _, tt := range tests {
		got := cleanText(tt.in, maxNameBytes)
		assert.Equal(t, tt.want, got, "%q", tt.in)
		assert.LessOrEqual(t, len(got), maxNameBytes)
	}
}

func TestAppendCenti(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 5: "0.05", 50: "0.5", 1234: "12.34", 1200: "12", -150: "-1.5"} {
		assert.Equal(t, want, string(appendCenti(nil, v)))
	}
}

// synthStacks builds n distinct stacks shaped like a web service's profile,
// deterministically: a few handlers, call paths biased towards a few hot
// functions (so many frames are wide enough to draw), a distinct leaf each.
func synthStacks(n int, seed uint64) []alert.Stack {
	r := rand.New(rand.NewPCG(seed, 42))
	stacks := make([]alert.Stack, n)
	for i := range stacks {
		frames := []string{"runtime.goexit", "net/http.(*conn).serve", fmt.Sprintf("main.(*api).handler%d", r.IntN(8))}
		for d := range 3 + r.IntN(40) {
			frames = append(frames, fmt.Sprintf("github.com/acme/shop/pkg%d.(*Service).Method%d", d%9, r.IntN(1+r.IntN(4))))
		}
		frames = append(frames, fmt.Sprintf("leaf%d", i)) // distinct
		stacks[i] = alert.Stack{Frames: frames, Value: 1 + r.Int64N(100)}
	}
	return stacks
}

// wideStacks gives 100 handlers a 60-deep chain each, far more frames wide
// enough to draw than MaxFrames allows.
func wideStacks(n int) []alert.Stack {
	stacks := make([]alert.Stack, n)
	for i := range stacks {
		h := i % 100
		frames := []string{"main", fmt.Sprintf("main.(*api).handler%d", h)}
		for d := range 60 {
			frames = append(frames, fmt.Sprintf("github.com/acme/shop/h%d.(*Service).Step%d", h, d))
		}
		stacks[i] = alert.Stack{Frames: append(frames, fmt.Sprintf("leaf%d", i)), Value: int64(1 + i%100)}
	}
	return stacks
}

func assertParentsPresent(t *testing.T, frames []Frame) {
	t.Helper()
	// Pre-order: each frame's parent is the nearest earlier frame one level
	// shallower, and must contain it.
	var stack []Frame
	for i, f := range frames {
		if i == 0 {
			require.Equal(t, 0, f.Depth)
			stack = append(stack, f)
			continue
		}
		require.LessOrEqual(t, f.Depth, len(stack), "frame %d %q has no parent", i, f.Name)
		stack = stack[:f.Depth]
		p := stack[len(stack)-1]
		require.GreaterOrEqual(t, f.X, p.X-1e-9)
		require.LessOrEqual(t, f.X+f.Width, p.X+p.Width+1e-9)
		stack = append(stack, f)
	}
}

func writeSVG(t testing.TB, g *Graph) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, g.WriteSVG(&b))
	return b.Bytes()
}

func writePNG(t testing.TB, g *Graph) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, g.WritePNG(&b))
	return b.Bytes()
}

func checkPNG(t testing.TB, g *Graph) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(writePNG(t, g)))
	require.NoError(t, err)
	require.Equal(t, g.opts.Width, img.Bounds().Dx())
	require.Equal(t, g.height(), img.Bounds().Dy())
}

// Only these elements and attributes may appear: anything else could run
// code or fetch something when the report is opened.
var (
	allowedElements = map[string]bool{"svg": true, "rect": true, "g": true, "title": true, "text": true}
	allowedAttrs    = map[string]bool{
		"xmlns": true, "version": true, "width": true, "height": true, "viewBox": true,
		"font-family": true, "font-size": true, "fill": true, "x": true, "y": true,
		"rx": true, "class": true, "text-anchor": true,
		"stroke": true, "stroke-width": true, "stroke-dasharray": true, // a new frame's outline
	}
)

// checkSVG parses the whole document with encoding/xml (strict, which also
// rejects invalid UTF-8 and characters XML forbids), checks it uses only
// inert elements and attributes, and returns the frame titles.
func checkSVG(t testing.TB, svg []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	d.Strict = true
	var titles []string
	var path []string
	roots := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "SVG does not parse")
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(path) == 0 {
				roots++
				require.Equal(t, xml.Name{Space: "http://www.w3.org/2000/svg", Local: "svg"}, tok.Name)
			}
			require.True(t, allowedElements[tok.Name.Local], "element %q", tok.Name.Local)
			for _, a := range tok.Attr {
				require.True(t, allowedAttrs[a.Name.Local], "attribute %q", a.Name.Local)
			}
			path = append(path, tok.Name.Local)
		case xml.EndElement:
			path = path[:len(path)-1]
		case xml.CharData:
			if len(path) > 0 && path[len(path)-1] == "title" {
				titles = append(titles, string(tok))
			}
		case xml.ProcInst, xml.Directive, xml.Comment:
			t.Fatalf("unexpected %T", tok)
		}
	}
	require.Equal(t, 1, roots)
	return titles
}
