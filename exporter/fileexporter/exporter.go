package fileexporter // import "github.com/slowspan/slowspan/exporter/fileexporter"

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/idset"
	"github.com/slowspan/slowspan/internal/report"
)

type alertFileExporter struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	// mu serialises batches: the queue runs several consumers, and the
	// file, the ID set and the report directory are shared.
	mu     sync.Mutex
	w      *lineWriter
	seen   *idset.Set
	seeded bool
}

func newAlertFileExporter(cfg *Config, logger *zap.Logger) *alertFileExporter {
	return &alertFileExporter{
		cfg:    cfg,
		logger: logger,
		now:    time.Now,
		w:      newLineWriter(cfg, logger),
		seen:   idset.New(maxRememberedIDs),
	}
}

// start opens the file and reads the IDs at its end. An I/O error does not
// fail the collector's start (its other pipelines keep working): it is
// logged, and every batch tries again and reports it as a retryable error.
func (e *alertFileExporter) start(context.Context, component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureOpen(); err != nil {
		e.logger.Error("Cannot open the alert file; alerts will be retried until it can be written. Check that the directory exists or can be created and is writable by the collector",
			zap.String("path", e.cfg.Path), zap.Error(err))
	}
	if e.cfg.Reports != "" {
		if err := mkdirReports(e.cfg.Reports); err != nil {
			e.logger.Error("Cannot create the report directory; reports will be skipped until it can be written",
				zap.String("reports", e.cfg.Reports), zap.Error(err))
		}
		e.pruneReports()
	}
	return nil
}

func (e *alertFileExporter) ensureOpen() error {
	if err := e.w.open(); err != nil {
		return err
	}
	if !e.seeded {
		e.seeded = true
		if err := seedIDs(e.seen, e.w); err != nil {
			e.logger.Warn("Reading the IDs of the alerts already written failed; an alert redelivered after a restart may be written twice",
				zap.String("path", e.cfg.Path), zap.Error(err))
		}
		e.logger.Debug("Remembered the IDs of the last alerts written", zap.String("path", e.cfg.Path), zap.Int("ids", e.seen.Len()))
	}
	return nil
}

func (e *alertFileExporter) shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.w.close()
}

// pushTraces writes one JSON line per alert in td that was not written
// before (by ID), and its report. Spans that are not alerts are ignored.
//
// An error writing the file is returned as is, which exporterhelper retries:
// lines already written are then skipped by ID, so a retry or a redelivery
// never duplicates a line. Report errors are logged and not returned: the
// JSON line is the record, and a broken report directory must not hold
// alerts back.
func (e *alertFileExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if alert.Count(td) == 0 {
		return nil
	}
	if err := e.ensureOpen(); err != nil {
		e.logWriteError(err)
		return err
	}
	var written, duplicates, reports int
	for a := range alert.All(td) {
		if err := ctx.Err(); err != nil {
			return err // the retry skips what was written
		}
		dup := e.seen.Has(a.ID)
		if e.cfg.Reports != "" && e.writeReport(a, dup) {
			reports++
		}
		if dup {
			duplicates++
			continue
		}
		line, err := json.Marshal(a)
		if err != nil {
			// Cannot happen for the alert types; retrying would not help.
			e.logger.Error("Encoding an alert as JSON failed; the alert is dropped",
				zap.String("alert_id", a.ID), zap.Error(err))
			continue
		}
		if err := e.w.writeLine(append(line, '\n')); err != nil {
			e.logWriteError(err)
			return err
		}
		e.seen.Add(a.ID)
		written++
	}
	if e.cfg.FSync {
		if err := e.w.sync(); err != nil {
			e.logWriteError(err)
			return err
		}
	}
	if e.cfg.Reports != "" {
		e.pruneReports()
	}
	if duplicates > 0 {
		e.logger.Debug("Skipped alerts already in the alert file (redelivered)", zap.Int("alerts", duplicates))
	}
	e.logger.Debug("Wrote alerts", zap.String("path", e.cfg.Path), zap.Int("alerts", written), zap.Int("reports", reports))
	return nil
}

func (e *alertFileExporter) logWriteError(err error) {
	e.logger.Error("Writing alerts failed; the batch will be retried. Check free disk space and the permissions of the file and its directory",
		zap.String("path", e.cfg.Path), zap.Error(err))
}

// writeReport writes a's report set, unless a was written before and its
// report exists. It reports whether a set was written.
func (e *alertFileExporter) writeReport(a alert.Alert, dup bool) bool {
	name := report.Name(a)
	if dup && report.Exists(e.cfg.Reports, name) {
		return false
	}
	set, err := report.Build(a)
	if err != nil {
		e.logger.Error("Rendering an alert report failed", zap.String("report", name), zap.Error(err))
		return false
	}
	for _, w := range set.Warnings {
		e.logger.Warn("Alert report is incomplete", zap.String("report", name), zap.Error(w))
	}
	if err := report.WriteSet(e.cfg.Reports, set, e.cfg.FSync); err != nil {
		e.logger.Error("Writing an alert report failed; check free disk space and the permissions of the report directory",
			zap.String("reports", e.cfg.Reports), zap.String("report", name), zap.Error(err))
		return false
	}
	return true
}

func (e *alertFileExporter) pruneReports() {
	if e.cfg.ReportsMaxCount == 0 && e.cfg.ReportsMaxAge == 0 {
		return
	}
	removed, err := report.Prune(e.cfg.Reports, e.cfg.ReportsMaxCount, e.cfg.ReportsMaxAge, e.now())
	if err != nil {
		e.logger.Warn("Deleting old alert reports failed", zap.String("reports", e.cfg.Reports), zap.Error(err))
	}
	if removed > 0 {
		e.logger.Debug("Deleted old alert reports", zap.String("reports", e.cfg.Reports), zap.Int("reports_removed", removed))
	}
}

func mkdirReports(dir string) error {
	return os.MkdirAll(dir, report.DirMode)
}
