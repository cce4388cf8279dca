package glob

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// refMatch is an independent reference: it translates the glob to an RE2
// expression and lets package regexp do the matching. It returns an error
// exactly when the glob is invalid.
//
// regexp reads an invalid subject byte as U+FFFD, while the package treats
// it as a character equal to no rune. To compare the two, every invalid byte
// of the subject is replaced by a sentinel rune that does not occur in the
// pattern, and the sentinel is cut out of every class range, so it behaves
// exactly like "a character equal to no rune".
func refMatch(pattern, subject string) (bool, error) {
	re, sentinel, err := refCompile(pattern)
	if err != nil {
		return false, err
	}
	return re.MatchString(replaceInvalid(subject, sentinel)), nil
}

func refCompile(pattern string) (*regexp.Regexp, rune, error) {
	if pattern == "" || len(pattern) > 1024 || !utf8.ValidString(pattern) {
		return nil, 0, errors.New("bad pattern")
	}
	// Pick a sentinel absent from the pattern; a 1024-byte pattern holds at
	// most 1024 runes, so one of the 1025 candidates is free.
	sentinel := rune(utf8.MaxRune)
	for strings.ContainsRune(pattern, sentinel) {
		sentinel--
	}
	expr, err := globToRegexp(pattern, sentinel)
	if err != nil {
		return nil, 0, err
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, 0, err
	}
	return re, sentinel, nil
}

func replaceInvalid(s string, sentinel rune) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(sentinel)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// globToRegexp writes every rune as \x{...} so no quoting subtlety can leak
// in; reversed ranges are left for regexp.Compile to reject.
func globToRegexp(pattern string, sentinel rune) (string, error) {
	var b strings.Builder
	b.WriteString(`\A(?s:`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			neg := false
			if j < len(rs) && (rs[j] == '!' || rs[j] == '^') {
				neg = true
				j++
			}
			start := j
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				return "", errors.New("unclosed class")
			}
			body := rs[start:j]
			b.WriteString("[")
			if neg {
				b.WriteString("^")
			}
			for k := 0; k < len(body); {
				lo, hi := body[k], body[k]
				if k+2 < len(body) && body[k+1] == '-' {
					hi = body[k+2]
					k += 3
				} else {
					k++
				}
				if lo < sentinel && sentinel < hi {
					fmt.Fprintf(&b, `\x{%x}-\x{%x}\x{%x}-\x{%x}`, lo, sentinel-1, sentinel+1, hi)
				} else {
					fmt.Fprintf(&b, `\x{%x}-\x{%x}`, lo, hi)
				}
			}
			b.WriteString("]")
			i = j
		default:
			fmt.Fprintf(&b, `\x{%x}`, r)
		}
	}
	b.WriteString(`)\z`)
	return b.String(), nil
}

var fuzzSeeds = []struct{ pattern, subject string }{
	{"/api/*", "/api/users/7"},
	{"*/health", "/v1/health"},
	{"/a/*/b/*", "/a/x/y/b/z"},
	{"*a*a*a*a*b", strings.Repeat("a", 64)},
	{"?", "é"},
	{"?", "\xff"},
	{"[!a]", "\xff"},
	{"[\uFFFD]", "\xff"},
	{"\uFFFD", "\xff"},
	{"[a-z]*", "abc"},
	{"[]]", "]"},
	{"[!]]", "a"},
	{"[*]", "*"},
	{"[^a-c-e]", "-"},
	{"[--0]", "/"},
	{"[a-]", "-"},
	{"[z-a]", "z"},
	{"[", "["},
	{"[]", "]"},
	{"*[", "x"},
	{"é*ü", "éxü"},
	{"*?", ""},
	{"**", ""},
	{"*x*", "\xe9x"},
	{"a\\b", "a\\b"},
	{"\x00*", "\x00\n"},
	{"[\x00-\U0010FFFF]", "\xff"},
	{"*\U0010FFFF", "a\xff"},
}

// FuzzMatch checks that matching never panics and agrees with refMatch.
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.pattern, s.subject)
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		p, err := Compile(pattern)
		want, refErr := refMatch(pattern, subject)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("Compile(%q) error = %v, reference error = %v", pattern, err, refErr)
		}
		if err != nil {
			return
		}
		if got := p.Match(subject); got != want {
			t.Fatalf("Compile(%q).Match(%q) = %v, reference says %v", pattern, subject, got, want)
		}
		set, err := CompileSet([]string{pattern})
		if err != nil {
			t.Fatalf("CompileSet(%q): %v", pattern, err)
		}
		if got := set.Match(subject); got != want {
			t.Fatalf("Set{%q}.Match(%q) = %v, want %v", pattern, subject, got, want)
		}
	})
}

// FuzzCompile checks that Compile never panics, agrees with the reference
// on validity, keeps the source, and names the pattern in its errors.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.pattern)
	}
	f.Add("")
	f.Add(strings.Repeat("x", 1025))
	f.Add("/a\xff")
	f.Fuzz(func(t *testing.T, pattern string) {
		p, err := Compile(pattern)
		_, _, refErr := refCompile(pattern)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("Compile(%q) error = %v, reference error = %v", pattern, err, refErr)
		}
		if err != nil {
			if p != nil {
				t.Fatalf("Compile(%q) returned a pattern along with error %v", pattern, err)
			}
			if !strings.Contains(err.Error(), quote(pattern)) {
				t.Fatalf("Compile(%q) error %q does not quote the pattern", pattern, err)
			}
			return
		}
		if p.String() != pattern {
			t.Fatalf("String() = %q, want %q", p.String(), pattern)
		}
		// Matching the pattern's own text must not panic either.
		p.Match(pattern)
	})
}
