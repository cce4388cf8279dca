package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// readmeMarker is the comment in the repository README just above the Go
// block that must be main.go, byte for byte.
const readmeMarker = "<!-- the code of examples/quickstart/main.go, kept identical by its readme_test.go -->\n"

// TestREADMEExample fails when the README's Go example and main.go differ:
// the README shows exactly what compiles (this package builds with the
// test, and go vet checks it below).
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	block, ok := readmeBlock(readme)
	if !ok {
		t.Fatalf("README.md has no %q followed by a ```go block", readmeMarker)
	}
	if !bytes.Equal(block, code) {
		t.Errorf("README.md's Go example differs from examples/quickstart/main.go (first difference at line %d): "+
			"copy main.go into the block", firstDiffLine(block, code))
	}
}

// readmeBlock returns the body of the ```go block right after readmeMarker.
func readmeBlock(readme []byte) ([]byte, bool) {
	_, rest, ok := bytes.Cut(readme, []byte(readmeMarker))
	if !ok {
		return nil, false
	}
	rest, ok = bytes.CutPrefix(rest, []byte("\n```go\n"))
	if !ok {
		if rest, ok = bytes.CutPrefix(rest, []byte("```go\n")); !ok {
			return nil, false
		}
	}
	// The block ends at the first line that is just the closing fence.
	if bytes.HasPrefix(rest, []byte("```\n")) {
		return nil, true
	}
	body, _, ok := bytes.Cut(rest, []byte("\n```\n"))
	if !ok {
		return nil, false
	}
	return append(body, '\n'), true
}

func firstDiffLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// TestVet runs go vet on the example: the README must show code that passes it.
func TestVet(t *testing.T) {
	if testing.Short() {
		t.Skip("go vet: skipped with -short")
	}
	out, err := exec.Command("go", "vet", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go vet ./examples/quickstart: %v\n%s", err, out)
	}
}
