package markdown

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Section is a block of a message: one or more lines, balanced (every fenced
// code block it opens, it closes). Sections are joined by a blank line.
type Section struct {
	Text string
	// Priority decides what goes first when the message is too long: the
	// lowest priority is dropped first (the later one on a tie).
	Priority int
}

// Fit joins sections with blank lines into a message of at most max runes
// (max < 1: MaxRunes). While too long it drops whole sections, lowest
// priority first, and says how many were left out; a single section that is
// still too long is cut between lines, never inside a line (which could open
// a code span) and never inside a fenced code block (which is closed). The
// result is valid UTF-8 whatever the input.
func Fit(sections []Section, max int) string {
	if max < 1 {
		max = MaxRunes
	}
	keep := make([]Section, 0, len(sections))
	for _, s := range sections {
		s.Text = strings.ToValidUTF8(strings.Trim(s.Text, "\n"), "\uFFFD")
		if strings.TrimSpace(s.Text) != "" {
			keep = append(keep, s)
		}
	}
	dropped := 0
	for {
		msg := join(keep, dropped)
		if utf8.RuneCountInString(msg) <= max {
			return msg
		}
		if len(keep) <= 1 {
			break
		}
		lowest := 0
		for i, s := range keep {
			if s.Priority <= keep[lowest].Priority {
				lowest = i
			}
		}
		keep = append(keep[:lowest], keep[lowest+1:]...)
		dropped++
	}
	// One section left and still too long: keep its first lines.
	note := omittedNote(dropped, true)
	budget := max - utf8.RuneCountInString(note) - 2
	text := ""
	if len(keep) == 1 && budget > 0 {
		text = CutLines(keep[0].Text, budget)
	}
	if text == "" {
		return Truncate(note, max)
	}
	return text + "\n\n" + note
}

func join(keep []Section, dropped int) string {
	parts := make([]string, 0, len(keep)+1)
	for _, s := range keep {
		parts = append(parts, s.Text)
	}
	if dropped > 0 {
		parts = append(parts, omittedNote(dropped, false))
	}
	return strings.Join(parts, "\n\n")
}

func omittedNote(dropped int, cut bool) string {
	switch {
	case cut && dropped > 0:
		return fmt.Sprintf("_%s message cut and %d section(s) left out to fit the server's limit_", Ellipsis, dropped)
	case cut:
		return "_" + Ellipsis + " message cut to fit the server's limit_"
	default:
		return fmt.Sprintf("_%s %d section(s) left out to fit the server's limit_", Ellipsis, dropped)
	}
}

// CutLines returns the longest prefix of whole lines of text within max
// runes. A fenced code block open at the cut is closed (the closing fence
// counts towards max); a line that alone exceeds the budget ends the prefix.
func CutLines(text string, max int) string {
	lines := strings.Split(text, "\n")
	var out []string
	used := 0
	var fence string // the open fence, "" outside a fenced block
	for _, line := range lines {
		n := utf8.RuneCountInString(line)
		if len(out) > 0 {
			n++ // the newline
		}
		nextFence := fenceAfter(fence, line)
		closing := 0
		if nextFence != "" {
			closing = utf8.RuneCountInString(nextFence) + 1
		}
		if used+n+closing > max {
			break
		}
		out = append(out, line)
		used += n
		fence = nextFence
	}
	if fence != "" {
		out = append(out, fence)
	}
	return strings.Join(out, "\n")
}

// fenceAfter returns the open fence after line, given the open fence before
// it ("" when outside a fenced block), per CommonMark: up to three spaces of
// indent, then at least three backticks or tildes; a closing fence is the same
// character, at least as long, followed only by spaces.
func fenceAfter(open, line string) string {
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) > 3 {
		return open
	}
	for _, c := range []byte{'`', '~'} {
		n := 0
		for n < len(trimmed) && trimmed[n] == c {
			n++
		}
		if n < 3 {
			continue
		}
		run := trimmed[:n]
		rest := trimmed[n:]
		if open == "" {
			if c == '`' && strings.Contains(rest, "`") {
				return open // not a fence: backticks in the info string
			}
			return run
		}
		if open[0] == c && n >= len(open) && strings.TrimSpace(rest) == "" {
			return ""
		}
		return open
	}
	return open
}

// SplitSections splits a rendered document (a message_template's output) at
// blank lines outside fenced code blocks. Earlier sections get higher
// priority, so Fit drops from the end.
func SplitSections(doc string) []Section {
	doc = strings.ToValidUTF8(doc, "\uFFFD")
	lines := strings.Split(doc, "\n")
	var sections []Section
	var cur []string
	fence := ""
	flush := func() {
		if len(cur) > 0 {
			sections = append(sections, Section{Text: strings.Join(cur, "\n")})
			cur = nil
		}
	}
	for _, line := range lines {
		if fence == "" && strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		cur = append(cur, line)
		fence = fenceAfter(fence, line)
	}
	if fence != "" {
		cur = append(cur, fence) // close a fence the template left open
	}
	flush()
	for i := range sections {
		sections[i].Priority = len(sections) - i
	}
	return sections
}
