package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in    string
		max   int
		want  string
		trunc bool
	}{
		{"/users/42", 64, "/users/42", false},
		{"/a\xff\xfe/b", 64, "/a\uFFFD/b", false},
		{"shop\n\x1b[2Jevil", 64, "shop[2Jevil", false},
		{"/a\r\n\x1b[31m/b\x7f\u0085", 64, "/a[31m/b", false},
		{"abcdef", 3, "abc", true},
		{"aé", 2, "a", true}, // no half rune
		{"", 3, "", false},
	}
	for _, tt := range tests {
		got, trunc := Clean(tt.in, tt.max)
		assert.Equal(t, tt.want, got, "%q", tt.in)
		assert.Equal(t, tt.trunc, trunc, "%q", tt.in)
	}
}

func TestCut(t *testing.T) {
	s, cut := Cut("héllo", 2)
	assert.Equal(t, "h", s)
	assert.True(t, cut)
	s, cut = Cut("abc", 5)
	assert.Equal(t, "abc", s)
	assert.False(t, cut)
	assert.Equal(t, "ab…", CutMarked("abcdef", 5, "…"))
	assert.Equal(t, "abc", CutMarked("abc", 5, "…"))
}

func TestCleanAllocatesNothingForCleanText(t *testing.T) {
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = Clean("/api/v1/users/{id}", 256) }))
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "/a", "\xff\xfe", "a\x00b", strings.Repeat("é", 10), "\u0085\u009b"} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 4096
		if n < 0 {
			n = -n
		}
		got, _ := Clean(s, n)
		if !utf8.ValidString(got) || len(got) > n || strings.IndexFunc(got, IsControl) >= 0 {
			t.Fatalf("Clean(%q, %d) = %q", s, n, got)
		}
		cut, _ := Cut(s, n)
		if len(cut) > n || !strings.HasPrefix(s, cut) {
			t.Fatalf("Cut(%q, %d) = %q", s, n, cut)
		}
		if utf8.ValidString(s) && !utf8.ValidString(cut) {
			t.Fatalf("Cut(%q, %d) split a rune", s, n)
		}
	})
}
