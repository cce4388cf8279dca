package report

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert/alerttest"
)

func TestWriteSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "reports")
	a := alerttest.Full()
	set, err := Build(a)
	require.NoError(t, err)
	require.NoError(t, WriteSet(dir, set, true))
	assert.True(t, Exists(dir, set.Name))

	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, DirMode, fi.Mode().Perm(), d)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		require.NoError(t, err)
		assert.Equal(t, FileMode, fi.Mode().Perm(), e.Name())
	}
	assert.ElementsMatch(t, []string{set.Name + ExtHTML, set.Name + ExtSVG, set.Name + ExtFolded, set.Name + ExtPprof}, names,
		"the whole set, no temporary file left")
	folded, err := os.ReadFile(filepath.Join(dir, set.Name+ExtFolded))
	require.NoError(t, err)
	assert.Contains(t, string(folded), "net/http.(*conn).serve;main.handleOrder;main.loadOrder 120\n", "milliseconds of CPU")
}

func TestWriteSetFails(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(parent, nil, 0o600))
	set, err := Build(alerttest.Full())
	require.NoError(t, err)
	err = WriteSet(filepath.Join(parent, "reports"), set, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(parent, "reports"))
}

func TestPrune(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		maxCount int
		maxAge   time.Duration
		wantKept []int // indexes of the sets kept; set i is i hours old
	}{
		{name: "no limits", wantKept: []int{0, 1, 2, 3, 4}},
		{name: "count", maxCount: 2, wantKept: []int{0, 1}},
		{name: "age", maxAge: 150 * time.Minute, wantKept: []int{0, 1, 2}},
		{name: "both", maxCount: 2, maxAge: 30 * time.Minute, wantKept: []int{0}},
		{name: "count above size", maxCount: 10, wantKept: []int{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			names := make([]string, 5)
			for i := range names {
				a := alerttest.Full()
				// Names sort opposite to age: Prune must go by time.
				a.Start = alerttest.Start.Add(time.Duration(i) * time.Minute)
				a.ID = fmt.Sprintf("%08x", i) + a.ID[8:]
				set, err := Build(a)
				require.NoError(t, err)
				require.NoError(t, WriteSet(dir, set, false))
				mtime := now.Add(-time.Duration(i) * time.Hour)
				for _, f := range set.Files() {
					require.NoError(t, os.Chtimes(filepath.Join(dir, f.Name), mtime, mtime))
				}
				names[i] = set.Name
			}
			other := filepath.Join(dir, "notes.txt")
			require.NoError(t, os.WriteFile(other, []byte("mine"), 0o600))
			stale := filepath.Join(dir, tmpPrefix+"123")
			require.NoError(t, os.WriteFile(stale, nil, 0o600))
			require.NoError(t, os.Chtimes(stale, now.Add(-2*time.Hour), now.Add(-2*time.Hour)))

			removed, err := Prune(dir, tt.maxCount, tt.maxAge, now)
			require.NoError(t, err)
			assert.Equal(t, len(names)-len(tt.wantKept), removed)
			var kept []int
			for i, n := range names {
				if Exists(dir, n) {
					kept = append(kept, i)
				} else {
					matches, _ := filepath.Glob(filepath.Join(dir, n+"*"))
					assert.Empty(t, matches, "a pruned set is removed whole")
				}
			}
			sort.Ints(kept)
			assert.Equal(t, tt.wantKept, kept)
			assert.FileExists(t, other, "files that are not reports are never deleted")
			assert.NoFileExists(t, stale, "stale temporary files are removed")
		})
	}
}
