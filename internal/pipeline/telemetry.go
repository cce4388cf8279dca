package pipeline

import (
	"context"

	"errors"
	"fmt"
	"go.opentelemetry.io/otel/metric/noop"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/profileindex"
)

// metricDef is one of a slowspan component's own metrics. The processor
// and the connector have the same list, named otelcol_<kind>_slowspan_<name>;
// each one's metadata.yaml declares it, and a test holds the two in step
// (mdatagen, which would generate this from the YAML, is not available).
type metricDef struct {
	name        string
	description string
	unit        string
	gauge       bool     // else a monotonic sum of int64
	attributes  []string // ids in attributeDefs
	counter     func(*Instruments) *metric.Int64Counter
	observable  func(*Instruments) *metric.Int64ObservableGauge
}

// stability of every metric below, as metadata.yaml gives it.
const stability = "alpha"

var metricDefs = []metricDef{
	{name: "spans", description: "Spans examined.", unit: "{spans}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.Spans }},
	{name: "slow_spans", description: "Spans of a selected kind over their threshold.", unit: "{spans}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.SlowSpans }},
	{name: "filtered_spans", description: "Slow spans dropped by the include and exclude filters.", unit: "{spans}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.Filtered }},
	{name: "suppressed_spans", description: "Slow spans that did not alert because their endpoint alerted inside the dedup window.", unit: "{spans}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.Suppressed }},
	{name: "alerts", description: "Alerts emitted, by reason (first, window_expired, escalation, storm, quantile, ratio, resolved, regression).", unit: "{alerts}",
		attributes: []string{"reason"},
		counter:    func(i *Instruments) *metric.Int64Counter { return &i.Alerts }},
	{name: "alerts_folded", description: "Alerts past alerts.max_per_minute, folded into a storm summary alert instead of sent one by one.", unit: "{alerts}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.Folded }},
	{name: "alerts_refused", description: "Alerts the next consumer refused; their dedup state was rolled back so a retry alerts again.", unit: "{alerts}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.Refused }},
	{name: "dedup_keys", description: "Endpoint keys held in the dedup state.", unit: "{keys}", gauge: true,
		observable: func(i *Instruments) *metric.Int64ObservableGauge { return &i.Keys }},
	{name: "dedup_backend_errors", description: "Dedup decisions the shared backend (Redis) failed to make; the local state made them.", unit: "{decisions}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.BackendErrors }},
	{name: "fleet_fallbacks", description: "Evaluations of fleet-wide windows (fleet.enabled) that judged the local windows and incidents because Redis failed or was being backed off.", unit: "{evaluations}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.FleetFallbacks }},
	{name: "pending_alerts", description: "Alerts waiting for their child spans and profile samples (correlation.wait).", unit: "{alerts}", gauge: true,
		observable: func(i *Instruments) *metric.Int64ObservableGauge { return &i.Pending }},
	{name: "open_incidents", description: "Incidents open (trigger quantile or ratio, or span mode with resolve.after).", unit: "{incidents}", gauge: true,
		observable: func(i *Instruments) *metric.Int64ObservableGauge { return &i.OpenIncidents }},
	{name: "window_keys", description: "Endpoint keys holding a latency window (trigger quantile or ratio).", unit: "{keys}", gauge: true,
		observable: func(i *Instruments) *metric.Int64ObservableGauge { return &i.WindowKeys }},
	{name: "profile_samples", description: "Span-linked profile samples kept in the index for alerts.", unit: "{samples}",
		counter: func(i *Instruments) *metric.Int64Counter { return &i.ProfileSamples }},
	{name: "profile_samples_dropped", description: "Profile samples not kept, by reason (no_span, invalid, per_span_cap, max_samples, max_bytes).", unit: "{samples}",
		attributes: []string{"drop_reason"},
		counter:    func(i *Instruments) *metric.Int64Counter { return &i.ProfileSamplesDropped }},
}

// attributeDef is an attribute of the metrics: its name on the wire and
// the values it takes.
type attributeDef struct {
	name   string
	values func() []string
}

var attributeDefs = map[string]attributeDef{
	"reason": {name: "reason", values: func() []string {
		out := make([]string, len(alert.Reasons))
		for i, r := range alert.Reasons {
			out[i] = string(r)
		}
		return out
	}},
	"drop_reason": {name: "reason", values: func() []string {
		out := make([]string, len(profileindex.DropReasons))
		for i, r := range profileindex.DropReasons {
			out[i] = r.String()
		}
		return out
	}},
}

// metricName is the full name of def for a component of kind.
func metricName(kind component.Kind, def metricDef) string {
	return fmt.Sprintf("otelcol_%s_slowspan_%s", kindName(kind), def.name)
}

func kindName(kind component.Kind) string {
	switch kind {
	case component.KindConnector:
		return "connector"
	default:
		return "processor"
	}
}

// NewInstruments creates the metrics of the component of kind on the meter
// of scope (its package path).
func NewInstruments(ts component.TelemetrySettings, kind component.Kind, scope string) (Instruments, error) {
	ins := Instruments{meter: ts.MeterProvider.Meter(scope)}
	var errs error
	for _, def := range metricDefs {
		opts := []metric.InstrumentOption{
			metric.WithDescription(def.description + " [Alpha]"),
			metric.WithUnit(def.unit),
		}
		name := metricName(kind, def)
		var err error
		if def.gauge {
			*def.observable(&ins), err = ins.meter.Int64ObservableGauge(name, asGaugeOptions(opts)...)
		} else {
			*def.counter(&ins), err = ins.meter.Int64Counter(name, asCounterOptions(opts)...)
		}
		errs = errors.Join(errs, err)
	}
	return ins, errs
}

func asCounterOptions(in []metric.InstrumentOption) []metric.Int64CounterOption {
	out := make([]metric.Int64CounterOption, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

func asGaugeOptions(in []metric.InstrumentOption) []metric.Int64ObservableGaugeOption {
	out := make([]metric.Int64ObservableGaugeOption, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

// gauges reads what the observable gauges report.
type gauges struct {
	keys, pending, incidents, windowKeys func() int64
}

// observe registers the callback of the gauges; unobserve removes it.
func (ins *Instruments) observe(g gauges) error {
	if ins.meter == nil || ins.Keys == nil || ins.Pending == nil || ins.OpenIncidents == nil || ins.WindowKeys == nil {
		return nil
	}
	reg, err := ins.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(ins.Keys, g.keys())
		o.ObserveInt64(ins.Pending, g.pending())
		o.ObserveInt64(ins.OpenIncidents, g.incidents())
		o.ObserveInt64(ins.WindowKeys, g.windowKeys())
		return nil
	}, ins.Keys, ins.Pending, ins.OpenIncidents, ins.WindowKeys)
	if err != nil {
		return err
	}
	ins.mu.Lock()
	ins.reg = reg
	ins.mu.Unlock()
	return nil
}

func (ins *Instruments) unobserve() error {
	ins.mu.Lock()
	reg := ins.reg
	ins.reg = nil
	ins.mu.Unlock()
	if reg == nil {
		return nil
	}
	return reg.Unregister()
}

// registration is what observe keeps for unobserve.
type registration struct {
	mu  sync.Mutex
	reg metric.Registration
}

// fillNoop sets every counter left nil to a no-op one.
func (ins *Instruments) fillNoop() {
	for _, def := range metricDefs {
		if def.counter != nil && *def.counter(ins) == nil {
			*def.counter(ins) = noop.Int64Counter{}
		}
	}
}
