package flamegraph

import (
	"strings"
	"unicode/utf8"

	"github.com/slowspan/slowspan/internal/safetext"
)

// cleanText makes s safe to put in XML 1.0 and to draw on one line: invalid
// UTF-8 becomes U+FFFD, tab/newline/CR become spaces, other control
// characters (C0, DEL, C1) and U+FFFE/U+FFFF are dropped. It is cut to at
// most maxBytes (on a rune boundary, marked with "…") to bound the output.
func cleanText(s string, maxBytes int) string {
	if len(s) <= maxBytes && isClean(s) {
		return s // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(min(len(s), maxBytes+utf8.UTFMax))
	for _, r := range s { // range yields U+FFFD for invalid bytes
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case !allowedRune(r):
			continue
		}
		b.WriteRune(r)
		if b.Len() > maxBytes {
			break
		}
	}
	return safetext.CutMarked(b.String(), maxBytes, CutName)
}

func isClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !allowedRune(r) {
			return false
		}
		i += size
	}
	return true
}

// allowedRune reports whether r may appear in the output text. Go strings
// decoded with range never yield surrogates, so XML's Char production reduces
// to excluding control characters and U+FFFE/U+FFFF.
func allowedRune(r rune) bool {
	return !safetext.IsControl(r) && r != 0xfffe && r != 0xffff
}

// appendEscaped appends s XML-escaped, quotes included so the same function
// is safe for attribute values. s must be clean (see cleanText).
func appendEscaped(buf []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&#39;" // &apos; is not HTML4; the numeric form works everywhere
		default:
			continue
		}
		buf = append(buf, s[last:i]...)
		buf = append(buf, esc...)
		last = i + 1
	}
	return append(buf, s[last:]...)
}

// label is the text drawn in a frame widthC centipixels wide, at charC
// centipixels per character: the name, truncated with ".." when it does not
// fit, or "" when fewer than 3 characters would fit.
func label(name string, widthC, charC int64) string {
	chars := int((widthC - textPad*100) / charC)
	if chars < minLabelLen {
		return ""
	}
	if utf8.RuneCountInString(name) <= chars {
		return name
	}
	// Cut after chars-2 runes to leave room for "..".
	n := 0
	for i := range name {
		if n == chars-2 {
			return name[:i] + ".."
		}
		n++
	}
	return name
}
