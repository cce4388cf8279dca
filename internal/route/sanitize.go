package route

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Output and work bounds.
const (
	maxRouteLen = 256 // Route, and Normalize output
	maxPathLen  = 1024
	maxSegments = 32 // Normalize output, counting a trailing {rest}

	// scanLimit is how much of any attribute is looked at. Everything is
	// cut to this first, so a 10 MB value costs no more than a 4 KB one;
	// it leaves room for the 1 KB Path cap even after escapes and control
	// characters are dropped.
	scanLimit = 4096
)

// window returns the first n bytes of s, backed off to a rune start so the
// cut itself does not produce a replacement character. cut reports whether
// anything was dropped.
func window(s string, n int) (_ string, cut bool) {
	if len(s) <= n {
		return s, false
	}
	i := n
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); j++ {
		i--
	}
	return s[:i], true
}

// sanitize makes s safe to log and to use as a key: invalid UTF-8 becomes
// U+FFFD (a run of bad bytes becomes one, as with strings.ToValidUTF8),
// control characters (C0, DEL and C1; they can drive terminals) are
// dropped, and the result is cut to at most limit bytes on a rune boundary.
// truncated reports whether input was left over. Callers bound len(s)
// with window first: the slow path walks all of s when it is mostly
// control characters.
//
// Clean ASCII within the limit, the usual case, is returned as is without
// allocating.
func sanitize(s string, limit int) (_ string, truncated bool) {
	i := 0
	for i < len(s) && i < limit && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s, false
	}

	var b strings.Builder
	b.Grow(min(len(s), limit))
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
			if unicode.IsControl(r) {
				i += size
				continue
			}
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			return b.String(), true
		}
		b.WriteRune(r)
		i += size
	}
	return b.String(), false
}
