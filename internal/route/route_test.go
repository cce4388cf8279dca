package route

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/slowspan/slowspan/internal/safetext"
)

func attrMap(t testing.TB, raw map[string]any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestExtract(t *testing.T) {
	long8K := "/" + strings.Repeat("abcdefg/", 1024) // 8 KB of short words
	segs100 := strings.Repeat("/a", 100)
	huge := "https://h/a/1?" + strings.Repeat("x", 10<<20)

	tests := []struct {
		name     string
		attrs    map[string]any
		spanName string
		want     Info
	}{
		// Each source on its own.
		{
			name:  "http.route new semconv",
			attrs: map[string]any{"http.request.method": "GET", "http.route": "/users/{id}", "url.path": "/users/42"},
			want:  Info{Method: "GET", Route: "/users/{id}", Path: "/users/42", Source: SourceHTTPRoute},
		},
		{
			name:  "http.route express style, old semconv",
			attrs: map[string]any{"http.method": "POST", "http.route": "/users/:id", "http.target": "/users/42?x=1"},
			want:  Info{Method: "POST", Route: "/users/:id", Path: "/users/42", Source: SourceHTTPRoute},
		},
		{
			name:  "http.route with query stripped",
			attrs: map[string]any{"http.route": "/users/{id}?debug=1#frag"},
			want:  Info{Route: "/users/{id}", Source: SourceHTTPRoute},
		},
		{
			name:  "url.path",
			attrs: map[string]any{"url.path": "/users/42/orders/7f9c2ba4e88f827d616045507605853e"},
			want:  Info{Route: "/users/{id}/orders/{id}", Path: "/users/42/orders/7f9c2ba4e88f827d616045507605853e", Source: SourceURLPath},
		},
		{
			name:  "url.path query and fragment stripped",
			attrs: map[string]any{"url.path": "/a/1?x=1#f"},
			want:  Info{Route: "/a/{id}", Path: "/a/1", Source: SourceURLPath},
		},
		{
			name:  "http.target query stripped",
			attrs: map[string]any{"http.target": "/users/42?sort=asc#top"},
			want:  Info{Route: "/users/{id}", Path: "/users/42", Source: SourceHTTPTarget},
		},
		{
			name:  "http.target fragment only",
			attrs: map[string]any{"http.target": "/docs#intro"},
			want:  Info{Route: "/docs", Path: "/docs", Source: SourceHTTPTarget},
		},
		{
			name:  "http.target absolute-form (proxy request)",
			attrs: map[string]any{"http.target": "http://h/a/1?q"},
			want:  Info{Route: "/a/{id}", Path: "/a/1", Source: SourceHTTPTarget},
		},
		{
			name:  "url.full with port, query and fragment",
			attrs: map[string]any{"url.full": "https://h:8080/a/b?x=1#f"},
			want:  Info{Route: "/a/b", Path: "/a/b", Source: SourceURLFull},
		},
		{
			name:  "url.full with userinfo",
			attrs: map[string]any{"url.full": "https://u:p@h/x/9"},
			want:  Info{Route: "/x/{id}", Path: "/x/9", Source: SourceURLFull},
		},
		{
			name:  "url.full upper-case scheme, bad escape net/url would reject",
			attrs: map[string]any{"url.full": "HTTP://H%zz/a%zz/b"},
			want:  Info{Route: "/a%zz/b", Path: "/a%zz/b", Source: SourceURLFull},
		},
		{
			name:  "http.url host only",
			attrs: map[string]any{"http.url": "http://host"},
			want:  Info{Route: "/", Path: "/", Source: SourceHTTPURL},
		},
		{
			name:  "http.url host with query",
			attrs: map[string]any{"http.url": "http://host?x=/a"},
			want:  Info{Route: "/", Path: "/", Source: SourceHTTPURL},
		},
		{
			name:  "http.url query stripped",
			attrs: map[string]any{"http.url": "http://host/p/123?x=1"},
			want:  Info{Route: "/p/{id}", Path: "/p/123", Source: SourceHTTPURL},
		},
		{
			name:  "url.full without scheme starting with // is a path",
			attrs: map[string]any{"url.full": "//double"},
			want:  Info{Route: "/double", Path: "//double", Source: SourceURLFull},
		},
		{
			name:  "url.full without scheme starting with /",
			attrs: map[string]any{"url.full": "/a/b"},
			want:  Info{Route: "/a/b", Path: "/a/b", Source: SourceURLFull},
		},
		{
			name:     "url.full relative junk falls back to span name",
			attrs:    map[string]any{"url.full": "foo/bar"},
			spanName: "GET",
			want:     Info{Route: "GET", Source: SourceSpanName},
		},
		{
			name:     "opaque URL and asterisk-form are not paths",
			attrs:    map[string]any{"http.target": "*", "url.full": "mailto:x@y", "http.url": "host:443"},
			spanName: "OPTIONS",
			want:     Info{Route: "OPTIONS", Source: SourceSpanName},
		},
		{
			name:     "scheme without authority or path",
			attrs:    map[string]any{"url.full": "http:", "http.url": "1http://h/a"},
			spanName: "x",
			want:     Info{Route: "x", Source: SourceSpanName},
		},
		{
			name:  "scheme with path but no authority",
			attrs: map[string]any{"url.full": "file:/etc/x"},
			want:  Info{Route: "/etc/x", Path: "/etc/x", Source: SourceURLFull},
		},

		// Precedence.
		{
			name: "http.route beats every path, url.path gives Path",
			attrs: map[string]any{
				"http.route": "/r", "url.path": "/p", "http.target": "/t", "url.full": "http://h/f", "http.url": "http://h/u",
			},
			spanName: "span",
			want:     Info{Route: "/r", Path: "/p", Source: SourceHTTPRoute},
		},
		{
			name:  "url.path beats http.target",
			attrs: map[string]any{"url.path": "/p", "http.target": "/t", "url.full": "http://h/f", "http.url": "http://h/u"},
			want:  Info{Route: "/p", Path: "/p", Source: SourceURLPath},
		},
		{
			name:  "http.target beats url.full",
			attrs: map[string]any{"http.target": "/t", "url.full": "http://h/f", "http.url": "http://h/u"},
			want:  Info{Route: "/t", Path: "/t", Source: SourceHTTPTarget},
		},
		{
			name:  "url.full beats http.url",
			attrs: map[string]any{"url.full": "http://h/f", "http.url": "http://h/u"},
			want:  Info{Route: "/f", Path: "/f", Source: SourceURLFull},
		},
		{
			name:  "new method beats old",
			attrs: map[string]any{"http.request.method": "put", "http.method": "GET"},
			want:  Info{Method: "PUT", Route: unknownRoute, Source: SourceSpanName},
		},
		{
			name:     "span name fallback",
			attrs:    map[string]any{"http.request.method": "GET"},
			spanName: "GET /users/:id",
			want:     Info{Method: "GET", Route: "GET /users/:id", Source: SourceSpanName},
		},
		{
			name: "nothing at all",
			want: Info{Route: unknownRoute, Source: SourceSpanName},
		},

		// Wrong types and empty values are absent.
		{
			name:  "non-string values ignored",
			attrs: map[string]any{"http.request.method": 1, "http.method": "get", "http.route": int64(7), "url.path": true, "http.target": []any{"/t"}, "url.full": 3.5, "http.url": "http://h/u"},
			want:  Info{Method: "GET", Route: "/u", Path: "/u", Source: SourceHTTPURL},
		},
		{
			name:  "map value ignored",
			attrs: map[string]any{"http.route": map[string]any{"a": "/x"}, "url.path": "/p"},
			want:  Info{Route: "/p", Path: "/p", Source: SourceURLPath},
		},
		{
			name:     "empty strings ignored",
			attrs:    map[string]any{"http.request.method": "", "http.method": "", "http.route": "", "url.path": "", "http.target": "", "url.full": "", "http.url": ""},
			spanName: "",
			want:     Info{Route: unknownRoute, Source: SourceSpanName},
		},
		{
			name:  "empty new method falls back to old",
			attrs: map[string]any{"http.request.method": "", "http.method": "delete"},
			want:  Info{Method: "DELETE", Route: unknownRoute, Source: SourceSpanName},
		},
		{
			name:  "route empty after query strip falls through",
			attrs: map[string]any{"http.route": "?x=1", "url.path": "/p/1"},
			want:  Info{Route: "/p/{id}", Path: "/p/1", Source: SourceURLPath},
		},
		{
			name:  "path empty after query strip falls through",
			attrs: map[string]any{"url.path": "?x", "http.target": "#f", "url.full": "/ok"},
			want:  Info{Route: "/ok", Path: "/ok", Source: SourceURLFull},
		},
		{
			name:     "only control characters count as empty",
			attrs:    map[string]any{"http.route": "\x00\x01", "url.path": "\t\n"},
			spanName: "\r\n",
			want:     Info{Route: unknownRoute, Source: SourceSpanName},
		},
		{
			name:  "non-standard method",
			attrs: map[string]any{"http.request.method": "FOO"},
			want:  Info{Method: "_OTHER", Route: unknownRoute, Source: SourceSpanName},
		},

		// Hostile content.
		{
			name:     "invalid UTF-8",
			attrs:    map[string]any{"http.route": "/a\xff\xfe/b"},
			spanName: "x",
			want:     Info{Route: "/a\uFFFD/b", Source: SourceHTTPRoute},
		},
		{
			name:  "invalid UTF-8 in path",
			attrs: map[string]any{"url.path": "/caf\xe9/1"},
			want:  Info{Route: "/caf\uFFFD/{id}", Path: "/caf\uFFFD/1", Source: SourceURLPath},
		},
		{
			name:  "control characters removed",
			attrs: map[string]any{"http.route": "/a\r\n\x1b[31m/b\x7f\u0085"},
			want:  Info{Route: "/a[31m/b", Source: SourceHTTPRoute},
		},
		{
			name:     "control characters in span name",
			spanName: "GET\x00 /x\n",
			want:     Info{Route: "GET /x", Source: SourceSpanName},
		},
		{
			name:  "control characters split an id",
			attrs: map[string]any{"url.path": "/n/12\x0034"},
			want:  Info{Route: "/n/{id}", Path: "/n/1234", Source: SourceURLPath},
		},
		{
			name:  "10 MB url.full with huge query",
			attrs: map[string]any{"url.full": huge},
			want:  Info{Route: "/a/{id}", Path: "/a/1", Source: SourceURLFull},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Extract(attrMap(t, tt.attrs), tt.spanName)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("8 KB path", func(t *testing.T) {
		got := Extract(attrMap(t, map[string]any{"url.path": long8K}), "")
		assert.Equal(t, SourceURLPath, got.Source)
		assert.Len(t, got.Path, maxPathLen)
		assert.True(t, strings.HasPrefix(long8K, got.Path))
		assert.LessOrEqual(t, len(got.Route), maxRouteLen)
		assert.True(t, strings.HasSuffix(got.Route, "/{rest}"), got.Route)
		assert.Equal(t, got.Route, Normalize(got.Route))
	})
	t.Run("100 segments", func(t *testing.T) {
		got := Extract(attrMap(t, map[string]any{"url.path": segs100}), "")
		assert.Equal(t, segs100, got.Path)
		assert.Equal(t, strings.Repeat("/a", maxSegments-1)+"/{rest}", got.Route)
	})
	t.Run("10 MB everywhere", func(t *testing.T) {
		big := strings.Repeat("\x01\xff", 5<<20)
		attrs := map[string]any{}
		for _, k := range []string{"http.request.method", "http.method", "http.route", "url.path", "http.target", "url.full", "http.url"} {
			attrs[k] = "/" + big
		}
		got := Extract(attrMap(t, attrs), big)
		assert.Equal(t, "_OTHER", got.Method)
		assert.Equal(t, SourceHTTPRoute, got.Source)
		assert.LessOrEqual(t, len(got.Route), maxRouteLen)
		assert.LessOrEqual(t, len(got.Path), maxPathLen)
		assert.True(t, utf8.ValidString(got.Route) && utf8.ValidString(got.Path))
	})
	t.Run("long http.route capped on rune boundary", func(t *testing.T) {
		r := "/" + strings.Repeat("é", 200) // 401 bytes
		got := Extract(attrMap(t, map[string]any{"http.route": r}), "")
		assert.Equal(t, "/"+strings.Repeat("é", 127), got.Route) // 255 bytes
	})
	t.Run("long span name capped", func(t *testing.T) {
		got := Extract(pcommon.NewMap(), strings.Repeat("n", 10000))
		assert.Equal(t, strings.Repeat("n", maxRouteLen), got.Route)
	})
	t.Run("truncated id segment is not kept", func(t *testing.T) {
		// The window cuts inside the last segment, a 24+ char token whose
		// cut-off head has no digit: it must not leak into the key.
		p := strings.Repeat("/1", 10) + "/" + strings.Repeat("z", scanLimit)
		got := Extract(attrMap(t, map[string]any{"url.path": p}), "")
		assert.Equal(t, strings.Repeat("/{id}", 10)+"/{rest}", got.Route)
	})
}

func TestMethod(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"GET", "GET"},
		{"get", "GET"},
		{"Get", "GET"},
		{"head", "HEAD"},
		{"post", "POST"},
		{"put", "PUT"},
		{"delete", "DELETE"},
		{"connect", "CONNECT"},
		{"options", "OPTIONS"},
		{"trace", "TRACE"},
		{"patch", "PATCH"},
		{"query", "QUERY"},
		{"FOO", "_OTHER"},
		{"_OTHER", "_OTHER"},
		{"GETS", "_OTHER"},
		{"GE", "_OTHER"},
		{" GET", "_OTHER"},
		{"GET\x00", "_OTHER"},
		{"poſt", "_OTHER"}, // strings.ToUpper would make this "POST"
		{"\xff", "_OTHER"},
		{strings.Repeat("A", 1<<20), "_OTHER"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Method(tt.in), "Method(%q)", tt.in)
	}
}

func TestNormalize(t *testing.T) {
	const uuid = "123e4567-e89b-12d3-a456-426614174000"
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"/users", "/users"},
		{"/users/", "/users"},
		{"//a", "/a"},
		{"/a//b///c/", "/a/b/c"},
		{"a/b", "/a/b"},
		{"/v1/api", "/v1/api"},
		{"/users/me", "/users/me"},
		{"/users/42", "/users/{id}"},
		{"/users/0/friends/007", "/users/{id}/friends/{id}"},
		{"/o/" + uuid, "/o/{id}"},
		{"/o/" + strings.ToUpper(uuid), "/o/{id}"},
		{"/o/abcdefab-cdef-abcd-efab-cdefabcdefab", "/o/{id}"},                               // no digit: still a UUID
		{"/o/abcdefab-cdef-abcd-efab-cdefabcdefa", "/o/abcdefab-cdef-abcd-efab-cdefabcdefa"}, // 35 chars, no digit
		{"/o/123e4567xe89b-12d3-a456-426614174000", "/o/{id}"},                               // not a UUID, but a token
		{"/h/deadbeefcafebabe", "/h/{id}"},                                                   // 16 hex, letters only
		{"/h/DEADBEEF00112233", "/h/{id}"},                                                   // upper-case hex
		{"/h/deadbeefcafe123", "/h/deadbeefcafe123"},                                         // 15 hex
		{"/users/42/orders/7f9c2ba4e88f827d616045507605853e", "/users/{id}/orders/{id}"},
		{"/t/dGhpcyBpcyBhIHRva2VuMTIz", "/t/{id}"},                             // base64url, 24 chars with digit
		{"/t/aB3_-aB3_-aB3_-aB3_-aB3_", "/t/{id}"},                             // 24 chars with _ and -
		{"/t/aB3_-aB3_-aB3_-aB3_-aB3", "/t/{id}"},                              // 23 chars, but five runs of digits
		{"/t/authentication_callback", "/t/authentication_callback"},           // 24+ but no digit
		{"/t/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/t/{id}"},                           // ULID
		{"/u/user12345", "/u/{id}"},                                            // a word with a number
		{"/r/order-2024-07", "/r/{id}"},                                        // two runs of digits
		{"/d/2024-07-01", "/d/{id}"},                                           // a date
		{"/s/a1b2c3", "/s/{id}"},                                               // interleaved
		{"/k/QmVhckJlYXJCZWFyQmVhcg", "/k/{id}"},                               // base64 letters only
		{"/api/v2/oauth2/sha256/i18n", "/api/v2/oauth2/sha256/i18n"},           // one short run: a name
		{"/getUserProfileSettings/base64", "/getUserProfileSettings/base64"},   // camelCase and short runs stay
		{"/search/banana", "/search/banana"},                                   // a word is a word: see alerts.max_per_minute
		{"/t/abc.123456789012345678901234", "/t/abc.123456789012345678901234"}, // '.' is not a token char
		{"/files/%2F123", "/files/%2F123"},                                     // escapes left alone
		{"/a?x=1/2", "/a"},
		{"/a#/1", "/a"},
		{"/{id}/{rest}", "/{id}/{rest}"},
		{"/a\xff\xfe/1", "/a\uFFFD/{id}"},
		{"/a\x00b/\x7f/\u009b1", "/ab/{id}"},
		{"/é/ü", "/é/ü"},
		{strings.Repeat("/a", 32), strings.Repeat("/a", 32)},
		{strings.Repeat("/a", 33), strings.Repeat("/a", 31) + "/{rest}"},
		{strings.Repeat("/1", 100), strings.Repeat("/{id}", 31) + "/{rest}"},
		{"/" + strings.Repeat("x", 255), "/" + strings.Repeat("x", 255)}, // exactly 256
		{"/" + strings.Repeat("x", 256), "/{rest}"},
		{"/a/" + strings.Repeat("x", 300) + "/b", "/a/{rest}"},
		{strings.Repeat("/abcdefg", 40), strings.Repeat("/abcdefg", 31) + "/{rest}"},
		{strings.Repeat("/abcdefghijklmnopqrstuvwxyz", 10), strings.Repeat("/abcdefghijklmnopqrstuvwxyz", 9) + "/{rest}"},
		{"/" + strings.Repeat("x", 10<<20), "/{rest}"},
		{strings.Repeat("/", 10<<20), "/{rest}"},
	}
	for _, tt := range tests {
		in := tt.in
		if len(in) > 80 {
			in = in[:80] + "…"
		}
		got := Normalize(tt.in)
		assert.Equal(t, tt.want, got, "Normalize(%q)", in)
		assert.Equal(t, got, Normalize(got), "not idempotent for %q", in)
		assert.LessOrEqual(t, len(got), maxRouteLen)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
		trunc bool
	}{
		{"", 10, "", false},
		{"abc", 10, "abc", false},
		{"abc", 2, "ab", true},
		{"a\xff\xfe\xfdb", 10, "a\uFFFDb", false}, // a run becomes one, like strings.ToValidUTF8
		{"\xff\x01\xff", 10, "\uFFFD\uFFFD", false},
		{"a\u0085b\u009bc", 10, "abc", false}, // C1 controls
		{"\u2028ok", 10, "\u2028ok", false},   // only Cc is removed
		{"aé", 2, "a", true},                  // no half rune
		{"a\xff", 3, "a", true},               // no room for U+FFFD
		{"\uFFFD", 3, "\uFFFD", false},        // a valid U+FFFD is kept
	}
	for _, tt := range tests {
		got, trunc := safetext.Clean(tt.in, tt.limit)
		assert.Equal(t, tt.want, got, "safetext.Clean(%q, %d)", tt.in, tt.limit)
		assert.Equal(t, tt.trunc, trunc, "safetext.Clean(%q, %d) truncated", tt.in, tt.limit)
	}
}

func TestWindow(t *testing.T) {
	s := strings.Repeat("é", 10) // 20 bytes
	got, cut := safetext.Cut(s, 5)
	assert.Equal(t, "éé", got)
	assert.True(t, cut)
	got, cut = safetext.Cut(s, 20)
	assert.Equal(t, s, got)
	assert.False(t, cut)
	got, _ = safetext.Cut(strings.Repeat("\x80", 10), 5) // no rune start at all: no endless back-off
	assert.Len(t, got, 2)
}

func TestSourceString(t *testing.T) {
	tests := map[Source]string{
		SourceNone:       "none",
		SourceHTTPRoute:  "http.route",
		SourceURLPath:    "url.path",
		SourceHTTPTarget: "http.target",
		SourceURLFull:    "url.full",
		SourceHTTPURL:    "http.url",
		SourceSpanName:   "span.name",
		Source(42):       "Source(42)",
	}
	for s, want := range tests {
		assert.Equal(t, want, s.String())
	}
}

// The common paths must not allocate beyond what the result needs.
func TestAllocs(t *testing.T) {
	withRoute := attrMap(t, map[string]any{"http.request.method": "GET", "http.route": "/users/{id}", "url.path": "/users/42"})
	assert.Zero(t, testing.AllocsPerRun(100, func() { Extract(withRoute, "GET /users/{id}") }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { Normalize("/users/me") }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { Method("get") }))
}

func TestURLRoute(t *testing.T) {
	for in, want := range map[string]string{
		"https://payments.internal/charge/123?card=secret": "/charge/{id}",
		"http://inventory": "/",
		"/items/42#x":      "/items/{id}",
		"mailto:x":         "",
		"":                 "",
	} {
		if got := URLRoute(in); got != want {
			t.Errorf("URLRoute(%q) = %q, want %q", in, got, want)
		}
	}
}

// plainRoute reads eight bytes at a time: every byte value, at every
// position of a word and of the tail, must be judged as one at a time.
func TestPlainRouteEveryByte(t *testing.T) {
	slow := func(r string) bool {
		if r == "" || len(r) > maxRouteLen {
			return false
		}
		for i := 0; i < len(r); i++ {
			if c := r[i]; c < 0x20 || c > 0x7e || c == '?' || c == '#' {
				return false
			}
		}
		return true
	}
	for _, n := range []int{1, 7, 8, 9, 16, 23} {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				if got, want := plainRoute(string(b)), slow(string(b)); got != want {
					t.Fatalf("plainRoute(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	if plainRoute(strings.Repeat("a", maxRouteLen+1)) {
		t.Fatal("a route over maxRouteLen is not plain")
	}
}
