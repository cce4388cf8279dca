package flamegraph

import (
	"bytes"
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

func msStacks(s string) []alert.Stack {
	stacks := folded(s)
	for i := range stacks {
		stacks[i].Value *= int64(time.Millisecond)
	}
	return stacks
}

var (
	diffBefore = msStacks(`
main;handler;render 30
main;handler;loadOrders;scanRows 50
main;handler;json.Marshal 20`)
	diffAfter = msStacks(`
main;handler;render 30
main;handler;loadOrders;scanRows 50
main;handler;json.Marshal 20
main;handler;computeChecksums;sha256.block 600
main;handler;computeChecksums 40`)
)

func byName(frames []Frame) map[string]Frame {
	m := make(map[string]Frame)
	for _, f := range frames {
		m[f.Name] = f
	}
	return m
}

func TestBuildDiff(t *testing.T) {
	g := BuildDiff(diffBefore, diffAfter, Options{Width: testWidth})
	assert.Equal(t, int64(740*time.Millisecond), g.Total(), "widths are the after profile's")
	f := byName(g.Frames())
	require.Contains(t, f, "computeChecksums")
	cc := f["computeChecksums"]
	assert.True(t, cc.New)
	assert.Zero(t, cc.Before)
	assert.True(t, f["sha256.block"].New)
	assert.False(t, f["render"].New)
	assert.Equal(t, int64(30*time.Millisecond), f["render"].Before)
	assert.InDelta(t, 0.3, f["render"].BeforeShare, 1e-9)
	assert.Equal(t, int64(100*time.Millisecond), f["all"].Before)
	assert.False(t, f["all"].New)

	gr := g.graphFrame(t, "computeChecksums")
	red := g.fill(gr)
	assert.Equal(t, uint8(0xff), red.R, "grew: red")
	assert.Less(t, red.B, uint8(0xff))
	blue := g.fill(g.graphFrame(t, "render"))
	assert.Equal(t, uint8(0xff), blue.B, "shrank (30 %% to 4 %%): blue")
	assert.Less(t, blue.R, uint8(0xff))
	assert.Equal(t, sameRGBA, g.fill(g.graphFrame(t, "all")), "the root never changes share")

	t.Run("same profiles are grey, nothing new", func(t *testing.T) {
		g := BuildDiff(diffAfter, diffAfter, Options{})
		for _, fr := range g.frames {
			assert.Equal(t, sameRGBA, g.fill(fr), fr.name)
			assert.False(t, fr.isNew)
		}
	})
	t.Run("no before profile: grey, nothing new, one-sided tooltips", func(t *testing.T) {
		g := BuildDiff(nil, diffAfter, Options{})
		for _, fr := range g.frames {
			assert.Equal(t, sameRGBA, g.fill(fr), fr.name)
			assert.False(t, fr.isNew)
		}
		titles := checkSVG(t, writeSVG(t, g))
		assert.Contains(t, titles, "render — 30 ms CPU (4 %)")
	})
	t.Run("no after profile", func(t *testing.T) {
		g := BuildDiff(diffBefore, nil, Options{})
		checkSVG(t, writeSVG(t, g))
		checkPNG(t, g)
	})
	t.Run("tooltips say both versions", func(t *testing.T) {
		titles := checkSVG(t, writeSVG(t, g))
		assert.Contains(t, titles, "render — 30 ms CPU (4 %) after, 30 ms (30 %) before")
		assert.Contains(t, titles, "computeChecksums — 640 ms CPU (86 %) after, new")
	})
	t.Run("a normal graph is unchanged by the diff fields", func(t *testing.T) {
		for _, fr := range Build(diffAfter, Options{}).Frames() {
			assert.Zero(t, fr.Before)
			assert.False(t, fr.New)
		}
	})
}

// graphFrame is the laid-out frame named name.
func (g *Graph) graphFrame(t *testing.T, name string) frame {
	t.Helper()
	for _, f := range g.frames {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no frame %q", name)
	return frame{}
}

func TestBuildDiffMatchesPathsNotNames(t *testing.T) {
	// The same function under another caller is a new frame there.
	before := []alert.Stack{st(10, "main", "a", "f")}
	after := []alert.Stack{st(10, "main", "a", "f"), st(10, "main", "b", "f")}
	g := BuildDiff(before, after, Options{})
	var news []string
	for _, f := range g.Frames() {
		if f.New {
			news = append(news, f.Name)
		}
	}
	assert.Len(t, news, 2, "b and the f under it")
}

func TestBuildDiffGolden(t *testing.T) {
	g := BuildDiff(diffBefore, diffAfter, Options{Title: "GET /api/orders: 1.4.2 → 1.5.0"})
	got := writeSVG(t, g)
	checkSVG(t, got)
	path := filepath.Join("testdata", "diff.svg")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "run go test -update if the change is intended")
	checkPNG(t, g)
}

func TestBuildDiffDeterministic(t *testing.T) {
	before, after := synthStacks(1000, 1), synthStacks(1500, 2)
	want := writeSVG(t, BuildDiff(before, after, Options{}))
	wantPNG := writePNG(t, BuildDiff(before, after, Options{}))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3 {
		b, a := append([]alert.Stack(nil), before...), append([]alert.Stack(nil), after...)
		r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		r.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
		g := BuildDiff(b, a, Options{})
		require.Equal(t, want, writeSVG(t, g), "shuffle %d", i)
		require.Equal(t, wantPNG, writePNG(t, g), "shuffle %d", i)
	}
}

func TestBuildDiffHostile(t *testing.T) {
	hostile := "</text><script>alert(1)</script>\x00\xff"
	deep := make([]string, 5000)
	for i := range deep {
		deep[i] = hostile
	}
	before := []alert.Stack{{Frames: []string{"main", hostile}, Value: 1 << 62}, {Frames: deep, Value: 1 << 62}}
	after := []alert.Stack{{Frames: []string{"main", hostile}, Value: 1 << 62}, {Frames: deep, Value: 1 << 62}, {Frames: []string{"main", strings.Repeat("x", 1<<16)}, Value: 5}}
	g := BuildDiff(before, after, Options{MaxFrames: 300})
	svg := writeSVG(t, g)
	checkSVG(t, svg)
	assert.NotContains(t, strings.ToLower(string(svg)), "<script")
	assert.LessOrEqual(t, len(g.Frames()), 300)
	checkPNG(t, g)
}

func FuzzWriteDiffSVG(f *testing.F) {
	f.Add("main;handler;burn\nmain;handler;query", "main;handler;burn\nmain;other", int64(90), int64(30), uint16(0), uint8(0))
	f.Add("</text><script>alert(1)</script>;a\x00b;\xff\xfe", ";;", int64(1), int64(-1), uint16(300), uint8(2))
	f.Add("a;a;a;a;a;a;a\na;a;b", "a;a;b\na;a", int64(9223372036854775807), int64(9223372036854775807), uint16(120), uint8(3))
	f.Fuzz(func(t *testing.T, before, after string, v1, v2 int64, width uint16, maxDepth uint8) {
		g := BuildDiff(fuzzStacks(before, v2, v1), fuzzStacks(after, v1, v2), Options{
			Title: after, Width: int(width % 1200), MaxDepth: int(maxDepth % 64), MaxFrames: 200,
		})
		svg := writeSVG(t, g)
		checkSVG(t, svg)
		if bytes.Contains(bytes.ToLower(svg), []byte("<script")) {
			t.Fatalf("unescaped <script in %q", svg)
		}
		checkPNG(t, g)
	})
}
