// Package report renders one alert as a set of self-contained files: an HTML
// page (diagnosis, summary, child-span waterfall, inline flame graph,
// attributes), the flame graph as SVG, the collapsed stacks in folded format
// (milliseconds of CPU) and the profile as gzipped pprof. Exporters own only the transport: the alertfile exporter
// writes the set to a directory (WriteSet, Prune), others may attach it.
//
// Everything in an alert may come from an untrusted client (routes, attribute
// values, links, even frame names), so every string is made valid UTF-8 and
// escaped by html/template; links become <a href> only for http and https.
package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/flamegraph"
)

// File extensions of the members of a report set, after "<name>".
const (
	ExtHTML   = ".html"
	ExtSVG    = ".svg"
	ExtFolded = ".folded"
	ExtPprof  = ".pb.gz"
)

// nameTimeLayout is the UTC time at the start of a report name.
const nameTimeLayout = "20060102T150405Z"

// Set is the rendered report of one alert. Byte slices are nil when the alert
// has nothing to put in them (no stacks: no SVG and no folded file; no stacks
// and no valid pprof: no pprof file).
type Set struct {
	// Name is the common base name of the files, see Name.
	Name   string
	HTML   []byte
	SVG    []byte
	Folded []byte
	Pprof  []byte
	// Warnings are problems that did not stop the rendering, e.g. pprof
	// bytes that do not parse (the profile is then synthesised from the
	// stacks, or left out).
	Warnings []error
}

// Files returns the members of the set that have content, as file name and
// bytes, the HTML page last: its presence marks a complete set.
func (s *Set) Files() []File {
	var files []File
	add := func(ext string, data []byte) {
		if data != nil {
			files = append(files, File{Name: s.Name + ext, Data: data})
		}
	}
	add(ExtPprof, s.Pprof)
	add(ExtFolded, s.Folded)
	add(ExtSVG, s.SVG)
	add(ExtHTML, s.HTML)
	return files
}

// File is one member of a Set.
type File struct {
	Name string
	Data []byte
}

// Name is the base name of an alert's report files:
// <UTC start yyyymmddThhmmssZ>-<Key.Hash()>-<first 8 hex digits of ID>.
// It never contains any part of the route or other client-supplied text, so
// it is safe as a file name whatever the request looked like. The same alert
// always gets the same name, which makes rewriting a redelivered alert's
// report idempotent.
func Name(a alert.Alert) string {
	return a.Start.UTC().Format(nameTimeLayout) + "-" + a.Key.Hash() + "-" + idPrefix(a.ID)
}

// idPrefix is the first 8 characters of a well-formed (lower-case hex) ID, and
// otherwise the first 8 hex digits of its sha256, so a hostile ID cannot reach
// a file name.
func idPrefix(id string) string {
	if len(id) >= 8 && isLowerHex(id[:8]) {
		return id[:8]
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Build renders the report set of a.
func Build(a alert.Alert) (*Set, error) {
	s := &Set{Name: Name(a)}
	var stacks []alert.Stack
	if a.Profile != nil {
		stacks = cleanStacks(a.Profile.Stacks)
	}
	if len(stacks) > 0 {
		var svg bytes.Buffer
		g := flamegraph.Build(stacks, flamegraph.Options{Title: "CPU profile: " + validUTF8(a.Key.String())})
		if err := g.WriteSVG(&svg); err != nil {
			s.Warnings = append(s.Warnings, fmt.Errorf("report %s: flame graph: %w", s.Name, err))
		} else if safeSVG(svg.Bytes()) {
			s.SVG = svg.Bytes()
		} else {
			// Defence in depth: the flame graph escapes its text, but a
			// page with script must never be written.
			s.Warnings = append(s.Warnings, fmt.Errorf("report %s: flame graph SVG rejected: it holds script or a javascript: URL", s.Name))
		}
		s.Folded = Folded(stacks)
	}
	pp, warn := Pprof(a)
	if warn != nil {
		s.Warnings = append(s.Warnings, fmt.Errorf("report %s: %w", s.Name, warn))
	}
	s.Pprof = pp

	var diffSVG []byte
	if a.Regression != nil {
		svg, err := diffFlameGraph(a.Regression, s.Name)
		if err != nil {
			s.Warnings = append(s.Warnings, err)
		}
		diffSVG = svg
	}
	html, err := renderHTML(a, s, diffSVG)
	if err != nil {
		return nil, fmt.Errorf("report %s: rendering HTML: %w", s.Name, err)
	}
	s.HTML = html
	return s, nil
}

// cleanStacks makes frame names valid UTF-8 without ';' or newlines (which
// would break the folded format) and drops empty or non-positive stacks.
func cleanStacks(in []alert.Stack) []alert.Stack {
	out := make([]alert.Stack, 0, len(in))
	for _, s := range in {
		if len(s.Frames) == 0 || s.Value <= 0 {
			continue
		}
		frames := make([]string, len(s.Frames))
		for i, f := range s.Frames {
			f = validUTF8(f)
			f = strings.Map(func(r rune) rune {
				switch r {
				case ';', '\n', '\r':
					return '_'
				}
				return r
			}, f)
			if f == "" {
				f = "?"
			}
			frames[i] = f
		}
		out = append(out, alert.Stack{Frames: frames, Value: s.Value})
	}
	return out
}

// Folded writes stacks in the folded format of flame graph tools: one
// "root;...;leaf value" line per stack. The value is the stack's CPU time
// in whole milliseconds (rounded; a stack under half a millisecond reads
// 0): alert.Stack carries nanoseconds, which tools would show as a huge
// "samples" count.
func Folded(stacks []alert.Stack) []byte {
	var b bytes.Buffer
	for _, s := range cleanStacks(stacks) {
		b.WriteString(strings.Join(s.Frames, ";"))
		fmt.Fprintf(&b, " %d\n", figures.CPUMillis(s.Value))
	}
	return b.Bytes()
}

// safeSVG is the last check before an SVG is inlined in the page.
func safeSVG(svg []byte) bool {
	l := bytes.ToLower(svg)
	return !bytes.Contains(l, []byte("<script")) && !bytes.Contains(l, []byte("javascript:")) &&
		!bytes.Contains(l, []byte("<foreignobject"))
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
