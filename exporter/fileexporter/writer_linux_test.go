package fileexporter

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestShortWriteTruncated makes the kernel accept only part of a line (as a
// full disk does) by lowering RLIMIT_FSIZE: the fragment is removed, the
// error names the file, and the next line starts on a line of its own.
func TestShortWriteTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	w := newLineWriter(&Config{Path: path, Rotation: RotationConfig{MaxMegabytes: 1}}, zap.NewNop())
	require.NoError(t, w.open())
	first := `{"schema":1,"id":"first"}` + "\n"
	require.NoError(t, w.writeLine([]byte(first)))

	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	lim := old
	lim.Cur = uint64(len(first) + 10)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	err := w.writeLine([]byte(`{"schema":1,"id":"second","padding":"` + strings.Repeat("x", 100) + `"}` + "\n"))
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, first, string(data), "the partial line was truncated away")

	require.NoError(t, w.writeLine([]byte(`{"schema":1,"id":"second"}`+"\n")))
	require.NoError(t, w.close())
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, first+`{"schema":1,"id":"second"}`+"\n", string(data))
}
