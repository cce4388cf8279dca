// Command quickstart is a web app that sends its spans and span-linked CPU
// profiles to otelcol-slowspan (make run): GET /orders/{id} takes 1.5 s, so
// it alerts. It is the Go example of the README, kept identical by
// readme_test.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0" // the version the SDK (v1.47.0) uses

	"github.com/slowspan/slowspan/spanprofiler"
)

func main() {
	// Spans go over OTLP gRPC to the collector (`make run` listens on localhost:4317).
	exp, err := otlptracegrpc.New(context.Background(),
		otlptracegrpc.WithEndpoint("localhost:4317"), otlptracegrpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("checkout"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))

	// spanprofiler, line 1 of 3: label each request's CPU samples with its server span
	// (before otelhttp.NewHandler, which takes the global provider).
	otel.SetTracerProvider(spanprofiler.WrapTracerProvider(tp))
	// Line 2: profile the CPU in 10 s windows and send the span-linked samples to the collector.
	prof, err := spanprofiler.Start(context.Background(),
		spanprofiler.Options{Endpoint: "localhost:4317", Insecure: true, Resource: res})
	if err != nil {
		log.Print(err) // e.g. the CPU profiler is in use: the app runs on without profiles
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", getOrder)
	srv := &http.Server{
		Addr:              "localhost:8080",
		Handler:           otelhttp.NewHandler(mux, "server"), // a server span per request, named after its route
		ReadHeaderTimeout: 10 * time.Second,
	}

	// Serve until Ctrl-C or SIGTERM (or until the server fails, e.g. the port is taken).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("listening on http://%s", srv.Addr)
	select {
	case <-ctx.Done():
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}

	// Shut down in order: finish the requests in flight, then export what is left.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print(err)
	}
	if prof != nil {
		_ = prof.Stop(ctx) // line 3: the last profile window
	}
	if err := tp.Shutdown(ctx); err != nil { // the last spans
		log.Print(err)
	}
}

// getOrder is slow: 1.5 s waiting on a "backend", over the collector's 1 s threshold.
func getOrder(w http.ResponseWriter, r *http.Request) {
	time.Sleep(1500 * time.Millisecond)
	_, _ = fmt.Fprintln(w, "order", r.PathValue("id"))
}
