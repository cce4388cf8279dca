// Package postcheck renders Mattermost posts produced by the tests with
// Mattermost's own Markdown parser, @mattermost/commonmark: the Mattermost
// fork of commonmark.js, which the mobile apps render posts with (the web app
// uses Mattermost's fork of marked and its own text formatting), with
// Mattermost's syntax (at-mentions, channel links, emoji and emoticons,
// hashtags, inline LaTeX, tables, bare-URL autolinks). It reports what
// untrusted text turned into: a link or image that is not one of ours, raw
// HTML, a mention (a parsed @name, or "@" followed by a letter in a
// paragraph's text outside code), a channel link, hashtag, LaTeX, emoji or
// table, Slack markup that an incoming webhook would translate, or a value
// that should be one whole code span and is not.
//
// The parser runs in Node: js/check.js, with the package pinned in
// js/package-lock.json (`make deps` runs npm ci there). Check fails the test,
// never skips it, when node or the package is missing.
package postcheck // import "github.com/slowspan/slowspan/internal/postcheck"

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/slowspan/slowspan/internal/mattermostfake"
)

// Link is a link a post may contain: Label is our own link text, URL the
// raw destination given to the renderer ("" allows any http(s) destination).
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url,omitempty"`
}

// Post is one message to render.
type Post struct {
	// Name says what produced the post; findings carry it.
	Name string `json:"name"`
	// Message is the post's text as the server stores it.
	Message string `json:"message"`
	// Webhook marks a post sent through an incoming webhook, where Slack
	// markup ("<!channel>") is translated even inside code spans.
	Webhook bool `json:"webhook,omitempty"`
	// Links are the only links the post may contain.
	Links []Link `json:"links,omitempty"`
	// Code are values that must each render as one whole code span, as the
	// renderer cleans them (markdown.Clean, after markdown.Webhook for a
	// webhook); a span cut with "…" counts, and a value may be missing when
	// the message says sections were left out to fit.
	Code []string `json:"code,omitempty"`
}

// DefaultLinks are the links of the default layout (markdown.AlertSections);
// their destinations come from the alert: any http(s) URL.
var DefaultLinks = []Link{{Label: "Open trace"}, {Label: "Open profile"}, {Label: "Open report"}}

// FromFake turns the posts a fake Mattermost created into posts to check,
// named "<name> post <i>", each allowed links (DefaultLinks when none).
func FromFake(name string, posts []mattermostfake.Post, links ...Link) []Post {
	if len(links) == 0 {
		links = DefaultLinks
	}
	out := make([]Post, 0, len(posts))
	for i, p := range posts {
		out = append(out, Post{Name: fmt.Sprintf("%s post %d", name, i), Message: p.Message, Webhook: p.FromWebhook, Links: links})
	}
	return out
}

// Finding is one problem check.js reports.
type Finding struct {
	Post    string `json:"post"`
	Finding string `json:"finding"`
}

func (f Finding) String() string { return f.Post + ": " + f.Finding }

// PostsDirEnv names a directory to keep the rendered corpora in (one JSON
// file per call of Check, named after the test), for reading them or
// running check.js by hand.
const PostsDirEnv = "SLOWSPAN_POSTS_DIR"

// Dir is the directory of the Node package (js/ next to this file).
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "js"
	}
	return filepath.Join(filepath.Dir(file), "js")
}

// Run writes posts to a JSON file under dir and renders them with check.js.
// It returns the findings, or an error when the check could not run (node or
// the npm package missing, a crash).
func Run(dir string, posts []Post) ([]Finding, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not on the PATH: the Markdown check renders posts with Mattermost's parser in Node; run `make deps` (installs Debian's nodejs and npm)")
	}
	js := Dir()
	if _, err := os.Stat(filepath.Join(js, "node_modules", "@mattermost", "commonmark", "package.json")); err != nil {
		return nil, fmt.Errorf("@mattermost/commonmark is not installed: run `make deps` (npm ci --prefix internal/postcheck/js): %w", err)
	}
	data, err := json.Marshal(posts)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "posts-*.json")
	if err != nil {
		return nil, err
	}
	name := f.Name()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, filepath.Join(js, "check.js"), name)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("node check.js %s: %w\n%s", name, err, stderr.String())
	}
	var out []Finding
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		var fd Finding
		if err := json.Unmarshal(sc.Bytes(), &fd); err != nil {
			return nil, fmt.Errorf("check.js output %q: %w", sc.Text(), err)
		}
		out = append(out, fd)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("node check.js exited 1 without findings\n%s", stderr.String())
	}
	return out, nil
}

// Verify renders posts with Mattermost's parser and returns an error
// listing every finding, or saying why the check could not run; nil when the
// posts are clean. With SLOWSPAN_POSTS_DIR set, the corpus is kept in a
// directory named after name under it; otherwise in a temporary directory
// removed afterwards.
func Verify(name string, posts []Post) error {
	if len(posts) == 0 {
		return errors.New("postcheck: no posts to check")
	}
	var dir string
	if keep := os.Getenv(PostsDirEnv); keep != "" {
		dir = filepath.Join(keep, fileName(name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("postcheck: %w", err)
		}
	} else {
		tmp, err := os.MkdirTemp("", "postcheck-")
		if err != nil {
			return fmt.Errorf("postcheck: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	}
	findings, err := Run(dir, posts)
	if err != nil {
		return fmt.Errorf("postcheck: %w", err)
	}
	if len(findings) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Mattermost's parser (@mattermost/commonmark) found %d problem(s) in %d posts:", len(findings), len(posts))
	for _, f := range findings {
		b.WriteString("\n  " + f.String())
	}
	return errors.New(b.String())
}

// Check is Verify for a test: it fails t with the findings.
func Check(t testing.TB, posts []Post) {
	t.Helper()
	if err := Verify(t.Name(), posts); err != nil {
		t.Error(err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileName(s string) string { return unsafeName.ReplaceAllString(s, "_") }
