// Command replay sends a fixed OTLP traces workload to a collector at a target
// rate (see package replay): 1 % slow server spans over 200 routes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/slowspan/slowspan/bench/replay"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

// run sends the replay and prints its statistics, also when it failed part way.
func run() error {
	var cfg replay.Config
	flag.StringVar(&cfg.Endpoint, "endpoint", "127.0.0.1:4318", "OTLP receiver host:port (4318 for http, 4317 for grpc)")
	flag.StringVar(&cfg.Protocol, "protocol", "http", "http or grpc")
	flag.IntVar(&cfg.Rate, "rate", 20000, "spans per second")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to send")
	flag.IntVar(&cfg.SpansPerRequest, "spans-per-request", 500, "spans per export request")
	flag.IntVar(&cfg.Workers, "workers", 4, "concurrent senders")
	flag.IntVar(&cfg.Routes, "routes", 200, "distinct routes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := replay.Run(ctx, cfg)
	fmt.Println(st)
	return err
}
