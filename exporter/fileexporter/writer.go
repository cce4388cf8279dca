package fileexporter // import "github.com/slowspan/slowspan/exporter/fileexporter"

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// lineWriter appends complete lines to a file and rotates it the way
// lumberjack does (same backup names, max_backups, max_days, compress,
// localtime), so tools that know lumberjack's files know ours.
//
// It is not lumberjack because lumberjack hides its *os.File: it can neither
// fsync, nor truncate away a line a failing write left half-written, nor set
// 0700 on the directories it creates, and its mill goroutine outlives Close.
// Owning the file, a failed write is undone by truncating back to the size
// before it, so the file only ever holds whole lines.
//
// Not safe for concurrent use: the exporter serialises batches.
type lineWriter struct {
	path       string
	maxBytes   int64
	maxBackups int
	maxAge     time.Duration
	compress   bool
	localTime  bool
	logger     *zap.Logger
	now        func() time.Time

	f    *os.File
	size int64
	// regular is false for a device or a pipe (e.g. /dev/stdout): such a
	// path is never rotated, truncated or read back.
	regular bool
	// dirty is set when a failed write left bytes that could not be
	// truncated away: the next line then starts with a newline, so the
	// fragment stays on its own (invalid, skipped) line.
	dirty bool

	millMu sync.Mutex // one mill at a time
	millWG sync.WaitGroup
}

const (
	fileMode fs.FileMode = 0o600
	dirMode  fs.FileMode = 0o700
	// backupTimeFormat is lumberjack's.
	backupTimeFormat = "2006-01-02T15-04-05.000"
	compressSuffix   = ".gz"
)

func newLineWriter(cfg *Config, logger *zap.Logger) *lineWriter {
	return &lineWriter{
		path:       cfg.Path,
		maxBytes:   int64(cfg.Rotation.MaxMegabytes) << 20,
		maxBackups: cfg.Rotation.MaxBackups,
		maxAge:     time.Duration(cfg.Rotation.MaxDays) * 24 * time.Hour,
		compress:   cfg.Rotation.Compress,
		localTime:  cfg.Rotation.LocalTime,
		logger:     logger,
		now:        time.Now,
	}
}

// open opens the file for appending, creating it and its directory when
// missing. It is called before every batch: it reopens the file when someone
// moved or deleted it (e.g. an external logrotate), and retries after an
// earlier failure.
func (w *lineWriter) open() error {
	if w.f != nil {
		cur, err1 := w.f.Stat()
		onDisk, err2 := os.Stat(w.path)
		if err1 == nil && err2 == nil && os.SameFile(cur, onDisk) {
			return nil
		}
		w.logger.Info("Alert file was moved or deleted; reopening it", zap.String("path", w.path))
		_ = w.f.Close()
		w.f = nil
	}
	if err := os.MkdirAll(filepath.Dir(w.path), dirMode); err != nil {
		return fmt.Errorf("creating the directory of alert file %q: %w", w.path, err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("opening alert file %q: %w", w.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("opening alert file %q: %w", w.path, err)
	}
	var size int64
	if fi.Mode().IsRegular() {
		if size, err = repairTail(f, w.path, w.logger); err != nil {
			_ = f.Close()
			return err
		}
	}
	w.f, w.size, w.dirty, w.regular = f, size, false, fi.Mode().IsRegular()
	return nil
}

// repairTail removes a trailing partial line (left by a crash or a power loss
// in the middle of a write) so the file holds only whole lines. It returns
// the file's size afterwards.
func repairTail(f *os.File, path string, logger *zap.Logger) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("reading alert file %q: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	r, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading alert file %q: %w", path, err)
	}
	defer func() { _ = r.Close() }() // read-only: a close error loses nothing
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := size
	for end > 0 {
		start := max(end-chunk, 0)
		n, err := r.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("reading alert file %q: %w", path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		end = start
	}
	if end == size {
		return size, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("removing a partial last line from alert file %q: %w", path, err)
	}
	logger.Warn("Removed a partial last line from the alert file (left by a crash during a write)",
		zap.String("path", path), zap.Int64("bytes", size-end))
	return end, nil
}

// writeLine writes line, which ends in '\n', with a single write call,
// rotating first when it would take the file over its maximum size. A line
// larger than the maximum gets a file of its own.
func (w *lineWriter) writeLine(line []byte) error {
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.regular && w.size > 0 && w.size+int64(len(line)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	if w.dirty {
		line = append([]byte{'\n'}, line...)
	}
	n, err := w.f.Write(line)
	if err == nil {
		w.size += int64(n)
		w.dirty = false
		return nil
	}
	if n > 0 && w.regular {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.size += int64(n)
			w.dirty = true
			w.logger.Error("Could not remove a partly written line from the alert file; it stays as an invalid line that readers skip",
				zap.String("path", w.path), zap.Error(terr))
		}
	}
	return fmt.Errorf("writing alert file %q: %w", w.path, err)
}

// sync flushes the file to stable storage.
func (w *lineWriter) sync() error {
	if w.f == nil {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing alert file %q: %w", w.path, err)
	}
	return nil
}

// rotate moves the current file aside under a lumberjack backup name and
// starts a new one, then compresses and deletes old backups in the
// background.
func (w *lineWriter) rotate() error {
	if err := w.f.Close(); err != nil {
		w.logger.Warn("Closing the alert file before rotation failed", zap.String("path", w.path), zap.Error(err))
	}
	w.f = nil
	backup, err := w.backupName()
	if err != nil {
		return fmt.Errorf("rotating alert file %q: %w", w.path, err)
	}
	if err := os.Rename(w.path, backup); err != nil {
		// Leave the file where it is: the next write reopens it and
		// tries again.
		return fmt.Errorf("rotating alert file %q to %q: %w", w.path, backup, err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fmt.Errorf("opening alert file %q after rotation: %w", w.path, err)
	}
	w.f, w.size, w.dirty = f, 0, false
	w.millWG.Add(1)
	go func() {
		defer w.millWG.Done()
		w.mill()
	}()
	return nil
}

// backupName is lumberjack's <prefix>-<time><ext>, moved forward by a
// millisecond while it is taken, so two rotations in the same millisecond
// never overwrite a backup.
func (w *lineWriter) backupName() (string, error) {
	dir := filepath.Dir(w.path)
	prefix, ext := w.prefixAndExt()
	t := w.now()
	if !w.localTime {
		t = t.UTC()
	}
	// Bounded: an Lstat error other than "not found" (a name too long for
	// the file system, a permission problem) must fail the rotation, not
	// spin forever.
	for range 1000 {
		name := filepath.Join(dir, prefix+t.Format(backupTimeFormat)+ext)
		_, err1 := os.Lstat(name)
		_, err2 := os.Lstat(name + compressSuffix)
		if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
			return name, nil
		}
		for _, err := range []error{err1, err2} {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("no usable backup name in %q (shorten the file name of path?): %w", dir, err)
			}
		}
		t = t.Add(time.Millisecond)
	}
	return "", fmt.Errorf("no free backup name in %q after 1000 tries", dir)
}

func (w *lineWriter) prefixAndExt() (prefix, ext string) {
	base := filepath.Base(w.path)
	ext = filepath.Ext(base)
	return base[:len(base)-len(ext)] + "-", ext
}

type backup struct {
	path string
	t    time.Time
}

// backups lists the rotated files, newest first.
func (w *lineWriter) backups() ([]backup, error) {
	dir := filepath.Dir(w.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	prefix, ext := w.prefixAndExt()
	var out []backup
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		rest := strings.TrimSuffix(name[len(prefix):], compressSuffix)
		if !strings.HasSuffix(rest, ext) {
			continue
		}
		loc := time.UTC
		if w.localTime {
			loc = time.Local
		}
		t, err := time.ParseInLocation(backupTimeFormat, rest[:len(rest)-len(ext)], loc)
		if err != nil {
			continue // not a backup of ours
		}
		out = append(out, backup{path: filepath.Join(dir, name), t: t})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].t.Equal(out[j].t) {
			return out[i].t.After(out[j].t)
		}
		return out[i].path > out[j].path
	})
	return out, nil
}

// mill deletes backups beyond max_backups or older than max_days and
// compresses the rest when asked to, as lumberjack does.
func (w *lineWriter) mill() {
	w.millMu.Lock()
	defer w.millMu.Unlock()
	files, err := w.backups()
	if err != nil {
		w.logger.Warn("Listing rotated alert files failed", zap.String("path", w.path), zap.Error(err))
		return
	}
	// A backup and its compressed copy (compression done, removal of the
	// original interrupted) are one backup.
	type group struct {
		t           time.Time
		plain, gzip string
	}
	var groups []*group
	byBase := map[string]*group{}
	for _, b := range files {
		base := strings.TrimSuffix(b.path, compressSuffix)
		g := byBase[base]
		if g == nil {
			g = &group{t: b.t}
			byBase[base] = g
			groups = append(groups, g) // newest first, as files
		}
		if base == b.path {
			g.plain = b.path
		} else {
			g.gzip = b.path
		}
	}
	for i, g := range groups {
		expired := w.maxAge > 0 && w.now().Sub(g.t) > w.maxAge
		if expired || (w.maxBackups > 0 && i >= w.maxBackups) {
			w.remove(g.plain)
			w.remove(g.gzip)
			continue
		}
		switch {
		case g.plain != "" && g.gzip != "":
			w.remove(g.plain)
		case g.plain != "" && w.compress:
			if err := compressFile(g.plain, g.plain+compressSuffix); err != nil {
				w.logger.Warn("Compressing a rotated alert file failed", zap.String("path", g.plain), zap.Error(err))
			}
		}
	}
}

func (w *lineWriter) remove(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.logger.Warn("Deleting an old rotated alert file failed", zap.String("path", path), zap.Error(err))
	}
}

// compressFile gzips src to dst and removes src. dst is complete before src
// goes, so an interruption leaves src and is redone by the next mill.
func compressFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // read-only: a close error loses nothing
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(out)
	if _, err = io.Copy(zw, in); err != nil {
		return err
	}
	if err = zw.Close(); err != nil {
		return err
	}
	if err = out.Sync(); err != nil {
		return err
	}
	if err = out.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// close closes the file and waits for a running mill.
func (w *lineWriter) close() error {
	var err error
	if w.f != nil {
		if err = w.f.Close(); err != nil {
			err = fmt.Errorf("closing alert file %q: %w", w.path, err)
		}
		w.f = nil
	}
	w.millWG.Wait()
	return err
}
