package glob

import (
	"strings"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		// Exact match (no metacharacters).
		{"/api/users", "/api/users", true},
		{"/api/users", "/api/users/", false},
		{"/api/users", "/api/user", false},
		{"/api/users", "/API/users", false}, // case-sensitive
		{"/api/users", "", false},
		{`a\b`, `a\b`, true}, // no escape character
		{`a\*`, `a\xyz`, true},

		// '*' crosses '/' (fnmatch compatibility).
		{"/api/*", "/api/users", true},
		{"/api/*", "/api/users/7", true},
		{"/api/*", "/api/", true},
		{"/api/*", "/api", false},
		{"/api/*", "/apix/users", false},
		{"*/health", "/v1/health", true},
		{"*/health", "/health", true},
		{"*/health", "/v1/healthz", false},
		{"*health*", "/v1/healthz", true},
		{"*health*", "/v1/heal", false},
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"**", "x", true},
		{"*", "\xff\xfe", true},

		// Multiple stars.
		{"/a/*/b/*", "/a/x/b/y", true},
		{"/a/*/b/*", "/a/x/y/b/z/w", true},
		{"/a/*/b/*", "/a/b/", false},
		{"/a/*/b/*", "/a//b/", true},
		{"/a/*/b/*", "/a/x/c/y", false},
		{"*a*b*c", "xaybzc", true},
		{"*a*b*c", "xaybzcd", false},
		{"*a*b*c", "cba", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*ab", "aab", true}, // needs backtracking after a partial match
		{"*aab", "aaab", true},
		{"*a?c", "abcabc", true},
		{"*a?c", "abcab", false},
		{"/v*/users/*/orders", "/v2/users/42/orders", true},
		{"/v*/users/*/orders", "/v2/users/42/orders/1", false},

		// '?'
		{"/v?/users", "/v1/users", true},
		{"/v?/users", "/v10/users", false},
		{"/v?/users", "/v/users", false},
		{"/v?/users", "/v//users", true},
		{"?", "", false},
		{"??", "é", false}, // one rune is one character
		{"?", "é", true},
		{"?", "😀", true},
		{"?", "\xff", true},      // an invalid byte is one character
		{"?", "\xff\xfe", false}, // ... each
		{"??", "\xff\xfe", true},
		{"?", "\xe2\x82", false}, // a truncated rune is two characters
		{"*?", "", false},
		{"*?", "é", true},

		// Classes.
		{"/v[12]/x", "/v1/x", true},
		{"/v[12]/x", "/v2/x", true},
		{"/v[12]/x", "/v3/x", false},
		{"[a-c]", "b", true},
		{"[a-c]", "d", false},
		{"[a-cx-z]", "y", true},
		{"[0-9][0-9]", "42", true},
		{"[0-9][0-9]", "4a", false},
		{"[a-a]", "a", true},
		{"[!a-c]", "d", true},
		{"[!a-c]", "b", false},
		{"[^a-c]", "d", true},
		{"[^a-c]", "a", false},
		{"[!a]", "", false},
		{"[!a]", "é", true},
		{"[!a]", "\xff", true},       // invalid byte is not 'a'
		{"[\uFFFD]", "\xff", false},  // ... nor U+FFFD
		{"[\uFFFD]", "\uFFFD", true}, // a real U+FFFD still matches
		{"\uFFFD", "\xff", false},
		{"[\x00-\U0010FFFF]", "\xff", false},
		{"[!\x00-\U0010FFFF]", "\xff", true},
		{"[]]", "]", true},
		{"[]]", "a", false},
		{"[]a]", "a", true},
		{"[]a]", "]", true},
		{"[!]]", "]", false},
		{"[!]]", "a", true},
		{"[^]]", "]", false},
		{"[]-a]", "^", true}, // range ']'..'a' includes '^'
		{"[*]", "*", true},
		{"[*]", "x", false},
		{"[?]", "?", true},
		{"[?]", "x", false},
		{"[[]", "[", true},
		{"[!]", "!", false}, // invalid: the ] is a member, so the class never closes
		{"[-a]", "-", true},
		{"[a-]", "-", true},
		{"[a-]", "b", false},
		{"[!-]", "-", false},
		{"[a-c-e]", "-", true},
		{"[a-c-e]", "d", false},
		{"[a-c-e]", "e", true},
		{"[--0]", "/", true},
		{"[!!]", "!", false},
		{"[!!]", "a", true},
		{"[\\]", "\\", true},

		// Multi-byte runes.
		{"/café/*", "/café/menu", true},
		{"/caf?/*", "/café/menu", true},
		{"/caf[é]", "/café", true},
		{"/caf[à-ë]", "/café", true},
		{"/caf[à-ë]", "/cafe", false},
		{"/caf[!é]", "/café", false},
		{"*ü", "grüßü", true},
		{"日本*", "日本語", true},
		{"*語", "日本語", true},
		{"日?語", "日本語", true},
		{"[😀-😂]", "😁", true},

		// Invalid UTF-8 subjects.
		{"/api/*", "/api/\xff", true},
		{"*\xff", "x", false}, // invalid pattern; see TestCompileErrors
		{"/a?c", "/a\xffc", true},
		{"/a?c", "/a\xc3c", true},
		{"/a*c", "/a\xc3\xc3c", true},
		{"/a[!b]c", "/a\xc3c", true},
		{"*é", "\xc3é", true},
		{"é", "\xc3", false},

		// Empty subject.
		{"a", "", false},
		{"a*", "", false},
		{"*a", "", false},
		{"*a*", "", false},
		{"[a]", "", false},
		{"*[a]", "", false},
	}
	for _, tt := range tests {
		p, err := Compile(tt.pattern)
		if err != nil {
			// A few entries document invalid patterns; they must fail, not
			// silently match.
			if tt.want {
				t.Errorf("Compile(%q): %v", tt.pattern, err)
			}
			continue
		}
		if got := p.Match(tt.subject); got != tt.want {
			t.Errorf("Compile(%q).Match(%q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
		}
		// The general matcher must agree with the fast paths.
		if got := p.matchGeneral(tt.subject); got != tt.want {
			t.Errorf("Compile(%q).matchGeneral(%q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
		}
		if want, err := refMatch(tt.pattern, tt.subject); err != nil || want != tt.want {
			t.Errorf("reference(%q, %q) = %v, %v; the table says %v", tt.pattern, tt.subject, want, err, tt.want)
		}
	}
}

func TestFastPaths(t *testing.T) {
	tests := []struct {
		pattern string
		kind    matchKind
		lit     string
	}{
		{"/api/users", kindExact, "/api/users"},
		{"/api/*", kindPrefix, "/api/"},
		{"/api/**", kindPrefix, "/api/"},
		{"*/health", kindSuffix, "/health"},
		{"*/health*", kindContains, "/health"},
		{"*", kindAll, ""},
		{"***", kindAll, ""},
		{"/a/*/b", kindGeneral, ""},
		{"/v?", kindGeneral, ""},
		{"[a]", kindGeneral, ""},
	}
	for _, tt := range tests {
		p := MustCompile(tt.pattern)
		if p.kind != tt.kind || p.lit != tt.lit {
			t.Errorf("Compile(%q): kind %d lit %q, want kind %d lit %q", tt.pattern, p.kind, p.lit, tt.kind, tt.lit)
		}
	}
}

func TestPathologicalIsFast(t *testing.T) {
	tests := []struct {
		pattern string
		subject string
		want    bool
	}{
		{"*a*a*a*a*b", strings.Repeat("a", 100_000), false},
		{"*a*a*a*a*a", strings.Repeat("a", 100_000), true},
		{"*a?a?a?a?b", strings.Repeat("a", 100_000), false},
		{"*[a]*[a]*[a]*[a]*[b]", strings.Repeat("a", 100_000), false},
		{"a*" + strings.Repeat("a", 50) + "b", strings.Repeat("a", 100_000), false},
		{"*?" + strings.Repeat("?", 50) + "b", strings.Repeat("é", 50_000), false},
	}
	for _, tt := range tests {
		p := MustCompile(tt.pattern)
		start := time.Now()
		got := p.Match(tt.subject)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Compile(%q).Match(len %d) took %v", tt.pattern, len(tt.subject), elapsed)
		}
		if got != tt.want {
			t.Errorf("Compile(%q).Match(len %d) = %v, want %v", tt.pattern, len(tt.subject), got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	long := "/" + strings.Repeat("x", 1024)
	tests := []struct {
		name    string
		pattern string
		mention []string // substrings the message must contain
	}{
		{"empty", "", []string{`""`, "empty", `"*"`}},
		{"unclosed", "/a[", []string{`"/a["`, "unclosed '['", "offset 2", `"[[]"`}},
		{"unclosed with members", "/a[bc", []string{`"/a[bc"`, "unclosed '['"}},
		{"unclosed negated", "/a[!bc", []string{`"/a[!bc"`, "unclosed '['"}},
		{"empty class", "[]", []string{`"[]"`, "never closed", "literal member", `"[]]"`}},
		{"empty class in path", "/a/[]/b", []string{`"/a/[]/b"`, "never closed"}},
		{"empty negated class", "[!]", []string{`"[!]"`, "never closed"}},
		{"empty caret class", "x[^]", []string{`"x[^]"`, "never closed"}},
		{"reversed range", "[z-a]", []string{`"[z-a]"`, `"z-a"`, "reversed", `"a-z"`}},
		{"reversed range later", "/v[0-9x-b]", []string{`"/v[0-9x-b]"`, `"x-b"`, "offset 6", `"b-x"`}},
		{"reversed multibyte range", "[ü-a]", []string{`"[ü-a]"`, `"ü-a"`}},
		{"too long", long, []string{`"/xxx`, "1025 bytes", "1024"}},
		{"invalid utf-8", "/a\xff", []string{`"/a\xff"`, "UTF-8", "offset 2"}},
		{"truncated rune", "/caf\xc3", []string{`"/caf\xc3"`, "UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.pattern)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want an error", tt.pattern, p)
			}
			if p != nil {
				t.Errorf("Compile(%q) returned a non-nil pattern with its error", tt.pattern)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Compile(%q) error %q does not mention %s", tt.pattern, err, m)
				}
			}
		})
	}
}

func TestLengthLimitIsInclusive(t *testing.T) {
	if _, err := Compile(strings.Repeat("x", 1024)); err != nil {
		t.Fatalf("a 1024-byte pattern must compile: %v", err)
	}
}

func TestMustCompile(t *testing.T) {
	if got := MustCompile("/api/*").String(); got != "/api/*" {
		t.Errorf("String() = %q", got)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("MustCompile(\"/a[\") did not panic")
		} else if !strings.Contains(r.(error).Error(), `"/a["`) {
			t.Errorf("panic %v does not quote the pattern", r)
		}
	}()
	MustCompile("/a[")
}

func TestNilPattern(t *testing.T) {
	var p *Pattern
	if p.Match("") || p.Match("x") || p.String() != "" {
		t.Error("a nil Pattern must match nothing and print as empty")
	}
}

func TestSet(t *testing.T) {
	s, err := CompileSet([]string{"/health", "/api/*", "*/metrics", "/v[12]/*/x"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject string
		want    bool
	}{
		{"/health", true},
		{"/healthz", false},
		{"/api/users/1", true},
		{"/internal/metrics", true},
		{"/v2/a/b/x", true},
		{"/v3/a/x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := s.Match(tt.subject); got != tt.want {
			t.Errorf("Set.Match(%q) = %v, want %v", tt.subject, got, tt.want)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len() = %d, want 4", s.Len())
	}
	got := s.Patterns()
	want := []string{"/health", "/api/*", "*/metrics", "/v[12]/*/x"}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("Patterns() = %q, want %q", got, want)
	}
	got[0] = "mutated"
	if s.Patterns()[0] != "/health" {
		t.Error("Patterns() must return a copy")
	}
}

func TestEmptyAndNilSet(t *testing.T) {
	var nilSet *Set
	empty, err := CompileSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Set{"nil": nilSet, "empty": empty} {
		if s.Match("") || s.Match("/anything") {
			t.Errorf("%s Set must match nothing", name)
		}
		if s.Len() != 0 || len(s.Patterns()) != 0 {
			t.Errorf("%s Set: Len %d, Patterns %q", name, s.Len(), s.Patterns())
		}
	}
}

func TestCompileSetErrors(t *testing.T) {
	tests := []struct {
		patterns []string
		mention  []string
	}{
		{[]string{"/ok", "/fine/*", "/a["}, []string{`pattern 2 "/a["`, "unclosed '['"}},
		{[]string{""}, []string{`pattern 0 ""`, "empty"}},
		{[]string{"/x", "[z-a]", "/a["}, []string{`pattern 1 "[z-a]"`, "reversed"}},
	}
	for _, tt := range tests {
		s, err := CompileSet(tt.patterns)
		if err == nil {
			t.Fatalf("CompileSet(%q) = %v, want an error", tt.patterns, s)
		}
		if s != nil {
			t.Errorf("CompileSet(%q) returned a set with its error", tt.patterns)
		}
		for _, m := range tt.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("CompileSet(%q) error %q does not mention %s", tt.patterns, err, m)
			}
		}
		// The pattern is named once, not twice.
		if strings.Contains(err.Error(), "invalid pattern") {
			t.Errorf("CompileSet(%q) error %q repeats itself", tt.patterns, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	p := MustCompile("/a/*/b/[0-9]*")
	s, err := CompileSet([]string{"/x", "/a/*/b/[0-9]*"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				if !p.Match("/a/q/b/7z") || !s.Match("/a/q/b/7z") || p.Match("/a/q/b/z") {
					t.Error("wrong result under concurrency")
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
