package route

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// checkOutput fails unless s is valid UTF-8 without control characters and
// at most limit bytes long.
func checkOutput(t *testing.T, what, s string, limit int) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s not valid UTF-8: %q", what, s)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		t.Fatalf("%s has a control character at %d: %q", what, i, s)
	}
	if len(s) > limit {
		t.Fatalf("%s is %d bytes, cap %d: %q", what, len(s), limit, s)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "/", "//", "/users/42", "/o/123e4567-e89b-12d3-a456-426614174000", "/h/deadbeefcafebabe",
		"/t/dGhpcyBpcyBhIHRva2VuMTIz", "/a?x=1#f", "a/b/", "/a\xff\xfe/\x00", "/{id}/{rest}",
		strings.Repeat("/a", 40), "/" + strings.Repeat("x", 300), strings.Repeat("/é", 200),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		check := func(path string) {
			got := Normalize(path)
			checkOutput(t, "Normalize", got, maxRouteLen)
			if !strings.HasPrefix(got, "/") {
				t.Fatalf("Normalize(%q) = %q, not absolute", path, got)
			}
			if n := strings.Count(got, "/"); n > maxSegments {
				t.Fatalf("Normalize(%q) = %q has %d segments", path, got, n)
			}
			if again := Normalize(got); again != got {
				t.Fatalf("not idempotent: Normalize(%q) = %q, Normalize(that) = %q", path, got, again)
			}
		}
		check(path)
		// The fuzzer's inputs are short; repeat them past the scan window
		// so that the truncation paths are explored too.
		if path != "" {
			check(strings.Repeat(path, scanLimit/len(path)+1))
		}
	})
}

// fuzzKeys are the attributes Extract reads, in the order of FuzzExtract's
// string arguments.
var fuzzKeys = [...]string{
	attrRequestMethod, attrHTTPMethod, attrHTTPRoute, attrURLPath, attrHTTPTarget, attrURLFull, attrHTTPURL,
}

func FuzzExtract(f *testing.F) {
	// kinds holds two bits per key (absent, string, int or bool/slice)
	// and in bit 14 whether to blow the values up.
	const allStr = 0b01_01_01_01_01_01_01
	f.Add("GET", "", "/users/{id}", "/users/42", "", "", "", "GET /users/{id}", uint16(0b00_00_00_01_01_00_01))
	f.Add("", "get", "", "", "/a/1?x", "", "", "", uint16(0b00_00_01_00_00_01_00))
	f.Add("", "", "", "", "", "https://h:8080/a/b?x=1#f", "http://host", "span", uint16(allStr))
	f.Add("FOO", "x", "\xff", "rel", "*", "//double", "mailto:x", "\x00", uint16(allStr))
	f.Add("a", "b", "c", "d", "e", "f", "g", "h", uint16(0b10_11_10_11_10_11_10))
	f.Add("get", "", "/a/", "/1", "", "http://h/é", "", "n\x00", uint16(1<<14|allStr))
	f.Fuzz(func(t *testing.T, method, oldMethod, route, path, target, full, oldURL, spanName string, kinds uint16) {
		vals := [...]string{method, oldMethod, route, path, target, full, oldURL}
		if kinds&(1<<14) != 0 {
			// Past the scan window, to reach the truncation paths.
			for i, v := range vals {
				if v != "" {
					vals[i] = strings.Repeat(v, scanLimit/len(v)+1)
				}
			}
			if spanName != "" {
				spanName = strings.Repeat(spanName, scanLimit/len(spanName)+1)
			}
		}
		attrs := pcommon.NewMap()
		for i, k := range fuzzKeys {
			switch kinds >> (2 * i) & 3 {
			case 1:
				attrs.PutStr(k, vals[i])
			case 2:
				attrs.PutInt(k, int64(len(vals[i])))
			case 3:
				if len(vals[i])%2 == 0 {
					attrs.PutBool(k, true)
				} else {
					attrs.PutEmptySlice(k).AppendEmpty().SetStr(vals[i])
				}
			}
		}

		info := Extract(attrs, spanName)
		if m, r := Key(attrs, spanName); m != info.Method || r != info.Route {
			t.Fatalf("Key = %q %q, Extract = %q %q", m, r, info.Method, info.Route)
		}

		switch info.Method {
		case "", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY", "_OTHER":
		default:
			t.Fatalf("Method = %q", info.Method)
		}
		if info.Route == "" {
			t.Fatal("empty Route")
		}
		checkOutput(t, "Route", info.Route, maxRouteLen)
		checkOutput(t, "Path", info.Path, maxPathLen)
		switch info.Source {
		case SourceHTTPRoute, SourceSpanName:
		case SourceURLPath, SourceHTTPTarget, SourceURLFull, SourceHTTPURL:
			if info.Path == "" {
				t.Fatalf("Source %v without a Path", info.Source)
			}
			if n := Normalize(info.Route); n != info.Route {
				t.Fatalf("Route %q from %v is not normalised: %q", info.Route, info.Source, n)
			}
		default:
			t.Fatalf("Source = %v", info.Source)
		}
		// Only a string attribute can be the source.
		if info.Source == SourceHTTPRoute && kinds>>4&3 != 1 {
			t.Fatalf("Source http.route but kinds %b", kinds)
		}
	})
}
