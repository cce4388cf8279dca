package spanprofiler_test

import (
	"context"
	"log"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slowspan/slowspan/spanprofiler"
)

// The README's main.go, kept here so it always compiles.
func Example() {
	ctx := context.Background()
	res, _ := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "shop")))

	traceExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint("localhost:4317"), otlptracegrpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp), sdktrace.WithResource(res))
	defer func() { _ = tp.Shutdown(ctx) }()

	// 1. Label each request's CPU samples with its server span (otel-profiling-go underneath).
	otel.SetTracerProvider(spanprofiler.WrapTracerProvider(tp))

	// 2. Profile the CPU in 10 s windows and send span-linked samples as OTLP profiles.
	prof, err := spanprofiler.Start(ctx, spanprofiler.Options{Endpoint: "localhost:4317", Insecure: true, Resource: res})
	if err != nil {
		log.Print(err) // e.g. the CPU profiler is in use: the app runs on without it
	} else {
		defer func() { _ = prof.Stop(ctx) }() // exports the last window
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello\n")) })
	// 3. otelhttp takes the global (wrapped) provider.
	srv := &http.Server{Addr: "localhost:8080", Handler: otelhttp.NewHandler(mux, "server")}
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Print(err)
	}
}
