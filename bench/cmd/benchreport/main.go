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
	growth := flag.Bool("growth", true, "also run the growth benchmarks")
	quantile := flag.Bool("quantile", true, "also run slowspan in quantile mode (fails until the engine takes trigger/resolve; -quantile=false runs the rest)")
	flag.Parse()
	testing.Init()

	// Before anything runs: testing.Benchmark drops what b.Fatal says, so a
	// quantile mode that does not work yet is reported here, with its reason.
	if *quantile {
		if err := inproc.CheckSlowspanQuantile(); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n(-quantile=false runs the other rows)\n", err)
			os.Exit(1)
		}
	}

	const (
		floorRow       = "floor: read kind, start, end"
		slowspanRow    = "slowspan processor, standard batch (1 % slow)"
		filterRow      = "filterprocessor v0.161.0, OTTL, standard batch"
		spanmetricsRow = "spanmetrics connector v0.161.0 (route, method), standard batch"
		quantileRow    = "slowspan processor, quantile mode (p95 over 5m), standard batch"
	)
	cmp := []bench{
		{floorRow, inproc.Floor},
		{"floor + kind/duration test", inproc.FloorPredicate},
		{"floor + route and method of every server span", inproc.FloorKey},
		{"slowspan processor, batch without slow spans", inproc.SlowspanFast},
		{slowspanRow, inproc.Slowspan},
		{"slowspan connector, standard batch", inproc.SlowspanConnector},
		{filterRow, inproc.FilterOTTL},
		{spanmetricsRow, inproc.SpanMetrics},
	}
	if *quantile {
		cmp = append(cmp, bench{quantileRow, inproc.SlowspanQuantile})
	}
	res := run(cmp, *rounds)
	ns := func(name string) float64 {
		i := slices.IndexFunc(cmp, func(b bench) bool { return b.name == name })
		return median(res[i], func(s sample) float64 { return s.ns })
	}
	floor, ss, filter, sm := ns(floorRow), ns(slowspanRow), ns(filterRow), ns(spanmetricsRow)
	fmt.Printf("In process, %d spans per batch, median of %d runs (ratios from the same runs).\n\n", inproc.Spans, *rounds)
	fmt.Println("| setup | ns/span | allocs/span | x floor | filter / this |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for i, b := range cmp {
		ns := median(res[i], func(s sample) float64 { return s.ns })
		al := median(res[i], func(s sample) float64 { return s.allocs })
		fmt.Printf("| %s | %.2f | %.3f | %.2f | %.1f |\n", b.name, ns, al, ns/floor, filter/ns)
	}
	fmt.Printf("\nslowspan processor vs OTTL filter on the standard batch: %.1fx faster per span\n", filter/ss)
	fmt.Printf("spanmetrics / slowspan processor (threshold mode): %.1fx\n", sm/ss)
	if *quantile {
		fmt.Printf("spanmetrics / slowspan quantile: %.1fx (goal: at least 50x)\n", sm/ns(quantileRow))
	}

	if !*growth {
		return
	}
	printGrowth("Growth: slowspan processor, standard batch (one service) whose 100 slow spans walk over all keys of the dedup state",
		"keys in dedup state", inproc.Growth, *rounds)
	if *quantile {
		printGrowth("Growth, quantile mode: slowspan processor, standard batch (one service) whose 5,000 server spans walk over all keys' windows, each filled with 20 spans first",
			"keys (windows)", inproc.QuantileGrowth, *rounds)
	}
}

// printGrowth runs a growth benchmark at inproc.GrowthKeys and prints its table.
func printGrowth(title, keysCol string, fn func(int) func(*testing.B), rounds int) {
	var gb []bench
	for _, k := range inproc.GrowthKeys {
		gb = append(gb, bench{fmt.Sprintf("%d", k), fn(k)})
	}
	gres := run(gb, rounds)
	fmt.Printf("\n%s; median of %d runs.\n\n", title, rounds)
	fmt.Printf("| %s | ns/span | allocs/span | x (10 keys) | heap held by the state (MiB) | bytes/key |\n", keysCol)
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
