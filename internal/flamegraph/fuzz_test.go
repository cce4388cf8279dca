package flamegraph

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/slowspan/slowspan/alert"
)

// fuzzStacks turns fuzz input into stacks: lines are stacks, ';' separates
// frames, and the values alternate between v1 and v2 so merging, ignoring
// and saturation are all reachable.
func fuzzStacks(data string, v1, v2 int64) []alert.Stack {
	var stacks []alert.Stack
	for i, line := range strings.Split(data, "\n") {
		v := v1
		if i%2 == 1 {
			v = v2
		}
		stacks = append(stacks, alert.Stack{Frames: strings.Split(line, ";"), Value: v})
	}
	return stacks
}

func addSeeds(f *testing.F) {
	f.Add("main;handler;burn\nmain;handler;query", int64(90), int64(30), uint16(0), uint8(0), uint8(0))
	f.Add("</text><script>alert(1)</script>;a\x00b;\xff\xfe", int64(1), int64(-1), uint16(300), uint8(8), uint8(2))
	f.Add("a;a;a;a;a;a;a\na;a;b", int64(9223372036854775807), int64(9223372036854775807), uint16(120), uint8(20), uint8(3))
	f.Add(";;;\n\n", int64(1), int64(0), uint16(1), uint8(1), uint8(1))
	f.Add("x\"y'z&<>;\uFFFE\uFFFF;\u0085\t\r", int64(5), int64(7), uint16(4096), uint8(32), uint8(0))
}

func FuzzWriteSVG(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data string, v1, v2 int64, width uint16, frameHeight, maxDepth uint8) {
		g := Build(fuzzStacks(data, v1, v2), Options{
			Title: data, Width: int(width), FrameHeight: int(frameHeight),
			MaxDepth: int(maxDepth), MaxFrames: 200,
		})
		svg := writeSVG(t, g)
		checkSVG(t, svg)
		if bytes.Contains(bytes.ToLower(svg), []byte("<script")) {
			t.Fatalf("unescaped <script in %q", svg)
		}
	})
}

func FuzzWritePNG(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data string, v1, v2 int64, width uint16, frameHeight, maxDepth uint8) {
		// Small images: the fuzzer is after panics, not big allocations.
		g := Build(fuzzStacks(data, v1, v2), Options{
			Title: data, Width: int(width % 1200), FrameHeight: int(frameHeight),
			MaxDepth: int(maxDepth % 64), MaxFrames: 200,
		})
		var b bytes.Buffer
		if err := g.WritePNG(&b); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() != g.opts.Width || img.Bounds().Dy() != g.height() {
			t.Fatalf("image is %v", img.Bounds())
		}
	})
}
