// Package workload builds the span batches every slowspan benchmark uses, in
// process and end to end, and the one selection all compared setups make, so
// each setup is configured from the same definition.
package workload

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The selection: server spans of at least Threshold whose route matches one
// of Include.
const Threshold = time.Second

// Include is the include glob list given to slowspan; IncludeRegex is its
// regular-expression equivalent for OTTL.
var Include = []string{"/api/*"}

// TraceIDMagic starts every trace id in a batch, so the replay generator can
// find the ids in the encoded request and patch them.
var TraceIDMagic = [8]byte{0xb1, 0x7e, 0x5c, 0xa1, 0x0f, 0x5e, 0xed, 0x42}

// Options shape a batch. Zero fields take the defaults of the standard batch.
type Options struct {
	Spans    int // total spans (default 10,000)
	Services int // resources, one service each (default 10)
	Routes   int // distinct routes (default 200)
	// SlowRouteOffset shifts the routes of the slow spans, so a caller can
	// walk them over all Routes keys batch after batch.
	SlowRouteOffset int
}

func (o *Options) defaults() {
	if o.Spans == 0 {
		o.Spans = 10000
	}
	if o.Services == 0 {
		o.Services = 10
	}
	if o.Routes == 0 {
		o.Routes = 200
	}
}

// Route is the route of index i: one in ten is under /admin, so the include
// filter has something to drop.
func Route(i int) string {
	if i%10 == 9 {
		return fmt.Sprintf("/admin/v1/resource%d/{id}", i)
	}
	return fmt.Sprintf("/api/v1/resource%d/{id}", i)
}

// Batch returns the standard workload: spans in traces of four (a server
// span, its client call, a downstream server span, an internal span) with the
// attributes otelhttp records. Span n is a slow (1.5 s) server span when
// n%100 == 0, its client call is slow too (a slow span of the wrong kind), and
// every other span takes 5-44 ms. So 1 % are slow server spans; their routes
// are distinct within a batch (up to Routes), and a tenth of them are /admin
// routes that Include drops.
func Batch(o Options) ptrace.Traces {
	o.defaults()
	td := ptrace.NewTraces()
	start := pcommon.NewTimestampFromTime(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	perResource := o.Spans / o.Services
	var spans ptrace.SpanSlice
	for n := 0; n < o.Spans; n++ {
		if n%perResource == 0 && n/perResource < o.Services {
			rs := td.ResourceSpans().AppendEmpty()
			r := n / perResource
			rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("service-%d", r))
			rs.Resource().Attributes().PutStr("service.version", "1.4.2")
			rs.Resource().Attributes().PutStr("host.name", "web-7f9c")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
			ss.Scope().SetVersion("0.72.0")
			spans = ss.Spans()
			spans.EnsureCapacity(perResource)
		}
		sp := spans.AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:8], TraceIDMagic[:])
		binary.BigEndian.PutUint64(tid[8:], uint64(n/4))
		sp.SetTraceID(tid)
		sp.SetSpanID(SpanID(n))
		if n%4 != 0 {
			sp.SetParentSpanID(SpanID(n - n%4))
		}
		sp.SetStartTimestamp(start)
		dur := time.Duration(5+n%40) * time.Millisecond
		ri := n % o.Routes
		switch {
		case n%100 == 0: // 1 %: slow server span
			sp.SetKind(ptrace.SpanKindServer)
			dur = 1500 * time.Millisecond
			ri = (n/100 + o.SlowRouteOffset) % o.Routes
		case n%100 == 1: // its client call: slow, but not a server span
			sp.SetKind(ptrace.SpanKindClient)
			dur = 1400 * time.Millisecond
		case n%2 == 0:
			sp.SetKind(ptrace.SpanKindServer)
		case n%4 == 1:
			sp.SetKind(ptrace.SpanKindClient)
		default:
			sp.SetKind(ptrace.SpanKindInternal)
		}
		sp.SetEndTimestamp(start + pcommon.Timestamp(dur))
		route := Route(ri)
		sp.SetName("GET " + route)
		a := sp.Attributes()
		a.EnsureCapacity(8)
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", route)
		a.PutStr("url.path", strings.Replace(route, "{id}", fmt.Sprint(n), 1))
		a.PutStr("url.scheme", "https")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "shop.example.com")
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
		a.PutStr("client.address", "10.0.0.7")
	}
	return td
}

// SpanID is the id of span n of a batch.
func SpanID(n int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], uint64(n)+1) // never the invalid all-zero id
	return id
}

// SlowspanInclude returns the include list as a fresh slice (configs keep it).
func SlowspanInclude() []string { return append([]string(nil), Include...) }

// GlobToRegex translates a slowspan glob (`*` any run, `/` included; `?` one
// character; `[...]` a class, `[!...]` negated) into an anchored RE2 regular
// expression that matches the same strings.
func GlobToRegex(glob string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			end := strings.IndexByte(glob[i+1:], ']')
			if end < 0 {
				b.WriteString(regexp.QuoteMeta(glob[i:]))
				i = len(glob)
				continue
			}
			class := glob[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// IncludeRegex is Include as one alternation.
func IncludeRegex() string {
	parts := make([]string, len(Include))
	for i, g := range Include {
		parts[i] = GlobToRegex(g)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ")|(") + ")"
}

// KeepCondition is the OTTL (span context) for the selection, cheapest test
// first: OTTL's `and` stops at the first false operand, like the slowspan
// engine, which reads attributes only for slow server spans.
func KeepCondition() string {
	return fmt.Sprintf(`kind == SPAN_KIND_SERVER and end_time_unix_nano - start_time_unix_nano >= %d and IsMatch(attributes["http.route"], %q)`,
		Threshold.Nanoseconds(), IncludeRegex())
}

// FilterDropCondition is KeepCondition negated: filterprocessor drops the
// spans its conditions match.
func FilterDropCondition() string {
	return "not (" + KeepCondition() + ")"
}

// FilterConfig is the filterprocessor configuration (as a confmap) that keeps
// exactly the selection.
func FilterConfig() map[string]any {
	return map[string]any{
		"error_mode": "ignore",
		"traces": map[string]any{
			"span": []any{FilterDropCondition()},
		},
	}
}

// Selected is the reference selection in plain Go: what every compared setup
// must keep. It mirrors the slowspan engine (duration >= threshold, end after
// start, route or raw path matched) with the standard library's regexp.
func Selected(sp ptrace.Span, include *regexp.Regexp) bool {
	if sp.Kind() != ptrace.SpanKindServer {
		return false
	}
	s, e := sp.StartTimestamp(), sp.EndTimestamp()
	if e <= s || time.Duration(e-s) < Threshold {
		return false
	}
	if v, ok := sp.Attributes().Get("http.route"); ok && include.MatchString(v.Str()) {
		return true
	}
	v, ok := sp.Attributes().Get("url.path")
	return ok && include.MatchString(v.Str())
}

// SpanIDs lists the span ids of td in order.
func SpanIDs(td ptrace.Traces) []pcommon.SpanID {
	var ids []pcommon.SpanID
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				ids = append(ids, spans.At(k).SpanID())
			}
		}
	}
	return ids
}
