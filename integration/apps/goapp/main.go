// Command goapp is a small web app instrumented the way users instrument
// theirs (otelhttp, the OTel SDK, spanprofiler), for slowspan's end-to-end
// tests. It has a fast route, a parametrised route, a health route and one
// slow route per answer to "why was it slow?":
//
//   - /slow/cpu: on CPU in main.burnCPU;
//   - /slow/db: N+1, 42 times the same query, each a client child span;
//   - /slow/sequential: four different queries one after another, each a
//     client child span, none needing another's result;
//   - /slow/sleep: waiting in time.Sleep, called by main.getOrder, with no
//     child span;
//   - /slow/lock: waiting in sync.(*Mutex).Lock, called by
//     main.reserveStock, on a mutex a background goroutine (not the
//     request's) holds, with no child span.
//
// Three more routes serve the regression scenario (GOAPP_VERSION sets the
// resource's service.version; version 1.1 is slower on two of them):
//
//   - /orders/{id}: a query of 30 ms; 1.1 adds a 250 ms query on
//     audit_log, a client child span;
//   - /checksum/{id}: 30 ms on CPU in main.burnCPU; 1.1 adds 250 ms on CPU
//     in main.computeChecksums;
//   - /catalog/{id}: 40 ms of sleep, the same in every version;
//   - /rare/{id}: 40 ms of sleep; 600 ms in 1.1 (the tests send it too
//     few requests to judge).
//
// POST /flush exports the current profile window and the pending spans at
// once, so tests need not wait for the SDK's and the profiler's timers.
//
// Environment: GOAPP_ADDR (listen address), OTEL_EXPORTER_OTLP_ENDPOINT
// (collector gRPC host:port), OTEL_SERVICE_NAME, GOAPP_VERSION.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/slowspan/slowspan/spanprofiler"
)

func main() {
	ctx := context.Background()
	endpoint := envOr("GOAPP_OTLP_ENDPOINT", "localhost:4317")
	service := envOr("OTEL_SERVICE_NAME", "goapp")
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	version := os.Getenv("GOAPP_VERSION")
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	res := resource.NewSchemaless(attrs...)
	regressed := version == "1.1"

	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(spanprofiler.WrapTracerProvider(tp))
	prof, err := spanprofiler.Start(ctx, spanprofiler.Options{Endpoint: endpoint, Insecure: true, Resource: res})
	if err != nil {
		log.Fatal(err)
	}

	go stockHolder()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "fast") })
	mux.HandleFunc("GET /slow/cpu", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "%x\n", burnCPU(700*time.Millisecond))
	})
	mux.HandleFunc("GET /slow/db", func(w http.ResponseWriter, r *http.Request) {
		tracer := otel.Tracer("goapp/db")
		for i := range 42 { // the N+1 query
			_, span := tracer.Start(r.Context(), "SELECT shop.orders", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(
					attribute.String("db.system", "postgresql"),
					attribute.String("db.statement", fmt.Sprintf("SELECT * FROM orders WHERE id = %d", i)),
				))
			time.Sleep(15 * time.Millisecond) // the query's latency
			span.End()
		}
		_, _ = fmt.Fprintln(w, "db")
	})
	mux.HandleFunc("GET /slow/sequential", func(w http.ResponseWriter, r *http.Request) {
		tracer := otel.Tracer("goapp/db")
		// Four different queries, none using another's result: they
		// could run in parallel but run one after another.
		for _, table := range []string{"users", "orders", "addresses", "payment_methods"} {
			_, span := tracer.Start(r.Context(), "SELECT shop."+table, trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(
					attribute.String("db.system", "postgresql"),
					attribute.String("db.statement", fmt.Sprintf("SELECT * FROM %s WHERE id = 42", table)),
				))
			time.Sleep(300 * time.Millisecond) // the query's latency
			span.End()
		}
		_, _ = fmt.Fprintln(w, "sequential")
	})
	mux.HandleFunc("GET /slow/sleep", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "order", getOrder(42))
	})
	mux.HandleFunc("GET /slow/lock", func(w http.ResponseWriter, _ *http.Request) {
		// The stock holder takes the lock first (it answers once it holds
		// it), then this request waits for it in reserveStock.
		locked := make(chan struct{})
		holdStock <- locked
		<-locked
		_, _ = fmt.Fprintln(w, "stock", reserveStock())
	})
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		// ?delay=1.5s lets tests make one request slower than the others.
		d, err := time.ParseDuration(r.URL.Query().Get("delay"))
		if err != nil || d <= 0 || d > 10*time.Second {
			d = 600 * time.Millisecond
		}
		time.Sleep(d)
		_, _ = fmt.Fprintln(w, "user", r.PathValue("id"))
	})
	query := func(r *http.Request, table, statement string, d time.Duration) {
		_, span := otel.Tracer("goapp/db").Start(r.Context(), "SELECT shop."+table, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				attribute.String("db.system", "postgresql"),
				attribute.String("db.statement", statement),
			))
		time.Sleep(d)
		span.End()
	}
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		query(r, "orders", "SELECT * FROM orders WHERE id = 42", 30*time.Millisecond)
		if regressed { // 1.1 audits every read: the added query
			query(r, "audit_log", "SELECT * FROM audit_log WHERE order_id = 42", 250*time.Millisecond)
		}
		_, _ = fmt.Fprintln(w, "order", r.PathValue("id"))
	})
	mux.HandleFunc("GET /checksum/{id}", func(w http.ResponseWriter, r *http.Request) {
		x := burnCPU(30 * time.Millisecond)
		if regressed { // 1.1 checksums every item: the CPU-heavy loop
			x ^= computeChecksums(250 * time.Millisecond)
		}
		_, _ = fmt.Fprintf(w, "%s %x\n", r.PathValue("id"), x)
	})
	mux.HandleFunc("GET /catalog/{id}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(40 * time.Millisecond)
		_, _ = fmt.Fprintln(w, "catalog", r.PathValue("id"))
	})
	mux.HandleFunc("GET /rare/{id}", func(w http.ResponseWriter, r *http.Request) {
		d := 40 * time.Millisecond
		if regressed {
			d = 600 * time.Millisecond
		}
		time.Sleep(d)
		_, _ = fmt.Fprintln(w, "rare", r.PathValue("id"))
	})
	mux.HandleFunc("GET /reports/{name}", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(700 * time.Millisecond) // under its per-route threshold
		_, _ = fmt.Fprintln(w, "report")
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(600 * time.Millisecond) // slow, but excluded by the collector config
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		// Anything else (hostile paths in the tests) is slow too.
		time.Sleep(600 * time.Millisecond)
		w.WriteHeader(http.StatusNotFound)
	})

	flush := func(w http.ResponseWriter, r *http.Request) {
		// Profiles first: the collector then has the samples when the
		// spans arrive.
		if err := prof.Flush(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := tp.ForceFlush(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprintln(w, "flushed")
	}

	mux.HandleFunc("POST /flush", flush) // test plumbing: a fast span

	// The usual way: otelhttp around the whole mux.
	srv := &http.Server{Addr: envOr("GOAPP_ADDR", "127.0.0.1:8080"), Handler: otelhttp.NewHandler(mux, "server"), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("goapp listening on %s, exporting to %s", srv.Addr, endpoint)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	_ = prof.Stop(ctx)
	_ = tp.Shutdown(ctx)
}

// burnCPU spins for d of wall time in its own code (a xorshift loop, so the
// CPU samples land in this very function): the function the alert must name.
//
//go:noinline
func burnCPU(d time.Duration) uint64 {
	x := uint64(88172645463325252)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		for range 100000 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
	}
	return x
}

// computeChecksums is version 1.1's CPU-heavy loop on /checksum/{id}: the
// function the regression alert must name.
//
//go:noinline
func computeChecksums(d time.Duration) uint64 {
	x := uint64(2463534242)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		for range 100000 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
		}
	}
	return x
}

// getOrder waits for a slow backend without a span (a sleep standing in for
// it): the app function the waiting alert must name, as the caller of
// time.Sleep.
//
//go:noinline
func getOrder(id int) int {
	time.Sleep(1500 * time.Millisecond)
	return id
}

var (
	// stockMu guards stock. /slow/lock has stockHolder hold it for a while
	// before the request takes it.
	stockMu sync.Mutex
	stock   = 1 << 20
	// holdStock asks stockHolder to take stockMu; it closes the channel it
	// receives once it holds the lock.
	holdStock = make(chan chan struct{})
)

// stockHolder is a background goroutine, started by main and so carrying no
// request's profiler labels: the time it holds stockMu (sleeping) is nobody's
// request, only the waiting of the request blocked on the lock is. Each
// request on holdStock makes it take stockMu, signal, and hold it 1.2 s.
func stockHolder() {
	for locked := range holdStock {
		stockMu.Lock()
		close(locked)
		time.Sleep(1200 * time.Millisecond)
		stockMu.Unlock()
	}
}

// reserveStock takes stockMu, held meanwhile by stockHolder: the app function
// the waiting alert must name, as the caller of sync.(*Mutex).Lock.
//
//go:noinline
func reserveStock() int {
	stockMu.Lock()
	defer stockMu.Unlock()
	stock--
	return stock
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
