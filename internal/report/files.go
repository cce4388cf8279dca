package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// File and directory modes: reports hold request attributes, so only the
// collector's user may read them.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

const tmpPrefix = ".slowspan-report-"

// memberRE matches the files of report sets, and nothing a user is likely to
// keep beside them: Prune deletes only these.
var memberRE = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}-[0-9a-f]{8})(\.html|\.svg|\.folded|\.pb\.gz)$`)

// WriteSet writes the files of s into dir (created 0700 when missing). Each
// file is written to a temporary name and renamed, so a reader or a crash
// never sees half a file; the HTML page comes last and marks a complete set.
// With sync, every file is fsynced before its rename.
func WriteSet(dir string, s *Set, sync bool) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("creating report directory %q: %w", dir, err)
	}
	for _, f := range s.Files() {
		if err := writeAtomic(dir, f.Name, f.Data, sync); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(dir, name string, data []byte, sync bool) (err error) {
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*") // mode 0600
	if err != nil {
		return fmt.Errorf("writing report file %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing report file %q: %w", path, err)
	}
	if sync {
		if err = tmp.Sync(); err != nil {
			return fmt.Errorf("syncing report file %q: %w", path, err)
		}
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing report file %q: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing report file %q: %w", path, err)
	}
	return nil
}

// Exists reports whether the complete report set name is in dir.
func Exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name+ExtHTML))
	return err == nil
}

// Prune deletes whole report sets from dir, oldest first (by the latest
// modification time of their files, then by name), until at most maxCount
// remain (0: no limit) and none is older than maxAge (0: no limit). It also
// removes temporary files left by a crash in WriteSet. It returns the number
// of sets removed.
func Prune(dir string, maxCount int, maxAge time.Duration, now time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("listing report directory %q: %w", dir, err)
	}
	type set struct {
		name  string
		mtime time.Time
		files []string
	}
	sets := map[string]*set{}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if now.Sub(info.ModTime()) > time.Hour {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
			continue
		}
		m := memberRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		s := sets[m[1]]
		if s == nil {
			s = &set{name: m[1]}
			sets[m[1]] = s
		}
		s.files = append(s.files, e.Name())
		if info.ModTime().After(s.mtime) {
			s.mtime = info.ModTime()
		}
	}
	ordered := make([]*set, 0, len(sets))
	for _, s := range sets {
		ordered = append(ordered, s)
	}
	sort.Slice(ordered, func(i, j int) bool {
		if !ordered[i].mtime.Equal(ordered[j].mtime) {
			return ordered[i].mtime.Before(ordered[j].mtime)
		}
		return ordered[i].name < ordered[j].name
	})
	removed := 0
	for i, s := range ordered {
		tooMany := maxCount > 0 && len(ordered)-i > maxCount
		tooOld := maxAge > 0 && now.Sub(s.mtime) > maxAge
		if !tooMany && !tooOld {
			break // the rest are newer
		}
		// The HTML page goes first, so a half-deleted set no longer counts
		// as written (Exists) and is rewritten if its alert comes again.
		sort.Slice(s.files, func(a, b int) bool {
			return strings.HasSuffix(s.files[a], ExtHTML) && !strings.HasSuffix(s.files[b], ExtHTML)
		})
		for _, f := range s.files {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("deleting old report file %q: %w", filepath.Join(dir, f), err))
			}
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
