// Package integration holds slowspan's end-to-end tests: they start the
// otelcol-slowspan binary built by `make build` as a separate process, send it
// spans over OTLP with the OpenTelemetry Go SDK and check what comes out.
//
// Set SLOWSPAN_COLLECTOR to the binary to test (make test does); when it is
// unset the tests run `make build` in the repository root once.
package integration
