// OpenTelemetry setup, loaded before the app (node --require ./tracing.js):
// the standard contrib instrumentation, nothing slowspan-specific.
'use strict';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');

const exporter = new OTLPTraceExporter({
  url: process.env.NODEAPP_OTLP_URL || 'http://127.0.0.1:4318/v1/traces',
});
// Kept so the app's /flush route can export now instead of on the timer.
const spanProcessor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500 });

const sdk = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME || 'nodeapp',
  spanProcessors: [spanProcessor],
  instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation()],
});
sdk.start();

process.on('SIGTERM', () => {
  sdk.shutdown().finally(() => process.exit(0));
});

module.exports = { spanProcessor };
