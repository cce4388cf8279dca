// Package safetext makes untrusted text (span names and attributes, routes,
// service and function names) safe to log, to key on and to embed: valid
// UTF-8, without control characters, cut on a rune boundary. Every place
// that takes text from the wire uses these functions, so all of them treat
// hostile text alike.
package safetext

import (
	"strings"
	"unicode/utf8"
)

// IsControl reports whether r is a control character: C0, DEL or C1. They
// can drive terminals and break lines, so they never reach an alert's keys
// or one-line texts.
func IsControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// Cut returns the longest prefix of s of at most maxBytes bytes that does
// not end inside a UTF-8 sequence, and whether anything was cut. It does
// not copy.
func Cut(s string, maxBytes int) (string, bool) {
	if len(s) <= maxBytes {
		return s, false
	}
	i := max(maxBytes, 0)
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); j++ {
		i--
	}
	return s[:i], true
}

// CutMarked is Cut with marker (e.g. "…") ending a cut string, within
// maxBytes.
func CutMarked(s string, maxBytes int, marker string) string {
	if len(s) <= maxBytes {
		return s
	}
	prefix, _ := Cut(s, maxBytes-len(marker))
	return prefix + marker
}

// Clean makes s valid UTF-8 (a run of invalid bytes becomes one U+FFFD, as
// with strings.ToValidUTF8), drops control characters, and cuts the result
// to at most maxBytes on a rune boundary; truncated reports whether input
// was left over. Clean ASCII within maxBytes, the usual case, is returned
// as is without allocating; any other result is a copy, so it never pins a
// huge input. Bound len(s) with Cut first where s may be huge: the work is
// linear in len(s).
func Clean(s string, maxBytes int) (_ string, truncated bool) {
	i := 0
	for i < len(s) && i < maxBytes && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s, false
	}

	var b strings.Builder
	b.Grow(min(len(s), maxBytes))
	b.WriteString(s[:i])
	bad := false // the previous byte was invalid: collapse runs
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if bad {
				i++
				continue
			}
			bad = true
		} else {
			bad = false
			if IsControl(r) {
				i += size
				continue
			}
		}
		if b.Len()+utf8.RuneLen(r) > maxBytes {
			return b.String(), true
		}
		b.WriteRune(r)
		i += size
	}
	return b.String(), false
}
