// Package route derives the HTTP method and a bounded route key from the
// attributes of an HTTP server span.
//
// The slow-span processor deduplicates alerts per (service, method, route).
// Raw request paths carry ids (/users/42, /orders/7f9c…), so keying on them
// would make one alert per request and let a client grow the dedup table
// without bound. Routes are therefore taken from the framework's template
// when there is one, and otherwise normalised: id-like segments become
// {id}, and length and segment count are capped. Methods are mapped onto
// the standard set (anything else is "_OTHER", as the OpenTelemetry
// semantic conventions do) for the same reason.
//
// Attribute precedence (new semantic conventions before old ones):
//
//   - method: http.request.method, then http.method
//   - route:  http.route, then Normalize of the path, then the span name
//   - path:   url.path, then http.target, then url.full, then http.url
//
// Only non-empty string values count; values of any other type are treated
// as absent. All outputs are valid UTF-8 without control characters and
// bounded in length, whatever the input.
package route

import (
	"encoding/binary"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/slowspan/slowspan/internal/safetext"
)

// Source says which attribute the route came from.
type Source uint8

// Route sources, in precedence order.
const (
	SourceNone       Source = iota // unused zero value
	SourceHTTPRoute                // http.route
	SourceURLPath                  // url.path
	SourceHTTPTarget               // http.target (old semconv)
	SourceURLFull                  // url.full
	SourceHTTPURL                  // http.url (old semconv)
	SourceSpanName                 // fallback
)

// Attribute keys read by Extract.
const (
	attrRequestMethod = "http.request.method"
	attrHTTPMethod    = "http.method"
	attrHTTPRoute     = "http.route"
	attrURLPath       = "url.path"
	attrHTTPTarget    = "http.target"
	attrURLFull       = "url.full"
	attrHTTPURL       = "http.url"
)

// String returns the attribute name the source stands for ("span.name" for
// the fallback).
func (s Source) String() string {
	switch s {
	case SourceNone:
		return "none"
	case SourceHTTPRoute:
		return attrHTTPRoute
	case SourceURLPath:
		return attrURLPath
	case SourceHTTPTarget:
		return attrHTTPTarget
	case SourceURLFull:
		return attrURLFull
	case SourceHTTPURL:
		return attrHTTPURL
	case SourceSpanName:
		return "span.name"
	}
	return "Source(" + strconv.Itoa(int(s)) + ")"
}

// Info is what Extract found.
type Info struct {
	Method string // upper-case HTTP method; "_OTHER" for a non-standard one; "" when the span has none
	Route  string // the key used for dedup: http.route as given, else the normalised path, else the span name
	Path   string // the raw request path (query and fragment stripped, sanitised, capped), "" when none
	Source Source
}

// unknownRoute is the route used when a span has neither a route, a path nor a
// name.
const unknownRoute = "unknown"

// pathSources lists the path attributes in precedence order.
var pathSources = [...]struct {
	key string
	src Source
}{
	{attrURLPath, SourceURLPath},
	{attrHTTPTarget, SourceHTTPTarget},
	{attrURLFull, SourceURLFull},
	{attrHTTPURL, SourceHTTPURL},
}

// Extract reads the method, route and path of an HTTP server span. It never
// fails: missing or malformed attributes fall through to the next source,
// and the span name (or "unknown") is the last resort.
func Extract(attrs pcommon.Map, spanName string) Info {
	var info Info

	if m, ok := str(attrs, attrRequestMethod); ok {
		info.Method = Method(m)
	} else if m, ok := str(attrs, attrHTTPMethod); ok {
		info.Method = Method(m)
	}

	// The path is wanted even when http.route wins: it is reported with the
	// alert.
	var rawPath string // windowed, query-stripped, not yet sanitised
	var pathCut bool   // rawPath was cut by the scan window
	var pathVal string // the attribute rawPath came from
	var pathSrc Source
	for _, ps := range pathSources {
		v, ok := str(attrs, ps.key)
		if !ok {
			continue
		}
		w, cut := safetext.Cut(v, scanLimit)
		w, stripped := stripQuery(w)
		p, ok := pathOf(w)
		if !ok {
			continue
		}
		clean, _ := safetext.Clean(p, maxPathLen)
		if clean == "" {
			continue
		}
		info.Path = own(clean, v)
		rawPath, pathCut, pathVal, pathSrc = p, cut && !stripped, v, ps.src
		break
	}

	if r, ok := str(attrs, attrHTTPRoute); ok {
		w, _ := safetext.Cut(r, scanLimit)
		w, _ = stripQuery(w)
		if clean, _ := safetext.Clean(w, maxRouteLen); clean != "" {
			info.Route = own(clean, r)
			info.Source = SourceHTTPRoute
			return info
		}
	}

	if pathSrc != SourceNone {
		// Normalise the windowed raw path, not Path: Path's cap may cut a
		// segment in half, and normalize must know when the window did.
		info.Route = own(normalize(rawPath, pathCut), pathVal)
		info.Source = pathSrc
		return info
	}

	w, _ := safetext.Cut(spanName, scanLimit)
	info.Route, _ = safetext.Clean(w, maxRouteLen)
	info.Route = own(info.Route, spanName)
	if info.Route == "" {
		info.Route = unknownRoute
	}
	info.Source = SourceSpanName
	return info
}

// str returns the attribute's value when it is a non-empty string.
func str(attrs pcommon.Map, key string) (string, bool) {
	v, ok := attrs.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return "", false
	}
	s := v.Str()
	return s, s != ""
}

// own copies res when it is a small part of a much larger src, so a dedup
// key kept for hours does not pin a megabyte attribute in memory. Small
// waste is accepted to save the copy on the common path.
func own(res, src string) string {
	if len(src)-len(res) > maxWaste {
		return strings.Clone(res)
	}
	return res
}

// maxWaste is how many bytes of an attribute a result may keep alive.
const maxWaste = 512

// Method maps a raw HTTP method onto the standard ones, upper-cased. Any
// other method becomes "_OTHER", so clients cannot mint unbounded keys. An
// empty method gives "".
func Method(raw string) string {
	switch raw { // the usual case: already canonical, no copy
	case "":
		return ""
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	}
	const longest = len("OPTIONS")
	if len(raw) > longest {
		return methodOther
	}
	// ASCII-only upper-casing: strings.ToUpper would also fold
	// look-alikes such as "ſ" into "S".
	var buf [longest]byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(raw)]) { // no allocation: the compiler compares in place
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "CONNECT":
		return "CONNECT"
	case "OPTIONS":
		return "OPTIONS"
	case "TRACE":
		return "TRACE"
	case "PATCH":
		return "PATCH"
	case "QUERY":
		return "QUERY"
	}
	return methodOther
}

const methodOther = "_OTHER"

// stripQuery cuts s at the first '?' or '#'. Neither can occur unescaped
// in a path or an authority, so this is right for paths and absolute URLs
// alike. stripped reports whether anything was cut.
func stripQuery(s string) (_ string, stripped bool) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i], true
	}
	return s, false
}

// pathOf returns the path of s, which is either a path ("/a/b") or an
// absolute URL ("https://h:8080/a/b"); query and fragment must already be
// stripped. net/url is not used: it rejects whole URLs for one bad escape or
// host, and such spans are exactly the odd ones we still want a key for.
// Anything else (relative paths, "*", "host:443") is not a path.
func pathOf(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if s[0] == '/' {
		// Also "//x": taken as a path with a doubled slash, not as a
		// scheme-relative URL, since servers report paths here.
		return s, true
	}
	n := schemeLen(s)
	if n == 0 {
		return "", false
	}
	rest := s[n+1:]
	if a, ok := strings.CutPrefix(rest, "//"); ok {
		// Skip the authority; "http://host" alone is the root.
		if i := strings.IndexByte(a, '/'); i >= 0 {
			return a[i:], true
		}
		return "/", true
	}
	if rest != "" && rest[0] == '/' { // "file:/x"
		return rest, true
	}
	return "", false // opaque ("mailto:x", "host:443")
}

// schemeLen returns the length of the RFC 3986 scheme that s starts with,
// not counting the ':', or 0 when there is none.
func schemeLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return 0
		}
	}
	return 0
}

// URLRoute returns the normalised path of a URL or path (query and fragment
// stripped, ids replaced by {id}), or "" when s has no path. It describes
// outgoing calls in a breakdown with the same bounded form as routes.
func URLRoute(s string) string {
	w, cut := safetext.Cut(s, scanLimit)
	w, stripped := stripQuery(w)
	p, ok := pathOf(w)
	if !ok {
		return ""
	}
	return own(normalize(p, cut && !stripped), s)
}

// Key returns the Method and Route that Extract would, reading the
// attributes once: the path of every span in the window modes, where
// Extract's path parsing (needed only when http.route is missing, and for
// an alert's report) would cost several times more. A span without a
// usable http.route falls back to Extract.
func Key(attrs pcommon.Map, spanName string) (method, rt string) {
	// Two lookups (a tight loop each) cost less than one pass through the
	// map's iterator.
	r, _ := str(attrs, attrHTTPRoute)
	m, ok := str(attrs, attrRequestMethod)
	if !ok {
		m, _ = str(attrs, attrHTTPMethod)
	}
	if plainRoute(r) {
		return Method(m), r
	}
	if r != "" {
		w, _ := safetext.Cut(r, scanLimit)
		w, _ = stripQuery(w)
		if clean, _ := safetext.Clean(w, maxRouteLen); clean != "" {
			return Method(m), own(clean, r)
		}
	}
	info := Extract(attrs, spanName)
	return info.Method, info.Route
}

// plainRoute reports whether r is a route that the cleaning in Extract
// leaves as it is: short, printable ASCII, without a query or fragment.
// Nearly every http.route is, and one pass over it is all it costs.
func plainRoute(r string) bool {
	if r == "" || len(r) > maxRouteLen {
		return false
	}
	// Eight bytes at a time: a byte below 0x20, above 0x7e, '?' or '#'
	// sets its high bit in bad.
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(r); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(r[i : i+8]))
		bad := (x - ones*0x20) | (x + ones*(0x80-0x7f)) | zeroByte(x^(ones*'?')) | zeroByte(x^(ones*'#'))
		// x - 0x20 borrows into a byte's high bit when it is below 0x20,
		// x + 1 carries into it when it is 0x7f or more; high bytes
		// (>= 0x80, not ASCII) are caught by x itself.
		if (bad|x)&highs != 0 {
			return false
		}
	}
	for ; i < len(r); i++ {
		if c := r[i]; c < 0x20 || c > 0x7e || c == '?' || c == '#' {
			return false
		}
	}
	return true
}

// zeroByte sets the high bit of each zero byte of x (and maybe of a byte
// right above a zero byte, which is fine: the caller rejects then).
func zeroByte(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	return (x - ones) &^ x & highs
}
