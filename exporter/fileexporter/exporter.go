package fileexporter // import "github.com/slowspan/slowspan/exporter/fileexporter"

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
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
	// reportsRef is the reports directory as a JSON line names it:
	// relative to the alert file's directory when inside it, else absolute.
	reportsRef string
}

func newAlertFileExporter(cfg *Config, logger *zap.Logger) *alertFileExporter {
	return &alertFileExporter{
		cfg:    cfg,
		logger: logger,
		now:    time.Now,
		w:      newLineWriter(cfg, logger),
		seen:   idset.New(maxRememberedIDs),

		reportsRef: reportsRef(cfg.Path, cfg.Reports),
	}
}

// reportsRef is the reports directory relative to the alert file's
// directory (e.g. "reports"), or absolute when it is not inside it; "" when
// reports are off.
func reportsRef(file, reports string) string {
	if reports == "" {
		return ""
	}
	absReports, err := filepath.Abs(reports)
	if err != nil {
		return filepath.ToSlash(reports)
	}
	absDir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return filepath.ToSlash(absReports)
	}
	rel, err := filepath.Rel(absDir, absReports)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(absReports)
	}
	return filepath.ToSlash(rel)
}

// withReport adds the "report" field to an alert's JSON object: the path of
// its HTML report, as reportsRef names the directory.
func withReport(line []byte, ref string) []byte {
	if len(line) < 2 || line[len(line)-1] != '}' {
		return line
	}
	field, err := json.Marshal(ref)
	if err != nil {
		return line
	}
	out := make([]byte, 0, len(line)+len(field)+12)
	out = append(out, line[:len(line)-1]...)
	if len(line) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"report":`...)
	out = append(out, field...)
	return append(out, '}')
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
	e.logStart()
	return nil
}

// logStart says where the alerts go: one line per alertfile exporter.
func (e *alertFileExporter) logStart() {
	fields := []zap.Field{zap.String("path", absOrAsIs(e.cfg.Path))}
	if e.cfg.Reports != "" {
		fields = append(fields, zap.String("reports", absOrAsIs(e.cfg.Reports)))
	} else {
		fields = append(fields, zap.String("reports", "off"))
	}
	e.logger.Info("alertfile: alerts are written as JSON lines", fields...)
}

func absOrAsIs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
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
		var ref string // the report's path as the line names it
		if e.cfg.Reports != "" {
			wrote, ok := e.writeReport(a, dup)
			if wrote {
				reports++
			}
			if ok {
				ref = path.Join(e.reportsRef, report.Name(a)+report.ExtHTML)
			}
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
		if ref != "" {
			line = withReport(line, ref)
		}
		if err := e.w.writeLine(append(line, '\n')); err != nil {
			e.logWriteError(err)
			return err
		}
		e.seen.Add(a.ID)
		written++
		e.logWritten(a, ref)
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

// logWritten writes one info line per alert written, so a person watching
// the log knows where to look: the report (or the alert file, without
// one). Bounded like the alerts: the processor caps them per minute, and
// the collector samples repeated log lines.
func (e *alertFileExporter) logWritten(a alert.Alert, ref string) {
	if ce := e.logger.Check(zap.InfoLevel, "alertfile: alert written"); ce != nil {
		fields := []zap.Field{zap.String("endpoint", a.Key.String()), zap.String("reason", string(a.Reason)),
			zap.String("alert_id", a.ID)}
		if ref != "" {
			fields = append(fields, zap.String("report", filepath.Join(absOrAsIs(e.cfg.Reports), report.Name(a)+report.ExtHTML)))
		} else {
			fields = append(fields, zap.String("path", e.cfg.Path))
		}
		ce.Write(fields...)
	}
}

// writeReport writes a's report set, unless a was written before and its
// report exists. It reports whether a set was written, and whether the
// report is there (written now or before).
func (e *alertFileExporter) writeReport(a alert.Alert, dup bool) (wrote, ok bool) {
	name := report.Name(a)
	if dup && report.Exists(e.cfg.Reports, name) {
		return false, true
	}
	set, err := report.Build(a)
	if err != nil {
		e.logger.Error("Rendering an alert report failed", zap.String("report", name), zap.Error(err))
		return false, false
	}
	for _, w := range set.Warnings {
		e.logger.Warn("Alert report is incomplete", zap.String("report", name), zap.Error(w))
	}
	if err := report.WriteSet(e.cfg.Reports, set, e.cfg.FSync); err != nil {
		e.logger.Error("Writing an alert report failed; check free disk space and the permissions of the report directory",
			zap.String("reports", e.cfg.Reports), zap.String("report", name), zap.Error(err))
		return false, false
	}
	return true, true
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
