package route

import (
	"strings"

	"github.com/slowspan/slowspan/internal/safetext"
)

// Markers written by Normalize. Their braces can never be part of an id, so
// Normalize leaves them alone on a second pass.
const (
	idMarker   = "{id}"
	restMarker = "{rest}" // stands for segments dropped by a cap
)

// Normalize turns a request path into a bounded route key: id-like segments
// (all digits, UUIDs, hex strings of 16+ characters, opaque tokens of 24+
// characters with a digit, words with four digits or two runs of digits,
// random-looking mixed-case tokens of 16+ letters) become {id}, empty segments are dropped (also a
// trailing slash, except for the root "/"), query and fragment are
// stripped, and the result is sanitised and has at most 32 segments and
// 256 bytes; what does not fit is replaced by a final {rest} segment, cut on
// a segment boundary. The result always starts with "/". Percent-escapes
// are kept as they are.
//
// Normalize is idempotent: Normalize(Normalize(p)) == Normalize(p).
func Normalize(path string) string {
	w, cut := safetext.Cut(path, scanLimit)
	w, stripped := stripQuery(w)
	return normalize(w, cut && !stripped)
}

// normalize is Normalize on a query-stripped path of at most scanLimit
// bytes. truncated says the caller cut p short, so its last segment may be
// a fragment of an id that no longer looks like one: it is dropped and
// {rest} marks the loss.
func normalize(p string, truncated bool) string {
	s, cut := safetext.Clean(p, scanLimit)
	if truncated || cut {
		truncated = true
		s = s[:max(strings.LastIndexByte(s, '/'), 0)]
	}

	// One more than the cap, to learn whether the cap applies. Fixed-size
	// so that it stays on the stack.
	var segs [maxSegments + 1]string
	n, size, changed := 0, 0, false
	for rest := s; rest != "" && n < len(segs); {
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		if seg == "" {
			continue
		}
		if isID(seg) {
			seg, changed = idMarker, true
		}
		segs[n] = seg
		n++
		size += 1 + len(seg)
	}

	// Drop whole segments until they and the {rest} marker fit both caps.
	rest := truncated
	for n > 0 && (n+b2i(rest) > maxSegments || size+b2i(rest)*(1+len(restMarker)) > maxRouteLen) {
		n--
		size -= 1 + len(segs[n])
		rest = true
	}

	if !rest && !changed && s == p && size == len(s) && s != "" && s[0] == '/' {
		// Already normalised (one slash before each non-empty segment and
		// nothing else): keep it, saving an allocation.
		return s
	}
	if n == 0 && !rest {
		return "/"
	}
	var b strings.Builder
	b.Grow(size + b2i(rest)*(1+len(restMarker)))
	for _, seg := range segs[:n] {
		b.WriteByte('/')
		b.WriteString(seg)
	}
	if rest {
		b.WriteString("/" + restMarker)
	}
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isID reports whether a path segment looks like an identifier rather than
// a fixed part of the route.
func isID(s string) bool {
	digits, hex := true, true
	nDigits, digitRuns, upper, lower := 0, 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			nDigits++
			if i == 0 || s[i-1] < '0' || s[i-1] > '9' {
				digitRuns++
			}
			continue
		case 'a' <= c && c <= 'f':
			digits = false
			lower++
		case 'A' <= c && c <= 'F':
			digits = false
			upper++
		case 'g' <= c && c <= 'z':
			digits, hex = false, false
			lower++
		case 'G' <= c && c <= 'Z':
			digits, hex = false, false
			upper++
		case c == '_', c == '-':
			digits, hex = false, false
		default:
			return false // outside the token alphabet, so no id form matches
		}
	}
	switch {
	case digits: // segments are never empty
		return true
	case hex && len(s) >= 16:
		return true
	case len(s) == 36 && isUUID(s):
		return true
	case len(s) >= 24 && nDigits > 0:
		// Opaque tokens (base64url ids, ULIDs, …). The digit keeps long
		// words and slugs such as "authentication_callback" as they are.
		return true
	case nDigits >= 4 || digitRuns >= 2:
		// Words with numbers in them: "user12345", "order-2024-07",
		// "a1b2c3". One short run stays: "v2", "oauth2", "sha256", "i18n".
		return true
	}
	// Random-looking letters: long, with as many capitals as a random
	// base64 token has (a camelCase name has a few).
	return len(s) >= 16 && upper*4 >= upper+lower && lower*4 >= upper+lower
}

// isUUID reports whether s is 8-4-4-4-12 hex digits, in any case. The
// caller has checked that s is 36 bytes of the token alphabet.
func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
