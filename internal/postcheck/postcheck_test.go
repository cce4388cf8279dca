package postcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFindings: check.js reports each kind of problem it knows, and nothing
// in a message built only of what our renderers write.
func TestFindings(t *testing.T) {
	bad := map[string]string{
		"mention @channel":           "hi @channel",
		"live mention":               "x \\@all",
		"link":                       "see https://evil.example/x",
		`"www.evil.com"`:             "see www.evil.com",
		"raw HTML":                   "<b>x</b>",
		"image":                      "![i](http://x/y.png)",
		"channel link ~town":         "~town",
		"hashtag #hashtag":           "#hashtag",
		"inline LaTeX":               "$x$",
		"emoji":                      "hi :smile: :)",
		"heading of level 1":         "a\n===",
		"block quote":                "> q",
		"ordered list":               "1. one",
		"Slack markup can form":      "`<!channel>`",
		"is not one whole code span": "`a`b`",
	}
	var posts []Post
	for want, msg := range bad {
		p := Post{Name: want, Message: msg, Webhook: true}
		if want == "is not one whole code span" {
			p.Code = []string{"a`b"}
		}
		posts = append(posts, p)
	}
	posts = append(posts, Post{
		Name: "ours",
		Message: "#### :snail: Slow request `GET /@channel` on `svc`\n**2.40 s** against 500 ms\n\n" +
			"[Open trace](http://t.example/%40here) · trace `0102`\n\n- 1.50 s client `a``b` 42×\n- `k` @\u200bhere \\[x\\]\\(http\\://e\\)",
		Webhook: true,
		Links:   []Link{{Label: "Open trace", URL: "http://t.example/@here"}},
		Code:    []string{"GET /@channel", "svc", "a``b", "k"},
	})
	findings, err := Run(t.TempDir(), posts)
	require.NoError(t, err)
	got := map[string][]string{}
	for _, f := range findings {
		got[f.Post] = append(got[f.Post], f.Finding)
	}
	assert.Empty(t, got["ours"])
	for want := range bad {
		assert.True(t, strings.Contains(strings.Join(got[want], "\n"), want), "%q: want a finding %q, got %q", bad[want], want, got[want])
	}
}

// TestLinkDestination: one of our links pointing elsewhere than the URL it
// was given is a finding.
func TestLinkDestination(t *testing.T) {
	findings, err := Run(t.TempDir(), []Post{{Name: "p", Message: "[Open trace](http://evil.example/)",
		Links: []Link{{Label: "Open trace", URL: "http://t.example/"}}}})
	require.NoError(t, err)
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Finding, "is not one of ours")
}
