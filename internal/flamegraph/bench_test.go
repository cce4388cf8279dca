package flamegraph

import (
	"io"
	"testing"
)

func BenchmarkBuild(b *testing.B) {
	stacks := synthStacks(5000, 1)
	b.ReportAllocs()
	for b.Loop() {
		Build(stacks, Options{})
	}
}

func BenchmarkWriteSVG(b *testing.B) {
	g := Build(synthStacks(5000, 1), Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := g.WriteSVG(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(g.frames)), "frames")
}

func BenchmarkWritePNG(b *testing.B) {
	g := Build(synthStacks(5000, 1), Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := g.WritePNG(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
