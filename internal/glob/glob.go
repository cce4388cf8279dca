// Package glob implements the URL glob patterns used by the include/exclude
// filters of the processor.
//
// The syntax and semantics follow Python's fnmatch, which the original
// implementation used, and are case-sensitive:
//
//	pattern  matches
//	abc      exactly "abc"
//	*        any run of characters, including '/' and the empty run
//	?        exactly one character
//	[seq]    one character in seq; ranges such as a-z are allowed
//	[!seq]   one character not in seq ([^seq] is accepted too)
//
// Inside a class, a ']' right after '[' or '[!' is a literal member, and a
// '-' at the start or end is a literal '-'; so "[]]" matches "]" and "[*]"
// matches "*". There is no escape character: '\' is an ordinary character.
// Where fnmatch silently guesses (an unclosed '[' taken literally, a
// reversed range dropped), Compile returns an error instead, because a
// filter that quietly matches nothing is hard to notice in production.
//
// '*' deliberately crosses '/': the original design was fnmatch-based and
// existing configurations rely on "/api/*" matching "/api/users/7" and on
// "*/health" matching "/v1/health". Path-segment-aware globbing would
// silently change which spans are filtered.
//
// A character is one UTF-8 encoded rune of the subject; each byte that is
// not part of valid UTF-8 counts as one character of its own, which '?', '*'
// and negated classes match but literals and positive classes never do.
// Matching allocates nothing and runs in O(len(pattern)*len(subject)) at
// worst.
package glob

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxPatternLen bounds a pattern's length in bytes; patterns come from
// configuration, and anything longer is almost certainly a mistake.
const maxPatternLen = 1024

type tokKind uint8

const (
	tokLit   tokKind = iota // a run of literal bytes
	tokAny                  // '?': one character
	tokClass                // '[...]': one character in (or not in) a set
	tokStar                 // '*': any run of characters
)

type token struct {
	kind tokKind
	cls  int32  // index into Pattern.classes, for tokClass
	lit  string // for tokLit; always valid, non-empty UTF-8
}

// matchKind selects a fast path; most configured patterns are plain
// strings, prefixes or suffixes, which need no token walk at all.
type matchKind uint8

const (
	kindGeneral  matchKind = iota
	kindExact              // "abc"
	kindPrefix             // "abc*"
	kindSuffix             // "*abc"
	kindContains           // "*abc*"
	kindAll                // "*"
)

// Pattern is a compiled glob; safe for concurrent use.
type Pattern struct {
	src     string
	kind    matchKind
	lit     string // the literal of the fast-path kinds
	toks    []token
	classes []class
}

type runeRange struct{ lo, hi rune }

type class struct {
	negated bool
	ascii   [2]uint64   // members below utf8.RuneSelf, as a bitmap for speed
	ranges  []runeRange // members at or above utf8.RuneSelf may be in these
}

// contains reports whether r is a member of the set, ignoring negation.
func (c *class) contains(r rune) bool {
	if r < utf8.RuneSelf {
		return c.ascii[r>>6]&(1<<(uint(r)&63)) != 0
	}
	for _, rg := range c.ranges {
		if rg.lo <= r && r <= rg.hi {
			return true
		}
	}
	return false
}

func (c *class) add(lo, hi rune) {
	for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
		c.ascii[r>>6] |= 1 << (uint(r) & 63)
	}
	if hi >= utf8.RuneSelf {
		c.ranges = append(c.ranges, runeRange{lo, hi})
	}
}

// match tests the first character of s (len(s) > 0) and returns its width.
func (c *class) match(s string) (bool, int) {
	if b := s[0]; b < utf8.RuneSelf {
		return c.ascii[b>>6]&(1<<(b&63)) != 0 != c.negated, 1
	}
	r, n := utf8.DecodeRuneInString(s)
	// An invalid byte is a character that equals no rune, so only a negated
	// class matches it; treating it as U+FFFD would let "[\uFFFD]" match
	// garbage.
	in := !(r == utf8.RuneError && n == 1) && c.contains(r)
	return in != c.negated, n
}

// compileError carries the reason separately from the pattern so that
// CompileSet can prefix the pattern's index without repeating the pattern.
type compileError struct {
	pattern string
	reason  string
}

func (e *compileError) Error() string {
	return fmt.Sprintf("glob: invalid pattern %s: %s", quote(e.pattern), e.reason)
}

// quote quotes a pattern for an error message, shortening very long ones so
// a bad 10 KB config value does not flood the log.
func quote(p string) string {
	const max = 64
	if len(p) <= max {
		return fmt.Sprintf("%q", p)
	}
	n := max
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return fmt.Sprintf("%q...", p[:n])
}

func errorf(pattern, format string, args ...any) error {
	return &compileError{pattern: pattern, reason: fmt.Sprintf(format, args...)}
}

// Compile parses a glob pattern.
func Compile(pattern string) (*Pattern, error) {
	switch {
	case pattern == "":
		return nil, errorf(pattern, `the pattern is empty; use "*" to match everything, or remove the entry`)
	case len(pattern) > maxPatternLen:
		return nil, errorf(pattern, "the pattern is %d bytes long, the limit is %d; shorten it, e.g. end it with '*' instead of spelling out a long tail", len(pattern), maxPatternLen)
	case !utf8.ValidString(pattern):
		return nil, errorf(pattern, "the pattern is not valid UTF-8 (bad byte at offset %d); write it as UTF-8 text", invalidOffset(pattern))
	}

	p := &Pattern{src: pattern}
	// Literal runs are substrings of the pattern, so they cost nothing.
	litStart, i := 0, 0
	flush := func() {
		if i > litStart {
			p.toks = append(p.toks, token{kind: tokLit, lit: pattern[litStart:i]})
		}
	}
	for i < len(pattern) {
		switch pattern[i] {
		case '*':
			flush()
			// Consecutive stars are one star; merging keeps a single
			// backtrack point meaningful and avoids needless work.
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != tokStar {
				p.toks = append(p.toks, token{kind: tokStar})
			}
			i++
		case '?':
			flush()
			p.toks = append(p.toks, token{kind: tokAny})
			i++
		case '[':
			flush()
			cls, next, err := parseClass(pattern, i)
			if err != nil {
				return nil, err
			}
			p.toks = append(p.toks, token{kind: tokClass, cls: int32(len(p.classes))})
			p.classes = append(p.classes, cls)
			i = next
		default:
			i++
			continue
		}
		litStart = i
	}
	flush()
	p.kind, p.lit = classify(p.toks)
	return p, nil
}

func invalidOffset(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// parseClass parses the class starting at pattern[start] == '[' and returns
// the offset just past its closing ']'.
func parseClass(pattern string, start int) (class, int, error) {
	var c class
	i := start + 1
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		c.negated = true
		i++
	}
	body := i
	// fnmatch rule: a ']' in first position is a member, not the end.
	leadingBracket := i < len(pattern) && pattern[i] == ']'
	if leadingBracket {
		i++
	}
	end := strings.IndexByte(pattern[i:], ']')
	if end < 0 {
		if leadingBracket {
			return c, 0, errorf(pattern, `the character class at offset %d is never closed: a ']' right after '[' or '[!' is a literal member, so %q does not close it; add a closing ']' (e.g. "[]]" matches ']'), or write "[[]" to match a literal '['`, start, pattern[start:body+1])
		}
		return c, 0, errorf(pattern, `unclosed '[' at offset %d; add the closing ']', or write "[[]" to match a literal '['`, start)
	}
	end += i

	// Decode members rune by rune; "a-b" is a range unless the '-' is the
	// last character of the class, matching fnmatch and RE2's Perl mode.
	s := pattern[body:end]
	for j := 0; j < len(s); {
		lo, n := utf8.DecodeRuneInString(s[j:])
		j += n
		hi := lo
		if j+1 < len(s) && s[j] == '-' {
			var m int
			hi, m = utf8.DecodeRuneInString(s[j+1:])
			if hi < lo {
				return c, 0, errorf(pattern, "the range %q at offset %d is reversed (%q sorts after %q); write it as %q", string(lo)+"-"+string(hi), body+j-n, lo, hi, string(hi)+"-"+string(lo))
			}
			j += 1 + m
		}
		c.add(lo, hi)
	}
	return c, end + 1, nil
}

func classify(toks []token) (matchKind, string) {
	star := func(i int) bool { return toks[i].kind == tokStar }
	lit := func(i int) bool { return toks[i].kind == tokLit }
	switch {
	case len(toks) == 1 && star(0):
		return kindAll, ""
	case len(toks) == 1 && lit(0):
		return kindExact, toks[0].lit
	case len(toks) == 2 && lit(0) && star(1):
		return kindPrefix, toks[0].lit
	case len(toks) == 2 && star(0) && lit(1):
		return kindSuffix, toks[1].lit
	case len(toks) == 3 && star(0) && lit(1) && star(2):
		return kindContains, toks[1].lit
	}
	return kindGeneral, ""
}

// MustCompile is like Compile but panics on error; for patterns fixed in
// code, not for user configuration.
func MustCompile(pattern string) *Pattern {
	p, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the source pattern.
func (p *Pattern) String() string {
	if p == nil {
		return ""
	}
	return p.src
}

// Match reports whether the whole of s matches the pattern. A nil Pattern
// matches nothing.
//
// The fast paths below are exact: a literal is valid UTF-8, so it never
// starts with a continuation byte and any place it occurs in s is a
// character boundary.
func (p *Pattern) Match(s string) bool {
	if p == nil {
		return false
	}
	switch p.kind {
	case kindExact:
		return s == p.lit
	case kindPrefix:
		return strings.HasPrefix(s, p.lit)
	case kindSuffix:
		return strings.HasSuffix(s, p.lit)
	case kindContains:
		return strings.Contains(s, p.lit)
	case kindAll:
		return true
	}
	return p.matchGeneral(s)
}

// matchGeneral is the classic wildcard matcher with a single backtrack
// point. Because '*' matches anything, once a later star has been reached
// no earlier star ever needs to grow: the text between stars is matched at
// its leftmost possible position, which leaves the most room for the rest.
// That bounds the work by O(len(toks)*len(s)) with no recursion.
func (p *Pattern) matchGeneral(s string) bool {
	toks := p.toks
	pi, si := 0, 0
	starPi, starSi := -1, 0 // last star seen, and where its match ends
	for {
		if pi < len(toks) {
			t := &toks[pi]
			switch t.kind {
			case tokStar:
				if pi == len(toks)-1 {
					return true // a trailing star swallows the rest
				}
				pi++
				// Skip straight to the first place the following literal
				// occurs; if it occurs nowhere, no later attempt can match.
				if next := &toks[pi]; next.kind == tokLit {
					i := strings.Index(s[si:], next.lit)
					if i < 0 {
						return false
					}
					si += i
				}
				starPi, starSi = pi-1, si
				continue
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					pi++
					continue
				}
			case tokAny:
				if si < len(s) {
					si += charLen(s, si)
					pi++
					continue
				}
			case tokClass:
				if si < len(s) {
					if ok, n := p.classes[t.cls].match(s[si:]); ok {
						si += n
						pi++
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}

		// Mismatch: let the last star absorb one more character and retry
		// the tokens after it.
		if starPi < 0 || starSi >= len(s) {
			return false
		}
		pi = starPi + 1
		if next := &toks[pi]; next.kind == tokLit {
			i := strings.Index(s[starSi+1:], next.lit)
			if i < 0 {
				return false
			}
			starSi += 1 + i
		} else {
			starSi += charLen(s, starSi)
		}
		si = starSi
	}
}

// charLen returns the byte width of the character at s[i] (i < len(s)); an
// invalid byte is a one-byte character.
func charLen(s string, i int) int {
	if s[i] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return n
}

// Set is an ordered list of patterns: Match reports whether any matches.
type Set struct {
	patterns []*Pattern
}

// CompileSet compiles patterns in order; the error names the index and the
// pattern of the first one that fails.
func CompileSet(patterns []string) (*Set, error) {
	s := &Set{patterns: make([]*Pattern, 0, len(patterns))}
	for i, src := range patterns {
		p, err := Compile(src)
		if err != nil {
			if ce, ok := err.(*compileError); ok {
				return nil, fmt.Errorf("glob: pattern %d %s: %s", i, quote(src), ce.reason)
			}
			return nil, fmt.Errorf("glob: pattern %d: %w", i, err)
		}
		s.patterns = append(s.patterns, p)
	}
	return s, nil
}

// Match reports whether any pattern matches str. A nil or empty Set matches
// nothing, so an unset include list must be handled by the caller.
func (s *Set) Match(str string) bool {
	if s == nil {
		return false
	}
	for _, p := range s.patterns {
		if p.Match(str) {
			return true
		}
	}
	return false
}

// Len returns the number of patterns.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.patterns)
}

// Patterns returns the source patterns in order, as a fresh slice the
// caller may modify.
func (s *Set) Patterns() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.patterns))
	for i, p := range s.patterns {
		out[i] = p.src
	}
	return out
}
