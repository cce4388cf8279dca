package modgraph

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// forbidden are module path prefixes that belong to the collector side of the
// repository. An app that imports spanprofiler must not have them in its
// version selection: they would pin or upgrade the app's own dependencies.
var forbidden = []string{
	"go.opentelemetry.io/collector/service",
	"go.opentelemetry.io/collector/otelcol",
	"github.com/chromedp/",
	"github.com/alicebob/miniredis",
	"github.com/getkin/kin-openapi",
}

func TestSpanprofilerBuildListStaysSmall(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "spanprofiler"))
	require.NoError(t, err)

	// Reading go.mod and go.sum here makes go test's cache depend on them: the
	// build list comes from a child process, whose reads the cache cannot see.
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(gomod), "module github.com/slowspan/slowspan/spanprofiler\n",
		"spanprofiler must be its own module")
	_, err = os.ReadFile(filepath.Join(dir, "go.sum"))
	require.NoError(t, err)

	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command must be on PATH")
	cmd := exec.Command(goBin, "list", "-m", "-f", "{{.Path}}", "all")
	cmd.Dir = dir
	// A go.work above the checkout would merge the root module in.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list -m all in %s: %v\n%s", dir, err, ee.Stderr)
	}
	require.NoError(t, err)

	mods := strings.Fields(string(out))
	require.NotEmpty(t, mods)
	require.Equal(t, "github.com/slowspan/slowspan/spanprofiler", mods[0], "main module first")
	for _, m := range mods {
		for _, bad := range forbidden {
			if strings.HasPrefix(m, bad) {
				t.Errorf("spanprofiler's build list contains %s (forbidden prefix %q)", m, bad)
			}
		}
	}
}
