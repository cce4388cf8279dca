// Command benchreport runs the in-process benchmarks of package inproc
// several times in one process, interleaved so that machine drift hits every
// setup alike, and prints Markdown tables of the medians and the ratios.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/slowspan/slowspan/bench/inproc"
)

type bench struct {
	name string
	fn   func(*testing.B)
}

type sample struct{ ns, allocs, heapBPerKey, heapMiB float64 }

func main() {
	rounds := flag.Int("rounds", 5, "runs of each benchmark (the median is reported)")
	growth := flag.Bool("growth", true, "also run the growth benchmark")
	flag.Parse()
	testing.Init()

	cmp := []bench{
		{"floor: read kind, start, end", inproc.Floor},
		{"floor + kind/duration test", inproc.FloorPredicate},
		{"slowspan processor, batch without slow spans", inproc.SlowspanFast},
		{"slowspan processor, standard batch (1 % slow)", inproc.Slowspan},
		{"slowspan connector, standard batch", inproc.SlowspanConnector},
		{"filterprocessor v0.161.0, OTTL, standard batch", inproc.FilterOTTL},
	}
	res := run(cmp, *rounds)
	floor := median(res[0], func(s sample) float64 { return s.ns })
	ss := median(res[3], func(s sample) float64 { return s.ns })
	fmt.Printf("In process, %d spans per batch, median of %d runs (ratios from the same runs).\n\n", inproc.Spans, *rounds)
	fmt.Println("| setup | ns/span | allocs/span | x floor | filter / this |")
	fmt.Println("|---|---:|---:|---:|---:|")
	filter := median(res[5], func(s sample) float64 { return s.ns })
	for i, b := range cmp {
		ns := median(res[i], func(s sample) float64 { return s.ns })
		al := median(res[i], func(s sample) float64 { return s.allocs })
		fmt.Printf("| %s | %.2f | %.3f | %.2f | %.1f |\n", b.name, ns, al, ns/floor, filter/ns)
	}
	fmt.Printf("\nslowspan processor vs OTTL filter on the standard batch: %.1fx faster per span\n", filter/ss)

	if !*growth {
		return
	}
	var gb []bench
	for _, k := range inproc.GrowthKeys {
		gb = append(gb, bench{fmt.Sprintf("%d", k), inproc.Growth(k)})
	}
	gres := run(gb, *rounds)
	fmt.Printf("\nGrowth: slowspan processor, standard batch (one service) whose 100 slow spans walk over all keys of the dedup state; median of %d runs.\n\n", *rounds)
	fmt.Println("| keys in dedup state | ns/span | allocs/span | x (10 keys) | heap held by the state (MiB) | bytes/key |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	base := median(gres[0], func(s sample) float64 { return s.ns })
	for i, b := range gb {
		ns := median(gres[i], func(s sample) float64 { return s.ns })
		fmt.Printf("| %s | %.2f | %.3f | %.2f | %.2f | %.0f |\n", b.name, ns,
			median(gres[i], func(s sample) float64 { return s.allocs }), ns/base,
			median(gres[i], func(s sample) float64 { return s.heapMiB }),
			median(gres[i], func(s sample) float64 { return s.heapBPerKey }))
	}
}

// run executes every benchmark once per round, round after round.
func run(bs []bench, rounds int) [][]sample {
	res := make([][]sample, len(bs))
	for r := 0; r < rounds; r++ {
		for i, b := range bs {
			br := testing.Benchmark(b.fn)
			if br.N == 0 {
				fmt.Fprintf(os.Stderr, "benchreport: %s failed\n", b.name)
				os.Exit(1)
			}
			res[i] = append(res[i], sample{
				ns:          br.Extra["ns/span"],
				allocs:      br.Extra["allocs/span"],
				heapBPerKey: br.Extra["heapB/key"],
				heapMiB:     br.Extra["heapMiB"],
			})
			fmt.Fprintf(os.Stderr, "round %d %-50s %8.2f ns/span %6.3f allocs/span\n", r+1, b.name, br.Extra["ns/span"], br.Extra["allocs/span"])
		}
	}
	return res
}

func median(s []sample, f func(sample) float64) float64 {
	xs := make([]float64, len(s))
	for i, v := range s {
		xs[i] = f(v)
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
