// Package markdown renders slowspan alerts as Mattermost Markdown that is safe
// to post whatever the alert contains.
//
// Everything in an alert may come from an untrusted client: routes, URLs,
// attribute values, span and function names. Mattermost turns "@channel",
// "@here", "@all" and "@username" in paragraph text into notifications, and
// the server decodes backslash escapes and HTML entities before it looks, so
// escaping does not help (exporter/mattermostexporter/PROTOCOL.md section
// 10). The helpers here therefore put untrusted text where neither Markdown
// nor mentions apply:
//
//   - Code: an inline code span whose fence is longer than any backtick run
//     inside, so the value cannot close it. Mentions, links, emphasis and
//     entities are inert in code spans.
//   - Text: for plain text, a zero-width space (U+200B) after every "@" (the
//     server's word splitter then never sees "@channel") and after every "&"
//     (no entity can form), and a backslash before Markdown punctuation
//     (with Mattermost's own: "~" channel links, ":" emoji, "#" hashtags,
//     "$" inline LaTeX).
//   - Link: a link whose text is ours and whose destination is an http(s) URL
//     with every character that could matter percent-encoded.
//   - Webhook: incoming webhooks also translate Slack markup ("<!channel>",
//     "<@USERID>", "<url|label>") before parsing mentions, even inside code
//     spans; a zero-width space after every "<" defeats that.
//
// Fit and SplitSections keep a message within the server's limit (16383
// runes by default, counted as runes) by dropping whole sections, lowest
// priority first, and cutting only between lines and outside fenced code
// blocks, so a cut never opens a code span or a fence.
package markdown // import "github.com/slowspan/slowspan/internal/markdown"

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// ZWSP is the zero-width space inserted after "@", "&" and (for
	// webhooks) "<".
	ZWSP = "\u200b"
	// MaxRunes is Mattermost's default MaxPostSize (exporter/mattermostexporter/PROTOCOL.md section 8).
	MaxRunes = 16383
	// Ellipsis marks cut values.
	Ellipsis = "…"
)

// Clean makes s valid UTF-8 on one line: invalid bytes become U+FFFD, line
// breaks and tabs become spaces, other control and format characters that
// could reorder or hide text (bidi overrides, NUL) are dropped. U+200B is
// kept: it is what neutralises mentions.
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		case r == 0x200b:
			b.WriteRune(r)
		case unicode.IsControl(r), isBidi(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isClean(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || (r >= 0x80 && (unicode.IsControl(r) || isBidi(r) || r == 0x2028 || r == 0x2029)) {
			return false
		}
	}
	return true
}

func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// Truncate cuts s to at most max runes, ending it with an ellipsis when cut.
// max < 1 means no limit.
func Truncate(s string, max int) string {
	if max < 1 || utf8.RuneCountInString(s) <= max {
		return s
	}
	if max == 1 {
		return Ellipsis
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s
}

// Code renders s as an inline code span, cleaned and cut to max runes (max <
// 1: no cut). The fence is one backtick longer than the longest run of
// backticks in s, and s is padded with spaces when it starts or ends with a
// backtick or a space, so the span always closes where it should. An empty
// value renders as a code span of one space.
func Code(s string, max int) string {
	s = Truncate(Clean(s), max)
	if s == "" {
		return "` `"
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if s[0] == '`' || s[len(s)-1] == '`' || s[0] == ' ' || s[len(s)-1] == ' ' {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			if cur > best {
				best = cur
			}
		} else {
			cur = 0
		}
	}
	return best
}

// Text renders s as inert plain text, cleaned and cut to max runes (max < 1:
// no cut): a zero-width space follows every "@" (also full-width and small
// commercial at) and every "&", and ASCII Markdown punctuation is
// backslash-escaped, so the value can neither mention anyone nor form a link,
// emphasis, a heading (also a setext "===" underline), a list or inline LaTeX
// ("$x$", which Mattermost renders when EnableInlineLatex is on).
func Text(s string, max int) string {
	s = Truncate(Clean(s), max)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch r {
		case '@', '＠', '﹫', '&':
			b.WriteRune(r)
			b.WriteString(ZWSP)
		case '\\', '`', '*', '_', '[', ']', '(', ')', '#', '+', '-', '.', '!', '|', '<', '>', '~', ':', '$', '=':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Webhook neutralises the Slack markup an incoming webhook translates before
// parsing mentions ("<!channel>", "<!here>", "<@USERID>", "<url|label>") by
// putting a zero-width space after every "<". Apply it to untrusted values
// before Code or Text, or to a whole webhook message: it is idempotent.
func Webhook(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '<' && !strings.HasPrefix(s[i+1:], ZWSP) {
			b.WriteString(ZWSP)
		}
	}
	return b.String()
}

// MaxURLRunes is the longest URL Link turns into a link; longer ones are shown
// cut, in a code span.
const MaxURLRunes = 2048

// Link renders a Markdown link with label (escaped as Text) pointing to rawURL
// when rawURL is an absolute http or https URL of at most MaxURLRunes runes.
// Characters that could end the destination, form an entity or read as a
// mention ("@", "(", ")", "<", ">", "&"-entities via ";", spaces, quotes,
// backslashes, backticks, non-ASCII) are percent-encoded. Any other URL is
// shown as a code span cut to 200 runes, not clickable.
func Link(label, rawURL string) string {
	u := Clean(rawURL)
	lower := strings.ToLower(u)
	if u == "" || utf8.RuneCountInString(u) > MaxURLRunes ||
		!(strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")) ||
		len(u) <= len("https://") {
		return Text(label, 0) + " " + Code(rawURL, 200)
	}
	return "[" + Text(label, 0) + "](" + encodeDest(u) + ")"
}

func encodeDest(u string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(u) + 16)
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case strings.IndexByte("-._~:/?#=+,!$*%&", c) >= 0:
			b.WriteByte(c)
		default: // @ ( ) < > [ ] \ ` " ' ; | ^ { } space, controls, non-ASCII bytes
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
