package engine

import (
	"go.uber.org/zap"
)

// StartupFields describe the configuration for the start-up log line: the
// threshold and how many per-route rules refine it, the trigger mode, and
// the dedup window and where its state lives. Nothing secret: the Redis
// endpoint is host:port; its credentials are not logged.
func (e *Engine) StartupFields() []zap.Field {
	mode := e.cfg.Trigger.Mode
	if mode == "" {
		mode = ModeSpan
	}
	return []zap.Field{
		zap.Stringer("threshold", e.cfg.Threshold),
		zap.Int("route_rules", len(e.cfg.Routes)),
		zap.String("trigger", mode),
		zap.Stringer("dedup_window", e.cfg.Dedup.Window),
		zap.String("dedup_storage", e.storageName()),
	}
}

// storageName is where the dedup state lives: a shared Redis, a storage
// extension (by its ID, e.g. file_storage), or only this process's memory.
func (e *Engine) storageName() string {
	switch {
	case e.cfg.Dedup.Redis.Enabled():
		return "redis " + e.cfg.Dedup.Redis.Endpoint
	case e.cfg.Dedup.Storage != nil:
		return e.cfg.Dedup.Storage.String()
	default:
		return "memory (lost on restart)"
	}
}
