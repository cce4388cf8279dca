package fileexporter // import "github.com/slowspan/slowspan/exporter/fileexporter"

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/slowspan/slowspan/internal/idset"
)

// Bounds of the dedup memory. A redelivery (a persistent queue replaying the
// batch that was in flight at a crash, or a retry of a batch that failed part
// way) is at most a few batches old, so the last 10,000 alerts are plenty.
const (
	maxRememberedIDs = 10_000
	// seedMaxBytes is how much of the end of the alert file (and of the
	// newest rotated file, when the current one is short) Start reads.
	seedMaxBytes = 8 << 20
)

// seed fills s with the IDs of the last lines written: those of the newest
// rotated file when the current file is shorter than seedMaxBytes, then those
// of the end of the current file, oldest first so the newest are kept.
func seedIDs(s *idset.Set, w *lineWriter) error {
	var errs []error
	fi, err := os.Stat(w.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return nil // a device or a pipe: nothing to read back
	}
	if fi == nil || fi.Size() < seedMaxBytes {
		if backups, err := w.backups(); err == nil && len(backups) > 0 {
			errs = append(errs, seedIDsFromFile(s, backups[0].path))
		}
	}
	if fi != nil {
		errs = append(errs, seedIDsFromFile(s, w.path))
	}
	return errors.Join(errs...)
}

// seedFile reads the IDs in the last seedMaxBytes of path (of its
// decompressed content for a .gz).
func seedIDsFromFile(s *idset.Set, path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // rotated or compressed meanwhile
		}
		return err
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	// Read no more than the file held when we looked.
	r := io.LimitReader(f, fi.Size())
	skipFirst := false
	if strings.HasSuffix(path, compressSuffix) {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		// Streams the whole file: a rotated file is at most max_megabytes,
		// and this runs once per start. The ring keeps the newest IDs.
		r = zr
	} else if fi.Size() > seedMaxBytes {
		if _, err := f.Seek(fi.Size()-seedMaxBytes, io.SeekStart); err != nil {
			return err
		}
		r = io.LimitReader(f, seedMaxBytes)
		skipFirst = true // most likely the end of a cut line
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && !skipFirst {
			if id := lineID(line); id != "" {
				s.Add(id)
			}
		}
		skipFirst = false
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// lineID is the "id" of a JSON alert line, "" for anything else (a
// fragment, another tool's line).
func lineID(line []byte) string {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return ""
	}
	var v struct {
		Schema int    `json:"schema"`
		ID     string `json:"id"`
	}
	if json.Unmarshal(line, &v) != nil || v.Schema < 1 {
		return ""
	}
	return v.ID
}
