// Written by hand in the shape mdatagen generates (mdatagen is not available
// to this project); keep it in step with metadata.yaml.

package metadata

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                                  metric.Meter
	mu                                     sync.Mutex
	registrations                          []metric.Registration
	ConnectorSlowspanAlerts                metric.Int64Counter
	ConnectorSlowspanAlertsRefused         metric.Int64Counter
	ConnectorSlowspanAlertsFolded          metric.Int64Counter
	ConnectorSlowspanDedupBackendErrors    metric.Int64Counter
	ConnectorSlowspanDedupKeys             metric.Int64ObservableGauge
	ConnectorSlowspanPendingAlerts         metric.Int64ObservableGauge
	ConnectorSlowspanProfileSamples        metric.Int64Counter
	ConnectorSlowspanProfileSamplesDropped metric.Int64Counter
	ConnectorSlowspanFilteredSpans         metric.Int64Counter
	ConnectorSlowspanSlowSpans             metric.Int64Counter
	ConnectorSlowspanSpans                 metric.Int64Counter
	ConnectorSlowspanSuppressedSpans       metric.Int64Counter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

// RegisterConnectorSlowspanDedupKeysCallback sets callback for observable ConnectorSlowspanDedupKeys metric.
func (builder *TelemetryBuilder) RegisterConnectorSlowspanDedupKeysCallback(cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerInt64{inst: builder.ConnectorSlowspanDedupKeys, obs: o})
		return nil
	}, builder.ConnectorSlowspanDedupKeys)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

// RegisterConnectorSlowspanPendingAlertsCallback sets callback for observable ConnectorSlowspanPendingAlerts metric.
func (builder *TelemetryBuilder) RegisterConnectorSlowspanPendingAlertsCallback(cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerInt64{inst: builder.ConnectorSlowspanPendingAlerts, obs: o})
		return nil
	}, builder.ConnectorSlowspanPendingAlerts)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

type observerInt64 struct {
	embedded.Int64Observer
	inst metric.Int64Observable
	obs  metric.Observer
}

func (oi *observerInt64) Observe(value int64, opts ...metric.ObserveOption) {
	oi.obs.ObserveInt64(oi.inst, value, opts...)
}

// Shutdown unregister all registered callbacks for async instruments.
func (builder *TelemetryBuilder) Shutdown() {
	builder.mu.Lock()
	defer builder.mu.Unlock()
	for _, reg := range builder.registrations {
		reg.Unregister()
	}
}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings, options ...TelemetryBuilderOption) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	for _, op := range options {
		op.apply(&builder)
	}
	builder.meter = Meter(settings)
	var err, errs error
	builder.ConnectorSlowspanAlerts, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_alerts",
		metric.WithDescription("Alerts emitted, by reason (first, window_expired, escalation, storm). [Alpha]"),
		metric.WithUnit("{alerts}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanAlertsFolded, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_alerts_folded",
		metric.WithDescription("Alerts past alerts.max_per_minute, folded into a storm summary alert instead of sent one by one. [Alpha]"),
		metric.WithUnit("{alerts}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanAlertsRefused, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_alerts_refused",
		metric.WithDescription("Alerts the next consumer refused; their dedup state was rolled back so a retry alerts again. [Alpha]"),
		metric.WithUnit("{alerts}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanDedupBackendErrors, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_dedup_backend_errors",
		metric.WithDescription("Dedup decisions the shared backend (Redis) failed to make; the local state made them. [Alpha]"),
		metric.WithUnit("{decisions}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanDedupKeys, err = builder.meter.Int64ObservableGauge(
		"otelcol_connector_slowspan_dedup_keys",
		metric.WithDescription("Endpoint keys held in the dedup state. [Alpha]"),
		metric.WithUnit("{keys}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanFilteredSpans, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_filtered_spans",
		metric.WithDescription("Slow spans dropped by the include and exclude filters. [Alpha]"),
		metric.WithUnit("{spans}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanPendingAlerts, err = builder.meter.Int64ObservableGauge(
		"otelcol_connector_slowspan_pending_alerts",
		metric.WithDescription("Alerts waiting for their child spans and profile samples (correlation.wait). [Alpha]"),
		metric.WithUnit("{alerts}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanProfileSamples, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_profile_samples",
		metric.WithDescription("Span-linked profile samples kept in the index for alerts. [Alpha]"),
		metric.WithUnit("{samples}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanProfileSamplesDropped, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_profile_samples_dropped",
		metric.WithDescription("Profile samples not kept, by reason (no_span, invalid, per_span_cap, max_samples, max_bytes). [Alpha]"),
		metric.WithUnit("{samples}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanSlowSpans, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_slow_spans",
		metric.WithDescription("Spans of a selected kind over their threshold. [Alpha]"),
		metric.WithUnit("{spans}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanSpans, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_spans",
		metric.WithDescription("Spans examined. [Alpha]"),
		metric.WithUnit("{spans}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorSlowspanSuppressedSpans, err = builder.meter.Int64Counter(
		"otelcol_connector_slowspan_suppressed_spans",
		metric.WithDescription("Slow spans that did not alert because their endpoint alerted inside the dedup window. [Alpha]"),
		metric.WithUnit("{spans}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
