package pipeline

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slowspan/slowspan/alert"
)

// announce writes the instance's start-up line once, with the logger of
// the first traces pipeline to start (so the line carries that pipeline's
// attributes; nil: the instance's own logger): the threshold, trigger,
// dedup window and storage, and where the alerts go.
func (c *Component) announce(logger *zap.Logger) {
	c.announceOnce.Do(func() {
		if logger == nil {
			logger = c.logger
		}
		fields := append(c.Engine.StartupFields(),
			zap.Int("max_alerts_per_minute", c.Engine.MaxPerMinute()),
			zap.String("alerts_to", c.AlertsTo))
		logger.Info("slowspan started: slow requests become alerts", fields...)
	})
}

// logAlerts writes one info line per alert of a delivered batch, so a
// person watching the log sees an alert leave: its endpoint and figures
// and its id, never the span's attributes. The storm cap bounds the alerts
// (alerts.max_per_minute), and the collector's log sampling (by default
// the first 10 lines of a message per 10 s, then one in 100) bounds the
// lines even with the cap off. A storm summary has its own warning.
func (c *Component) logAlerts(td ptrace.Traces) {
	if !c.logger.Core().Enabled(zapcore.InfoLevel) {
		return
	}
	for a := range alert.All(td) {
		if a.Reason == alert.ReasonStorm {
			continue
		}
		fields := make([]zap.Field, 0, 8)
		fields = append(fields,
			zap.String("endpoint", a.Key.String()),
			zap.Stringer("duration", a.Duration),
			zap.Stringer("threshold", a.Threshold),
			zap.String("reason", string(a.Reason)))
		if a.Rule != "" {
			fields = append(fields, zap.String("rule", a.Rule))
		}
		if a.Diagnosis != nil {
			fields = append(fields, zap.String("diagnosis", string(a.Diagnosis.Kind)))
		}
		if a.Incident != nil {
			fields = append(fields, zap.String("incident_id", a.Incident.ID))
		}
		fields = append(fields, zap.String("alert_id", a.ID))
		c.logger.Info("slow request alert", fields...)
	}
}
